"""Launchers: where a run's ``Phases`` execute, and who drives its trackers meanwhile.

``ProcessLauncher`` (``edgebench run``): the phases run in a process of their own, so a crash, an
abort or a hang becomes a failed record and the suite goes on. The parent never busy-waits: it
blocks in ``Connection.poll(interval)``, which is both its sleep and its wake-up on a message from
the child, and ticks the trackers on a 50 Hz grid. The child dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, and a watch on its parent id elsewhere), so no run outlives ``edgebench``.

``InProcessLauncher`` (the pytest plugin): the phases run in this process; a side thread ticks the
trackers. Both hand the same ``Phases`` a ``PhaseListener``, and both end in ``record_from``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import UnsupportedVariant
from harness.phases import Pass, PhaseResult, Phases
from harness.plan import RunPlan
from harness.trackers import Figures, Target, Tracker

TICK_S = 0.02  # 50 Hz: the memory sampling rate
CLOSE_JOIN_S = 10.0  # how long a finished run's process may take to exit before it is killed
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class Outcome:
    """How a launched run ended: ``result`` (ok), ``skipped``, ``error`` (a raise) or ``crashed``."""

    kind: str
    phase: str
    result: PhaseResult | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    exitcode: int | None = None
    figures: list[Figures] = field(default_factory=list)


def _start(trackers: Sequence[Tracker], target: Target) -> None:
    for t in trackers:
        t.start(target)


def _settle(trackers: Sequence[Tracker]) -> None:
    for t in trackers:
        t.settle()


def _tick(trackers: Sequence[Tracker]) -> None:
    for t in trackers:
        t.tick()


def _stop(trackers: Sequence[Tracker], result: PhaseResult | None) -> list[Figures]:
    return [t.stop(result) for t in trackers]


def min_window_s(trackers: Sequence[Tracker]) -> float:
    return max((t.min_window_s() for t in trackers), default=0.0)


# ---------------------------------------------------------------------------------------------
# Child side of the process launcher: everything here runs in the run's own process.
# ---------------------------------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` does: the kernel's parent-death signal on Linux
    (via libc's prctl), else a thread that watches the parent id."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watch below still works
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="edgebench-parent-watch", daemon=True).start()


class PipeListener:
    """Phase markers to the parent; window_open/close wait for the parent's trackers."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, kind: str, **payload: Any) -> None:
        try:
            self.conn.send((kind, time.perf_counter_ns(), payload))
        except (BrokenPipeError, EOFError, OSError):
            os._exit(1)  # the pipe is closed: the parent is gone, nobody is left to report to

    def _await(self) -> None:
        try:
            self.conn.recv()
        except (EOFError, OSError):
            os._exit(1)

    def phase(self, name: str) -> None:
        self.send("phase", name=name)

    def window_open(self) -> None:
        self.send("steady_start")
        self._await()  # the parent's trackers are running: start the clock

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        self.send("steady_end", window_ns=window_ns, n=n_inferences)
        self._await()

    def round_ready(self, index: int) -> bool:
        self.send("round_ready", index=index)
        try:
            reply = self.conn.recv()  # "go", or "go-after-others" when other runs' rounds ran meanwhile
        except (EOFError, OSError):
            os._exit(1)
        return reply == "go-after-others"


def single_phases(plan: RunPlan, cache_dir: Path, listener: PipeListener, window_s: float,
                  passes: Sequence[tuple[str, Pass]]) -> Phases:
    """The phases of a single-model run, with its backend instance (the default ``make_phases``); its
    prepare step runs in a process of its own first (``prepare_in_own_process``)."""
    backend = plan.backend_class()(plan.backend_options())
    return Phases(plan, backend, cache_dir, listener, window_s, passes, prepare_apart=prepare_in_own_process)


def prepare_in_own_process(plan: RunPlan, cache_dir: Path) -> dict[str, Any]:
    """Run ``plan``'s prepare step in a separate Python process (``harness.prepare_worker``: it fills the
    artifact cache) and wait for it. Returns its prepare seconds, int8-auto search and peak RSS; raises
    the exception it raised (or a RuntimeError with its type and text when that cannot be unpickled).
    A plain subprocess, not multiprocessing: the run's own process is daemonic and may not have children
    of that kind. The worker dies with this process."""
    import pickle
    import subprocess

    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # --plugin modules too
    try:
        proc = subprocess.Popen([sys.executable, "-m", "harness.prepare_worker", str(write_fd)],
                                stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env)
    finally:
        os.close(write_fd)
    try:
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps((plan, str(cache_dir), os.getpid())))
        proc.stdin.close()
        with os.fdopen(read_fd, "rb") as answer:
            data = answer.read()
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    try:
        kind, payload = pickle.loads(data)
    except Exception:
        raise RuntimeError(f"the preparation process ended without an answer (exit code {proc.returncode}: a "
                           "crash in the converter or quantizer?)") from None
    if kind == "error":
        raise payload
    return payload


