"""Raspberry Pi: ``vcgencmd`` temperature, ARM clock and throttle bits; Pi 5 PMIC rail power.

``get_throttled`` bits 0-3 say what is happening now, bits 16-19 what happened since boot (sticky):
compared before and after a run, and watched during it, they are the Pi's throttle evidence.
"""

from __future__ import annotations

import re
from typing import Any

from devices import fs
from devices.polling import PollingSampler, SensorError

THROTTLE_BITS = {0x1: "under-voltage", 0x2: "arm frequency capped", 0x4: "throttled", 0x8: "soft temperature limit"}
STICKY_SHIFT = 16

_TEMP = re.compile(r"temp=\s*(-?[\d.]+)\s*'?C")
_CLOCK = re.compile(r"frequency\(\d+\)=\s*(\d+)")
_VOLT = re.compile(r"volt=\s*([\d.]+)\s*V")
_THROTTLED = re.compile(r"throttled=\s*(0x[0-9a-fA-F]+|\d+)")
_PMIC = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=\s*([-\d.eE+]+)\s*[AV]\s*$")


class VcgencmdError(ValueError):
    pass


def _match(rx: re.Pattern[str], text: str, what: str) -> str:
    m = rx.search(text or "")
    if not m:
        raise VcgencmdError(f"expected {what}, found {(text or '').strip()[:80]!r}")
    return m.group(1)


def parse_temp(text: str) -> float:
    """``temp=42.2'C`` -> 42.2"""
    return float(_match(_TEMP, text, "temp=NN.N'C"))


def parse_clock(text: str) -> float:
    """``frequency(48)=600000000`` -> 600000000.0 (Hz)"""
    return float(_match(_CLOCK, text, "frequency(N)=HZ"))


def parse_volts(text: str) -> float:
    """``volt=1.2000V`` -> 1.2"""
    return float(_match(_VOLT, text, "volt=N.NNNNV"))


def parse_throttled(text: str) -> int:
    """``throttled=0x50005`` -> 0x50005"""
    return int(_match(_THROTTLED, text, "throttled=0xHEX"), 0)


def decode_throttled(bits: int) -> dict[str, list[str]]:
    """The flags set now and those seen since boot (sticky)."""
    return {"now": [n for b, n in THROTTLE_BITS.items() if bits & b],
            "since_boot": [n for b, n in THROTTLE_BITS.items() if bits & (b << STICKY_SHIFT)]}


def throttle_evidence(before: int | None, after: int | None, during: list[int]) -> list[str]:
    """Evidence of throttling in this run: sticky bits that appeared between before and after,
    and current bits seen in any reading during it."""
    evidence = []
    if before is not None and after is not None:
        new = (after & ~before) >> STICKY_SHIFT
        for b, n in THROTTLE_BITS.items():
            if new & b:
                evidence.append(f"Pi get_throttled: sticky '{n}' bit set during the run "
                                f"(0x{before:x} before, 0x{after:x} after)")
    seen = 0
    for bits in during:
        seen |= bits & 0xF
    for b, n in THROTTLE_BITS.items():
        if seen & b:
            evidence.append(f"Pi get_throttled: '{n}' reported during the run")
    return evidence


def parse_pmic_read_adc(text: str) -> dict[str, dict[str, float]]:
    """Pi 5 ``vcgencmd pmic_read_adc``: rail -> {"a": amps, "v": volts, "w": watts when both}.

    Older boards answer ``error=1 error_msg="Command not registered"``: that raises."""
    if "error=" in text and "error_msg" in text:
        raise VcgencmdError(f"pmic_read_adc not supported on this board: {text.strip()[:100]}")
    rails: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _PMIC.match(line)
        if not m:
            continue
        rail, kind, value = m.group(1), m.group(2).lower(), float(m.group(3))
        rails.setdefault(rail, {})[kind] = value
    if not rails:
        raise VcgencmdError(f"expected lines like '  VDD_CORE_A current(7)=5.03652000A', found {text.strip()[:80]!r}")
    for r in rails.values():
        if "a" in r and "v" in r:
            r["w"] = r["a"] * r["v"]
    return rails


