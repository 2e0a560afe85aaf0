"""The one object the runner talks to about power, energy and thermal state.

The runner calls ``measure_idle`` before a run, ``start`` when the timed window opens and
``stop`` when it closes; it never learns which sensors exist. Figures that no source could
measure come back as ``None`` with the reasons of every source that was tried.

Power sources are grouped (``Sampler.power_group``): sources in one group are alternatives (the
INA3221 files, else ``tegrastats``), the first available is used; different groups measure
different parts (RAPL the CPU package, NVML the GPU) and are added. An external meter measures the
whole input, so when one is configured it alone gives the total and the others are kept as detail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from devices import energy
from devices import thermal as thermal_mod
from devices.base import Sampler, Samples
from devices.linux import utilisation_pct
from results.schema import POWER_FIELDS  # the record's contract owns the names (devices may import results)

__all__ = ["POWER_FIELDS", "Telemetry", "TelemetryResult"]
MIN_COVERAGE = 0.9


@dataclass
class TelemetryResult:
    power: dict[str, Any]
    thermal: dict[str, Any]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str | None] = field(default_factory=dict)


@dataclass
class SourceEnergy:
    """One power source's view of a window (or of the idle period)."""

    name: str
    result: energy.WindowEnergy
    series_t_ns: list[int]  # instantaneous power over time (for the peak of a sum of sources)
    series_w: list[float]
    rails_w: dict[str, float]


def _counter_total_j(trace: Samples) -> list[float] | None:
    """Sum of a trace's unwrapped energy counters, in joules, per sample."""
    counters = trace.meta.get("counters") or {}
    totals: list[float] | None = None
    for ch, spec in counters.items():
        if ch not in trace.channels:
            continue
        cum = energy.unwrap_counter(trace.channels[ch], spec.get("max_range"))
        joules = [v * spec.get("to_j", 1.0) for v in cum]
        totals = joules if totals is None else [a + b for a, b in zip(totals, joules)]
    return totals