def child_main(conn: Any, plan: Any, cache_dir: str, window_s: float, parent_pid: int,
               passes: Sequence[tuple[str, Pass]] = (), make_phases: Any = None, *phases_args: Any) -> None:
    """Entry point of the run's process: builds its phases with ``make_phases`` (a module-level, picklable
    function called with (plan, cache_dir, listener, window_s, passes, *phases_args); default
    ``single_phases``), runs them, then sends ("result", ...), ("skipped", ...) or ("error", ...)."""
    die_with_parent(parent_pid)
    listener = PipeListener(conn)
    phases: Any = None
    try:
        phases = (make_phases or single_phases)(plan, Path(cache_dir), listener, window_s, passes, *phases_args)
        result = phases.run()
        backend = getattr(phases, "backend", None)  # a pipeline's phases close their stages themselves
        if backend is not None:
            backend.close()
        listener.send("result", result=result)
    except UnsupportedVariant as exc:
        listener.send("skipped", reason=str(exc), phase=phases.phase if phases else "start")
    except BaseException as exc:  # the parent turns this into a failed record
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        listener.send("error", reason=f"{type(exc).__name__}: {exc}"[:2000], phase=phases.phase if phases else "start",
                      where=where, traceback="".join(traceback.format_exception(exc))[-8000:])
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Parent side.
# ---------------------------------------------------------------------------------------------


_PAUSED = Outcome("paused", "round_ready")  # the child waits at a round gate for its turn


class ProcessLauncher:
    """Runs a plan's phases in a spawned process with a timeout, ticking ``trackers`` meanwhile.
    ``passes`` (run after the timed window, in the child) must be picklable: module-level functions.
    ``make_phases`` builds the child's phases (``child_main``; default ``single_phases``), called with
    ``phases_args`` after its own arguments (a pipeline's: ``harness.pipeline_run.pipeline_phases``).

    ``launch`` runs a plan start to end; ``open`` returns a ``LiveRun`` that a driver advances round
    by round (interleaving several plans' rounds, each plan in its own live process)."""

    def __init__(self, cache_dir: Path, tick_s: float = TICK_S, passes: Sequence[tuple[str, Pass]] = (),
                 make_phases: Any = None, phases_args: tuple[Any, ...] = ()) -> None:
        self.cache_dir, self.tick_s, self.passes = Path(cache_dir), tick_s, list(passes)
        self.make_phases, self.phases_args = make_phases, tuple(phases_args)

    def open(self, plan: RunPlan, trackers: Sequence[Tracker]) -> LiveRun:
        return LiveRun(self, plan, trackers)

    def launch(self, plan: RunPlan, trackers: Sequence[Tracker]) -> Outcome:
        run = self.open(plan, trackers)
        outcome: Outcome | None = None
        try:
            outcome = run.advance()
            while outcome is None:  # not interleaved: every round gate opens at once
                run.release(after_others=False)
                outcome = run.advance()
        finally:
            outcome = run.close(outcome)
        return outcome


