"""Deliberately faulty adapters (fakes) that prove a bad backend becomes a failed record, not a crashed suite.
Loaded by the runner's child process as ``tests.harness.faulty_backends:ClassName``."""

from __future__ import annotations

import os
import time

from backends.null import NullBackend


class RaisingBackend(NullBackend):
    name = ""  # not registered; referenced by import path

    def infer(self, feeds):
        raise RuntimeError("kaboom from a faulty adapter")


class AbortingBackend(NullBackend):
    name = ""

    def infer(self, feeds):
        os.abort()


class HangingBackend(NullBackend):
    name = ""

    def load(self, artifact):
        time.sleep(3600)


class SegfaultingBackend(NullBackend):
    name = ""

    def infer(self, feeds):
        import ctypes

        ctypes.string_at(0)


class Fp16AbortsInSecondRound(NullBackend):
    """Runs fp32 fine; as fp16 it aborts after 30 calls (warm-up 2 + a 20-iteration round + re-warm: inside
    round 2), so a crash in the middle of interleaved rounds can be checked."""

    name = ""

    def prepare(self, model, variant, calibration, cache_dir):
        self._crash_after = 30 if variant.precision == "fp16" else None
        self._calls = 0
        return super().prepare(model, variant, calibration, cache_dir)

    def infer(self, feeds):
        self._calls += 1
        if self._crash_after is not None and self._calls > self._crash_after:
            os.abort()
        return super().infer(feeds)


class _LingeringPhases:
    """FAKE phases: finish at once, but leave a non-daemon thread that keeps the process from exiting
    (as a runtime's stuck exit hook would)."""

    phase = "start"

    def run(self):
        import threading

        from harness.phases import PhaseResult

        threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
        return PhaseResult()


def lingering_phases(plan, cache_dir, listener, window_s, passes):
    """``ProcessLauncher(make_phases=...)`` factory of ``_LingeringPhases``."""
    return _LingeringPhases()


class CountingBackend(NullBackend):
    """FAKE: counts the instances made and closed (one per stage at prepare, each closed, is the contract)."""

    name = ""
    made: list[int] = []
    closed: list[int] = []

    def __init__(self, options=None):
        super().__init__(options)
        CountingBackend.made.append(id(self))

    def close(self):
        CountingBackend.closed.append(id(self))

class DiskFillingBackend(NullBackend):
    """Fills the folder named by $EDGEBENCH_TEST_FILL (a small tmpfs in the test) while it loads, so the
    disk is full when the measured record is saved: the store must not lose it."""

    name = ""

    def load(self, artifact):
        super().load(artifact)
        folder = os.environ.get("EDGEBENCH_TEST_FILL")
        if folder:
            try:
                with open(os.path.join(folder, "fill"), "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            except OSError:
                pass  # ENOSPC: exactly what this fake is for


class MislabellingBackend(NullBackend):
    """A FAKE runtime that quietly computes in bf16 whatever it was asked (as OpenVINO's CPU plugin does by
    default on AVX512_BF16 machines): proves the mismatch path on every CPU."""

    name = ""

    def executed_precision(self):
        from backends.base import executed_summary

        return executed_summary({"bf16": 5, "fp32": 1}, "layers", "fake runtime model")


class UnreadableBackend(NullBackend):
    """A FAKE runtime whose read-back raises: the run still counts, the executed precision is unknown."""

    name = ""

    def executed_precision(self):
        raise RuntimeError("no runtime model here")


_HOARD: list[bytearray] = []


class HoardingBackend(NullBackend):
    """A converter that keeps what it allocated (as quantizers' caches and imported libraries do): 256 MiB
    held from prepare on. Run in a process of its own, prepare must not leave it in the run's memory."""

    name = ""

    def prepare(self, model, variant, calibration, cache_dir):
        marker = cache_dir / "hoarded"
        if not marker.exists():  # the real work: only when nothing is cached yet
            block = bytearray(256 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
            _HOARD.append(block)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("done")
        return super().prepare(model, variant, calibration, cache_dir)


class AbortingInPrepareBackend(NullBackend):
    name = ""

    def prepare(self, model, variant, calibration, cache_dir):
        os.abort()
