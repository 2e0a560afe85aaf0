"""Throttle detection from each kind of evidence, and the cool-down helper (with fake clocks/sensors)."""

from __future__ import annotations

import threading

import pytest

from devices import thermal
from devices.base import Samples
from devices.rpi import throttle_evidence

W = (100, 1000)  # window in ns


def trace(source: str, t_ns: list[int], meta: dict | None = None, **channels: list[float]) -> Samples:
    return Samples(source, list(t_ns), {k.replace("__", ":"): v for k, v in channels.items()}, meta or {})


def test_pi_sticky_bits_appearing_during_the_run():
    ev = throttle_evidence(0x0, 0x40000, [0x0, 0x0])
    assert len(ev) == 1 and "sticky 'throttled'" in ev[0]
    assert throttle_evidence(0x50000, 0x50000, [0, 0]) == []  # sticky from before the run: not this run's
    assert "'soft temperature limit' reported" in throttle_evidence(0, 0, [0x8])[0]


def test_summarize_pi_trace():
    t = trace("vcgencmd", [0, 500, 1100], throttled_bits=[0x0, 0x4, 0x40004], temp_c__soc=[50.0, 60.0, 70.0],
              freq_hz__arm=[1.5e9, 1.5e9, 1.0e9])
    out = thermal.summarize({"vcgencmd": t}, W)
    assert out["throttled"] is True
    assert any("sticky 'throttled'" in e for e in out["evidence"])
    assert any("'throttled' reported during" in e for e in out["evidence"])
    assert out["start_c"] == pytest.approx(50 + 10 * 100 / 500)  # interpolated at the window's start
    assert out["end_c"] == pytest.approx(60 + 10 * 500 / 600)
    assert out["clocks_start_mhz"]["arm"] == pytest.approx(1500)


def test_orin_overcurrent_counter_rise():
    t = trace("soctherm_oc", [0, 1100], oc_event_cnt__oc1=[4, 4], oc_event_cnt__oc2=[10, 13])
    out = thermal.summarize({"soctherm_oc": t}, W)
    assert out["throttled"] is True and len(out["evidence"]) == 1 and "oc2" in out["evidence"][0]
    calm = trace("soctherm_oc", [0, 1100], oc_event_cnt__oc1=[4, 4])
    assert thermal.summarize({"soctherm_oc": calm}, W)["throttled"] is False


def test_nvml_clock_event_reasons():
    t = trace("nvml", [200, 400, 600], clock_event_reasons__gpu0=[0x1, 0x40, 0x1], temp_c__gpu0=[60, 80, 82])
    out = thermal.summarize({"nvml": t}, W)
    assert out["throttled"] is True and "hardware thermal slowdown" in out["evidence"][0]
    idle_only = trace("nvml", [200, 400], clock_event_reasons__gpu0=[0x1, 0x1])
    assert thermal.summarize({"nvml": idle_only}, W)["throttled"] is False  # 0x1 idle is not throttling


def test_cpu_clock_falling_under_load():
    ts = [100 + 50 * i for i in range(18)]
    falling = [2.0e9] * 10 + [1.2e9] * 8
    t = trace("cpufreq", ts, freq_hz__cpu0=falling, freq_hz__cpu1=[0.6e9] * 18)
    out = thermal.summarize({"cpufreq": t}, W)
    assert out["throttled"] is True and "from 2000 MHz to 1200 MHz" in out["evidence"][0]
    steady = trace("cpufreq", ts, freq_hz__cpu0=[2.0e9] * 18, freq_hz__cpu1=[0.6e9] * 18)
    assert thermal.summarize({"cpufreq": steady}, W)["throttled"] is False


def test_edge_tpu_at_its_trip_point():
    t = trace("coral_apex", [0, 1100], {"trip_points_c": {"apex_0": [85.0, 90.0, 95.0]}},
              temp_c__apex_0=[80.0, 86.25])
    out = thermal.summarize({"coral_apex": t}, W)
    assert out["throttled"] is True and "85" in out["evidence"][0]


def test_temperatures_only_cannot_tell_throttling():
    t = trace("thermal_zones", [0, 1100], temp_c__cpu=[40.0, 45.0], temp_c__gpu=[50.0, 41.0])
    out = thermal.summarize({"thermal_zones": t}, W)
    assert out["throttled"] is None and "no source that can show throttling" in out["reason"]
    assert out["start_c"] > out["end_c"]  # hottest sensor: gpu at start, cpu at end
    assert out["hottest_sensor"] == "cpu"


def test_nothing_measured_is_none_with_reason_never_zero():
    out = thermal.summarize({}, W)
    assert out["start_c"] is None and out["end_c"] is None and out["throttled"] is None
    assert "no temperature sensor" in out["reason"]


def test_wait_for_cooldown_reaches_threshold_without_real_waiting():
    temps = iter([70.0, 65.0, 58.0, 49.0, 48.0])
    stop = threading.Event()
    out = thermal.wait_for_cooldown(50.0, timeout_s=60, read_temp=lambda: next(temps), poll_s=0.0, stop=stop)
    assert out["reached"] is True and out["start_c"] == 70.0 and out["end_c"] == 49.0


def test_wait_for_cooldown_gives_up_and_says_why():
    out = thermal.wait_for_cooldown(50.0, timeout_s=0.0, read_temp=lambda: 80.0)
    assert out["reached"] is False and "above 50" in out["reason"]
    stopped = threading.Event()
    stopped.set()
    out = thermal.wait_for_cooldown(50.0, timeout_s=60, read_temp=lambda: 80.0, stop=stopped)
    assert out["reached"] is False
    out = thermal.wait_for_cooldown(50.0, timeout_s=60, read_temp=lambda: None)
    assert out["reached"] is None and "no temperature sensor" in out["reason"]
