"""Samplers on FAKE board trees and recorded command outputs: their reads, their availability reasons."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from devices import fs, jetson, rpi
from devices.coral import ApexSampler, edge_tpu_facts
from devices.linux import CpufreqSampler, CpuUtilSampler, ThermalZonesSampler
from devices.meter import ExternalMeterSampler
from devices.nvml import NvmlSampler
from devices.rapl import RaplSampler
from devices.tegrastats import TegrastatsSampler
from tests.devices import fakes


# -- Jetson INA3221 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("board", ["nano-jp4", "xavier-nx-jp4", "agx-xavier-jp4", "orin-nano-jp5", "agx-orin-jp5",
                                   "agx-orin-jp6"])
def test_ina3221_rails_and_total_rule_per_board(fake_board, board):
    fb = fake_board(board)
    s = jetson.Ina3221Sampler()
    assert s.available() is None
    values = s.read()
    rails = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("power_w:")}
    assert rails == pytest.approx(fb.rails_w)
    assert values["power_w"] == pytest.approx(fb.total_w)
    assert "NC" not in rails and "sum of shunt voltages" not in rails


def test_ina3221_layouts(fake_board):
    fake_board("nano-jp4")
    _, info = jetson.find_rails()
    assert info["layout"] == "iio" and info["chips"] == ["/sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"]
    fake_board("orin-nano-jp5")
    _, info = jetson.find_rails()
    assert info["layout"] == "hwmon" and info["update_interval_ms"] == 140
    s = jetson.Ina3221Sampler()
    assert s.available() is None
    assert s.update_period_s == pytest.approx(0.14) and s.interval_s >= 0.14  # never poll faster than the chip


def test_ina3221_hwmon_found_by_name_not_number(fake_board):
    fb = fake_board("agx-orin-jp6")  # hwmon1 and hwmon5 here, hwmon3/4 on the JP5 fake
    assert {r.name for r in jetson.find_rails()[0]} == set(fb.rails_w)


def test_ina3221_absent_says_why(fake_board):
    fake_board("pi4")
    reason = jetson.Ina3221Sampler().available()
    assert reason is not None and "INA3221" in reason and "Nano 2GB" in reason


def test_ina3221_reads_follow_changing_files(fake_board):
    fb = fake_board("orin-nano-jp5")
    s = jetson.Ina3221Sampler()
    assert s.available() is None
    first = s.read()["power_w"]
    fakes.write(fb.root, "/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/curr1_input", 2000)
    assert s.read()["power_w"] == pytest.approx(5000 * 2000 / 1e6) != first


def test_ina3221_collect_stamps_monotonic(fake_board):
    fake_board("agx-orin-jp5")
    clock = iter(range(0, 10_000, 10))
    s = jetson.Ina3221Sampler(clock=lambda: next(clock))
    assert s.available() is None
    trace = s.collect(3)
    assert trace.t_ns == [5, 25, 45]  # midpoint of each read
    assert len(trace.channels["power_w"]) == 3


# -- tegrastats process -----------------------------------------------------------------------------
def test_tegrastats_sampler_from_fake_stream(fake_board):
    fb = fake_board("agx-orin-jp6")
    fb.tegrastats_lines = [fakes.TEGRASTATS_AGX_ORIN_JP6] * 5
    clock = iter(range(0, 10**12, 10**8))
    s = TegrastatsSampler(clock=lambda: next(clock))
    assert s.available() is None
    s.start()
    trace = s.stop()  # the fake stream ends by itself; stop joins the reader
    assert len(trace.t_ns) == 5 and trace.t_ns == sorted(trace.t_ns)
    assert trace.channels["power_w"][0] == pytest.approx((4790 + 1196 + 3922) / 1000)
    assert trace.channels["temp_c:tj"][0] == 52.9
    assert trace.channels["freq_hz:gpu"][0] == 1300e6


def test_tegrastats_sampler_absent(fake_board):
    fake_board("pi4")
    assert "tegrastats not found" in TegrastatsSampler().available()


def test_tegrastats_sampler_skips_unparsable_lines():
    from devices.base import Samples

    s = TegrastatsSampler()
    samples = Samples("tegrastats")
    assert not s.add_line(samples, "tegrastats: some banner", 1)
    assert s.add_line(samples, fakes.TEGRASTATS_NANO_JP4, 2)
    assert samples.meta["unparsed_lines"] == 1 and samples.channels["power_w"] == [2.132]


# -- Jetson power mode ------------------------------------------------------------------------------
def test_power_mode_via_nvpmodel_and_via_files_without_root(fake_board):
    fake_board("agx-orin-jp5")
    assert jetson.power_mode() == {"name": "MAXN", "id": 0, "source": "nvpmodel -q"}
    assert jetson.clocks_state()["locked"] is True
    fake_board("orin-nano-jp5")  # nvpmodel -q fails (no root)
    mode = jetson.power_mode()
    assert mode["name"] == "MODE_15W" and mode["id"] == 1 and mode["source"] == "/var/lib/nvpmodel/status"
    assert jetson.clocks_state()["locked"] is None


def test_power_mode_sampler_snapshots(fake_board):
    fake_board("agx-orin-jp5")
    s = jetson.JetsonPowerModeSampler()
    assert s.available() is None
    s.start()
    trace = s.stop()
    assert trace.meta["start"]["power_mode"]["name"] == "MAXN" == trace.meta["end"]["power_mode"]["name"]


def test_soctherm_oc_counters(fake_board):
    fb = fake_board("agx-orin-jp5")
    s = jetson.SocthermOcSampler()
    assert s.available() is None
    assert s.read() == {"oc_event_cnt:oc1": 0, "oc_event_cnt:oc2": 0, "oc_event_cnt:oc3": 0}
    fakes.write(fb.root, "/sys/class/hwmon/hwmon7/oc2_event_cnt", 3)
    assert s.read()["oc_event_cnt:oc2"] == 3
    fake_board("orin-nano-jp5")
    assert "only Jetson Orin" in jetson.SocthermOcSampler().available()


# -- Raspberry Pi -----------------------------------------------------------------------------------
def test_vcgencmd_sampler(fake_board):
    fake_board("pi5")
    s = rpi.VcgencmdSampler()
    assert s.available() is None
    assert s.read() == {"temp_c:soc": 42.2, "freq_hz:arm": 1500398464.0, "throttled_bits": float(0x50000)}


def test_pi5_pmic_power_and_pi4_reason(fake_board):
    fb = fake_board("pi5")
    s = rpi.Pi5PmicSampler()
    assert s.available() is None
    assert s.read()["power_w"] == pytest.approx(fb.total_w)
    fake_board("pi4")
    reason = rpi.Pi5PmicSampler().available()
    assert "not supported" in reason and "Command not registered" in reason


def test_vcgencmd_absent(fake_board):
    fake_board("x86-rapl")
    assert "vcgencmd" in rpi.VcgencmdSampler().available()


# -- RAPL -------------------------------------------------------------------------------------------
def test_rapl_zones_without_double_counting(fake_board):
    fake_board("x86-rapl")
    s = RaplSampler()
    assert s.available() is None
    assert sorted(z.name for z in s.zones) == ["dram-0", "package-0"]  # core/uncore in the package; psys holds all
    assert any("psys" in z for z in s.skipped) and any("core" in z for z in s.skipped)
    values = s.read()
    assert values == {"energy_uj:package-0": 123_456_789.0, "energy_uj:dram-0": 5_000_000.0}
    assert s.meta()["counters"]["energy_uj:package-0"]["max_range"] == fakes.MAX_RANGE_UJ


def test_rapl_permission_denied_is_unavailable_not_zero(fake_board, monkeypatch):
    fake_board("x86-rapl")
    real_read = fs.read

    def root_only(p):  # a patched reader: root reads chmod 000 files, so chmod cannot fake this
        if str(p).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(p))
        return real_read(p)

    monkeypatch.setattr(fs, "read", root_only)
    reason = RaplSampler().available()
    assert reason.startswith("permission denied") and "root" in reason


def test_rapl_absent(fake_board):
    fake_board("pi4")
    assert "no RAPL" in RaplSampler().available()


# -- NVML with a FAKE pynvml ------------------------------------------------------------------------
class FakeNVMLError(Exception):
    pass


def fake_pynvml(energy_supported: bool = True, power_supported: bool = True, reasons: int = 0x1):
    """A stand-in for the pynvml module: one 'GPU' with counters that advance per call."""
    mod = types.ModuleType("pynvml")
    state = {"energy_mj": 1_000_000, "calls": 0}
    mod.NVML_CLOCK_SM = 1
    mod.NVML_TEMPERATURE_GPU = 0
    mod.NVMLError = FakeNVMLError
    mod.nvmlInit = lambda: None
    mod.nvmlDeviceGetCount = lambda: 1
    mod.nvmlDeviceGetHandleByIndex = lambda i: f"h{i}"
    mod.nvmlDeviceGetName = lambda h: b"FAKE GeForce RTX 3080"
    mod.nvmlSystemGetDriverVersion = lambda: "550.54"

    def energy_fn(h):
        if not energy_supported:
            raise FakeNVMLError("NotSupported")
        state["energy_mj"] += 500
        return state["energy_mj"]

    def power_fn(h):
        if not power_supported:
            raise FakeNVMLError("NotSupported")
        return 150_000  # mW

    mod.nvmlDeviceGetTotalEnergyConsumption = energy_fn
    mod.nvmlDeviceGetPowerUsage = power_fn
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2 * 2**30, total=10 * 2**30)
    mod.nvmlDeviceGetClockInfo = lambda h, kind: 1710
    mod.nvmlDeviceGetTemperature = lambda h, kind: 61
    mod.nvmlDeviceGetCurrentClocksEventReasons = lambda h: reasons
    return mod


def test_nvml_energy_counter_preferred(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    s = NvmlSampler()
    assert s.available() is None and s.use_counter and s.update_period_s == pytest.approx(0.1)
    values = s.read()
    assert "energy_mj:gpu0" in values and "power_w" not in values
    assert values["mem_used_bytes:gpu0"] == 2 * 2**30 and values["freq_hz:sm_gpu0"] == 1710e6
    assert values["temp_c:gpu0"] == 61 and values["clock_event_reasons:gpu0"] == 1
    assert s.meta()["counters"]["energy_mj:gpu0"]["to_j"] == 1e-3


def test_nvml_power_sampling_when_no_counter(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_supported=False))
    s = NvmlSampler()
    assert s.available() is None and not s.use_counter and s.update_period_s == 1.0
    assert s.read()["power_w"] == 150.0


def test_nvml_not_supported_at_all_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_supported=False, power_supported=False))
    assert "NotSupported" in NvmlSampler().available()


def test_nvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert "pynvml not installed" in NvmlSampler().available()


# -- Coral ------------------------------------------------------------------------------------------
def test_coral_apex_temperature_and_trip_points(fake_board):
    fake_board("coral-devboard")
    s = ApexSampler()
    assert s.available() is None
    assert s.read() == {"temp_c:apex_0": 48.25}
    assert s.meta()["trip_points_c"] == {"apex_0": [85.0, 90.0, 95.0]}
    facts = edge_tpu_facts()
    assert facts["present"] and facts["pcie"][0]["trip_points_c"] == [85.0, 90.0, 95.0]


def test_coral_usb_has_no_temperature(fake_board):
    fake_board("coral-usb-x86")
    assert "USB Accelerator has no temperature sensor" in ApexSampler().available()
    assert edge_tpu_facts()["usb"][0].startswith("Coral USB Accelerator (18d1:9302)")


# -- generic Linux ----------------------------------------------------------------------------------
def test_thermal_zones_cpufreq_and_offline_zone(fake_board):
    fb = fake_board("x86-rapl")
    tz = ThermalZonesSampler()
    assert tz.available() is None
    assert tz.read() == {"temp_c:x86_pkg_temp": 55.0, "temp_c:acpitz": 40.0}
    (fb.root / "sys/class/thermal/thermal_zone1/temp").unlink()  # offline sensor: left out, not 0
    assert tz.read() == {"temp_c:x86_pkg_temp": 55.0}
    cf = CpufreqSampler()
    assert cf.available() is None and cf.read() == {"freq_hz:cpu0": 2.8e9, "freq_hz:cpu1": 2.8e9}


def test_cpu_util_and_missing_sources(fake_board):
    fake_board("bare-host")
    assert CpuUtilSampler().available() is None
    assert "no /sys/class/thermal" in ThermalZonesSampler().available()
    assert "no cpufreq" in CpufreqSampler().available()


# -- external meter ---------------------------------------------------------------------------------
def test_meter_not_configured_and_missing_file(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("EDGEBENCH_POWER_CSV", raising=False)
    assert "EDGEBENCH_POWER_CSV" in ExternalMeterSampler().available()
    monkeypatch.setenv("EDGEBENCH_POWER_CSV", str(tmp_path / "nope.csv"))
    assert "no such file" in ExternalMeterSampler().available()


def test_meter_update_period_from_the_log(tmp_path: Path):
    log = tmp_path / "meter.csv"
    log.write_text("timestamp,watts\n" + "".join(f"{10 + i * 0.5},{3 + i % 2}\n" for i in range(20)))
    s = ExternalMeterSampler(log)
    assert s.available() is None and s.update_period_s == pytest.approx(0.5)
