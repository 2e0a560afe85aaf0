"""A pipeline configuration as one pytest-benchmark case (one generation per round), black-box with
``pytester`` in a subprocess: the three tiny ONNX stages of the pipeline tests, real onnxruntime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from results.store import ResultStore
from tests.harness.pipeline_models import build_three, pipeline_entry

# Imported now, not inside a test: pytester drops the modules a test imported when it ends, and a second
# import of onnx's compiled extension aborts the interpreter.
onnx = pytest.importorskip("onnx")

pytest_plugins = ["pytester"]
pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ("-p", "no:edgebench", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = build_three(pytester.path / "models")
    entry = pipeline_entry(files, steps=[2])
    monkeypatch.setenv("EDGEBENCH_OUT", str(pytester.path / "out"))
    monkeypatch.setenv("EDGEBENCH_DEVICE", "host")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_gen=(
        "import pytest\n"
        "from harness.pytest_pipeline import edgebench_pipeline_cases\n"
        f"ENTRY = {entry!r}\n"
        "@pytest.mark.parametrize('edgebench_pipeline_case', edgebench_pipeline_cases(ENTRY, data={'evaluation': 1}))\n"
        "def test_generation(edgebench_pipeline, benchmark):\n"
        "    record = edgebench_pipeline.measure(benchmark)\n"
        "    assert record.pipeline['stages']['denoiser']['calls'] == 2\n"
    ))
    return pytester.path


@pytest.mark.slow
def test_one_case_per_configuration_one_generation_per_round(pytester: pytest.Pytester, project: Path):
    report = project / "bench.json"
    result = pytester.runpytest_subprocess(*PLUGIN, "--benchmark-only", f"--benchmark-json={report}",
                                           "--edgebench-store", "-q")
    result.assert_outcomes(passed=1)
    (bench,) = json.loads(report.read_text())["benchmarks"]
    assert bench["name"] == "test_generation[my-gen-onnxruntime-fp32-2steps-all]"
    assert bench["stats"]["rounds"] == 3  # the pipeline's generations: one round each
    info = bench["extra_info"]
    assert info["rtf"] == pytest.approx(info["generation_s"] / 2.0)
    assert info["record"]["pipeline"]["stages"]["encoder"]["calls"] == 1
    assert info["record"]["memory"]["peak_rss_bytes"] > 0

    with ResultStore(project / "out" / "edgebench.sqlite") as store:
        (record,) = store.records()
    assert record.pipeline["generations"] == 3 and record.quality["reference"]["steps"] == 2
    # fp32 at the reference's step count IS the reference: every generation, whichever input the
    # benchmark's rounds cycled to, matches the reference made from that same input.
    assert record.quality["sqnr_db"] >= record.quality.get("cap_db", 100.0) - 1e-6, record.quality


@pytest.mark.slow
def test_benchmark_disabled_is_one_generation_smoke_run(pytester: pytest.Pytester, project: Path):
    result = pytester.runpytest_subprocess(*PLUGIN, "--benchmark-disable", "-q")
    result.assert_outcomes(passed=1)
