"""Trackers: what is measured around a run's phases, apart from the phases themselves.

Each tracker has one interface and the launchers call every tracker in a list, in order; neither
launcher nor runner knows a tracker by name. Adding a tracker (e.g. machine stability) is a class
here plus an entry in ``default_trackers``.

    start(target)   the run begins (before prepare); ``target.pid`` is the measured process, set
                    once it exists, ``target.phase`` the phase it is in
    settle()        just before the measured part: cool-downs, idle power
    tick()          about 50 Hz while the run is alive (the launcher's clock)
    window_open()   a timed window starts (called once the window's clock is about to start)
    window_close(window_ns, n_inferences)
    stop(result)    the run is over (``result`` is None when it failed) -> Figures
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.phases import ru_maxrss_bytes

if TYPE_CHECKING:  # pragma: no cover
    from harness.phases import PhaseResult

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Target:
    """The process a run lives in and the phase it is in (updated by the launcher)."""

    pid: int | None = None
    phase: str = "start"


@dataclass
class Figures:
    """What a tracker measured: record groups by field name (``memory``, ``power``, ``thermal``),
    raw samples, extra facts and warnings; ``harness.record.record_from`` puts them in the record."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Tracker:
    """No-op defaults: a tracker overrides what it needs."""

    def min_window_s(self) -> float:
        """The shortest timed window this tracker can measure well (a slow power sensor)."""
        return 0.0

    def start(self, target: Target) -> None:
        self.target = target

    def settle(self) -> None:
        pass

    def tick(self) -> None:
        pass

    def window_open(self) -> None:
        pass

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        pass

    def stop(self, result: PhaseResult | None) -> Figures:
        return Figures()


