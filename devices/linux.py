"""Generic Linux: thermal zones, CPU (and devfreq) clocks, CPU utilisation from /proc/stat."""

from __future__ import annotations

import os
import re

from devices import fs
from devices.polling import PollingSampler, SensorError

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thermal_zones() -> list[tuple[str, str]]:
    """(sensor name, device path of its temp file), names made unique."""
    zones = []
    seen: dict[str, int] = {}
    for z in fs.glob("/sys/class/thermal/thermal_zone*"):
        if not re.fullmatch(r"thermal_zone\d+", z.name):
            continue
        kind = (fs.read_text(fs.device_path(z / "type")) or z.name).strip()
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
        zones.append((name, fs.device_path(z / "temp")))
    return zones


class ThermalZonesSampler(PollingSampler):
    """Every ``/sys/class/thermal/thermal_zone*``; a zone whose read fails (sensor offline) is left
    out of that reading, never read as 0."""

    name = "thermal_zones"
    thermal = True
    interval_s = 1.0

    def probe(self) -> str | None:
        self.zones = thermal_zones()
        if not self.zones:
            return "no /sys/class/thermal/thermal_zone* on this machine"
        return None if self.read() else "thermal zones exist but none could be read"

    def read(self) -> dict[str, float]:
        values = {}
        for name, temp in self.zones:
            v = fs.read_number(temp)
            # -256 °C and similar are offline sensors on Tegra; below absolute zero is never real.
            if v is not None and v / 1000 > -100:
                values[f"temp_c:{name}"] = v / 1000
        return values


class CpufreqSampler(PollingSampler):
    """``scaling_cur_freq`` of every CPU (kHz) and ``cur_freq`` of devfreq devices (Hz, GPUs on SoCs)."""

    name = "cpufreq"
    thermal = True
    interval_s = 0.5

    def probe(self) -> str | None:
        self.cpus = [(p.parent.parent.name, fs.device_path(p))
                     for p in fs.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq")]
        self.devfreq = [(p.parent.name, fs.device_path(p)) for p in fs.glob("/sys/class/devfreq/*/cur_freq")]
        if not self.cpus and not self.devfreq:
            return "no cpufreq (/sys/devices/system/cpu/cpu*/cpufreq) or devfreq on this machine (common in VMs)"
        return None if self.read() else "cpufreq files not readable"

    def read(self) -> dict[str, float]:
        values = {}
        for cpu, p in self.cpus:
            v = fs.read_number(p)
            if v is not None:
                values[f"freq_hz:{cpu}"] = v * 1000
        for dev, p in self.devfreq:
            v = fs.read_number(p)
            if v is not None:
                values[f"freq_hz:{dev}"] = v
        return values


def parse_proc_stat(text: str) -> tuple[float, float]:
    """(busy, total) CPU time in seconds, all CPUs, from the aggregate ``cpu`` line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [float(x) for x in line.split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            # guest/guest_nice (fields 8, 9) are already inside user/nice
            total = sum(fields[:8])
            return (total - idle) / USER_HZ, total / USER_HZ
    raise SensorError("no aggregate 'cpu' line in /proc/stat")


class CpuUtilSampler(PollingSampler):
    """Cumulative busy and total CPU time; utilisation over a window is Δbusy/Δtotal."""

    name = "cpu_util"
    interval_s = 0.5

    def probe(self) -> str | None:
        try:
            self.read()
        except SensorError as exc:
            return str(exc)
        return None

    def read(self) -> dict[str, float]:
        text = fs.read_text("/proc/stat")
        if text is None:
            raise SensorError("/proc/stat not readable")
        busy, total = parse_proc_stat(text)
        return {"cpu_busy_s": busy, "cpu_total_s": total}


def utilisation_pct(busy: list[float], total: list[float]) -> float | None:
    if len(total) < 2 or total[-1] <= total[0]:
        return None
    return 100.0 * (busy[-1] - busy[0]) / (total[-1] - total[0])
