"""What a telemetry source promises: availability with a reason, start, stop with samples.

Every sample is stamped with ``time.monotonic_ns()`` when it was read (on Linux the same clock as
``time.perf_counter_ns()``, which the runner uses for the timed window), so traces from different
sources and the window line up. A source that cannot read reports why; it never reports zeros.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Samples:
    """A trace from one source. ``channels`` maps a channel name with its unit (``power_w``,
    ``energy_j``, ``temp_c``, ``freq_hz``, ``util_pct``...) to values aligned with ``t_ns``."""

    source: str
    t_ns: list[int] = field(default_factory=list)
    channels: dict[str, list[float]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, t_ns: int, **values: float) -> None:
        self.t_ns.append(t_ns)
        for name, value in values.items():
            self.channels.setdefault(name, []).append(value)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "t_ns": list(self.t_ns), "channels": dict(self.channels),
                "meta": dict(self.meta)}


class Sampler(ABC):
    """One telemetry source. ``available()`` is cheap and never raises.

    What the telemetry facade reads from every source (defaults: a source that measures neither):
    ``power_group``: None when the source measures no power; otherwise sources in the same group are
    alternatives (the first available one is used) and different groups are added.
    ``update_period_s``: how often the sensor itself produces a new value (a window must span ~10).
    ``scope``: what the power figure covers, in words (reports show it).
    ``thermal``: the source reports thermal state (temperatures, clocks, throttling).
    ``read()``: one reading now, channel -> value (``temp_c...`` channels serve cool-downs);
    a source that cannot read on demand returns nothing.
    """

    name: str = ""
    power_group: str | None = None
    update_period_s: float = 0.0
    scope: str = ""
    thermal: bool = False

    def read(self) -> dict[str, float]:
        """One reading now; empty for a source that cannot be read on demand (a log, a snapshot)."""
        return {}

    @abstractmethod
    def available(self) -> str | None:
        """None when usable; otherwise the reason in words (e.g. 'permission denied: ...')."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> Samples: ...
