"""`edgebench report` and `edgebench compare` end to end, through a subprocess, on real stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from results.store import ResultStore
from tests.reports.conftest import make_record

ROOT = Path(__file__).resolve().parents[2]


def edgebench(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("EDGEBENCH_OUT", None)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgebench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="rank-[^"]*" data-run-id="([^"]+)"', html)


# -- from real runs ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    from tests.conftest import build_tiny_onnx

    d = tmp_path_factory.mktemp("real")
    model = build_tiny_onnx(d / "m.onnx")
    out = d / "out"
    edgebench("run", "--model", str(model), "--backend", "onnxruntime", "--precision", "fp32",
              "--min-iterations", "5", "--min-duration", "0", "--out", str(out), check=True)
    with ResultStore(out / "edgebench.sqlite", create=False) as store:
        records = store.records()
    return out, records


def test_report_from_a_store_filled_by_real_runs(real_store):
    out, records = real_store
    assert records, "edgebench run stored nothing"
    failed = [f"{r.run_id}: {r.reason}" for r in records if r.status != "ok"]
    assert not failed, f"the real run failed, so the report would show no figures: {failed}"
    proc = edgebench("report", "--out", str(out), "-o", str(out / "report.html"), check=True)
    assert str(out / "report.html") in proc.stdout
    html = (out / "report.html").read_text()
    assert sorted(_rows(html)) == sorted(r.run_id for r in records)
    assert html.count("<svg") >= 3  # latency, distribution (samples are stored), memory
    assert 'id="g-host-m-distribution"' in html and "n/a: no per-iteration latency samples" not in html
    md = edgebench("report", "--out", str(out), "--format", "md", "-o", str(out / "report.md"), check=True)
    assert "report.md" in md.stdout
    text = (out / "report.md").read_text()
    assert "| onnxruntime · fp32 |" in text and "**Ship fp32 on onnxruntime.**" in text


def test_json_export_round_trips_into_the_same_report(real_store, tmp_path):
    out, records = real_store
    exported = tmp_path / "runs.json"
    edgebench("export", "--format", "json", "-o", str(exported), "--out", str(out), check=True)
    edgebench("report", "--from", str(exported), "-o", str(tmp_path / "r.html"), check=True)
    html = (tmp_path / "r.html").read_text()
    assert sorted(_rows(html)) == sorted(r.run_id for r in records)
    p50 = records[0].latency_ms["p50"]
    shown = re.search(r'data-run-id="[^"]+">.*?<td class="num "[^>]*>([0-9.,]+) ms', html, re.S)
    assert shown and float(shown.group(1).replace(",", "")) == pytest.approx(p50, rel=0.01)
    # an export carries no per-iteration samples: the distribution chart says so instead of drawing nothing
    assert "n/a: no per-iteration latency samples stored" in html


def test_report_filters_and_bad_input(real_store, tmp_path):
    out, _ = real_store
    proc = edgebench("report", "--out", str(out), "--suite", "no-such-suite", "-o", str(tmp_path / "x.html"))
    assert proc.returncode == 2 and "no runs match (suite=no-such-suite)" in proc.stderr
    assert not (tmp_path / "x.html").exists()
    proc = edgebench("report", "--out", str(tmp_path / "empty"), "-o", str(tmp_path / "y.html"))
    assert proc.returncode == 2 and "no result store" in proc.stderr


# -- compare -------------------------------------------------------------------------------------

def _fill(path: Path, scale: float, seed: int, suite: str = "s") -> None:
    with ResultStore(path / "edgebench.sqlite") as store:
        for precision, p50 in (("fp32", 10.0), ("int8-dynamic", 6.0)):
            store.save(make_record(precision=precision, p50_ms=p50 * scale, seed=seed + len(precision), n=300,
                                   spread=0.08, suite=suite))


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    _fill(d / "base", 1.0, 1)
    _fill(d / "noise", 1.0, 50)
    _fill(d / "slow", 1.10, 90)
    return d


def test_compare_exits_4_on_a_ten_percent_regression(stores, tmp_path):
    report = tmp_path / "cmp.html"
    proc = edgebench("compare", str(stores / "base"), str(stores / "slow"), "--fail-on", "p50:5%", "-o", str(report))
    assert proc.returncode == 4, proc.stderr
    assert "regression" in proc.stderr and "p50" in proc.stderr
    assert "badge regression" in report.read_text()


def test_compare_exits_0_on_noise(stores):
    proc = edgebench("compare", str(stores / "base"), str(stores / "noise"), "--fail-on", "p50:5%", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert not result["has_regression"]
    assert {c["state"] for c in result["configs"]} == {"matched"}
    assert all(c["mwu_p"] > 0.05 for c in result["configs"])


def test_compare_selections_within_one_store(tmp_path):
    _fill(tmp_path, 1.0, 1, suite="before")
    _fill(tmp_path, 1.10, 90, suite="after")
    proc = edgebench("compare", "suite:before", "suite:after", "--fail-on", "p50:5%", "--out", str(tmp_path),
                     "-o", str(tmp_path / "cmp.md"))
    assert proc.returncode == 4, proc.stderr
    assert "**REGRESSION**" in (tmp_path / "cmp.md").read_text()
    proc = edgebench("compare", f"{tmp_path}::suite:before", f"{tmp_path}::suite:before", "--fail-on", "p50:5%")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "p50:5"], None),  # absolute 5 ms is valid: just must not crash
        (["--fail-on", "latency:5%"], "unknown field 'latency'"),
        (["--fail-on", "p50:5J"], "measures energy"),
        (["-o", "cmp.pdf"], "expected a file ending in .html or .md"),
    ],
)
def test_compare_bad_input_is_a_clear_error(stores, args, message):
    proc = edgebench("compare", str(stores / "base"), str(stores / "noise"), *args)
    if message is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2 and message in proc.stderr


def test_compare_names_a_missing_source(stores):
    proc = edgebench("compare", str(stores / "base"), str(stores / "nope"))
    assert proc.returncode == 2 and "nope" in proc.stderr and "SOURCE" in proc.stderr


def test_samples_are_what_the_test_uses(stores):
    """The stores hold per-iteration samples, so the comparison is a test, not a point estimate."""
    with ResultStore(stores / "base" / "edgebench.sqlite", create=False) as store:
        rid = store.records()[0].run_id
        assert len(store.samples(rid)["latency_ms"]) == 300
        assert np.isfinite(store.samples(rid)["latency_ms"]).all()
