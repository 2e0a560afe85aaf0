"""The one object the runner talks to about power, energy and thermal state.

The runner calls ``measure_idle`` before a run, ``start`` when the timed window opens and
``stop`` when it closes; it never learns which sensors exist. Figures that no source could
measure come back as ``None`` with the reasons of every source that was tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices.base import Sampler, Samples


@dataclass
class TelemetryResult:
    power: dict[str, Any]
    thermal: dict[str, Any]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str | None] = field(default_factory=dict)


class Telemetry:
    def __init__(self, samplers: list[Sampler] | None = None) -> None:
        self.all_samplers = list(samplers or [])
        self.sources: dict[str, str | None] = {s.name: s.available() for s in self.all_samplers}
        self.samplers = [s for s in self.all_samplers if self.sources[s.name] is None]

    def min_window_s(self) -> float:
        """The timed window must span ~10 sensor updates to be trustworthy."""
        periods = [getattr(s, "update_period_s", 0.0) or 0.0 for s in self.samplers]
        return 10.0 * max(periods, default=0.0)

    def measure_idle(self, seconds: float) -> None:  # noqa: B027 - no source: nothing to measure
        """Sample idle power just before the run (no-op without a power source)."""

    def start(self) -> None:
        for s in self.samplers:
            s.start()

    def stop(self, window_ns: tuple[int, int], n_inferences: int) -> TelemetryResult:
        traces: dict[str, Samples] = {s.name: s.stop() for s in self.samplers}
        why = "; ".join(f"{k}: {v}" for k, v in self.sources.items() if v) or "no telemetry source configured"
        power = {k: None for k in ("mean_w", "peak_w", "idle_w", "energy_j", "energy_per_inference_mj", "source")}
        power["reason"] = f"no power or energy source available ({why})"
        thermal = {"start_c": None, "end_c": None, "throttled": None, "reason": f"no temperature source ({why})"}
        return TelemetryResult(
            power=power,
            thermal=thermal,
            samples={k: v.to_dict() for k, v in traces.items()},
            sources=dict(self.sources),
        )