def rss_bytes(pid: int | None) -> int | None:
    """Resident set size of ``pid`` (None: this process) from /proc, or None where there is none."""
    try:
        with open(f"/proc/{pid if pid is not None else 'self'}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class MemoryTracker(Tracker):
    """Peak RSS per phase, sampled at each tick. ``in_process``: the run shares this process (the
    pytest plugin), so the figure includes pytest and earlier tests and the baseline is kept beside it."""

    def __init__(self, in_process: bool = False) -> None:
        self.in_process = in_process
        self.rss: dict[str, list[Any]] = {"t_ns": [], "bytes": [], "phase": []}
        self.baseline_bytes: int | None = None
        self._lock = threading.Lock()  # in-process, a side thread and the phase markers both tick

    def start(self, target: Target) -> None:
        super().start(target)
        if self.in_process:
            self.baseline_bytes = rss_bytes(None)

    def tick(self) -> None:
        pid = None if self.in_process else self.target.pid
        if pid is None and not self.in_process:
            return
        value = rss_bytes(pid)
        if value is not None:
            labels = self._labels()
            with self._lock:
                self.rss["t_ns"].append(time.perf_counter_ns())
                self.rss["bytes"].append(value)
                for key, label in labels.items():
                    self.rss[key].append(label)

    def _labels(self) -> dict[str, Any]:
        """What each sample is labelled with (a subclass adds its own labels, each a key of ``rss``)."""
        return {"phase": self.target.phase}

    def stop(self, result: PhaseResult | None) -> Figures:
        ru_maxrss = ru_maxrss_bytes() if self.in_process else (result.ru_maxrss_bytes if result else None)
        memory = memory_summary(self.rss, ru_maxrss, compare_os_peak=not self.in_process)
        apart = result.prepared_apart if result is not None else None
        if apart and apart.get("ru_maxrss_bytes"):
            # conversion/quantization ran in a process of its own: its peak is that process's high-water mark
            memory["prepare_process_peak_rss_bytes"] = apart["ru_maxrss_bytes"]
            memory["prepare_peak_rss_bytes"] = max(memory["prepare_peak_rss_bytes"] or 0, apart["ru_maxrss_bytes"])
        if self.in_process:
            overall = memory["peak_rss_bytes"]
            memory["baseline_rss_bytes"] = self.baseline_bytes
            memory["added_rss_bytes"] = (overall - self.baseline_bytes
                                         if overall is not None and self.baseline_bytes is not None else None)
            memory["source"] = ("/proc/self/statm sampled in the pytest process (includes pytest and earlier tests: "
                                "see baseline_rss_bytes)")
            if self.baseline_bytes is None:
                memory["reason"] = ("no /proc/self/statm on this system: the process high-water mark is in "
                                    "ru_maxrss_bytes")
        return Figures(groups={"memory": memory}, samples={"rss": self.rss})


def memory_summary(rss: dict[str, list[Any]], ru_maxrss: int | None, compare_os_peak: bool = True) -> dict[str, Any]:
    def peak(phases: set[str]) -> int | None:
        values = [b for b, p in zip(rss["bytes"], rss["phase"]) if p in phases]
        return max(values) if values else None

    prepare = peak({"start", "prepare"})
    load = peak({"load"})
    steady = peak({"first_inference", "warmup", "steady"})
    # What a deployment needs: loading and running. Conversion/quantization (prepare) happens offline.
    overall = max([v for v in (load, steady) if v is not None], default=None)
    everything = max([v for v in (prepare, load, steady) if v is not None], default=None)
    times = rss["t_ns"]
    rate = (len(times) - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 and times[-1] > times[0] else None
    memory: dict[str, Any] = {
        "peak_rss_bytes": overall,
        "prepare_peak_rss_bytes": prepare,
        "load_peak_rss_bytes": load,
        "steady_peak_rss_bytes": steady,
        "ru_maxrss_bytes": ru_maxrss,
        "sample_hz": rate,
        "source": "/proc/<pid>/statm sampled by the parent",
    }
    if overall is None:
        memory["reason"] = "the run ended before the first memory sample"
    elif compare_os_peak and ru_maxrss and everything:
        # ru_maxrss is the kernel's own high-water mark up to the end of steady state (prepare included);
        # sampling can only miss short peaks, so this ratio stays at or under ~1.
        memory["sampled_vs_os_peak"] = everything / ru_maxrss
    return memory


class CooldownTracker(Tracker):
    """Before the measured part, wait until the device is under its temperature threshold (at most
    ``seconds``); with no temperature sensor, a plain pause so heat from the previous run can leave."""

    def __init__(self, seconds: float, threshold_c: float, telemetry: Any = None) -> None:
        self.seconds, self.threshold_c, self.telemetry = seconds, threshold_c, telemetry
        self.result: dict[str, Any] | None = None

    def settle(self) -> None:
        if self.seconds <= 0:
            return
        if self.telemetry is not None:
            result = dict(self.telemetry.wait_for_cooldown(threshold_c=self.threshold_c, timeout_s=self.seconds))
            if result.get("reached") is not None:
                self.result = result
                return
        time.sleep(self.seconds)
        self.result = {"reached": None, "waited_s": self.seconds,
                       "reason": "no temperature sensor: paused for the fixed cool-down"}

    def stop(self, result: PhaseResult | None) -> Figures:
        return Figures(extra={"cooldown": self.result} if self.result is not None else {})


class TelemetryTracker(Tracker):
    """Power/energy and thermal state from the device's samplers (``devices.telemetry.Telemetry``):
    idle power when settling, samplers running through each timed window."""

    def __init__(self, telemetry: Any, idle_s: float = 0.0) -> None:
        self.telemetry, self.idle_s = telemetry, idle_s
        self.windows: list[Any] = []  # one TelemetryResult per timed window
        self._open = False

    def min_window_s(self) -> float:
        return self.telemetry.min_window_s()

    def settle(self) -> None:
        if self.idle_s > 0 and self.telemetry.total_samplers:
            self.telemetry.measure_idle(self.idle_s)

    def window_open(self) -> None:
        self.telemetry.start()
        self._open, self._w0 = True, time.perf_counter_ns()

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        self._open = False
        result = self.telemetry.stop(window_ns, n_inferences)
        result.power["window_inferences"] = n_inferences
        self.windows.append(result)

    def stop(self, result: PhaseResult | None) -> Figures:
        if self._open:  # an aborted window: stop the sampler threads
            self.telemetry.stop((self._w0, time.perf_counter_ns()), 0)
            self._open = False
        if not self.windows:
            return Figures()
        last = self.windows[-1]
        warnings = list(dict.fromkeys(w for r in self.windows for w in r.warnings))
        return Figures(groups={"power": combine_power([r.power for r in self.windows]),
                               "thermal": combine_thermal([r.thermal for r in self.windows])},
                       samples={"telemetry": last.samples}, extra={"telemetry_sources": last.sources},
                       warnings=warnings)


def combine_power(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The power group over every timed window (rounds): energies and durations add up, the mean is
    energy over time, the peak the highest peak; per inference over all the windows' inferences."""
    last = dict(windows[-1])
    if len(windows) == 1 or any(w.get("energy_j") is None or not w.get("window_s") for w in windows):
        return last  # one window, or a window without a figure: the last window's group says why
    energy_j = sum(w["energy_j"] for w in windows)
    window_s = sum(w["window_s"] for w in windows)
    n = sum(int(w.get("window_inferences") or 0) for w in windows)
    mean_w = energy_j / window_s
    idle_w = last.get("idle_w")
    last.update(
        energy_j=energy_j, window_s=window_s, mean_w=mean_w, window_inferences=n, windows=len(windows),
        peak_w=max(w["peak_w"] for w in windows if w.get("peak_w") is not None),
        energy_per_inference_mj=energy_j / n * 1000 if n > 0 else None,
        coverage=min(w.get("coverage", 1.0) for w in windows),
        net_w=None if idle_w is None else round(mean_w - idle_w, 9),
        net_energy_per_inference_mj=None if idle_w is None or n <= 0 else round(
            (energy_j - idle_w * window_s) / n * 1000, 9),
    )
    return last


def combine_thermal(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """Thermal state over the rounds: start of the first window, end of the last, throttled if any was."""
    out = dict(windows[-1])
    if len(windows) == 1:
        return out
    out["start_c"] = windows[0].get("start_c")
    flags = [w.get("throttled") for w in windows]
    if any(f is True for f in flags):
        out["throttled"] = True
        out["evidence"] = [e for w in windows for e in (w.get("evidence") or [])] or out.get("evidence")
    return out


class StabilityTracker(Tracker):
    """What perturbs timing on this machine: governor, boost, load and busy processes at the start
    (``devices.stability.snapshot``), and hypervisor steal time over each timed window."""

    def __init__(self, busy_interval_s: float = 0.2) -> None:
        self.busy_interval_s = busy_interval_s
        self.at_start: dict[str, Any] = {}
        self.windows: list[dict[str, Any]] = []

    def start(self, target: Target) -> None:
        from devices import stability

        super().start(target)
        self.at_start = stability.snapshot(self.busy_interval_s)
        self._window = stability.StabilityTracker()

    def window_open(self) -> None:
        self._window.start()

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        self.windows.append(self._window.stop())

    def stop(self, result: PhaseResult | None) -> Figures:
        from devices import stability

        group, warnings = stability.summarize(self.windows, self.at_start)
        group["steal_pct_per_window"] = [w.get("steal_pct") for w in self.windows]
        return Figures(extra={"stability": group}, warnings=warnings)


def default_trackers(telemetry: Any, runner: Any, device_options: dict[str, Any],
                     in_process: bool = False) -> list[Tracker]:
    """The trackers of a run, in the order they settle: memory, cool-down, then power/thermal."""
    trackers: list[Tracker] = [MemoryTracker(in_process=in_process)]
    threshold_c = float(device_options.get("cooldown_threshold_c", 50.0))
    trackers.append(CooldownTracker(runner.cooldown_s, threshold_c, telemetry))
    if telemetry is not None:
        trackers.append(TelemetryTracker(telemetry, runner.idle_s))
    trackers.append(StabilityTracker())
    return trackers
