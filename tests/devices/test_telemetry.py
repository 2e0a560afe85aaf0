"""The Telemetry facade: which sources it uses, the power/thermal groups it returns, and never a zero
for something unmeasured. Traces are either recorded (fake samplers) or read from FAKE board trees."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devices import fs
from devices.base import Sampler, Samples
from devices.profiles import resolve
from devices.telemetry import POWER_FIELDS, Telemetry

S = 1_000_000_000


class RecordedSampler(Sampler):
    """A FAKE source that replays a recorded trace."""

    def __init__(self, name: str, trace: Samples, group: str | None = "fake", update_period_s: float = 0.1,
                 reason: str | None = None) -> None:
        self.name, self.trace, self.power_group = name, trace, group
        self.update_period_s, self.reason, self.scope = update_period_s, reason, f"{name} scope"

    def available(self) -> str | None:
        return self.reason

    def start(self) -> None:
        pass

    def stop(self) -> Samples:
        return self.trace


def power_trace(name: str, t_s: list[float], watts: list[float]) -> Samples:
    return Samples(name, [round(t * S) for t in t_s], {"power_w": list(watts)})


def counter_trace(name: str, t_s: list[float], raw_uj: list[float], max_range: float) -> Samples:
    return Samples(name, [round(t * S) for t in t_s], {"energy_uj:package-0": list(raw_uj)},
                   {"counters": {"energy_uj:package-0": {"to_j": 1e-6, "max_range": max_range}}})


def test_constant_power_figures_and_energy_per_inference():
    t = Telemetry([RecordedSampler("ina", power_trace("ina", [0, 0.5, 1.0, 1.7, 2.5, 3.0], [6.5] * 6))])
    t.start()
    res = t.stop((round(0.2 * S), round(2.2 * S)), 400)
    p = res.power
    assert p["source"] == "ina" and p["reason"] is None
    assert p["mean_w"] == pytest.approx(6.5) and p["peak_w"] == pytest.approx(6.5)
    assert p["energy_j"] == pytest.approx(6.5 * 2.0)
    assert p["energy_per_inference_mj"] == pytest.approx(6.5 * 2.0 / 400 * 1000)
    assert p["idle_w"] is None and p["net_w"] is None and "not measured" in p["idle_reason"]
    assert p["sample_hz"] == pytest.approx(5 / 3.0)
    assert set(POWER_FIELDS) <= set(p)


def test_idle_and_net_power():
    sampler = RecordedSampler("ina", power_trace("ina", [0, 1, 2], [2.0, 2.0, 2.0]))
    t = Telemetry([sampler])
    t.set_idle({"ina": power_trace("ina", [0, 1, 2], [2.0, 2.0, 2.0])})
    sampler.trace = power_trace("ina", [10, 11, 12], [5.0, 5.0, 5.0])
    t.start()
    p = t.stop((10 * S, 12 * S), 100).power
    assert p["idle_w"] == pytest.approx(2.0) and p["net_w"] == pytest.approx(3.0)
    assert p["net_energy_per_inference_mj"] == pytest.approx(3.0 * 2 / 100 * 1000)


def test_counter_with_wrap_plus_a_second_group_are_added():
    max_range = 1_000_000_000
    # 10 W on the counter (10e6 uJ/s) starting just below the wrap; 4 W on another part of the machine.
    t_s = [0, 1, 2, 3, 4]
    raw = [(max_range - 15_000_000 + 10_000_000 * t) % (max_range + 1) for t in t_s]
    cpu = RecordedSampler("rapl", counter_trace("rapl", t_s, raw, max_range), group="cpu", update_period_s=0.001)
    gpu = RecordedSampler("nvml", power_trace("nvml", [0, 2, 4], [4.0, 4.0, 4.0]), group="gpu", update_period_s=1.0)
    t = Telemetry([cpu, gpu])
    t.start()
    p = t.stop((round(0.5 * S), round(3.5 * S)), 30).power
    assert p["source"] == "rapl+nvml"
    assert p["mean_w"] == pytest.approx(14.0, rel=1e-6)
    assert p["energy_j"] == pytest.approx(14.0 * 3, rel=1e-6)
    assert p["peak_w"] == pytest.approx(14.0, rel=1e-6)
    assert p["by_source_w"] == pytest.approx({"rapl": 10.0, "nvml": 4.0})
    assert t.min_window_s() == pytest.approx(10.0)  # the slowest power source decides


def test_alternatives_in_one_group_first_available_wins():
    a = RecordedSampler("ina3221", power_trace("ina3221", [0, 1], [3, 3]), group="jetson-module",
                        reason="INA3221 rails found but not readable")
    b = RecordedSampler("tegrastats", power_trace("tegrastats", [0, 1], [3.3, 3.3]), group="jetson-module")
    c = RecordedSampler("tegrastats2", power_trace("x", [0, 1], [9, 9]), group="jetson-module")
    t = Telemetry([a, b, c])
    assert [s.name for s in t.total_samplers] == ["tegrastats"]
    assert "tegrastats measures the same power" in t.alternatives_unused["tegrastats2"]
    t.start()
    assert t.stop((0, S), 1).power["mean_w"] == pytest.approx(3.3)


def test_external_meter_is_the_total_and_the_others_detail():
    ina = RecordedSampler("ina3221", power_trace("ina3221", [0, 1], [5, 5]), group="jetson-module")
    meter = RecordedSampler("external_meter", power_trace("external_meter", [0, 1], [8, 8]), group="meter",
                            update_period_s=1.0)
    t = Telemetry([ina, meter])
    t.start()
    p = t.stop((0, S), 10).power
    assert p["source"] == "external_meter" and p["mean_w"] == pytest.approx(8.0)
    assert p["by_source_w"]["ina3221"] == pytest.approx(5.0)


def test_no_power_source_is_none_with_reasons_never_zero():
    t = Telemetry([RecordedSampler("rapl", Samples("rapl"), group="cpu", reason="permission denied: root only"),
                   RecordedSampler("thermal_zones", Samples("thermal_zones"), group=None, reason="no zones")])
    t.measure_idle(0.01)
    t.start()
    res = t.stop((0, S), 10)
    assert all(res.power[k] is None for k in POWER_FIELDS)
    assert "rapl: permission denied" in res.power["reason"] and "thermal_zones" not in res.power["reason"]
    assert res.sources == {"rapl": "permission denied: root only", "thermal_zones": "no zones"}
    assert res.thermal["start_c"] is None and res.thermal["throttled"] is None and res.thermal["reason"]


def test_a_source_with_no_readings_is_unavailable_not_zero():
    t = Telemetry([RecordedSampler("ina", Samples("ina", meta={"read_errors": 3, "errors": ["OSError: EIO"]}))])
    t.start()
    res = t.stop((0, S), 10)
    assert res.power["mean_w"] is None and res.power["energy_j"] is None and "no readings" in res.power["reason"]
    assert any("3 failed reads" in w for w in res.warnings)


def test_short_window_warns_to_lengthen():
    t = Telemetry([RecordedSampler("meter", power_trace("meter", [0, 1, 2], [3, 3, 3]), update_period_s=1.0)])
    assert t.min_window_s() == pytest.approx(10.0)
    t.start()
    res = t.stop((0, 2 * S), 5)
    assert any("shorter than 10x" in w and "min_duration_s" in w for w in res.warnings)
    assert res.power["mean_w"] == pytest.approx(3.0)  # still reported, with the warning


def test_threads_on_a_fake_agx_orin_tree(fake_board):
    fb = fake_board("agx-orin-jp5")
    t = Telemetry.for_profile(resolve("jetson"))
    assert t.sources["ina3221"] is None
    t.measure_idle(0.05)
    assert t.idle_w == pytest.approx(fb.total_w)
    t.start()
    w0 = time.perf_counter_ns()
    time.sleep(0.05)
    w1 = time.perf_counter_ns()
    res = t.stop((w0, w1), 20)
    p = res.power
    # Constant fake power: the figures do not depend on how many readings the thread made.
    assert p["source"] == "ina3221" and p["mean_w"] == pytest.approx(fb.total_w)
    assert p["energy_j"] == pytest.approx(fb.total_w * (w1 - w0) / S)
    assert p["idle_w"] == pytest.approx(fb.total_w) and p["net_w"] == pytest.approx(0.0, abs=1e-9)
    assert p["rails"]["ina3221:VDDQ_VDD2_1V8AO"] == pytest.approx(fb.rails_w["VDDQ_VDD2_1V8AO"])
    assert p["power_mode"]["name"] == "MAXN" and "module" in p["scope"]
    th = res.thermal
    assert th["start_c"] == pytest.approx(41.437) and th["throttled"] is False
    assert th["jetson_clocks"]["locked"] is True
    assert any("shorter than 10x" in w for w in res.warnings)  # a 50 ms window is too short for 100 ms updates
    assert "ina3221" in res.samples and res.samples["ina3221"]["t_ns"]


def test_rapl_permission_denied_through_the_facade(fake_board, monkeypatch):
    fake_board("x86-rapl")
    real_read = fs.read
    monkeypatch.setattr(fs, "read", lambda p: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if str(p).endswith("energy_uj") else real_read(p))
    t = Telemetry.for_profile(resolve("host"))
    t.start()
    res = t.stop((time.perf_counter_ns() - 1000, time.perf_counter_ns()), 1)
    assert res.power["energy_j"] is None and res.power["mean_w"] is None
    assert "permission denied" in res.power["reason"]


def test_rapl_counter_changes_between_start_and_stop(fake_board):
    fb = fake_board("x86-rapl")
    t = Telemetry.for_profile(resolve("host"))
    t.start()
    w0 = time.perf_counter_ns()
    # The package counter wraps between the two reads: 1000 uJ to the top, then 4000 uJ more.
    base = "/sys/class/powercap/intel-rapl:0/energy_uj"
    from tests.devices.fakes import MAX_RANGE_UJ, write

    write(fb.root, base, MAX_RANGE_UJ - 1000)
    t._running[0].sample_once(t._running[0]._samples)  # a poll between, as the thread would
    write(fb.root, base, 3999)
    w1 = time.perf_counter_ns()
    res = t.stop((w0, w1), 1)
    assert res.power["source"] == "rapl" and res.power["energy_j"] is not None
    # Whatever the interpolation at the edges, the total never exceeds what the counter moved.
    moved_j = ((MAX_RANGE_UJ - 1000) - 123_456_789 + 1000 + 4000) * 1e-6
    assert 0 < res.power["energy_j"] <= moved_j + 1e-9


def test_meter_csv_lined_up_with_the_window(monkeypatch, tmp_path: Path):
    now = time.monotonic()
    rows = [(now - 2 + 0.25 * i, 3.0 + 0.5 * (0.25 * i)) for i in range(40)]  # a ramp, monotonic seconds
    log = tmp_path / "meter.csv"
    log.write_text("timestamp,watts\n" + "".join(f"{t:.6f},{w}\n" for t, w in rows))
    monkeypatch.setenv("EDGEBENCH_POWER_CSV", str(log))
    monkeypatch.setenv("EDGEBENCH_FS_ROOT", str(tmp_path / "empty-root"))
    t = Telemetry.for_profile(resolve("host"))
    assert [s.name for s in t.total_samplers] == ["external_meter"]
    t.start()
    w0, w1 = round((now - 1.0) * S), round((now + 4.0) * S)
    p = t.stop((w0, w1), 50).power
    # ramp P(t) = 3 + 0.5 (t - (now - 2)); mean over [now-1, now+4] = 3 + 0.5 * 3.5
    assert p["mean_w"] == pytest.approx(3 + 0.5 * 3.5, rel=1e-6)
    assert p["source"] == "external_meter"