def source_energy(trace: Samples, window_ns: tuple[int, int]) -> SourceEnergy:
    """Energy of one source over the window: its counters when it has them, else its total power."""
    if not trace.t_ns:
        raise ValueError(f"{trace.source}: no readings")
    cum = _counter_total_j(trace)
    if cum is not None:
        res = energy.counter_window(trace.t_ns, cum, window_ns)
        t, w = [], []
        for i in range(1, len(trace.t_ns)):
            dt = trace.t_ns[i] - trace.t_ns[i - 1]
            if dt > 0:
                t.append((trace.t_ns[i] + trace.t_ns[i - 1]) // 2)
                w.append((cum[i] - cum[i - 1]) * energy.NS_PER_S / dt)
        return SourceEnergy(trace.source, res, t, w, {})
    if "power_w" not in trace.channels:
        reason = trace.meta.get("total_rule") or "no total power channel"
        raise ValueError(f"{trace.source}: {reason}")
    res = energy.power_window(trace.t_ns, trace.channels["power_w"], window_ns)
    rails = {}
    for ch, vs in trace.channels.items():
        if ch.startswith("power_w:"):
            rails[ch.split(":", 1)[1]] = energy.power_window(trace.t_ns, vs, window_ns).mean_w
    return SourceEnergy(trace.source, res, list(trace.t_ns), list(trace.channels["power_w"]), rails)


def idle_power_w(trace: Samples) -> float | None:
    """Mean power over a whole idle trace."""
    if len(trace.t_ns) < 1:
        return None
    if len(trace.t_ns) >= 2 and trace.t_ns[-1] > trace.t_ns[0]:
        return source_energy(trace, (trace.t_ns[0], trace.t_ns[-1])).result.mean_w
    if "power_w" in trace.channels:
        return energy.mean_power_w(trace.t_ns, trace.channels["power_w"])
    return None


class Telemetry:
    def __init__(self, samplers: list[Sampler] | None = None) -> None:
        self.all_samplers = list(samplers or [])
        self.sources: dict[str, str | None] = {}
        for s in self.all_samplers:
            try:
                self.sources[s.name] = s.available()
            except Exception as exc:  # availability must never stop a run
                self.sources[s.name] = f"availability check failed: {type(exc).__name__}: {exc}"
        available = [s for s in self.all_samplers if self.sources[s.name] is None]
        self.power_samplers: list[Sampler] = []
        self.alternatives_unused: dict[str, str] = {}
        chosen_groups: dict[str, str] = {}
        for s in available:
            group = s.power_group
            if group is None:
                continue
            if group in chosen_groups:
                self.alternatives_unused[s.name] = f"not used: {chosen_groups[group]} measures the same power"
                continue
            chosen_groups[group] = s.name
            self.power_samplers.append(s)
        meter = [s for s in self.power_samplers if s.power_group == "meter"]
        # The meter sees the whole input: it is the total, the others are detail.
        self.total_samplers = meter or list(self.power_samplers)
        self.samplers = [s for s in available if s.name not in self.alternatives_unused]
        self._thermal_names = {s.name for s in self.all_samplers if s.thermal}
        self.idle_w: float | None = None
        self.idle_reason: str | None = "idle power not measured"
        self.idle_by_source: dict[str, float | None] = {}
        self._started = False
        self._errors: list[str] = []
        self._running: list[Sampler] = []

    @classmethod
    def for_profile(cls, profile: Any) -> Telemetry:
        """The profile's samplers (``profile.samplers()``)."""
        return cls(profile.samplers())

    # -- before the run ------------------------------------------------------------------------------
    def update_period_s(self) -> float:
        return max((s.update_period_s or 0.0 for s in self.total_samplers), default=0.0)

    def min_window_s(self) -> float:
        """The timed window must span ~10 updates of the slowest power source to be trustworthy."""
        return energy.min_window_s(self.update_period_s())

    def measure_idle(self, seconds: float) -> None:
        """Idle power just before the run: the power sources alone, for ``seconds``."""
        if not self.total_samplers:
            self.idle_reason = "no power source"
            return
        if seconds <= 0:
            self.idle_reason = "idle measurement disabled (0 s)"
            return
        for s in self.power_samplers:
            s.start()
        threading.Event().wait(seconds)  # a plain wait: nothing else runs, nothing busy-waits
        traces = {s.name: s.stop() for s in self.power_samplers}
        self.set_idle(traces)

    def set_idle(self, traces: dict[str, Samples]) -> None:
        total = 0.0
        missing = []
        for s in self.power_samplers:
            trace = traces.get(s.name)
            try:
                w = idle_power_w(trace) if trace is not None else None
            except ValueError as exc:
                w, missing = None, [*missing, str(exc)]
            self.idle_by_source[s.name] = w
            if s in self.total_samplers:
                if w is None:
                    missing.append(f"{s.name}: no idle readings")
                else:
                    total += w
        if missing:
            self.idle_w, self.idle_reason = None, "; ".join(missing)
        else:
            self.idle_w, self.idle_reason = total, None

    def read_temperature_c(self) -> float | None:
        """The hottest temperature the thermal samplers can read now (for cool-downs)."""
        temps = []
        for s in self.samplers:
            try:
                values = s.read()
            except Exception:
                continue
            temps += [v for k, v in values.items() if k.startswith("temp_c")]
        return max(temps) if temps else None

    def wait_for_cooldown(self, threshold_c: float, timeout_s: float, poll_s: float = 1.0) -> dict[str, Any]:
        return thermal_mod.wait_for_cooldown(threshold_c, timeout_s, self.read_temperature_c, poll_s)

    # -- the timed window --------------------------------------------------------------------------
    def start(self) -> None:
        self._errors = []
        self._running = []
        for s in self.samplers:
            try:
                s.start()
                self._running.append(s)
            except Exception as exc:
                self._errors.append(f"{s.name} did not start: {type(exc).__name__}: {exc}")
        self._started = True

    def stop(self, window_ns: tuple[int, int], n_inferences: int) -> TelemetryResult:
        traces: dict[str, Samples] = {}
        warnings = list(self._errors)
        for s in self._running:
            try:
                traces[s.name] = s.stop()
            except Exception as exc:
                warnings.append(f"{s.name} failed when stopping: {type(exc).__name__}: {exc}")
        self._running = []
        return self.summarize(traces, window_ns, n_inferences, warnings)

    def summarize(self, traces: dict[str, Samples], window_ns: tuple[int, int], n_inferences: int,
                  warnings: list[str] | None = None) -> TelemetryResult:
        """Power and thermal groups from traces (``stop`` passes what its samplers recorded)."""
        warnings = list(warnings or [])
        for name, trace in traces.items():
            if trace.meta.get("read_errors"):
                errs = "; ".join(trace.meta.get("errors", []))
                warnings.append(f"{name}: {trace.meta['read_errors']} failed reads ({errs})")
        power = self._power(traces, window_ns, n_inferences, warnings)
        thermal = thermal_mod.summarize(traces, window_ns)
        if thermal["reason"]:
            unavailable = "; ".join(f"{k}: {v}" for k, v in self.sources.items()
                                    if v and k in self._thermal_names)
            if unavailable:
                thermal["reason"] += f" ({unavailable})"
        util = traces.get("cpu_util")
        if util is not None and "cpu_busy_s" in util.channels:
            busy = [energy.value_at(t, util.t_ns, util.channels["cpu_busy_s"]) for t in window_ns]
            total = [energy.value_at(t, util.t_ns, util.channels["cpu_total_s"]) for t in window_ns]
            thermal["cpu_util_pct"] = utilisation_pct(busy, total)
        mode = traces.get("jetson_power_mode")
        if mode is not None:
            start, end = mode.meta.get("start") or {}, mode.meta.get("end") or {}
            power["power_mode"] = start.get("power_mode")
            thermal["jetson_clocks"] = start.get("jetson_clocks")
            if start and end and start.get("power_mode") != end.get("power_mode"):
                warnings.append("the Jetson power mode changed during the run")
        sources = dict(self.sources)
        return TelemetryResult(power=power, thermal=thermal,
                               samples={k: v.to_dict() for k, v in traces.items()},
                               warnings=warnings, sources=sources)

    def _unavailable(self, reason: str) -> dict[str, Any]:
        power: dict[str, Any] = dict.fromkeys(POWER_FIELDS)
        power["reason"] = reason
        return power

    def _why_no_power(self) -> str:
        why = "; ".join(f"{s.name}: {self.sources[s.name]}" for s in self.all_samplers
                        if s.power_group and self.sources.get(s.name))
        return f"no power or energy source available ({why or 'no power source configured for this device'})"

    def _power(self, traces: dict[str, Samples], window_ns: tuple[int, int], n: int,
               warnings: list[str]) -> dict[str, Any]:
        if not self.total_samplers:
            return self._unavailable(self._why_no_power())
        w0, w1 = window_ns
        window_s = (w1 - w0) / energy.NS_PER_S
        if w1 <= w0:
            return self._unavailable(f"empty timed window ({w0}..{w1} ns)")
        per_source: dict[str, SourceEnergy] = {}
        failed: list[str] = []
        for s in self.power_samplers:
            trace = traces.get(s.name)
            try:
                if trace is None:
                    raise ValueError(f"{s.name}: not running")
                per_source[s.name] = source_energy(trace, window_ns)
            except ValueError as exc:
                failed.append(str(exc))
        total_names = [s.name for s in self.total_samplers]
        missing = [f for f in failed if f.split(":")[0] in total_names]
        if missing or not all(n_ in per_source for n_ in total_names):
            return self._unavailable("power source gave no usable readings: " + "; ".join(failed or missing))
        parts = [per_source[n_] for n_ in total_names]
        energy_j = sum(p.result.energy_j for p in parts)
        mean_w = energy_j / window_s
        if len(parts) == 1:
            peak_w = parts[0].result.peak_w
        else:  # the peak of a sum: add every source's power at each instant where one was read
            times = sorted({t for p in parts for t in p.series_t_ns if w0 <= t <= w1} | {w0, w1})
            peak_w = max(sum(energy.value_at(t, p.series_t_ns, p.series_w) for p in parts if p.series_t_ns)
                         for t in times)
        hz = [p.result.sample_hz for p in parts if p.result.sample_hz]
        cover = min(p.result.coverage for p in parts)
        sampler_by_name = {s.name: s for s in self.power_samplers}
        update = self.update_period_s()
        advice = energy.lengthen_advice(window_s, update, "+".join(total_names))
        if advice:
            warnings.append(advice)
        if cover < MIN_COVERAGE:
            warnings.append(f"power readings cover only {cover:.0%} of the timed window: edge values were held")
        rails: dict[str, float] = {}
        for p in per_source.values():
            rails.update({f"{p.name}:{k}": v for k, v in p.rails_w.items()})
        idle_w = self.idle_w
        power: dict[str, Any] = {
            "mean_w": mean_w,
            "peak_w": peak_w,
            "idle_w": idle_w,
            "energy_j": energy_j,
            "energy_per_inference_mj": energy.energy_per_inference_mj(energy_j, n),
            "source": "+".join(total_names),
            "sample_hz": min(hz) if hz else None,
            "reason": None,
            # Rounded to the nW: gross - idle of a constant source is 0, not -1.8e-15.
            "net_w": None if idle_w is None else round(mean_w - idle_w, 9),
            "net_energy_per_inference_mj": None if idle_w is None or n <= 0 else round(
                (energy_j - idle_w * window_s) / n * 1000, 9),
            "idle_reason": self.idle_reason,
            "window_s": window_s,
            "coverage": cover,
            "update_period_s": update,
            "scope": "; ".join(sampler_by_name[n_].scope for n_ in total_names),
            "rails": rails,
            "by_source_w": {k: v.result.mean_w for k, v in per_source.items()},
            "unused_sources": dict(self.alternatives_unused),
        }
        if failed:
            warnings.append("power detail missing: " + "; ".join(failed))
        return power

