"""The runner with the null backend, real onnxruntime and deliberately faulty adapters."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import TensorSpec
from harness.plan import RunPlan
from harness.runner import RunContext, resolve_specs, run_plan
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings

QUICK = RunnerSettings(warmup=2, min_iterations=20, min_duration_s=0.0, max_duration_s=5.0, timeout_s=60.0,
                       idle_s=0.0)


def plan_for(model_path, backend="onnxruntime", precision="fp32", runner=QUICK, evaluation=2):
    return RunPlan(
        model=ModelSpec(name="tiny", path=str(model_path)),
        backend=BackendSpec(backend),
        precision=PrecisionSpec(precision),
        runner=runner,
        data=DataSettings(evaluation=evaluation, calibration=4),
    )


def test_onnxruntime_run_records_phases_latency_and_memory(tiny_onnx, tmp_path):
    record = run_plan(plan_for(tiny_onnx), RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    assert record.latency_ms["n"] >= 20
    assert len(record.samples["latency_ms"]) == record.latency_ms["n"]
    assert record.latency_ms["min"] <= record.latency_ms["p50"] <= record.latency_ms["max"]
    assert record.load_s > 0 and record.first_inference_ms > 0 and record.prepare_s >= 0
    assert record.memory["peak_rss_bytes"] > 10_000_000  # a Python process with onnxruntime loaded
    assert record.memory["ru_maxrss_bytes"] >= record.memory["steady_peak_rss_bytes"] * 0.9
    assert record.artifact_bytes == tiny_onnx.stat().st_size
    assert record.backend["version"]
    # fp32 on its own reference runtime: identical outputs
    assert record.quality["cosine"] == pytest.approx(1.0)
    # unmeasured figures are None with a reason, never 0
    assert record.power["energy_j"] is None and record.power["reason"]


def test_null_backend_measures_harness_overhead(tiny_onnx, tmp_path):
    record = run_plan(plan_for(tiny_onnx, backend="null", evaluation=0), RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    # behaviour, not speed (the overhead figure is benchmarks/overhead.py's job): every iteration was timed
    # and the null backend answered with the model's declared output shape
    assert record.latency_ms["n"] == len(record.samples["latency_ms"]) >= 20
    assert record.extra["outputs"] == [{"name": "y", "shape": [1, 4], "dtype": "float32", "layout": None}]


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        ("RaisingBackend", "kaboom from a faulty adapter"),
        ("AbortingBackend", "SIGABRT"),
        ("SegfaultingBackend", "SIGSEGV"),
    ],
)
def test_faulty_adapter_becomes_failed_record(tiny_onnx, tmp_path, adapter, expected):
    plan = plan_for(tiny_onnx, backend=f"tests.harness.faulty_backends:{adapter}", evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "failed"
    assert expected in record.reason
    assert record.phase in ("first_inference", "warmup", "steady")


def test_what_preparation_leaves_in_memory_is_not_the_runs(tiny_onnx, tmp_path):
    """Conversion and quantization run in a process of their own before the run's process loads the
    artifact (a cache read), so a converter that keeps 256 MiB (a fake) does not count as the deployment's."""
    plan = plan_for(tiny_onnx, backend="tests.harness.faulty_backends:HoardingBackend", evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    memory = record.memory
    mib = 1024 * 1024
    assert memory["prepare_process_peak_rss_bytes"] > 256 * mib  # the preparation's own high-water mark
    assert memory["prepare_peak_rss_bytes"] >= memory["prepare_process_peak_rss_bytes"]
    assert memory["peak_rss_bytes"] < memory["prepare_process_peak_rss_bytes"] - 128 * mib


def test_a_crash_while_preparing_is_a_failed_record(tiny_onnx, tmp_path):
    plan = plan_for(tiny_onnx, backend="tests.harness.faulty_backends:AbortingInPrepareBackend", evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "failed" and record.phase == "prepare"
    assert "preparation process ended without an answer" in record.reason


def test_hanging_adapter_times_out(tiny_onnx, tmp_path):
    # generous enough for the child to start and import on a loaded 2-core machine, then hang in load
    runner = RunnerSettings(warmup=1, min_iterations=1, min_duration_s=0.0, max_duration_s=1.0, timeout_s=20.0,
                            idle_s=0.0)
    plan = plan_for(tiny_onnx, backend="tests.harness.faulty_backends:HangingBackend", runner=runner, evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "failed"
    assert "timed out after 20 s" in record.reason and "phase load" in record.reason


def test_unavailable_precision_is_skipped_with_reason(tmp_path):
    from harness.suite import ModelSpec

    plan = RunPlan(model=ModelSpec(name="pair", variants={"fp32": str(tmp_path / "x.onnx")}),
                   backend=BackendSpec("onnxruntime"), precision=PrecisionSpec("int8"), runner=QUICK)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "skipped"
    assert "no int8 file" in record.reason


def test_resolve_specs_fixes_dynamic_dims_or_says_how():
    specs = [TensorSpec("x", ("batch", 16), "float32")]
    resolved, notes = resolve_specs(specs, {})
    assert resolved[0].shape == (1, 16) and notes
    resolved, notes = resolve_specs(specs, {"x": [4, 16]})
    assert resolved[0].shape == (4, 16) and not notes
    with pytest.raises(ValueError, match="does not fit"):
        resolve_specs(specs, {"x": [4, 8]})
    with pytest.raises(ValueError, match="--shape img=NxNx3"):
        resolve_specs([TensorSpec("img", ("n", "h", 3), "float32")], {})
    with pytest.raises(ValueError, match="model's inputs"):
        resolve_specs(specs, {"nope": [1]})


def test_fresh_inputs_cycles_distinct_arrays(tiny_onnx, tmp_path):
    runner = RunnerSettings(warmup=0, min_iterations=32, min_duration_s=0.0, max_duration_s=5.0, timeout_s=60.0,
                            fresh_inputs=True, idle_s=0.0)
    record = run_plan(plan_for(tiny_onnx, runner=runner, evaluation=0), RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    assert np.isfinite(record.latency_ms["p50"])


def test_outputs_named_differently_are_matched_by_position(tiny_onnx, tmp_path):
    from backends.base import ModelSource
    from harness.reference import reference_outputs
    from harness.runner import score

    source = ModelSource.from_path(tiny_onnx, name="tiny")
    feeds = [{"x": np.random.default_rng(i).standard_normal((1, 16)).astype(np.float32)} for i in range(2)]
    expected = reference_outputs(source, feeds, tmp_path / "ref")
    renamed = [{"y_int8": e["y"] + 0.01} for e in expected]
    scores = score(plan_for(tiny_onnx), source, source, feeds, renamed, tmp_path)
    assert scores["reference"]["matched_by_position"] == {"y": "y_int8"}
    assert 10 < scores["sqnr_db"] < 100
    extra = [{"y_int8": e["y"], "other": e["y"]} for e in expected]
    assert "missing" in score(plan_for(tiny_onnx), source, source, feeds, extra, tmp_path)["reason"]


# -- rounds -----------------------------------------------------------------------------------------

def test_rounds_are_interleaved_across_the_precisions_of_a_backend_each_in_its_own_process(tiny_onnx, tmp_path):
    from dataclasses import replace

    from harness.runner import interleave_groups, run_plans

    runner = replace(QUICK, min_iterations=20, rounds=3, rewarm=1)
    backend = "tests.harness.faulty_backends:Fp16AbortsInSecondRound"
    plans = [plan_for(tiny_onnx, backend=backend, precision=p, runner=runner, evaluation=0)
             for p in ("fp32", "fp16", "int8")]
    assert interleave_groups(plans) == [[0, 1, 2]]
    records = dict(run_plans(plans, RunContext(out_dir=tmp_path)))
    fp32, fp16, int8 = records[0], records[1], records[2]
    # the crash in round 2 fails only its own plan; the others run every round
    assert fp16.status == "failed" and "SIGABRT" in fp16.reason
    for r in (fp32, int8):
        assert r.status == "ok", r.reason
        assert r.latency_ms["rounds"] == 3 and len(r.latency_ms["round_p50"]) == 3
        assert r.latency_ms["p50_ci95"] is not None
        assert sorted(r.samples["round_sizes"]) == [20, 20, 20]
    assert fp32.extra["rounds"]["session"] == int8.extra["rounds"]["session"]
    # rotating order: fp32 led round 0, int8 (second once fp16 was gone... or third) never always first
    assert fp32.extra["rounds"]["positions"][0] == 0 and int8.extra["rounds"]["positions"] != [0, 0, 0]


def test_groups_split_by_backend_and_interleave_off(tiny_onnx):
    from dataclasses import replace

    from harness.runner import interleave_groups

    a = [plan_for(tiny_onnx, backend="null", precision=p) for p in ("fp32", "fp16")]
    b = [plan_for(tiny_onnx, precision=p) for p in ("fp32", "fp16")]
    assert interleave_groups(a + b) == [[0, 1], [2, 3]]
    off = [replace(p, runner=replace(p.runner, interleave=False)) for p in a]
    assert interleave_groups(off) == [[0], [1]]
    one_round = [replace(p, runner=replace(p.runner, rounds=1)) for p in a]
    assert interleave_groups(one_round) == [[0], [1]]


def test_executed_precision_is_recorded_and_matches_an_fp32_label(tiny_onnx, tmp_path):
    record = run_plan(plan_for(tiny_onnx, evaluation=0), RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    assert record.executed_precision["precision"] == "fp32"
    assert record.executed_precision["by_type"]["fp32"] > 0
    assert not any("precision mismatch" in w for w in record.warnings)


def test_a_runtime_that_ran_another_precision_is_flagged(tiny_onnx, tmp_path):
    plan = plan_for(tiny_onnx, backend="tests.harness.faulty_backends:MislabellingBackend", evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    assert record.precision == "fp32" and record.executed_precision["precision"] == "bf16"
    assert any(w.startswith("precision mismatch: labelled fp32 but the runtime executed bf16") for w in record.warnings)


def test_a_failing_read_back_is_unknown_not_a_failed_run(tiny_onnx, tmp_path):
    plan = plan_for(tiny_onnx, backend="tests.harness.faulty_backends:UnreadableBackend", evaluation=0)
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "ok", record.reason
    assert record.executed_precision["precision"] is None
    assert "no runtime model here" in record.executed_precision["reason"]