class LiveRun:
    """One plan's process, advanced to its next round gate (``advance`` → None) or to its end (an
    ``Outcome``); ``release`` lets it run its next round. The timeout counts only the time this run
    was advancing, not the time it waited for other plans' rounds."""

    def __init__(self, launcher: ProcessLauncher, plan: RunPlan, trackers: Sequence[Tracker]) -> None:
        self.plan, self.trackers, self.tick_s = plan, list(trackers), launcher.tick_s
        self.target = Target()
        self.budget_s = plan.runner.timeout_s
        _start(self.trackers, self.target)
        _settle(self.trackers)
        mp_ctx = mp.get_context("spawn")
        self.conn, child_conn = mp_ctx.Pipe()
        self.process = mp_ctx.Process(
            target=child_main, name=f"edgebench-run-{plan.label}", daemon=True,
            args=(child_conn, plan, str(launcher.cache_dir), min_window_s(self.trackers), os.getpid(),
                  launcher.passes, launcher.make_phases, *launcher.phases_args),
        )
        self.process.start()
        child_conn.close()
        self.target.pid = self.process.pid

    def advance(self) -> Outcome | None:
        """Run until the child waits for its next round (None) or ends (its Outcome)."""
        started = time.monotonic()
        try:
            outcome = self._loop(started + self.budget_s)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (the CLI turns it into one): no orphan left behind
            self.process.kill()
            self.process.join()
            raise
        finally:
            self.budget_s -= time.monotonic() - started
        return None if outcome is _PAUSED else outcome

    def release(self, after_others: bool = True) -> None:
        """Let the child run its next round (``after_others``: other runs ran since its last one)."""
        self.conn.send("go-after-others" if after_others else "go")

    def close(self, outcome: Outcome | None) -> Outcome:
        """End the process if it is still there and collect the trackers' figures."""
        process = self.process
        if process.is_alive() and (outcome is None or outcome.kind in ("error", "paused")):
            process.kill()
        process.join(timeout=CLOSE_JOIN_S)
        if process.is_alive():  # sent its result but hangs on the way out (a runtime's exit hook)
            process.kill()
            process.join()
        self.conn.close()
        exitcode = process.exitcode
        process.close()  # free the process's pipe and sentinel now, not at garbage collection
        if outcome is None:
            outcome = Outcome("crashed", self.target.phase)
        outcome.figures = _stop(self.trackers, outcome.result)
        if outcome.kind == "crashed":
            outcome.exitcode = exitcode
        return outcome

    def _loop(self, deadline: float) -> Outcome:
        conn, process, plan, trackers, target = self.conn, self.process, self.plan, self.trackers, self.target
        next_tick = time.perf_counter()
        while True:
            # Sleep until the next tick is due, waking early for a message: ticks stay on a 50 Hz grid.
            next_tick += self.tick_s
            try:
                ready = conn.poll(max(0.0, next_tick - time.perf_counter()))
            except (EOFError, OSError):
                break
            if time.perf_counter() - next_tick > self.tick_s:
                next_tick = time.perf_counter()  # fell behind (a busy machine): do not burst to catch up
            _tick(trackers)
            if ready:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    break
                outcome = _on_message(message, conn, trackers, target)
                if outcome is not None:
                    return outcome
            if time.monotonic() > deadline:
                return Outcome("error", target.phase, payload={
                    "reason": f"timed out after {plan.runner.timeout_s:g} s (raise runner.timeout_s, or look "
                              "for a hang in the backend)", "phase": target.phase})
            if not process.is_alive() and not conn.poll(0):
                break
        return Outcome("crashed", target.phase)


def _on_message(message: tuple[str, int, dict[str, Any]], conn: Any, trackers: Sequence[Tracker],
                target: Target) -> Outcome | None:
    kind, _t_ns, payload = message
    if kind == "phase":
        target.phase = payload["name"]
    elif kind == "steady_start":
        target.phase = "steady"
        for t in trackers:
            t.window_open()
        conn.send("go")
    elif kind == "steady_end":
        for t in trackers:
            t.window_close(tuple(payload["window_ns"]), payload["n"])
        target.phase = "after_steady"
        conn.send("ok")
    elif kind == "round_ready":
        target.phase = "round_ready"
        return _PAUSED
    elif kind == "result":
        return Outcome("result", target.phase, result=payload["result"])
    else:
        return Outcome(kind, target.phase, payload=payload)
    return None


# ---------------------------------------------------------------------------------------------
# In-process launcher.
# ---------------------------------------------------------------------------------------------


class InProcessListener:
    """Phase markers straight to the trackers (no pipe)."""

    def __init__(self, trackers: Sequence[Tracker], target: Target) -> None:
        self.trackers, self.target = trackers, target

    def phase(self, name: str) -> None:
        _tick(self.trackers)  # close the previous phase with a reading at its very end
        self.target.phase = name
        _tick(self.trackers)

    def window_open(self) -> None:
        for t in self.trackers:
            t.window_open()

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        for t in self.trackers:
            t.window_close(window_ns, n_inferences)

    def round_ready(self, index: int) -> bool:
        return False  # in-process runs are not interleaved


class InProcessLauncher:
    """Trackers around phases that run in this process (``start`` → phases → ``stop``); a side thread
    ticks them (``Event.wait`` is its sleep: nothing busy-waits)."""

    def __init__(self, trackers: Sequence[Tracker], tick_s: float = TICK_S) -> None:
        self.trackers, self.tick_s = list(trackers), tick_s
        self.target = Target(pid=os.getpid())
        self.listener = InProcessListener(self.trackers, self.target)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.figures: list[Figures] | None = None

    def min_window_s(self) -> float:
        return min_window_s(self.trackers)

    def start(self) -> InProcessLauncher:
        _start(self.trackers, self.target)
        self._thread = threading.Thread(target=self._loop, name="edgebench-trackers", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop_event.wait(self.tick_s):
            _tick(self.trackers)

    def settle(self) -> None:
        _settle(self.trackers)

    def stop(self, result: PhaseResult | None) -> list[Figures]:
        """Stop ticking and return the trackers' figures (once; later calls return the same)."""
        if self.figures is None:
            self._stop_event.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            _tick(self.trackers)
            self.figures = _stop(self.trackers, result)
        return self.figures
