"""Phases: the stop rule, repeated timed windows, hooks with defaults, listener order (null backend)."""

from __future__ import annotations

from backends.base import Variant
from backends.null import NullBackend
from harness.phases import Phases, timed_loop
from harness.plan import RunPlan
from harness.record import base_record, record_from
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings


def test_stop_rule_needs_iterations_and_duration():
    calls = []
    lat, n = timed_loop(lambda f: calls.append(1), [{}], min_iterations=50, min_duration_s=0.0, max_duration_s=10)
    assert len(lat) == 50 == len(calls) == n
    # the cap wins over min_iterations
    lat, n = timed_loop(lambda f: None, [{}], min_iterations=10**9, min_duration_s=0.0, max_duration_s=0.05)
    assert 0 < len(lat) < 10**9


# -- the phases in this process, against the null backend -----------------------------------------------

QUICK = RunnerSettings(warmup=2, min_iterations=7, min_duration_s=0.0, max_duration_s=5.0, idle_s=0.0, rounds=1)


class Recorder:
    """A listener that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[object] = []

    def phase(self, name):
        self.heard.append(name)

    def window_open(self):
        self.heard.append("open")

    def window_close(self, window_ns, n_inferences):
        self.heard.append(("close", n_inferences))

    def round_ready(self, index):
        self.heard.append(("round", index))
        return index == 1  # as if other plans ran before round 1


class DeployedBackend(NullBackend):
    """A fake whose shipped file differs from its artifact (as a TensorRT engine built at load)."""

    name = ""

    def deployed_bytes(self, artifact):
        return 4242


def _plan(tiny_onnx, tmp_path, precision="fp32"):
    plan = RunPlan(model=ModelSpec(name="tiny", path=str(tiny_onnx)), backend=BackendSpec("null"),
                   precision=PrecisionSpec(precision), runner=QUICK, data=DataSettings(evaluation=0))
    return plan.resolved(tmp_path / "zoo")


def test_default_sequence_tells_the_listener_each_phase_in_order(tiny_onnx, tmp_path):
    heard = Recorder()
    result = Phases(_plan(tiny_onnx, tmp_path), NullBackend(), tmp_path, heard).run()
    assert heard.heard == ["prepare", "load", "first_inference", "warmup", ("round", 0), "steady", "open",
                           ("close", 7)]
    assert len(result.windows) == 1 and len(result.windows[0].latency_ns) == 7
    assert result.prepare_s is not None and result.first_inference_ms is not None and result.warmup_iterations == 2
    assert result.quality is None  # evaluation 0: nothing scored


def test_rounds_wait_for_their_turn_and_rewarm_before_each_later_window(tiny_onnx, tmp_path):
    from dataclasses import replace

    heard = Recorder()
    plan = _plan(tiny_onnx, tmp_path)
    plan = replace(plan, runner=replace(plan.runner, rounds=3, rewarm=1))
    result = Phases(plan, NullBackend(), tmp_path, heard).run()
    window = ["steady", "open", ("close", 7)]
    assert heard.heard == ["prepare", "load", "first_inference", "warmup", ("round", 0), *window,
                           ("round", 1), "warmup", *window, ("round", 2), "warmup", *window]
    assert len(result.windows) == 3
    assert result.warmup_iterations == 2 + 1 + 1  # the warm-up, then one re-warm call per later round


def test_timed_window_repeats_and_times_any_call(tiny_onnx, tmp_path):
    phases = Phases(_plan(tiny_onnx, tmp_path), NullBackend(), tmp_path)
    phases.prepare()
    phases.load()
    phases.timed_window()
    phases.warmup(1)  # a second round: re-warm, then another window
    calls: list[int] = []
    phases.timed_window(call=calls.append, args=[1, 2, 3], min_iterations=4)
    assert [len(w.latency_ns) for w in phases.result.windows] == [7, 4]
    assert calls == [1, 2, 3, 1]


def test_extra_passes_run_after_the_timed_window(tiny_onnx, tmp_path):
    heard = Recorder()
    passes = [("profile", lambda p: {"windows_before": len(p.result.windows)})]
    result = Phases(_plan(tiny_onnx, tmp_path), NullBackend(), tmp_path, heard, passes=passes).run()
    assert result.passes == {"profile": {"windows_before": 1}}
    assert heard.heard.index("profile") > heard.heard.index(("close", 7))


def test_backend_hooks_have_defaults():
    backend = NullBackend()
    assert backend.device_time_ms() is None and not backend.has_device_time()
    assert backend.needs_calibration(Variant("int8")) and backend.needs_calibration(Variant("int8-mixed"))
    assert not backend.needs_calibration(Variant("int8", {"prebuilt": True}))
    assert not backend.needs_calibration(Variant("int8-dynamic")) and not backend.needs_calibration(Variant("fp32"))


def test_record_takes_the_deployed_bytes_from_the_backend_hook(tiny_onnx, tmp_path):
    plan = _plan(tiny_onnx, tmp_path)
    result = Phases(plan, DeployedBackend(), tmp_path).run()
    record = record_from(plan, result, base_record(plan, {"name": "host"}, {}))
    assert record.artifact_bytes == 4242 != record.artifact["bytes"]
    assert record.latency_ms["n"] == 7 and record.samples["latency_ms"]
    assert record.model["sha256"] == plan.source.sha256
