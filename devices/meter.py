"""An external power meter's log, lined up with the run's window: for boards with no sensor (Coral,
Pi 4, the whole board of a Jetson including fan and USB devices).

Configure it with the environment variable ``EDGEBENCH_POWER_CSV=/path/to/log.csv`` (or the profile
option ``power_csv``). The file holds one reading per line, ``timestamp,watts``, an optional header
line, written by whatever talks to the meter (a UM25C logger, a lab supply's script...) while the
benchmark runs. The timestamp may be:
- seconds of the monotonic clock (``time.monotonic()`` on the same machine; values below 1e9), or
- seconds since the Unix epoch (``time.time()``; values of 1e9 and more), or
- an ISO 8601 date-time (``2024-05-01T12:00:00.250``; local time unless it carries an offset).
A header ``timestamp_ms,watts`` or ``timestamp_ns,watts`` gives numeric timestamps in those units.
``EDGEBENCH_POWER_CSV_CLOCK=monotonic|epoch`` overrides the guess for numeric timestamps. Epoch and
ISO times are mapped onto the monotonic clock with the offset between the two clocks at the moment
the log is read. The file is read when the window closes; rows outside the window are ignored.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

from devices.base import Sampler, Samples

ENV = "EDGEBENCH_POWER_CSV"
ENV_CLOCK = "EDGEBENCH_POWER_CSV_CLOCK"
EPOCH_THRESHOLD_S = 1e9  # no monotonic clock has run for 31 years


class MeterCsvError(ValueError):
    pass


@dataclass
class PowerLog:
    t_s: list[float]  # seconds, in ``clock``
    watts: list[float]
    clock: str  # "monotonic" or "epoch"


def parse_power_csv(text: str, clock: str | None = None, source: str = "power CSV") -> PowerLog:
    """``timestamp,watts`` rows -> a PowerLog; bad rows raise with their line number."""
    scale = 1.0
    t_s: list[float] = []
    watts: list[float] = []
    kinds: set[str] = set()
    first = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = first or lineno
        parts = [p.strip() for p in line.replace(";", ",").split(",")]
        if len(parts) < 2:
            raise MeterCsvError(f"{source} line {lineno}: expected 'timestamp,watts', found {line[:60]!r}")
        if lineno == first and not _is_number(parts[0]) and not _is_number(parts[1]):  # header
            head = parts[0].lower()
            scale = 1e-3 if head.endswith("_ms") else 1e-9 if head.endswith("_ns") else 1e-6 if head.endswith(
                "_us") else 1.0
            continue
        try:
            w = float(parts[1])
        except ValueError:
            raise MeterCsvError(f"{source} line {lineno}: watts must be a number, found {parts[1]!r}") from None
        if _is_number(parts[0]):
            t = float(parts[0]) * scale
            kinds.add("number")
        else:
            try:
                t = _dt.datetime.fromisoformat(parts[0].replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise MeterCsvError(f"{source} line {lineno}: timestamp must be seconds or ISO 8601, found "
                                    f"{parts[0]!r}") from None
            kinds.add("iso")
        if t_s and t < t_s[-1]:
            raise MeterCsvError(f"{source} line {lineno}: timestamps go backwards ({t} after {t_s[-1]})")
        t_s.append(t)
        watts.append(w)
    if not t_s:
        raise MeterCsvError(f"{source}: no 'timestamp,watts' rows")
    # ISO dates are wall-clock times; bare numbers are guessed from their size unless told.
    kind = "epoch" if "iso" in kinds else clock or ("epoch" if t_s[0] >= EPOCH_THRESHOLD_S else "monotonic")
    return PowerLog(t_s, watts, kind)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def to_monotonic_ns(log: PowerLog, epoch_minus_monotonic_ns: int | None = None) -> list[int]:
    """The log's timestamps on this machine's monotonic clock."""
    if log.clock == "monotonic":
        return [round(t * 1e9) for t in log.t_s]
    offset = epoch_minus_monotonic_ns if epoch_minus_monotonic_ns is not None else time.time_ns() - time.monotonic_ns()
    return [round(t * 1e9) - offset for t in log.t_s]


class ExternalMeterSampler(Sampler):
    """Reads the meter's CSV when the window closes and keeps the rows around it."""

    name = "external_meter"
    power_group = "meter"
    scope = "external meter (whatever it is wired to measure, usually the board's whole input)"
    margin_ns = 5_000_000_000  # keep rows a little outside the window: the edges are interpolated

    def __init__(self, csv_path: str | os.PathLike[str] | None = None) -> None:
        self.csv_path = str(csv_path) if csv_path else os.environ.get(ENV) or None
        self.update_period_s = 1.0  # until the log's own spacing is known (USB meters update at 1-2 Hz)
        self._t0_ns = 0

    def available(self) -> str | None:
        if not self.csv_path:
            return f"no external meter configured (set {ENV} to a CSV log of timestamp,watts)"
        p = Path(self.csv_path)
        if not p.is_file():
            return f"{ENV}={self.csv_path}: no such file"
        try:
            log = parse_power_csv(p.read_text(), os.environ.get(ENV_CLOCK), source=str(p))
        except (OSError, MeterCsvError) as exc:
            return str(exc)
        if len(log.t_s) > 1:
            spacing = sorted(b - a for a, b in zip(log.t_s, log.t_s[1:]))
            self.update_period_s = max(spacing[len(spacing) // 2], 1e-3)
        return None

    def start(self) -> None:
        self._t0_ns = time.monotonic_ns()

    def stop(self) -> Samples:
        t1_ns = time.monotonic_ns()
        samples = Samples(source=self.name, meta={"path": self.csv_path})
        try:
            log = parse_power_csv(Path(str(self.csv_path)).read_text(), os.environ.get(ENV_CLOCK),
                                  source=str(self.csv_path))
        except (OSError, MeterCsvError) as exc:
            samples.meta["errors"] = [str(exc)]
            return samples
        samples.meta["clock"] = log.clock
        for t, w in zip(to_monotonic_ns(log), log.watts):
            if self._t0_ns - self.margin_ns <= t <= t1_ns + self.margin_ns:
                samples.add(t, power_w=w)
        return samples
