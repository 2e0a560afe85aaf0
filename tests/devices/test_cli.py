"""``edgebench devices`` and ``edgebench telemetry parse`` end to end through a subprocess, on FAKE
device trees (EDGEBENCH_FS_ROOT) and recorded logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devices import fakes

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else sys.executable


def edgebench(*args: str, fs_root: Path | None = None, tmp: Path | None = None,
              env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEBENCH_")}
    if fs_root is not None:
        env["EDGEBENCH_FS_ROOT"] = str(fs_root)
    if tmp is not None:
        env["EDGEBENCH_OUT"] = str(tmp / "out")
    env.update(env_extra or {})
    return subprocess.run([PYTHON, "-m", "harness.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def make(tmp_path: Path, board: str) -> fakes.FakeBoard:
    root = tmp_path / board
    root.mkdir()
    return fakes.BOARDS[board](root)


def test_devices_json_on_a_fake_agx_orin(tmp_path):
    fb = make(tmp_path, "agx-orin-jp5")
    done = edgebench("devices", "--json", fs_root=fb.root, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["profile"] == "jetson" and info["backends_first"][0] == "tensorrt"
    assert info["facts"]["jetson"]["l4t"]["l4t"] == "35.4.1"
    assert info["facts"]["board_model"] == "Jetson AGX Orin Developer Kit"
    assert info["samplers"]["ina3221"]["available"] is True
    assert info["samplers"]["soctherm_oc"]["available"] is True
    # No tegrastats binary and no nvpmodel here: unavailable, with the reason in words.
    assert info["samplers"]["tegrastats"]["available"] is False and info["samplers"]["tegrastats"]["reason"]
    assert info["power_source"] == "ina3221" and info["min_window_s"] > 0
    assert info["profiles"]["jetson"]["matches"] and info["profiles"]["host"]["matches"]
    assert not info["profiles"]["rpi"]["matches"]
    assert info["environment"]["python"] and "packages" in info["environment"]


def test_devices_json_on_a_fake_x86_host(tmp_path):
    fb = make(tmp_path, "x86-rapl")
    info = json.loads(edgebench("devices", "--json", fs_root=fb.root, tmp=tmp_path).stdout)
    assert info["profile"] == "host" and info["power_source"] == "rapl"
    assert info["samplers"]["thermal_zones"]["available"] is True
    assert "EDGEBENCH_POWER_CSV" in info["samplers"]["external_meter"]["reason"]


def test_devices_text_and_a_device_that_is_not_this_machine(tmp_path):
    fb = make(tmp_path, "pi5")
    done = edgebench("devices", fs_root=fb.root, tmp=tmp_path)
    assert done.returncode == 0 and "device profile: rpi" in done.stdout and "Pi revision: d04170" in done.stdout
    wrong = edgebench("devices", "--device", "jetson", fs_root=fb.root, tmp=tmp_path)
    assert wrong.returncode == 2
    assert "Raspberry Pi 5" in wrong.stderr and "DEVICE=host works everywhere" in wrong.stderr


def test_run_on_a_machine_that_is_not_the_device_stops_at_once(tmp_path, tiny_onnx):
    fb = make(tmp_path, "x86-rapl")
    done = edgebench("run", "--model", str(tiny_onnx), "--backend", "onnxruntime", "--device", "jetson",
                     fs_root=fb.root, tmp=tmp_path)
    assert done.returncode == 2
    assert "DEVICE=jetson" in done.stderr and "no /etc/nv_tegra_release" in done.stderr


# -- telemetry parse --------------------------------------------------------------------------------
def parse(tmp_path: Path, fmt: str, text: str, *extra: str, capsys: pytest.CaptureFixture | None = None) -> dict:
    """Through a subprocess; or in process (same parser and handler, faster) when given capsys."""
    log = tmp_path / f"{fmt}.log"
    log.write_text(text)
    argv = ["telemetry", "parse", "--format", fmt, str(log), "--json", *extra]
    if capsys is not None:
        from harness.cli import main

        capsys.readouterr()
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)
    done = edgebench(*argv, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_parse_tegrastats_jp5_dated_log_gives_energy(tmp_path):
    base = fakes.TEGRASTATS_AGX_ORIN_JP5
    lines = [base.replace("16:07:54", f"16:07:{54 + i}")
             .replace("VDD_GPU_SOC 2390mW", f"VDD_GPU_SOC {2390 + 100 * i}mW") for i in range(4)]
    out = parse(tmp_path, "tegrastats", "\n".join(lines) + "\n")
    totals = [(2390 + 100 * i + 796 + 3522) / 1000 for i in range(4)]
    assert out["lines"] == 4 and out["timestamps"] == "line dates"
    assert out["energy_j"] == pytest.approx(sum((totals[i] + totals[i + 1]) / 2 for i in range(3)))
    assert out["total_w"]["peak"] == pytest.approx(totals[-1])
    assert out["rails_w"]["VDDQ_VDD2_1V8AO"]["mean"] == pytest.approx(0.301)
    assert "GPU" in out["offline_sensors"] and out["temps_c"]["tj"]["last"] == pytest.approx(41.656)
    assert "module only" in out["scope"]


def test_parse_tegrastats_jp4_needs_interval_for_energy(tmp_path, capsys):
    text = (fakes.TEGRASTATS_NANO_JP4 + "\n") * 5
    no_time = parse(tmp_path, "tegrastats", text, capsys=capsys)
    assert no_time["energy_j"] is None and "--interval-ms" in no_time["energy_reason"]
    assert no_time["total_w"]["mean"] == pytest.approx(2.132)
    timed = parse(tmp_path, "tegrastats", text, "--interval-ms", "500", capsys=capsys)
    assert timed["energy_j"] == pytest.approx(2.132 * 2.0) and timed["duration_s"] == pytest.approx(2.0)


def test_parse_tegrastats_same_second_dates_ask_for_interval(tmp_path, capsys):
    out = parse(tmp_path, "tegrastats", (fakes.TEGRASTATS_ORIN_NANO_JP5 + "\n") * 3, capsys=capsys)
    assert out["energy_j"] is None and "1 s resolution" in out["energy_reason"]


def test_parse_pmic_nvpmodel_clocks(tmp_path, capsys):
    pmic = parse(tmp_path, "pmic_read_adc", fakes.PMIC_READ_ADC_PI5)  # one through a subprocess
    assert pmic["total_w"] == pytest.approx(fakes.pmic_expected_total_w())
    assert set(pmic["rails_without_current"]) == {"EXT5V", "BATT"} and "5 V input" in pmic["scope"]
    many = parse(tmp_path, "pmic_read_adc", fakes.PMIC_READ_ADC_PI5 * 3, "--interval-ms", "100", capsys=capsys)
    assert many["energy_j"] == pytest.approx(fakes.pmic_expected_total_w() * 0.2)
    assert parse(tmp_path, "nvpmodel", fakes.NVPMODEL_Q, capsys=capsys)["name"] == "MAXN"
    assert parse(tmp_path, "nvpmodel", fakes.NVPMODEL_CONF_ORIN, capsys=capsys)["modes"]["3"] == "MODE_50W"
    assert parse(tmp_path, "nvpmodel", "pmode:0002\n", capsys=capsys)["id"] == 2
    clocks = parse(tmp_path, "jetson_clocks", fakes.JETSON_CLOCKS_ORIN_LOCKED, capsys=capsys)
    assert clocks["locked"] is True and clocks["engines"]["GPU"]["max_hz"] == 1300500000


def test_parse_rapl_with_wrap_and_csv(tmp_path, capsys):
    m = fakes.MAX_RANGE_UJ
    readings = [m - 2_000_000, m - 1_000_000, 0, 999_999]  # 1 J per second, one wrap
    rapl = parse(tmp_path, "rapl", "".join(f"{i * 1.0} {r}\n" for i, r in enumerate(readings)),
                 "--max-energy-range-uj", str(m), capsys=capsys)
    assert rapl["wraps"] == 1 and rapl["energy_j"] == pytest.approx(3.0) and rapl["mean_w"] == pytest.approx(1.0)
    csv = parse(tmp_path, "csv", "timestamp,watts\n0,2\n1,4\n2,2\n")  # through a subprocess
    assert csv["energy_j"] == pytest.approx(6.0) and csv["power_w"]["peak"] == 4


def test_parse_errors_are_clear(tmp_path, capsys):
    from harness.cli import main

    bad = tmp_path / "bad.log"
    bad.write_text("this is not tegrastats\n")
    done = edgebench("telemetry", "parse", "--format", "tegrastats", str(bad), tmp=tmp_path)
    assert done.returncode == 2 and "not a valid tegrastats log" in done.stderr and "line 1" in done.stderr
    assert main(["telemetry", "parse", "--format", "csv", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    rapl = tmp_path / "r.log"
    rapl.write_text("100\n50\n")
    assert main(["telemetry", "parse", "--format", "rapl", str(rapl)]) == 2
    assert "backwards" in capsys.readouterr().err
