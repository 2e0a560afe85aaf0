"""A sampler that polls a read function from a side thread.

The thread waits on ``threading.Event().wait(interval)``: one call that is both the sleep and the
stop signal, so stopping is immediate and nothing busy-waits (a busy wait on a 4-core board skews
the very power it measures). Every sample is stamped with the monotonic clock at the midpoint of
its read, because some reads (a ``vcgencmd`` call, a PMIC ADC read) take tens of milliseconds.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable

from devices.base import Sampler, Samples


class SensorError(Exception):
    """A read failed; the message says why in words."""


class PollingSampler(Sampler):
    """Subclasses fill ``read()`` (channel -> value) and ``probe()`` (availability reason); the
    attributes the telemetry facade reads are declared on ``Sampler``."""

    interval_s: float = 0.5

    def __init__(self, interval_s: float | None = None, clock: Callable[[], int] = time.monotonic_ns) -> None:
        if interval_s is not None:
            self.interval_s = interval_s
        self.clock = clock
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: Samples | None = None
        self._errors: list[str] = []
        self._reason: str | None = None
        self._probed = False

    # -- what subclasses fill ------------------------------------------------------------------
    @abstractmethod
    def probe(self) -> str | None:
        """None when usable; otherwise the reason. May raise; ``available()`` catches."""

    @abstractmethod
    def read(self) -> dict[str, float]:
        """One reading: channel name (with unit) -> value. Raises SensorError/OSError on failure."""

    def meta(self) -> dict[str, object]:
        """Facts about the trace (rails, counters, rules) stored with the samples."""
        return {}

    # -- the Sampler contract ------------------------------------------------------------------
    def available(self) -> str | None:
        if not self._probed:
            try:
                self._reason = self.probe()
            except Exception as exc:  # availability never raises: say why instead
                self._reason = f"probe failed: {type(exc).__name__}: {exc}"
            self._probed = True
        return self._reason

    def sample_once(self, samples: Samples) -> bool:
        """Read once and append to ``samples``; a failed read is counted, never recorded as zero."""
        t0 = self.clock()
        try:
            values = self.read()
        except (SensorError, OSError, ValueError) as exc:
            if len(self._errors) < 5:
                self._errors.append(f"{type(exc).__name__}: {exc}")
            samples.meta["read_errors"] = samples.meta.get("read_errors", 0) + 1
            return False
        t1 = self.clock()
        if values:
            samples.add((t0 + t1) // 2, **values)
        return bool(values)

    def start(self) -> None:
        self._stop_event.clear()
        self._errors = []
        self._samples = Samples(source=self.name)
        self._samples.meta.update(self.meta())
        self._samples.meta["interval_s"] = self.interval_s
        # One reading when the window opens and one when it closes (in stop) bracket the window
        # even when the poll interval is longer than the run.
        self.sample_once(self._samples)
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        samples = self._samples
        assert samples is not None
        while not self._stop_event.wait(self.interval_s):
            self.sample_once(samples)

    def stop(self) -> Samples:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * self.interval_s))
            self._thread = None
        samples = self._samples or Samples(source=self.name)
        self.sample_once(samples)
        if self._errors:
            samples.meta["errors"] = list(self._errors)
        self._samples = None
        return samples

    def collect(self, n: int) -> Samples:
        """``n`` readings without a thread or waiting: for tests and one-off snapshots."""
        samples = Samples(source=self.name)
        samples.meta.update(self.meta())
        for _ in range(n):
            self.sample_once(samples)
        return samples


class SnapshotSampler(Sampler):
    """Device state that is read when the window opens and when it closes, not polled
    (the Jetson power mode and clock lock): a change between the two is itself a finding."""

    @abstractmethod
    def probe(self) -> str | None: ...

    @abstractmethod
    def snapshot(self) -> dict[str, object]: ...

    def available(self) -> str | None:
        if not hasattr(self, "_reason"):
            try:
                self._reason = self.probe()
            except Exception as exc:
                self._reason = f"probe failed: {type(exc).__name__}: {exc}"
        return self._reason

    def start(self) -> None:
        self._start = self.snapshot()

    def stop(self) -> Samples:
        return Samples(source=self.name, meta={"start": getattr(self, "_start", None), "end": self.snapshot()})
