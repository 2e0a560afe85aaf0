"""``tegrastats`` output, every variant across JetPack releases, and a sampler that runs it.

Variants accepted (fields are found by name, never by position, since rail order is not fixed):
- power ``RAIL cur/avg`` (JetPack 4, mW implied), ``RAIL 5704mW/5704mW`` (JetPack 5+), and a third
  value ``…mW/…mW/…mW`` on the newest releases; ``cur`` is used (the others are tegrastats' own
  averages since it started). ``NC`` rails are "not connected" and skipped;
- a leading date ``MM-DD-YYYY HH:MM:SS`` (JetPack 5+), or none (JetPack 4);
- temperatures ``name@45.5C`` or ``name@52.9C/52.9C``, upper or lower case names; ``-256C`` is an
  offline (rail-gated) sensor; ``PMIC@100C`` is a fixed placeholder: both are left out;
- ``GR3D_FREQ 37%`` / ``0%@76`` / ``0%@[305]`` / ``12%@[1300,1300]``; engines printing ``off``;
- ``CPU [12%@102,off,3%]``.
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devices import fs
from devices.base import Sampler, Samples
from devices.jetson import total_power_mw

_NUM = r"-?\d+(?:\.\d+)?"
_DATE = re.compile(r"^\s*(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})\b")
_RAIL = re.compile(rf"(?<!\S)([A-Za-z][A-Za-z0-9_]*) ({_NUM})(?:mW)?/({_NUM})(?:mW)?(?:/({_NUM})(?:mW)?)?(?=\s|$)")
_TEMP = re.compile(rf"(?<!\S)([A-Za-z][A-Za-z0-9_.\-]*)@({_NUM})C(?:/({_NUM})C)?(?=\s|$)")
_RAM = re.compile(r"(?<!\S)RAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"(?<!\S)SWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"(?<!\S)CPU \[([^\]]*)\]")
_FREQ = re.compile(r"(?<!\S)(GR3D_FREQ|EMC_FREQ|GR3D2_FREQ) (\d+)%(?:@(\[[\d,]*\]|\d+))?")
_ENGINE = re.compile(r"(?<!\S)(APE|VIC|VIC_FREQ|NVENC|NVENC1|NVDEC|NVDEC1|NVJPG|NVJPG1|OFA|MSENC|PVA0_FREQ|NVDLA0|"
                     r"NVDLA1|SE)\s+(off|\d+(?:%@\d+)?)")
_NOT_RAILS = {"RAM", "SWAP", "IRAM", "NC", "LFB", "lfb"}
OFFLINE_C = -256.0
PMIC_PLACEHOLDER = ("PMIC", 100.0)


class TegrastatsFormatError(ValueError):
    pass


@dataclass
class TegrastatsLine:
    """One parsed line. Powers in mW as printed; temperatures in °C."""

    timestamp: _dt.datetime | None = None
    rails_mw: dict[str, float] = field(default_factory=dict)  # instantaneous ("cur")
    rails_avg_mw: dict[str, float] = field(default_factory=dict)
    temps_c: dict[str, float] = field(default_factory=dict)
    offline_sensors: list[str] = field(default_factory=list)
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    swap_used_mb: int | None = None
    cpu: list[dict[str, Any]] = field(default_factory=list)  # {"util_pct", "freq_mhz"} or {"off": True}
    freqs: dict[str, dict[str, Any]] = field(default_factory=dict)  # GR3D_FREQ/EMC_FREQ: util_pct, mhz
    engines: dict[str, str] = field(default_factory=dict)

    def total(self) -> tuple[float | None, str]:
        return total_power_mw(self.rails_mw)

    def to_dict(self) -> dict[str, Any]:
        total, rule = self.total()
        return {
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "rails_w": {k: v / 1000 for k, v in self.rails_mw.items()},
            "total_w": None if total is None else total / 1000,
            "total_rule": rule,
            "temps_c": dict(self.temps_c),
            "offline_sensors": list(self.offline_sensors),
            "ram_used_mb": self.ram_used_mb,
            "ram_total_mb": self.ram_total_mb,
            "cpu": list(self.cpu),
            "freqs": dict(self.freqs),
            "engines": dict(self.engines),
        }


def parse_line(line: str) -> TegrastatsLine:
    """Parse one tegrastats line; raises TegrastatsFormatError when it is not one."""
    text = line.strip()
    out = TegrastatsLine()
    m = _DATE.match(text)
    if m:
        mo, d, y, hh, mm, ss = (int(g) for g in m.groups())
        out.timestamp = _dt.datetime(y, mo, d, hh, mm, ss)
    m = _RAM.search(text)
    if m:
        out.ram_used_mb, out.ram_total_mb = int(m.group(1)), int(m.group(2))
    m = _SWAP.search(text)
    if m:
        out.swap_used_mb = int(m.group(1))
    m = _CPU.search(text)
    if m:
        for core in m.group(1).split(","):
            core = core.strip()
            if core == "off":
                out.cpu.append({"off": True})
                continue
            util, _, freq = core.partition("@")
            out.cpu.append({"util_pct": float(util.rstrip("%")) if util.rstrip("%") else None,
                            "freq_mhz": float(freq) if freq else None})
    for m in _FREQ.finditer(text):
        name, util, at = m.groups()
        mhz: list[float] | float | None = None
        if at and at.startswith("["):
            mhz = [float(x) for x in at.strip("[]").split(",") if x]
        elif at:
            mhz = float(at)
        out.freqs[name] = {"util_pct": float(util), "mhz": mhz}
    for m in _ENGINE.finditer(text):
        out.engines[m.group(1)] = m.group(2)
    for m in _RAIL.finditer(text):
        name, cur, avg, _third = m.groups()
        if name in _NOT_RAILS:
            continue
        out.rails_mw[name] = float(cur)
        out.rails_avg_mw[name] = float(avg)
    for m in _TEMP.finditer(text):
        name, value = m.group(1), float(m.group(2))
        if value <= OFFLINE_C:
            out.offline_sensors.append(name)
        elif (name.upper(), value) == PMIC_PLACEHOLDER:
            continue
        else:
            out.temps_c[name] = value
    if not (out.rails_mw or out.temps_c or out.ram_total_mb is not None or out.cpu):
        raise TegrastatsFormatError(f"not a tegrastats line (no RAM, CPU, rails or temperatures): {text[:80]!r}")
    return out


def parse_log(lines: Iterable[str]) -> list[TegrastatsLine]:
    """Every tegrastats line of a log (``tegrastats --logfile``); blank lines skipped; a line that is
    not tegrastats output raises with its line number."""
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(parse_line(line))
        except TegrastatsFormatError as exc:
            raise TegrastatsFormatError(f"line {i}: {exc}") from None
    return out


class TegrastatsSampler(Sampler):
    """Fallback Jetson power source when the INA3221 sysfs files cannot be read: runs
    ``tegrastats --interval MS`` and stamps each line with the monotonic clock as it arrives."""

    name = "tegrastats"
    thermal = True
    power_group = "jetson-module"
    scope = "Jetson module input (INA3221 via tegrastats): excludes the carrier board, fan and USB devices"

    def __init__(self, interval_ms: int = 200, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.interval_ms = interval_ms
        self.update_period_s = interval_ms / 1000
        self.clock = clock
        self._stream: fs.LineStream | None = None
        self._thread: threading.Thread | None = None
        self._samples = Samples(source=self.name)
        self._reason: str | None = None
        self._probed = False

    def argv(self) -> list[str]:
        return ["tegrastats", "--interval", str(self.interval_ms)]

    def available(self) -> str | None:
        if self._probed:
            return self._reason
        self._probed = True
        stream = fs.stream_command(self.argv())
        if stream is None:
            self._reason = "tegrastats not found or cannot start (not a Jetson, or not on PATH)"
            return self._reason
        try:
            first = next(iter(stream.lines()), None)
        finally:
            stream.close()
        if first is None:
            self._reason = "tegrastats printed nothing"
        else:
            try:
                total, rule = parse_line(first).total()
                self._reason = None if total is not None else f"tegrastats shows no usable total: {rule}"
            except TegrastatsFormatError as exc:
                self._reason = f"unexpected tegrastats output: {exc}"
        return self._reason

    def add_line(self, samples: Samples, line: str, t_ns: int) -> bool:
        try:
            parsed = parse_line(line)
        except TegrastatsFormatError:
            samples.meta["unparsed_lines"] = samples.meta.get("unparsed_lines", 0) + 1
            return False
        values: dict[str, float] = {}
        total, rule = parsed.total()
        samples.meta["total_rule"] = rule
        if total is not None:
            values["power_w"] = total / 1000
        for rail, mw in parsed.rails_mw.items():
            values[f"power_w:{rail}"] = mw / 1000
        for sensor, c in parsed.temps_c.items():
            values[f"temp_c:{sensor}"] = c
        gr3d = parsed.freqs.get("GR3D_FREQ", {}).get("mhz")
        if isinstance(gr3d, list) and gr3d:
            gr3d = max(gr3d)
        if isinstance(gr3d, float):
            values["freq_hz:gpu"] = gr3d * 1e6
        if values:
            samples.add(t_ns, **values)
        return bool(values)

    def start(self) -> None:
        self._samples = Samples(source=self.name, meta={"interval_ms": self.interval_ms})
        self._stream = fs.stream_command(self.argv())
        if self._stream is None:
            self._samples.meta["errors"] = ["tegrastats could not start"]
            return
        self._thread = threading.Thread(target=self._loop, args=(self._stream,), name="sampler-tegrastats",
                                         daemon=True)
        self._thread.start()

    def _loop(self, stream: fs.LineStream) -> None:
        # A blocking read is the wait here: tegrastats itself paces the lines.
        for line in stream.lines():
            self.add_line(self._samples, line, self.clock())

    def stop(self) -> Samples:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        return self._samples
