"""A pipeline of three ONNX files a user wrote, run from a suite through the CLI (real child
processes, real onnxruntime): the record's pipeline figures, stage shares, resident vs staged memory
on stages of known size, quality against fp32 at the largest step count, and the report."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.cli import main
from tests.harness.pipeline_models import build_three, pipeline_entry

pytest.importorskip("onnxruntime")
STAGE_BYTES = 48 << 20  # above glibc's largest mmap threshold: a closed stage's weights leave the process


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipe")
    files = build_three(tmp / "models", pad_bytes=STAGE_BYTES)
    suite = {
        "name": "user-pipeline",
        "runner": {"timeout_s": 300, "idle_s": 0},
        "data": {"calibration": 2, "evaluation": 1},
        "pipelines": [pipeline_entry(files, steps=[1, 3], resident=["all", "staged"])],
        "backends": ["onnxruntime"],
        "precisions": ["fp32"],
    }
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp / "out"
    return tmp, out, main, path


@pytest.fixture(scope="module")
def records(runs):
    _, out, main_, path = runs
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main_(["run", str(path), "--out", str(out), "--json"])
    assert rc == 0, buf.getvalue()
    return {(r["pipeline"]["steps"], r["pipeline"]["resident"]): r for r in json.loads(buf.getvalue())}


@pytest.mark.slow
def test_one_record_per_steps_and_resident(records):
    assert sorted(records) == [(1, "all"), (1, "staged"), (3, "all"), (3, "staged")]
    for (steps, _), r in records.items():
        assert r["status"] == "ok", r["reason"]
        p = r["pipeline"]
        assert p["name"] == "my-gen" and p["chunks"] == 1 and p["media_s"] == 2.0 and p["generations"] >= 3
        assert {n: s["calls"] for n, s in p["stages"].items()} == {"encoder": 1, "denoiser": steps, "decoder": 1}
        assert p["rtf"] == pytest.approx(p["generation_s"] / 2.0)
        assert p["x_realtime"] == pytest.approx(1.0 / p["rtf"])
        assert 0 < p["first_chunk_s"] <= p["generation_s"] * 1.5
        assert all(s["precision"] == "fp32" and s["backend"] == "onnxruntime" for s in p["stages"].values())
        assert p["step_ms"]["n"] == steps * p["generations"]
        assert r["latency_ms"]["n"] == p["generations"]  # one latency sample per generation


@pytest.mark.slow
def test_stage_shares_add_up_to_the_generation(records):
    for r in records.values():
        p = r["pipeline"]
        shares = sum(s["share_pct"] for s in p["stages"].values())
        assert 0 < shares <= 100.0
        assert p["overhead_pct"] >= 0.0  # the harness's own time between calls: never negative
        # Stages of 48 MiB each dominate a generation: the harness's own time between calls is a minor part.
        assert p["overhead_pct"] < 50.0, p
        if p["resident"] == "all":
            assert p["stage_load_pct"] == 0.0 and r["load_s"] > 0
        else:
            assert p["stage_load_pct"] > 0.0  # staged: loading is part of every generation


@pytest.mark.slow
def test_staged_peak_is_under_resident_peak_for_stages_of_known_size(records):
    for steps in (1, 3):
        resident = records[(steps, "all")]["pipeline"]["peak_rss_bytes"]
        staged = records[(steps, "staged")]["pipeline"]["peak_rss_bytes"]
        # all three stages' weights (3 × 48 MiB) live together only when resident
        assert resident > staged + STAGE_BYTES // 2
        assert resident > 3 * STAGE_BYTES


@pytest.mark.slow
def test_quality_is_scored_against_fp32_at_the_largest_step_count(records):
    best = records[(3, "all")]["quality"]
    fewer = records[(1, "all")]["quality"]
    assert best["reference"]["steps"] == 3 and fewer["reference"]["steps"] == 3
    assert best["sqnr_db"] >= fewer["sqnr_db"]  # 3 steps is the reference itself; 1 step differs
    assert fewer["sqnr_db"] < best.get("cap_db", 100.0)


@pytest.mark.slow
def test_report_shows_pipeline_sections(records, runs):
    tmp, out, main_, _ = runs
    html, md = tmp / "report.html", tmp / "report.md"
    assert main_(["report", "--out", str(out), "-o", str(html)]) == 0
    assert main_(["report", "--out", str(out), "-o", str(md)]) == 0
    text = html.read_text()
    assert "Pipelines" in text and "my-gen" in text and "steps sweep" in text.lower() and "<svg" in text
    mdt = md.read_text()
    assert "x real time" in mdt and "RTF" in mdt and "denoiser" in mdt


@pytest.mark.slow
def test_identity_and_deployed_size_are_recorded(records):
    import hashlib

    for r in records.values():
        assert r["backend"]["version"]  # onnxruntime's version, as single runs record it
        info = r["backend"]["info"]
        assert set(info) == {"encoder", "denoiser", "decoder"} and info["denoiser"]["backend"] == "onnxruntime"
        stage_sha = r["model"]["stage_sha256"]
        assert list(stage_sha) == ["encoder", "denoiser", "decoder"]
        assert r["model"]["sha256"] == hashlib.sha256("".join(stage_sha.values()).encode()).hexdigest()
        per_stage = [s["artifact_bytes"] for s in r["pipeline"]["stages"].values()]
        assert all(b > STAGE_BYTES for b in per_stage)  # each stage holds its padding table
        assert r["artifact_bytes"] == sum(per_stage)


@pytest.mark.slow
def test_pipelines_are_measured_in_rounds(records):
    for r in records.values():
        lat, p = r["latency_ms"], r["pipeline"]
        assert lat["rounds"] == 5 and len(lat["round_p50"]) == 5  # the runner's default rounds
        assert p["generations"] == 15  # each round a window of 3 generations (no power sensor to wait for)
        assert r["extra"]["rounds"]["count"] == 5
        assert p["generation_s"] == pytest.approx(lat["p50"] / 1e3)  # the median of round medians
        assert p["generation_s_ci95"][0] <= p["generation_s"] <= p["generation_s_ci95"][1]
        assert r["throughput_ips"] is None and "x_realtime" in p["throughput_reason"]
