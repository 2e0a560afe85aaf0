"""Trackers: one interface, composed in a list by the launchers, which know none by name."""

from __future__ import annotations

import sys

import pytest

from backends.null import NullBackend
from harness.launchers import InProcessLauncher
from harness.phases import Phases
from harness.plan import RunPlan
from harness.record import base_record, record_from
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings
from harness.trackers import Figures, MemoryTracker, Tracker

QUICK = RunnerSettings(warmup=1, min_iterations=5, min_duration_s=0.0, max_duration_s=5.0, idle_s=0.0, rounds=1)


class CountingTracker(Tracker):
    """A tracker added without touching the launcher: its figures land in the record."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, target):
        super().start(target)
        self.calls.append("start")

    def settle(self):
        self.calls.append("settle")

    def window_open(self):
        self.calls.append("open")

    def window_close(self, window_ns, n_inferences):
        self.calls.append(f"close:{n_inferences}")

    def stop(self, result):
        self.calls.append("stop")
        return Figures(extra={"counted": len(self.calls)}, warnings=["counted"])


def test_in_process_launcher_drives_every_tracker_and_the_record_takes_their_figures(tiny_onnx, tmp_path):
    plan = RunPlan(model=ModelSpec(name="tiny", path=str(tiny_onnx)), backend=BackendSpec("null"),
                   precision=PrecisionSpec("fp32"), runner=QUICK, data=DataSettings(evaluation=0)
                   ).resolved(tmp_path / "zoo")
    counting = CountingTracker()
    launcher = InProcessLauncher([MemoryTracker(in_process=True), counting]).start()
    launcher.settle()
    result = Phases(plan, NullBackend(), tmp_path, launcher.listener).run()
    record = record_from(plan, result, base_record(plan, {"name": "host"}, {}), launcher.stop(result))
    assert counting.calls == ["start", "settle", "open", "close:5", "stop"]
    assert record.extra["counted"] == 5 and "counted" in record.warnings
    if sys.platform.startswith("linux"):
        assert record.memory["peak_rss_bytes"] >= record.memory["baseline_rss_bytes"] > 0
        assert set(record.samples["rss"]["phase"]) >= {"load", "steady"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/statm")
def test_memory_tracker_splits_peaks_by_phase():
    from harness.trackers import Target

    tracker = MemoryTracker(in_process=True)
    target = Target()
    tracker.start(target)
    for phase in ("prepare", "load", "steady", "evaluation"):
        target.phase = phase
        tracker.tick()
    memory = tracker.stop(None).groups["memory"]
    assert memory["prepare_peak_rss_bytes"] > 0 and memory["load_peak_rss_bytes"] > 0
    assert memory["peak_rss_bytes"] == max(memory["load_peak_rss_bytes"], memory["steady_peak_rss_bytes"])
