"""A pipeline whose stage crashes or hangs becomes a failed record with the reason; the run's own
process takes the blow (FAKE faulty adapters from tests/harness/faulty_backends.py on one stage)."""

from __future__ import annotations

import pytest

from harness.pipeline_run import expand_pipelines, run_pipeline_plan
from harness.runner import RunContext
from harness.suite import parse_suite
from tests.harness.pipeline_models import build_three, pipeline_entry

pytest.importorskip("onnxruntime")


def _run(tmp_path, adapter: str, timeout_s: float = 120.0):
    files = build_three(tmp_path / "m")
    entry = pipeline_entry(files, steps=[2])
    entry["stages"][2]["backend"] = f"tests.harness.faulty_backends:{adapter}"  # the decoder only
    suite = parse_suite({"name": "faulty", "pipelines": [entry], "precisions": ["fp32"],
                         "runner": {"timeout_s": timeout_s, "idle_s": 0}, "data": {"evaluation": 1}})
    (plan,) = expand_pipelines(suite, suite.runner)
    return run_pipeline_plan(plan, RunContext(out_dir=tmp_path / "out"))


@pytest.mark.slow
def test_a_crashing_stage_is_a_failed_record(tmp_path):
    record = _run(tmp_path, "AbortingBackend")
    assert record.status == "failed" and "SIGABRT" in record.reason
    assert record.pipeline["name"] == "my-gen" and record.pipeline["stages"]["decoder"]["backend"].endswith(
        "AbortingBackend")


@pytest.mark.slow
def test_a_hanging_stage_times_out(tmp_path):
    record = _run(tmp_path, "HangingBackend", timeout_s=15.0)
    assert record.status == "failed" and "timed out after 15 s" in record.reason
