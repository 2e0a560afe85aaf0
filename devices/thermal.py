"""Thermal state of a run: temperatures and clocks at its start and end, and throttle evidence.

Evidence comes from whatever the device offers: Pi ``get_throttled`` bits (sticky bits compared
before/after, current bits watched during), Orin ``soctherm_oc`` counters rising, NVML clock-event
reasons, an Edge TPU at or above its first trip point, and the CPU's fastest clock falling under load.
``throttled`` is True with the evidence, False when some source could have shown throttling and
none did, and None (with the reason) when nothing here can tell.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from devices import fs
from devices.base import Samples
from devices.energy import value_at
from devices.linux import thermal_zones
from devices.nvml import clock_event_evidence
from devices.rpi import throttle_evidence

CLOCK_FALL_RATIO = 0.85  # the fastest core ending >15% below its peak under load is throttling
MIN_CLOCK_SAMPLES = 4
_CPU_CLOCK = re.compile(r"freq_hz:(cpu\d+|arm)$")


def _in_window(t_ns: list[int], window_ns: tuple[int, int]) -> list[int]:
    return [i for i, t in enumerate(t_ns) if window_ns[0] <= t <= window_ns[1]]


def _edges(trace: Samples, channel: str, window_ns: tuple[int, int]) -> tuple[float, float]:
    ts, vs = trace.t_ns, trace.channels[channel]
    return value_at(window_ns[0], ts, vs), value_at(window_ns[1], ts, vs)


def clock_fall_evidence(trace: Samples, window_ns: tuple[int, int]) -> tuple[list[str], bool]:
    """(evidence, could_tell): the fastest CPU clock per reading, its peak in the window vs the
    median of the window's last quarter."""
    channels = [c for c in trace.channels if _CPU_CLOCK.match(c)]
    idx = _in_window(trace.t_ns, window_ns)
    if not channels or len(idx) < MIN_CLOCK_SAMPLES:
        return [], False
    fastest = [max(trace.channels[c][i] for c in channels) for i in idx]
    peak = max(fastest)
    tail = statistics.median(fastest[-max(1, len(fastest) // 4):])
    if peak > 0 and tail < CLOCK_FALL_RATIO * peak:
        return [f"{trace.source}: fastest CPU clock fell under load from {peak / 1e6:.0f} MHz to "
                f"{tail / 1e6:.0f} MHz"], True
    return [], True


def summarize(traces: dict[str, Samples], window_ns: tuple[int, int]) -> dict[str, Any]:
    """The run's ``thermal`` group from every trace that has temperatures, clocks or throttle signals."""
    temps_start: dict[str, float] = {}
    temps_end: dict[str, float] = {}
    clocks_start: dict[str, float] = {}
    clocks_end: dict[str, float] = {}
    evidence: list[str] = []
    checked: list[str] = []
    for name, trace in traces.items():
        if not trace.t_ns:
            continue
        for ch in trace.channels:
            kind, _, sensor = ch.partition(":")
            if kind == "temp_c":
                a, b = _edges(trace, ch, window_ns)
                key = sensor if sensor not in temps_start else f"{name}:{sensor}"
                temps_start[key], temps_end[key] = a, b
            elif kind == "freq_hz":
                a, b = _edges(trace, ch, window_ns)
                key = sensor if sensor not in clocks_start else f"{name}:{sensor}"
                clocks_start[key], clocks_end[key] = a / 1e6, b / 1e6
            elif kind == "clock_event_reasons":
                checked.append(f"NVML clock-event reasons ({sensor})")
                idx = _in_window(trace.t_ns, window_ns) or list(range(len(trace.t_ns)))
                evidence += clock_event_evidence([int(trace.channels[ch][i]) for i in idx], sensor)
            elif kind == "oc_event_cnt":
                checked.append(f"Orin soctherm_oc {sensor} counter")
                a, b = _edges(trace, ch, window_ns)
                vs = trace.channels[ch]
                rise = max(b - a, vs[-1] - vs[0])
                if rise > 0:
                    what = "under-voltage" if sensor == "oc1" else "over-current"
                    evidence.append(f"Orin soctherm_oc {sensor}_event_cnt ({what}) rose by {rise:.0f} during the run")
        if "throttled_bits" in trace.channels:
            checked.append("Pi get_throttled bits")
            bits = [int(v) for v in trace.channels["throttled_bits"]]
            idx = _in_window(trace.t_ns, window_ns) or list(range(len(bits)))
            evidence += throttle_evidence(bits[0], bits[-1], [bits[i] for i in idx])
        trips = trace.meta.get("trip_points_c") or {}
        for dev, points in trips.items():
            ch = f"temp_c:{dev}"
            if points and ch in trace.channels:
                checked.append(f"Edge TPU {dev} trip points")
                hottest = max(trace.channels[ch])
                if hottest >= min(points):
                    evidence.append(f"Edge TPU {dev} reached {hottest:.2f} °C, at or above its first trip point "
                                    f"{min(points):.0f} °C (it throttles there)")
        fell, could = clock_fall_evidence(trace, window_ns)
        evidence += fell
        if could:
            checked.append(f"CPU clocks ({name})")
    hottest_start = max(temps_start, key=lambda k: temps_start[k], default=None)
    hottest_end = max(temps_end, key=lambda k: temps_end[k], default=None)
    out: dict[str, Any] = {
        "start_c": temps_start[hottest_start] if hottest_start else None,
        "end_c": temps_end[hottest_end] if hottest_end else None,
        "hottest_sensor": hottest_end,
        "sensors_start_c": temps_start,
        "sensors_end_c": temps_end,
        "clocks_start_mhz": clocks_start,
        "clocks_end_mhz": clocks_end,
        "throttled": True if evidence else (False if checked else None),
        "evidence": evidence,
        "checked": checked,
        "reason": None,
    }
    reasons = []
    if not temps_start:
        reasons.append("no temperature sensor readable")
    if not checked:
        reasons.append("no source that can show throttling (throttle bits, over-current counters, NVML reasons, "
                       "or CPU clocks sampled under load)")
    if reasons:
        out["reason"] = "; ".join(reasons)
    return out


def hottest_zone_c() -> float | None:
    """The hottest readable thermal zone now (the default cool-down sensor)."""
    temps = []
    for _, p in thermal_zones():
        v = fs.read_number(p)
        if v is not None and v / 1000 > -100:
            temps.append(v / 1000)
    return max(temps) if temps else None


def wait_for_cooldown(threshold_c: float, timeout_s: float, read_temp: Callable[[], float | None] | None = None,
                      poll_s: float = 1.0, stop: threading.Event | None = None) -> dict[str, Any]:
    """Wait until the temperature is at or below ``threshold_c`` (or ``timeout_s`` passes).

    Returns what happened: reached, waited_s, start_c, end_c and a reason when it could not wait.
    Waiting uses ``Event.wait`` (sleep and stop signal in one), never a busy loop."""
    read = read_temp or hottest_zone_c
    event = stop or threading.Event()
    t0 = time.monotonic()
    start = temp = read()
    if temp is None:
        return {"reached": None, "waited_s": 0.0, "start_c": None, "end_c": None, "threshold_c": threshold_c,
                "reason": "no temperature sensor to wait on"}
    while temp is not None and temp > threshold_c:
        left = timeout_s - (time.monotonic() - t0)
        if left <= 0 or event.wait(min(poll_s, left)):
            break
        temp = read()
    reached = temp is not None and temp <= threshold_c
    return {"reached": reached, "waited_s": time.monotonic() - t0, "start_c": start, "end_c": temp,
            "threshold_c": threshold_c,
            "reason": None if reached else f"still {temp} °C above {threshold_c} °C after {timeout_s} s"}
