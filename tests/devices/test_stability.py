"""Machine-stability readers on a FAKE /proc and /sys tree (EDGEBENCH_FS_ROOT), and `edgebench doctor`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices import stability
from tests.devices.fakes import write


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGEBENCH_FS_ROOT", str(tmp_path))
    write(tmp_path, "/proc/loadavg", "0.10 0.20 0.30 1/200 12345\n")
    write(tmp_path, "/proc/stat", "cpu  100 0 50 1000 0 0 0 10 0 0\ncpu0 50 0 25 500 0 0 0 5 0 0\n")
    return tmp_path


def _proc(root: Path, pid: int, name: str, utime: int, stime: int = 0) -> None:
    fields = ["S", "1", pid, pid, 0, -1, 0, 0, 0, 0, 0, utime, stime] + [0] * 30
    write(root, f"/proc/{pid}/stat", f"{pid} ({name}) " + " ".join(str(f) for f in fields) + "\n")


def test_steal_time_over_a_window_from_proc_stat(root: Path):
    tracker = stability.StabilityTracker()
    tracker.start()
    # 200 ticks pass: 30 of them stolen by the hypervisor.
    write(root, "/proc/stat", "cpu  200 0 70 1050 0 0 0 40 5 0\n")
    out = tracker.stop()
    assert out["steal_pct"] == pytest.approx(100 * 30 / 200)
    assert out["load_1m_at_start"] == pytest.approx(0.10)
    group, notes = stability.summarize([out])
    assert group["steal_pct_max"] == pytest.approx(15.0)
    assert any("hypervisor steal reached 15.0%" in n for n in notes)


def test_no_proc_stat_is_a_reason_not_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDGEBENCH_FS_ROOT", str(tmp_path))
    tracker = stability.StabilityTracker()
    tracker.start()
    out = tracker.stop()
    assert out["steal_pct"] is None and "not readable" in out["reason"]
    group, notes = stability.summarize([out])
    assert group["steal_pct_max"] is None and group["reason"] and notes == []


def test_governor_and_boost_readers(root: Path):
    write(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave\n")
    write(root, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance\n")
    write(root, "/sys/devices/system/cpu/intel_pstate/no_turbo", "0\n")
    assert stability.governors() == {"cpu0": "powersave", "cpu1": "performance"}
    assert stability.boost()["enabled"] is True
    write(root, "/sys/devices/system/cpu/cpufreq/boost", "0\n")
    assert stability.boost() == {"enabled": False, "source": "/sys/devices/system/cpu/cpufreq/boost"}


def test_busy_processes_are_found_from_two_readings(root: Path, monkeypatch: pytest.MonkeyPatch):
    _proc(root, 4242, "stress ng", 1000)
    _proc(root, 4343, "idle daemon", 5)
    ticks = {"n": 0}
    real_sleep = stability.time.sleep

    def fake_sleep(seconds: float) -> None:  # the second reading sees stress using 80% of a core
        ticks["n"] += 1
        _proc(root, 4242, "stress ng", 1000 + int(0.8 * stability._CLK_TCK * seconds))
        real_sleep(0)

    monkeypatch.setattr(stability.time, "sleep", fake_sleep)
    busy = stability.busy_processes(0.5)
    assert [b["name"] for b in busy] == ["stress ng"] and busy[0]["cpu_pct"] == pytest.approx(80, abs=1)


def test_check_lists_each_problem_with_its_fix(root: Path, monkeypatch: pytest.MonkeyPatch):
    write(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "schedutil\n")
    write(root, "/sys/devices/system/cpu/cpufreq/boost", "1\n")
    write(root, "/proc/loadavg", "9.00 5.0 3.0 1/200 12345\n")
    monkeypatch.setattr(stability, "busy_processes", lambda *a, **k: [{"pid": 7, "name": "yes", "cpu_pct": 99.0}])
    found = {f.what: f for f in stability.check(steal_window_s=0)}
    assert "performance" in found["cpu frequency governor"].fix
    assert "boost" in found["turbo/boost"].fix
    assert "9.00" in found["load average"].detail
    assert "kill 7" in found["busy process"].fix


def test_wait_for_quiet_is_bounded_and_says_why(root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stability, "busy_processes", lambda *a, **k: [{"pid": 7, "name": "yes", "cpu_pct": 99.0}])
    out = stability.wait_for_quiet(0.0)
    assert out["quiet"] is False and "yes (99%)" in out["reason"]
    monkeypatch.setattr(stability, "busy_processes", lambda *a, **k: [])
    assert stability.wait_for_quiet(5.0)["quiet"] is True


def test_doctor_command_json(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from harness.cli import main

    monkeypatch.setattr(stability, "busy_processes", lambda *a, **k: [])
    monkeypatch.setattr(stability.time, "sleep", lambda s: None)
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(f["what"] == "cpu frequency governor" for f in data["findings"])
    assert main(["doctor", "--wait-quiet", "-1"]) == 2
