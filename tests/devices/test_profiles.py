"""Detection and resolution of each profile on FAKE board trees."""

from __future__ import annotations

import pytest

from devices.profiles import DETECT_ORDER, PROFILES, DeviceError, detect, get_profile, machine_facts, resolve
from devices.telemetry import Telemetry
from tests.devices.fakes import BOARDS

SUITE_RUNNER_KEYS = {"warmup", "min_iterations", "min_duration_s", "max_duration_s", "timeout_s", "fresh_inputs",
                     "threads", "cooldown_s", "idle_s"}


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_detect_each_fake_board(fake_board, board):
    fb = fake_board(board)
    assert detect().name == fb.profile
    assert resolve(fb.profile).name == fb.profile
    assert resolve("host").name == "host"  # host works everywhere
    assert resolve(None).name == fb.profile


def test_every_profile_is_complete():
    assert set(PROFILES) == {"host", "jetson", "rpi", "coral", "nvidia-gpu"} == set(DETECT_ORDER)
    for p in PROFILES.values():
        assert p.backends and p.description and p.expected
        assert set(p.runner_defaults) <= SUITE_RUNNER_KEYS, p.name
        assert p.samplers()[-1].name == "external_meter"


def test_passively_cooled_boards_cool_down_longer_than_host():
    assert PROFILES["rpi"].runner_defaults["cooldown_s"] > PROFILES["host"].runner_defaults["cooldown_s"]
    assert PROFILES["jetson"].backends[0] == "tensorrt" and "onnxruntime" in PROFILES["jetson"].backends
    assert PROFILES["coral"].backend_options["litert"]["delegate"] == "edgetpu"


def test_jetson_requested_on_x86_says_expected_found_and_host(fake_board):
    fake_board("x86-rapl")
    with pytest.raises(DeviceError) as err:
        resolve("jetson")
    msg = str(err.value)
    assert "DEVICE=jetson" in msg and "/etc/nv_tegra_release" in msg  # what was expected
    assert "no /etc/nv_tegra_release" in msg  # what was found
    assert "DEVICE=host works everywhere" in msg


def test_rpi_requested_on_jetson_shows_the_board_model(fake_board):
    fake_board("agx-orin-jp5")
    with pytest.raises(DeviceError, match=r"Jetson AGX Orin Developer Kit.*looks like 'jetson'"):
        resolve("rpi")


def test_coral_usb_on_a_pi_resolves_as_coral_or_rpi(fake_board):
    fb = fake_board("pi4")
    (fb.root / "sys/bus/usb/devices/1-1.2").mkdir(parents=True)
    (fb.root / "sys/bus/usb/devices/1-1.2/idVendor").write_text("1a6e\n")
    (fb.root / "sys/bus/usb/devices/1-1.2/idProduct").write_text("089a\n")
    assert detect().name == "rpi"
    assert resolve("coral").name == "coral"


def test_unknown_device_lists_the_names():
    with pytest.raises(DeviceError, match="unknown device 'tpu'") as err:
        get_profile("tpu")
    assert all(name in str(err.value) for name in PROFILES)


def test_facts_jetson(fake_board):
    fake_board("agx-orin-jp5")
    facts = PROFILES["jetson"].facts()
    assert facts["board_model"] == "Jetson AGX Orin Developer Kit"
    j = facts["jetson"]
    assert j["l4t"]["l4t"] == "35.4.1" and j["l4t"]["jetpack_major"] == "5"
    assert j["power_mode"]["name"] == "MAXN" and j["jetson_clocks"]["locked"] is True
    assert j["ina3221"]["layout"] == "hwmon" and "VIN_SYS_5V0" in j["ina3221"]["rails"]
    assert facts["edge_tpu"]["present"] is False


def test_facts_pi(fake_board):
    fake_board("pi5")
    facts = machine_facts()
    assert facts["profile"] == "rpi" and facts["rpi"]["revision"] == "d04170"
    assert facts["rpi"]["throttled"]["since_boot"] == ["under-voltage", "throttled"]
    assert facts["board_model"] == "Raspberry Pi 5 Model B Rev 1.0"


def test_samplers_per_profile_on_their_boards(fake_board):
    fake_board("agx-orin-jp5")
    t = Telemetry.for_profile(resolve("jetson"))
    assert t.sources["ina3221"] is None and t.sources["soctherm_oc"] is None
    assert [s.name for s in t.total_samplers] == ["ina3221"]
    assert "not used" in t.alternatives_unused["tegrastats"]  # same power, the sysfs files are preferred
    fake_board("pi5")
    t = Telemetry.for_profile(resolve("rpi"))
    assert [s.name for s in t.total_samplers] == ["pi5_pmic"] and t.sources["vcgencmd"] is None
    fake_board("pi4")
    t = Telemetry.for_profile(resolve("rpi"))
    assert t.total_samplers == [] and "not supported" in t.sources["pi5_pmic"]
    fake_board("x86-rapl")
    t = Telemetry.for_profile(resolve("host"))
    assert [s.name for s in t.total_samplers] == ["rapl"]
