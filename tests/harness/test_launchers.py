"""Process hygiene of the process launcher: SIGTERM on `edgebench run` behaves like Ctrl-C (exit 143,
finished runs kept) and a run's process never outlives its parent, even one killed with SIGKILL.

The hanging adapter is a fake (tests/harness/faulty_backends.py); the processes and signals are real."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the run's process")


def _suite(tmp_path: Path, tiny_onnx: Path) -> Path:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"""
name: hygiene
runner: {{warmup: 0, min_iterations: 5, min_duration_s: 0, max_duration_s: 30, idle_s: 0, timeout_s: 600}}
data: {{evaluation: 0}}
models: [{{path: {tiny_onnx}}}]
backends: [{{name: "null"}}, {{name: "tests.harness.faulty_backends:HangingBackend"}}]
""")
    return suite


def _children(pid: int) -> list[int]:
    """Run processes (multiprocessing spawn) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has ended


def _start_and_wait_for_hang(tmp_path: Path, tiny_onnx: Path) -> tuple[subprocess.Popen, int]:
    """`edgebench run` with one finished run stored and the second one's process hanging in load."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(_suite(tmp_path, tiny_onnx)), "--out",
                             str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        stored = 0
        if (out / "edgebench.sqlite").exists():
            with sqlite3.connect(out / "edgebench.sqlite") as con:
                try:
                    stored = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        children = _children(proc.pid)
        if stored == 1 and children:
            return proc, children[0]
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the hanging run never started: {proc.communicate()[1][-2000:]}")


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_sigterm_is_handled_like_ctrl_c_and_leaves_no_orphan(tiny_onnx, tmp_path):
    proc, child = _start_and_wait_for_hang(tmp_path, tiny_onnx)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "1 finished run(s) are saved" in stderr
    assert "Traceback" not in stderr
    assert _wait_gone(child), f"run process {child} outlived edgebench"


def test_the_run_process_dies_with_a_killed_parent(tiny_onnx, tmp_path):
    proc, child = _start_and_wait_for_hang(tmp_path, tiny_onnx)
    proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel's parent-death signal can help
    proc.communicate(timeout=60)
    assert _wait_gone(child), f"run process {child} outlived its killed parent"


def test_a_run_process_that_lingers_after_its_result_is_killed_on_close(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from harness import launchers
    from tests.harness.faulty_backends import lingering_phases

    monkeypatch.setattr(launchers, "CLOSE_JOIN_S", 0.5, raising=False)
    plan = SimpleNamespace(label="lingering", runner=SimpleNamespace(timeout_s=60.0))
    run = launchers.ProcessLauncher(tmp_path, make_phases=lingering_phases).open(plan, [])
    pid = run.process.pid
    outcome = run.close(run.advance())
    assert outcome.kind == "result"
    assert not _alive(pid)  # killed and reaped, not left to the parent-death signal
