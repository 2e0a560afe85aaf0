"""The model zoo through pytest-benchmark: ``make bench-pytest`` (or ``pytest benchmarks --benchmark-only``).

Each model × backend × precision of the quick suite is one test, e.g.
``test_suite[talking-head-onnxruntime-int8]``: pytest-benchmark times it, and its ``extra_info`` holds peak
memory, power/energy (where the device has a sensor), artifact size and fidelity to fp32. A backend that
cannot run here is skipped with the reason. ``EDGEBENCH_FULL=1`` runs the full default suite instead.

Useful flags (all pytest-benchmark's own):
  -k "onnxruntime and int8"                          pick configurations by their test IDs
  --benchmark-autosave                               keep results in .benchmarks/ for later comparison
  --benchmark-compare --benchmark-compare-fail=mean:5%   fail on a 5% slowdown against the last saved run
  --benchmark-json out/pytest.json                   then: edgebench import-pytest out/pytest.json
  --benchmark-disable (or -n 2 with pytest-xdist)    correctness smoke test: one inference each, checked vs fp32
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.pytest_pipeline import edgebench_pipeline_cases
from harness.pytest_plugin import edgebench_cases

SUITES = Path(__file__).resolve().parents[1] / "suites"
SUITE = SUITES / ("default.yaml" if os.environ.get("EDGEBENCH_FULL", "") not in ("", "0") else "quick.yaml")


@pytest.mark.edgebench(suite=SUITE)
def test_suite(edgebench_model, benchmark):
    """Every configuration of the suite; the suite's quality gates fail the test when they fail."""
    edgebench_model.measure(benchmark)


# An explicit configuration list (no suite file), with a quality gate of this test's own: dynamic int8
# must stay close to the fp32 output, or the test fails after its timing has been recorded.
@pytest.mark.parametrize("edgebench_case", edgebench_cases(
    models=["talking-head"], backends=["onnxruntime"], precisions=["int8-dynamic"],
    runner={"warmup": 5, "min_iterations": 30, "min_duration_s": 1.0}, gates={"sqnr_db": ">= 20"}))
def test_talking_head_dynamic_int8(edgebench_model, benchmark):
    record = edgebench_model.measure(benchmark)
    assert record.artifact_bytes is not None and record.artifact_bytes > 0


# A whole generation as one case: the talking-head pipeline at 4 steps, fp32 and dynamic int8; each
# pytest-benchmark round is one generation (audio encoder once, denoiser 4 times, frame decoder).
@pytest.mark.parametrize("edgebench_pipeline_case", edgebench_pipeline_cases(
    "talking-head-gen", steps=[4], precisions=["fp32", "int8-dynamic"]))
def test_talking_head_generation(edgebench_pipeline, benchmark):
    record = edgebench_pipeline.measure(benchmark)
    assert record.pipeline["generation_s"] > 0 and record.pipeline["stages"]["denoiser"]["calls"] == 4
