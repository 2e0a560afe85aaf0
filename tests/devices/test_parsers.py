"""Parsing every documented variant of the device formats (recorded/fake outputs in tests/devices/fakes.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from devices import jetson, rpi, tegrastats
from devices.linux import parse_proc_stat
from devices.meter import MeterCsvError, parse_power_csv
from tests.devices import fakes


# -- tegrastats -------------------------------------------------------------------------------------
def test_tegrastats_nano_jp4_bare_numbers_root():
    line = tegrastats.parse_line(fakes.TEGRASTATS_NANO_JP4)
    assert line.timestamp is None
    assert line.rails_mw == {"POM_5V_IN": 2132, "POM_5V_GPU": 78, "POM_5V_CPU": 275}
    assert line.temps_c["CPU"] == 39 and line.temps_c["AO"] == 47.5 and line.temps_c["PMIC"] == 50
    assert line.ram_used_mb == 1655 and line.ram_total_mb == 3956
    assert line.cpu[0] == {"util_pct": 12.0, "freq_mhz": 102.0} and len(line.cpu) == 4
    assert line.freqs["GR3D_FREQ"] == {"util_pct": 0.0, "mhz": 76.0}
    assert line.freqs["EMC_FREQ"]["mhz"] == 1600
    total, rule = line.total()
    assert total == 2132 and "POM_5V_IN" in rule  # the parts are not added again


def test_tegrastats_nano_no_root_and_pmic_placeholder():
    line = tegrastats.parse_line(fakes.TEGRASTATS_NANO_JP4_NOROOT)
    assert "PMIC" not in line.temps_c  # PMIC@100C is a fixed fake value on these boards
    assert line.freqs["GR3D_FREQ"] == {"util_pct": 37.0, "mhz": None}
    assert line.cpu[1] == {"off": True}
    assert line.rails_mw["POM_5V_IN"] == 3012 and line.rails_avg_mw["POM_5V_IN"] == 2570  # cur, not avg


def test_tegrastats_xavier_nx_and_agx_xavier_total_rules():
    nx = tegrastats.parse_line(fakes.TEGRASTATS_XAVIER_NX_JP4)
    assert nx.total()[0] == nx.rails_mw["VDD_IN"] == 3420
    agx = tegrastats.parse_line(fakes.TEGRASTATS_AGX_XAVIER_JP4)
    assert set(agx.rails_mw) == {"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"}
    assert agx.total()[0] == sum(agx.rails_mw.values())
    assert "Tdiode" in agx.temps_c and "PMIC" not in agx.temps_c


def test_tegrastats_jp5_dates_mw_offline_sensors_and_orin_rule():
    line = tegrastats.parse_line(fakes.TEGRASTATS_AGX_ORIN_JP5)
    assert line.timestamp == dt.datetime(2023, 1, 3, 16, 7, 54)
    assert "NC" not in line.rails_mw
    assert line.rails_mw["VDDQ_VDD2_1V8AO"] == 301
    assert set(line.offline_sensors) == {"CV0", "GPU"} and "GPU" not in line.temps_c  # -256C: offline
    total, rule = line.total()
    assert total == 2390 + 796 + 3522  # VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0
    assert "AGX Orin" in rule
    nano = tegrastats.parse_line(fakes.TEGRASTATS_ORIN_NANO_JP5)
    assert nano.total()[0] == 4936 and nano.freqs["GR3D_FREQ"]["mhz"] == [305.0]
    assert nano.engines["VIC_FREQ"] == "115"


def test_tegrastats_jp6_lowercase_three_values_two_temps_gpc_list():
    line = tegrastats.parse_line(fakes.TEGRASTATS_AGX_ORIN_JP6)
    assert line.temps_c["cpu"] == 52.9 and line.temps_c["tj"] == 52.9 and line.temps_c["gpu"] == 47.218
    assert line.rails_mw["VDD_GPU_SOC"] == 4790  # first of three values is the instantaneous one
    assert line.freqs["GR3D_FREQ"] == {"util_pct": 12.0, "mhz": [1300.0, 1300.0]}
    assert line.engines["NVENC"] == "off" and line.offline_sensors == ["cv0"]
    assert line.total()[0] == 4790 + 1196 + 3922


def test_tegrastats_rails_in_any_order():
    shuffled = "RAM 100/3956MB CPU [1%@102] VDD_SOC 10/10 CPU@30C VDD_IN 900/900 VDD_CPU_GPU_CV 20/20"
    line = tegrastats.parse_line(shuffled)
    assert line.total()[0] == 900


def test_tegrastats_rejects_other_text_with_line_number():
    with pytest.raises(tegrastats.TegrastatsFormatError, match="line 2"):
        tegrastats.parse_log([fakes.TEGRASTATS_NANO_JP4, "hello world"])


def test_unknown_rail_set_has_no_total_rather_than_a_guess():
    total, rule = jetson.total_power_mw({"VDD_A": 1000.0, "VDD_B": 500.0})
    assert total is None and "not summing" in rule


# -- nvpmodel / jetson_clocks / L4T -----------------------------------------------------------------
def test_nvpmodel_query_with_warning_lines():
    assert jetson.parse_nvpmodel_query(fakes.NVPMODEL_Q) == {"name": "MAXN", "id": 0}
    assert jetson.parse_nvpmodel_query("NV Power Mode: 15W\nNVPM WARN: x\n2\n") == {"name": "15W", "id": 2}
    assert jetson.parse_nvpmodel_query("garbage") is None


def test_nvpmodel_status_and_conf():
    assert jetson.parse_nvpmodel_status("pmode:0003\nfmode:quiet\n") == 3
    assert jetson.parse_nvpmodel_conf(fakes.NVPMODEL_CONF_ORIN) == {0: "MAXN", 1: "MODE_15W", 2: "MODE_30W",
                                                                    3: "MODE_50W"}


def test_jetson_clocks_locked_and_unlocked():
    locked = jetson.parse_jetson_clocks(fakes.JETSON_CLOCKS_ORIN_LOCKED)
    assert locked["locked"] is True and locked["machine"] == "Jetson AGX Orin"
    assert locked["cpus"]["cpu0"]["cur_khz"] == 2201600 and locked["engines"]["GPU"]["cur_hz"] == 1300500000
    assert locked["engines"]["DLA0_CORE"]["max_hz"] == 1600000000
    unlocked = jetson.parse_jetson_clocks(fakes.JETSON_CLOCKS_NANO_UNLOCKED)
    assert unlocked["locked"] is False and unlocked["cpus"]["cpu2"]["online"] is False
    assert unlocked["power_mode"] == "MAXN"


@pytest.mark.parametrize("text,l4t,jp", [(fakes.R32, "32.7.1", "4"), (fakes.R35, "35.4.1", "5"),
                                          (fakes.R36, "36.3.0", "6")])
def test_l4t_release(text, l4t, jp):
    parsed = jetson.parse_l4t_release(text)
    assert parsed["l4t"] == l4t and parsed["jetpack_major"] == jp
    assert jetson.parse_l4t_release("not a release file") is None


# -- Raspberry Pi -----------------------------------------------------------------------------------
def test_vcgencmd_outputs():
    assert rpi.parse_temp("temp=42.2'C\n") == 42.2
    assert rpi.parse_clock("frequency(48)=600000000\n") == 600_000_000
    assert rpi.parse_clock("frequency(0)=1500398464") == 1500398464
    assert rpi.parse_volts("volt=1.2000V") == 1.2
    assert rpi.parse_throttled("throttled=0x50005") == 0x50005
    assert rpi.parse_throttled("throttled=0x0") == 0
    with pytest.raises(rpi.VcgencmdError, match="expected"):
        rpi.parse_temp("error=2 error_msg=\"Invalid arguments\"")


def test_throttled_bits_decoded():
    decoded = rpi.decode_throttled(0x50005)
    assert decoded["now"] == ["under-voltage", "throttled"]
    assert decoded["since_boot"] == ["under-voltage", "throttled"]
    assert rpi.decode_throttled(0x80000) == {"now": [], "since_boot": ["soft temperature limit"]}


def test_pmic_read_adc_rails_and_total():
    rails = rpi.parse_pmic_read_adc(fakes.PMIC_READ_ADC_PI5)
    assert rails["VDD_CORE"]["a"] == pytest.approx(5.03652) and rails["VDD_CORE"]["v"] == pytest.approx(0.8936988)
    assert rails["VDD_CORE"]["w"] == pytest.approx(5.03652 * 0.8936988)
    assert "w" not in rails["EXT5V"] and "w" not in rails["BATT"]  # voltage only: no power
    assert rpi.pmic_total_w(rails) == pytest.approx(fakes.pmic_expected_total_w())


def test_pmic_read_adc_older_board_says_not_supported():
    with pytest.raises(rpi.VcgencmdError, match="not supported"):
        rpi.parse_pmic_read_adc(fakes.PMIC_NOT_REGISTERED)


def test_pmic_log_of_several_snapshots():
    snaps = rpi.parse_pmic_log(fakes.PMIC_READ_ADC_PI5 * 3)
    assert len(snaps) == 3 and all("VDD_CORE" in s for s in snaps)


# -- /proc/stat, meter CSV --------------------------------------------------------------------------
def test_proc_stat_busy_and_total():
    busy, total = parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    from devices.linux import USER_HZ

    assert total == pytest.approx(1000 / USER_HZ) and busy == pytest.approx(150 / USER_HZ)


def test_power_csv_variants():
    mono = parse_power_csv("timestamp,watts\n100.0,5.0\n100.5,6.0\n")
    assert mono.clock == "monotonic" and mono.t_s == [100.0, 100.5] and mono.watts == [5.0, 6.0]
    epoch = parse_power_csv("1700000000.0,5\n1700000001.0,5\n")
    assert epoch.clock == "epoch"
    ms = parse_power_csv("timestamp_ms,watts\n1000,2\n1250,3\n")
    assert ms.t_s == [1.0, 1.25]
    iso = parse_power_csv("2024-05-01T12:00:00+00:00,4.5\n2024-05-01T12:00:00.500+00:00,4.0\n")
    assert iso.clock == "epoch" and iso.t_s[1] - iso.t_s[0] == pytest.approx(0.5)
    forced = parse_power_csv("5,1\n6,1\n", clock="epoch")
    assert forced.clock == "epoch"


@pytest.mark.parametrize("text,match", [("", "no 'timestamp,watts' rows"), ("1,2\n0,3\n", "backwards"),
                                        ("1,abc\n", "line 1"), ("nonsense\n", "expected 'timestamp,watts'"),
                                        ("yesterday,3\n", "ISO 8601")])
def test_power_csv_errors_say_what_and_where(text, match):
    with pytest.raises(MeterCsvError, match=match):
        parse_power_csv(text)