def pmic_total_w(rails: dict[str, dict[str, float]]) -> float | None:
    watts = [r["w"] for r in rails.values() if "w" in r]
    return sum(watts) if watts else None


def parse_pmic_log(text: str) -> list[dict[str, dict[str, float]]]:
    """Several ``pmic_read_adc`` outputs one after another: a new snapshot starts when a rail repeats."""
    snaps: list[list[str]] = [[]]
    seen: set[str] = set()
    for line in text.splitlines():
        m = _PMIC.match(line)
        if not m:
            continue
        key = f"{m.group(1)}_{m.group(2)}"
        if key in seen:
            snaps.append([])
            seen = set()
        seen.add(key)
        snaps[-1].append(line)
    if not snaps[0]:
        parse_pmic_read_adc(text)  # raises with the clear message
    return [parse_pmic_read_adc("\n".join(s)) for s in snaps if s]


def vcgencmd(*args: str) -> str:
    out = fs.run_command(["vcgencmd", *args])
    if out is None:
        raise SensorError(f"vcgencmd {' '.join(args)} failed (not a Raspberry Pi, or vcgencmd not on PATH)")
    return out


def is_pi() -> tuple[bool, list[str]]:
    evidence = []
    model = (fs.read_text("/proc/device-tree/model") or "").replace("\x00", "").strip()
    if model:
        evidence.append(f"device-tree model: {model!r}")
    cpuinfo = fs.read_text("/proc/cpuinfo") or ""
    cpu_model = re.search(r"^Model\s*:\s*(.+)$", cpuinfo, re.M)
    if cpu_model:
        evidence.append(f"/proc/cpuinfo Model: {cpu_model.group(1).strip()!r}")
    if not evidence:
        evidence.append("no device-tree model and no Model line in /proc/cpuinfo")
    hit = model.startswith("Raspberry Pi") or bool(cpu_model and "Raspberry Pi" in cpu_model.group(1))
    return hit, evidence


def pi_facts() -> dict[str, Any]:
    cpuinfo = fs.read_text("/proc/cpuinfo") or ""
    rev = re.search(r"^Revision\s*:\s*([0-9a-fA-F]+)", cpuinfo, re.M)
    facts: dict[str, Any] = {"revision": rev.group(1) if rev else None}
    try:
        bits = parse_throttled(vcgencmd("get_throttled"))
        facts["throttled"] = {"bits": f"0x{bits:x}", **decode_throttled(bits)}
    except (SensorError, VcgencmdError) as exc:
        facts["throttled"] = {"reason": str(exc)}
    return facts


class VcgencmdSampler(PollingSampler):
    """SoC temperature, ARM clock and ``get_throttled`` bits through the firmware."""

    name = "vcgencmd"
    thermal = True
    interval_s = 0.5

    def probe(self) -> str | None:
        try:
            self.read()
        except (SensorError, VcgencmdError) as exc:
            return str(exc)
        return None

    def read(self) -> dict[str, float]:
        return {"temp_c:soc": parse_temp(vcgencmd("measure_temp")),
                "freq_hz:arm": parse_clock(vcgencmd("measure_clock", "arm")),
                "throttled_bits": float(parse_throttled(vcgencmd("get_throttled")))}


class Pi5PmicSampler(PollingSampler):
    """Pi 5 PMIC rails (A x V). The sum misses the 5 V input side: USB devices, fan, converter losses."""

    name = "pi5_pmic"
    power_group = "pi-pmic"
    scope = "Pi 5 PMIC rails (sum of A x V): misses the 5 V input side (USB devices, fan, losses)"
    interval_s = 0.2  # a read costs ~20 ms of firmware time: stay at or below 10 Hz
    update_period_s = 0.2

    def probe(self) -> str | None:
        try:
            values = self.read()
        except (SensorError, VcgencmdError) as exc:
            return str(exc)
        return None if "power_w" in values else "pmic_read_adc lists no rail with both current and voltage"

    def read(self) -> dict[str, float]:
        rails = parse_pmic_read_adc(vcgencmd("pmic_read_adc"))
        values = {f"power_w:{k}": r["w"] for k, r in rails.items() if "w" in r}
        total = pmic_total_w(rails)
        if total is not None:
            values["power_w"] = total
        return values
