"""``edgebench score … --attach/--suite``: scores stored on existing runs, gates re-evaluated."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from results.schema import RunRecord, new_run_id
from results.store import ResultStore
from tests.harness.quality.quality_fakes import (
    build_fake_dnsmos,
    build_fake_syncnet,
    needs_ort,
    syncnet_weights,
    write_mp4,
)

GATES = {
    "mos_delta": {"spec": ">= -0.2", "value": None, "passed": None, "reason": "not scored yet"},
    "lse_d_delta": {"spec": "<= 0.3", "value": None, "passed": None, "reason": "not scored yet"},
    "latency_p50_ms": {"spec": "<= 10", "value": 1.5, "passed": True},
}


def _record(precision: str, backend: str = "onnxruntime", status: str = "ok", suite: str = "s") -> RunRecord:
    return RunRecord(run_id=new_run_id(), status=status, precision=precision, model={"name": "talker"},
                     backend={"name": backend}, device={"name": "host"}, suite=suite,
                     latency_ms={"p50": 1.5, "n": 10}, gates=json.loads(json.dumps(GATES)))


@pytest.fixture
def runs(tmp_path) -> dict[str, str]:
    store = ResultStore(tmp_path / "out" / "edgebench.sqlite")
    made = {
        "fp32": _record("fp32"),
        "int8": _record("int8"),
        "ov_int8": _record("int8", backend="openvino"),
        "fp16": _record("fp16"),
        "failed_int8": _record("int8", status="failed"),
        "other_suite": _record("int8", suite="t"),
    }
    for r in made.values():
        store.save(r)
    store.close()
    return {k: r.run_id for k, r in made.items()}


def _ratings(path: Path) -> Path:
    # int8 loses 1 point on every stimulus; openvino/int8 nothing; 'anchor' is no run
    rows = []
    for rater in ("r1", "r2", "r3"):
        for stim, base in (("s1", 5), ("s2", 4), ("s3", 4)):
            rows += [(rater, stim, "fp32", base), (rater, stim, "int8", base - 1),
                     (rater, stim, "openvino/int8", base), (rater, stim, "anchor", 1)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rater", "stimulus", "condition", "score"])
        w.writerows(rows)
    return path


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_mos_attached_to_a_suite_by_condition(tmp_path, runs, capsys):
    out = str(tmp_path / "out")
    rc = main(["score", "mos", str(_ratings(tmp_path / "r.csv")), "--suite", "s", "--out", out, "--json"])
    assert rc == 0
    payload = _json(capsys)
    stored = payload["stored"]["runs"]
    assert stored[runs["int8"]]["condition"] == "int8"
    assert stored[runs["ov_int8"]]["condition"] == "openvino/int8"  # backend/precision wins over precision
    assert runs["failed_int8"] not in stored and runs["other_suite"] not in stored and runs["fp16"] not in stored
    assert payload["stored"]["unmatched_conditions"] == ["anchor"]

    store = ResultStore(tmp_path / "out" / "edgebench.sqlite")
    int8 = store.get(runs["int8"])
    assert int8.quality["mos"] == pytest.approx(np.mean([4, 3, 3]))
    assert int8.quality["mos_delta"] == pytest.approx(-1.0) and int8.quality["mos_label"] == "MOS-LQS"
    assert "reason" not in int8.quality  # the stale "not scored" went away
    assert int8.gates["mos_delta"]["passed"] is False and int8.gates["mos_delta"]["value"] == pytest.approx(-1.0)
    assert int8.gates["lse_d_delta"]["passed"] is None  # still waiting for its score
    assert int8.gates["latency_p50_ms"]["passed"] is True  # decided as at run time
    assert store.get(runs["ov_int8"]).gates["mos_delta"]["passed"] is True
    assert store.get(runs["fp32"]).quality["mos_delta"] == 0.0
    assert store.get(runs["fp16"]).gates["mos_delta"]["passed"] is None
    store.close()

    rc = main(["score", "mos", str(tmp_path / "r.csv"), "--suite", "s", "--out", out, "--fail-on-gate"])
    assert rc == 3
    assert "mos_delta" in capsys.readouterr().err


def test_mos_attached_to_one_run(tmp_path, runs, capsys):
    out = str(tmp_path / "out")
    ratings = str(_ratings(tmp_path / "r.csv"))
    assert main(["score", "mos", ratings, "--attach", runs["ov_int8"][:20], "--out", out, "--json"]) == 0
    assert _json(capsys)["stored"]["runs"][runs["ov_int8"]]["condition"] == "openvino/int8"
    assert main(["score", "mos", ratings, "--attach", runs["fp16"], "--out", out]) == 2
    assert "matches no condition" in capsys.readouterr().err
    assert main(["score", "mos", ratings, "--attach", runs["fp16"], "--condition", "int8", "--out", out]) == 0
    with ResultStore(tmp_path / "out" / "edgebench.sqlite") as store:
        assert store.get(runs["fp16"]).quality["mos_condition"] == "int8"


def _flags(flag: str, values: list[Path]) -> list[str]:
    return [item for v in values for item in (flag, str(v))]


def _embeddings(path: Path, offset_noise: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((40, 16))
    a = v + offset_noise * rng.standard_normal(v.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, video=v, audio=a)
    return path


def test_lse_attach_later_computes_paired_deltas(tmp_path, runs, capsys):
    out = str(tmp_path / "out")
    ref = [_embeddings(tmp_path / "fp32" / f"clip{i}.npz", 0.1, i) for i in range(3)]
    cand = [_embeddings(tmp_path / "int8" / f"clip{i}.npz", 0.6, i) for i in range(3)]
    args = ["score", "lse", "--out", out, "--json"]
    assert main([*args, *_flags("--embeddings", ref), "--attach", runs["fp32"]]) == 0
    fp32_scores = _json(capsys)["lse"]["clips"]
    assert main([*args, *_flags("--embeddings", cand), "--suite", "s", "--condition",
                 "onnxruntime/int8"]) == 0
    payload = _json(capsys)
    int8_scores = payload["lse"]["clips"]
    assert list(payload["stored"]["runs"]) == [runs["int8"]]
    with ResultStore(tmp_path / "out" / "edgebench.sqlite") as store:
        q = store.get(runs["int8"]).quality
        expected = np.mean([int8_scores[c]["lse_d"] - fp32_scores[c]["lse_d"] for c in fp32_scores])
        assert q["lse_d_delta"] == pytest.approx(expected) and q["lse_delta_n_pairs"] == 3
        assert q["lse_delta_reference_run"] == runs["fp32"] and q["lse_n_clips"] == 3
        gate = store.get(runs["int8"]).gates["lse_d_delta"]
        assert gate["value"] == pytest.approx(expected) and gate["passed"] is bool(expected <= 0.3)


def test_score_errors_are_clear(tmp_path, runs, capsys):
    out = str(tmp_path / "out")
    emb = str(_embeddings(tmp_path / "e.npz", 0.1, 0))
    assert main(["score", "lse", "--embeddings", emb, "--suite", "s", "--out", out]) == 2
    assert "--condition" in capsys.readouterr().err
    assert main(["score", "lse", "--embeddings", emb, "--attach", "nosuchrun", "--out", out]) == 2
    assert "no run matches" in capsys.readouterr().err
    assert main(["score", "lse", "--embeddings", emb, "--attach", "x", "--out", str(tmp_path / "empty")]) == 2
    assert "no result store" in capsys.readouterr().err
    assert main(["score", "lse", "--video", "v.mp4", "--out", out]) == 2
    assert "one --audio per --video" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("rater,stimulus,condition,score\na,s1,fp32,7\n")
    assert main(["score", "mos", str(bad), "--out", out]) == 2
    assert "outside the ACR scale" in capsys.readouterr().err


def test_mos_text_output(tmp_path, capsys):
    assert main(["score", "mos", str(_ratings(tmp_path / "r.csv")), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "MOS-LQS" in text and "int8" in text and "-1.00" in text


@needs_ort
def test_dnsmos_attach(tmp_path, runs, capsys):
    from scipy.io import wavfile

    model = build_fake_dnsmos(tmp_path / "FAKE_sig_bak_ovr.onnx")
    wav = tmp_path / "a.wav"
    wavfile.write(wav, 16000, (3000 * np.sin(np.linspace(0, 900, 16000 * 2))).astype(np.int16))
    rc = main(["score", "dnsmos", "--model", str(model), str(wav), "--attach", runs["int8"],
               "--out", str(tmp_path / "out"), "--json"])
    assert rc == 0
    payload = _json(capsys)
    assert payload["dnsmos"]["mos_lqo_label"] == "MOS-LQO"
    with ResultStore(tmp_path / "out" / "edgebench.sqlite") as store:
        q = store.get(runs["int8"]).quality
        assert q["mos_lqo_ovrl"] == pytest.approx(payload["dnsmos"]["mos_lqo_ovrl"]) and "mos" not in q
    assert main(["score", "dnsmos", "--model", str(tmp_path / "missing.onnx"), str(wav)]) == 2
    assert "sig_bak_ovr.onnx" in capsys.readouterr().err


@needs_ort
def test_lse_from_video_and_wav(tmp_path, capsys):
    from scipy.io import wavfile

    w_audio, w_video = syncnet_weights()
    model = build_fake_syncnet(tmp_path / "FAKE_syncnet.onnx", w_audio, w_video)
    rng = np.random.default_rng(5)
    frames = np.clip(rng.normal(128, 20, (10, 224, 224, 3)), 0, 255).astype(np.uint8)
    write_mp4(tmp_path / "clip.mp4", frames, 25)
    wavfile.write(tmp_path / "clip.wav", 16000, (2000 * rng.standard_normal(10 * 640)).astype(np.int16))
    args = ["score", "lse", "--video", str(tmp_path / "clip.mp4"), "--audio", str(tmp_path / "clip.wav"),
            "--syncnet", str(model), "--out", str(tmp_path / "o")]
    assert main([*args, "--json"]) == 0
    payload = _json(capsys)["lse"]
    assert payload["lse_n_clips"] == 1 and payload["clips"]["clip.mp4"]["n_windows"] == 5
    assert main(args) == 0
    assert "clip.mp4" in capsys.readouterr().out
    assert main(["score", "lse", "--video", str(tmp_path / "clip.mp4"), "--audio", str(tmp_path / "clip.wav"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "--syncnet" in capsys.readouterr().err
