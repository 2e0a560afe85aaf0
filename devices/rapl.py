"""x86 RAPL through powercap: cumulative ``energy_uj`` counters that wrap at ``max_energy_range_uj``.

Package zones (and DRAM zones, which lie outside the package) are added; core/uncore sub-zones are
parts of a package and ``psys`` contains the packages, so those are left out to avoid counting
twice. Since Linux 5.10 (CVE-2020-8694) ``energy_uj`` is readable by root only: that is reported as
unavailable ("permission denied"), never as zero energy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devices import fs
from devices.polling import PollingSampler

POWERCAP = "/sys/class/powercap"


@dataclass
class RaplZone:
    name: str  # package-0, dram, psys...
    path: str  # device path of the zone folder
    max_range_uj: float | None

    @property
    def channel(self) -> str:
        return f"energy_uj:{self.name}"


def find_zones() -> tuple[list[RaplZone], list[str]]:
    """Zones to add, and the names of those left out (with why)."""
    chosen: list[RaplZone] = []
    skipped: list[str] = []
    psys: list[RaplZone] = []
    for zone in fs.glob(f"{POWERCAP}/intel-rapl:*"):
        if not re.fullmatch(r"intel-rapl:\d+(:\d+)?", zone.name):
            continue
        name = (fs.read_text(fs.device_path(zone / "name")) or zone.name).strip()
        dev = fs.device_path(zone)
        rz = RaplZone(name, dev, fs.read_number(f"{dev}/max_energy_range_uj"))
        top = zone.name.count(":") == 1
        if top and name.startswith("package"):
            chosen.append(rz)
        elif name == "dram" or name.startswith("dram"):
            chosen.append(RaplZone(f"{name}-{zone.name.split(':')[1]}", dev, rz.max_range_uj))
        elif top and name == "psys":
            psys.append(rz)
        else:
            skipped.append(f"{name} (part of a package)")
    if not chosen and psys:
        chosen = psys
    else:
        skipped += [f"{z.name} (contains the packages)" for z in psys]
    return chosen, skipped


class RaplSampler(PollingSampler):
    name = "rapl"
    power_group = "cpu"
    scope = "CPU packages (+ DRAM where listed) via RAPL: excludes the rest of the board"
    interval_s = 0.1  # ~1 ms counter updates; polling only has to see every wrap and bracket the window
    update_period_s = 0.001

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.zones: list[RaplZone] = []
        self.skipped: list[str] = []

    def probe(self) -> str | None:
        self.zones, self.skipped = find_zones()
        if not self.zones:
            return (f"no RAPL powercap zones under {POWERCAP}/intel-rapl:* (not x86, a VM without RAPL, "
                    "or the intel_rapl module is not loaded)")
        try:
            self.read()
        except PermissionError:
            return (f"permission denied: {self.zones[0].path}/energy_uj is readable by root only since Linux 5.10 "
                    "(CVE-2020-8694); run as root or make it readable (chmod o+r)")
        except (OSError, ValueError) as exc:
            return f"RAPL energy_uj not readable: {exc}"
        return None

    def read(self) -> dict[str, float]:
        values = {}
        for z in self.zones:
            text = fs.read(f"{z.path}/energy_uj")  # PermissionError must reach probe(), not become None
            values[z.channel] = float(int(text.strip()))
        return values

    def meta(self) -> dict[str, object]:
        return {"counters": {z.channel: {"to_j": 1e-6, "max_range": z.max_range_uj} for z in self.zones},
                "zones_left_out": list(self.skipped)}
