"""Pipeline phases without a child process: the window's stop rule (max_duration_s caps the power
sensor's lengthening, with a warning), an empty window becomes a failed record, and stage preparation
uses one backend instance per stage and closes it. Stage backends here are FAKES
(tests/harness/faulty_backends.py) where the figure needs no runtime."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.pipeline_record import base_record, fill_record
from harness.pipeline_run import (
    PipelinePhases,
    PipelineResult,
    _Child,
    _generation_loop,
    _prepare_stages,
    expand_pipelines,
)
from harness.suite import RunnerSettings, parse_suite
from tests.harness.pipeline_models import build_three, pipeline_entry

pytest.importorskip("onnx")


def _plan(tmp_path, backend="onnxruntime", **runner):
    files = build_three(tmp_path / "m")
    suite = parse_suite({"name": "t", "pipelines": [pipeline_entry(files, steps=[2])], "precisions": ["fp32"],
                         "backends": [backend], "runner": {"idle_s": 0, **runner}})
    (plan,) = expand_pipelines(suite, suite.runner)
    return plan


def test_the_power_window_stops_at_max_duration():
    t = [0]

    def clock():
        return t[0]

    def generate(feeds):
        t[0] += 1_000_000_000  # each generation takes 1 s on the fake clock
        return SimpleNamespace(total_ns=1_000_000_000)

    latencies, n = _generation_loop(generate, [[{}]], wanted=3, min_s=10.0, max_s=5.0, clock=clock)
    assert n == len(latencies) == 5  # lengthened past 3 for the sensor, but not past max_duration_s
    t[0] = 0
    assert _generation_loop(generate, [[{}]], wanted=3, min_s=0.0, max_s=1.0, clock=clock)[1] == 3  # never under 3


def test_a_lengthened_window_says_so_and_when_it_is_capped():
    phases = SimpleNamespace(plan=SimpleNamespace(runner=RunnerSettings(max_duration_s=5.0),
                                                  pipeline=SimpleNamespace(generations=3)),
                             min_window_s=10.0, result=PipelineResult())
    assert PipelinePhases.window_bounds_s(phases) == (10.0, 5.0)
    (note,) = phases.result.warnings
    assert "lengthened to 5 s" in note and "capped by max_duration_s (5 s)" in note


def test_an_empty_window_is_a_failed_record_with_the_reason(tmp_path):
    plan = _plan(tmp_path)
    ctx = SimpleNamespace(device={"name": "host"}, environment={})
    record = base_record(plan, ctx)
    result = PipelineResult(stages={s.name: {"sha256": "ab", "precision": "fp32", "backend": "onnxruntime"}
                                    for s in plan.pipeline.stages})
    fill_record(record, plan, result)  # no generation, no window: no ZeroDivisionError
    assert record.status == "failed" and "no generation finished" in record.reason


def test_each_stage_is_prepared_by_one_backend_instance_then_closed(tmp_path):
    from tests.harness.faulty_backends import CountingBackend

    plan = _plan(tmp_path, backend="tests.harness.faulty_backends:CountingBackend")
    CountingBackend.made.clear()
    CountingBackend.closed.clear()
    info: dict = {}
    _prepare_stages(_Child(plan, tmp_path / "cache", None), info)
    assert len(CountingBackend.made) == 3 and sorted(CountingBackend.closed) == sorted(CountingBackend.made)
    assert set(info) == {"encoder", "denoiser", "decoder"} and all(i["sha256"] for i in info.values())
