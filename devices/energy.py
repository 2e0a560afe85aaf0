"""Power traces and energy counters into joules over the timed window.

Two kinds of source end the same way:
- cumulative counters (RAPL ``energy_uj``, NVML total energy): energy = end - start, with the
  counter's wraparound undone between consecutive polls;
- instantaneous power (INA3221, tegrastats, Pi 5 PMIC, NVML power, an external meter): integrated
  with the trapezoid rule over the samples' own timestamps, never a nominal interval, because
  threads and reads jitter.
Timestamps are integer nanoseconds of the monotonic clock (the runner's window uses the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
TRUSTWORTHY_UPDATES = 10  # a window shorter than ~10 sensor updates is not trustworthy


def counter_delta(start: float, end: float, max_range: float | None) -> float:
    """end - start of a counter that wraps to 0 after ``max_range`` (e.g. RAPL ``max_energy_range_uj``).

    Correct only when at most one wrap happened between the two reads: poll long windows."""
    delta = end - start
    if delta < 0:
        if not max_range:
            raise ValueError(f"counter went backwards ({start} -> {end}) and no wrap range is known")
        delta += max_range + 1
    return delta


def unwrap_counter(values: Sequence[float], max_range: float | None) -> list[float]:
    """Cumulative increase since the first value, undoing wraps between consecutive reads."""
    out: list[float] = []
    total = 0.0
    for i, v in enumerate(values):
        if i:
            total += counter_delta(values[i - 1], v, max_range)
        out.append(total)
    return out


def value_at(t: float, ts: Sequence[float], vs: Sequence[float]) -> float:
    """Linear interpolation of (ts, vs) at t; the edge value outside the sampled span."""
    if not ts:
        raise ValueError("no samples")
    if t <= ts[0]:
        return vs[0]
    if t >= ts[-1]:
        return vs[-1]
    lo, hi = 0, len(ts) - 1
    while hi - lo > 1:  # bisect: traces can be long
        mid = (lo + hi) // 2
        if ts[mid] <= t:
            lo = mid
        else:
            hi = mid
    span = ts[hi] - ts[lo]
    if span == 0:
        return vs[hi]
    return vs[lo] + (vs[hi] - vs[lo]) * (t - ts[lo]) / span


def _clip(t_ns: Sequence[int], vs: Sequence[float], window_ns: tuple[int, int]) -> tuple[list[float], list[float]]:
    """The trace restricted to the window, with interpolated points on its edges."""
    w0, w1 = window_ns
    ts = [t for t in t_ns if w0 < t < w1]
    inside = [v for t, v in zip(t_ns, vs) if w0 < t < w1]
    return [w0, *ts, w1], [value_at(w0, t_ns, vs), *inside, value_at(w1, t_ns, vs)]


def trapezoid_j(t_ns: Sequence[int], watts: Sequence[float]) -> float:
    """Energy (J) of a power trace by the trapezoid rule over its timestamps."""
    return sum((t_ns[i] - t_ns[i - 1]) / NS_PER_S * (watts[i] + watts[i - 1]) / 2 for i in range(1, len(t_ns)))


def coverage(t_ns: Sequence[int], window_ns: tuple[int, int]) -> float:
    """Fraction of the window that lies between the first and the last sample."""
    w0, w1 = window_ns
    if not t_ns or w1 <= w0:
        return 0.0
    lo, hi = max(w0, t_ns[0]), min(w1, t_ns[-1])
    return max(0.0, hi - lo) / (w1 - w0)


@dataclass
class WindowEnergy:
    """What one source says about one window."""

    energy_j: float
    mean_w: float
    peak_w: float | None
    n_samples: int  # samples inside the window
    sample_hz: float | None  # measured, from the samples' own timestamps
    coverage: float  # fraction of the window between the first and last sample


def _sample_hz(t_ns: Sequence[int]) -> float | None:
    if len(t_ns) < 2 or t_ns[-1] == t_ns[0]:
        return None
    return (len(t_ns) - 1) * NS_PER_S / (t_ns[-1] - t_ns[0])


def power_window(t_ns: Sequence[int], watts: Sequence[float], window_ns: tuple[int, int]) -> WindowEnergy:
    """Energy, mean and peak power of an instantaneous power trace over the window."""
    if not t_ns:
        raise ValueError("no power samples")
    w0, w1 = window_ns
    if w1 <= w0:
        raise ValueError(f"window end {w1} is not after its start {w0}")
    ts, ws = _clip(t_ns, watts, window_ns)
    energy = trapezoid_j(ts, ws)
    n_inside = len(ts) - 2
    # Peak over what was measured: interpolated edge values are no higher than a measured sample.
    return WindowEnergy(energy, energy * NS_PER_S / (w1 - w0), max(ws), n_inside, _sample_hz(t_ns),
                        coverage(t_ns, window_ns))


def counter_window(t_ns: Sequence[int], cumulative_j: Sequence[float], window_ns: tuple[int, int]) -> WindowEnergy:
    """Energy of an unwrapped cumulative counter (J) over the window; the peak is the highest
    mean power between two consecutive reads inside it."""
    if not t_ns:
        raise ValueError("no counter samples")
    w0, w1 = window_ns
    if w1 <= w0:
        raise ValueError(f"window end {w1} is not after its start {w0}")
    ts, es = _clip(t_ns, cumulative_j, window_ns)
    energy = es[-1] - es[0]
    rates = [(es[i] - es[i - 1]) * NS_PER_S / (ts[i] - ts[i - 1]) for i in range(1, len(ts)) if ts[i] > ts[i - 1]]
    return WindowEnergy(energy, energy * NS_PER_S / (w1 - w0), max(rates) if rates else None, len(ts) - 2,
                        _sample_hz(t_ns), coverage(t_ns, window_ns))


def mean_power_w(t_ns: Sequence[int], watts: Sequence[float]) -> float | None:
    """Time-weighted mean over the trace's own span (idle power); the plain mean of one sample."""
    if not t_ns:
        return None
    if len(t_ns) == 1 or t_ns[-1] == t_ns[0]:
        return sum(watts) / len(watts)
    return trapezoid_j(t_ns, watts) * NS_PER_S / (t_ns[-1] - t_ns[0])


def energy_per_inference_mj(energy_j: float | None, n_inferences: int) -> float | None:
    if energy_j is None or n_inferences <= 0:
        return None
    return energy_j / n_inferences * 1000.0


def min_window_s(update_period_s: float) -> float:
    return TRUSTWORTHY_UPDATES * update_period_s


def lengthen_advice(window_s: float, update_period_s: float, source: str = "the power sensor") -> str | None:
    """A warning when the window spans fewer than ~10 sensor updates, else None."""
    need = min_window_s(update_period_s)
    if update_period_s <= 0 or window_s >= need:
        return None
    return (f"timed window {window_s:.3g} s is shorter than {TRUSTWORTHY_UPDATES}x the update period of "
            f"{source} ({update_period_s:.3g} s): the energy figure is not trustworthy; lengthen the run to "
            f">= {need:.3g} s (min_duration_s)")
