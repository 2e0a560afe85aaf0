"""NVIDIA Jetson: INA3221 power rails (JetPack <= 4 IIO and >= 5 hwmon), the module-total rules,
Orin over-current counters, power mode (``nvpmodel``) and clocks (``jetson_clocks --show``).

The INA3221 sensors see the module only, not the carrier board, fan or USB devices: reports say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices import fs
from devices.polling import PollingSampler, SensorError, SnapshotSampler

# -- which rail is the module total ----------------------------------------------------------------
# Boards with a total rail: its reading is the module input; the other rails are parts of it.
TOTAL_RAILS = ("POM_5V_IN", "VDD_IN")  # Nano; Xavier NX, Orin Nano/NX, TX2
# Boards without one: the rails to add, chosen so nothing is counted twice.
AGX_ORIN_SUM = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")  # VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0
AGX_XAVIER_SUM = ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")
SKIP_LABELS = {"NC", "sum of shunt voltages"}


def total_power_mw(rails_mw: dict[str, float]) -> tuple[float | None, str]:
    """The module's total power from its rails, and the rule used (or why there is none)."""
    for rail in TOTAL_RAILS:
        if rail in rails_mw:
            return rails_mw[rail], f"{rail} is the module input rail (the others are parts of it)"
    if all(r in rails_mw for r in AGX_ORIN_SUM):
        return (sum(rails_mw[r] for r in AGX_ORIN_SUM),
                "AGX Orin: VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 (VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0)")
    present = [r for r in AGX_XAVIER_SUM if r in rails_mw]
    if len(present) >= 3 and set(rails_mw) <= set(AGX_XAVIER_SUM):
        return sum(rails_mw[r] for r in present), "AGX Xavier: no total rail; sum of " + " + ".join(present)
    return None, (f"no known total rule for rails {sorted(rails_mw)}: not summing them, since some may be parts "
                  "of others; use an external meter (EDGEBENCH_POWER_CSV)")


# -- INA3221 in sysfs --------------------------------------------------------------------------------
@dataclass
class Rail:
    name: str
    layout: str  # "iio" (JetPack <= 4) or "hwmon" (JetPack >= 5)
    power_file: str | None = None  # IIO: mW
    voltage_file: str | None = None  # mV
    current_file: str | None = None  # mA

    def read_mw(self) -> float:
        if self.power_file:
            value = _read_number_strict(self.power_file)
            if value is not None:
                return value
        if self.voltage_file and self.current_file:
            mv = _read_number_strict(self.voltage_file)
            ma = _read_number_strict(self.current_file)
            if mv is not None and ma is not None:
                return mv * ma / 1000.0
        raise SensorError(f"rail {self.name}: no readable power, or voltage and current, files")


def _read_number_strict(device_path: str) -> float | None:
    text = fs.read(device_path)  # OSError propagates: the sampler counts it as a failed read
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def _label(p: Path) -> str | None:
    text = fs.read_text(fs.device_path(p))
    return text.strip().strip("\x00") if text is not None else None


def find_rails() -> tuple[list[Rail], dict[str, Any]]:
    """The INA3221 rails of this board, JetPack >= 5 hwmon first, then JetPack <= 4 IIO."""
    rails: list[Rail] = []
    info: dict[str, Any] = {"layout": None, "chips": [], "update_interval_ms": None}
    hwmons = fs.glob("/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")
    if not hwmons:  # some kernels only expose the class link
        hwmons = [h for h in fs.glob("/sys/class/hwmon/hwmon*") if _label(h / "name") == "ina3221"]
    for hw in hwmons:
        if _label(hw / "name") not in (None, "ina3221"):
            continue
        info["layout"] = "hwmon"
        info["chips"].append(fs.device_path(hw))
        interval = fs.read_number(fs.device_path(hw / "update_interval"))
        if interval is not None:
            info["update_interval_ms"] = max(info["update_interval_ms"] or 0, interval)
        for n in range(1, 4):
            label = _label(hw / f"in{n}_label")
            if label is None or label in SKIP_LABELS or not (hw / f"curr{n}_input").exists():
                continue
            rails.append(Rail(label, "hwmon", voltage_file=fs.device_path(hw / f"in{n}_input"),
                              current_file=fs.device_path(hw / f"curr{n}_input")))
    if not rails:
        for dev in fs.glob("/sys/bus/i2c/drivers/ina3221x/*/iio:device*"):
            info["layout"] = "iio"
            info["chips"].append(fs.device_path(dev))
            for n in range(3):
                label = _label(dev / f"rail_name_{n}")
                if label is None or label in SKIP_LABELS:
                    continue
                rails.append(Rail(label, "iio", power_file=fs.device_path(dev / f"in_power{n}_input"),
                                  voltage_file=fs.device_path(dev / f"in_voltage{n}_input"),
                                  current_file=fs.device_path(dev / f"in_current{n}_input")))
    # Rail names are unique on every known board; if two chips ever repeat one, keep both apart.
    seen: dict[str, int] = {}
    for rail in rails:
        if rail.name in seen:
            seen[rail.name] += 1
            rail.name = f"{rail.name}#{seen[rail.name]}"
        else:
            seen[rail.name] = 1
    info["rails"] = [r.name for r in rails]
    return rails, info


class Ina3221Sampler(PollingSampler):
    """Jetson module power from the INA3221 rail monitors in sysfs (no root needed)."""

    name = "ina3221"
    power_group = "jetson-module"
    scope = "Jetson module input (INA3221): excludes the carrier board, fan and USB devices"
    interval_s = 0.1

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rails: list[Rail] = []
        self.info: dict[str, Any] = {}

    def probe(self) -> str | None:
        self.rails, self.info = find_rails()
        if not self.rails:
            return ("no INA3221 rails under /sys/bus/i2c/drivers/ina3221 (JetPack >= 5) or "
                    "/sys/bus/i2c/drivers/ina3221x (JetPack <= 4); the Nano 2GB has no power sensor")
        interval_ms = self.info.get("update_interval_ms")
        # The chip averages in hardware: polling faster than it updates only repeats values.
        self.update_period_s = max(self.interval_s, (interval_ms or 0) / 1000)
        self.interval_s = self.update_period_s
        try:
            values = self.read()
        except (SensorError, OSError) as exc:
            return f"INA3221 rails found but not readable ({type(exc).__name__}: {exc})"
        if "power_w" not in values:
            return total_power_mw({r.name: 0.0 for r in self.rails})[1]
        return None

    def read_rails_mw(self) -> dict[str, float]:
        return {r.name: r.read_mw() for r in self.rails}

    def read(self) -> dict[str, float]:
        rails = self.read_rails_mw()
        total, _ = total_power_mw(rails)
        values = {f"power_w:{k}": v / 1000 for k, v in rails.items()}
        if total is not None:
            values["power_w"] = total / 1000
        return values

    def meta(self) -> dict[str, object]:
        names = {r.name: 0.0 for r in self.rails}
        return {**self.info, "total_rule": total_power_mw(names)[1] if names else None}


# -- Orin over-current / under-voltage counters ------------------------------------------------------
def find_soctherm_oc() -> Path | None:
    for hw in fs.glob("/sys/class/hwmon/hwmon*"):
        if _label(hw / "name") == "soctherm_oc":
            return hw
    return None


class SocthermOcSampler(PollingSampler):
    """Orin ``soctherm_oc`` event counters: a rise during the run means the SoC was throttled
    (oc1 under-voltage, oc2/oc3 over-current)."""

    name = "soctherm_oc"
    thermal = True
    interval_s = 1.0

    def probe(self) -> str | None:
        self.hwmon = find_soctherm_oc()
        if self.hwmon is None:
            return "no soctherm_oc hwmon (only Jetson Orin has over-current counters)"
        return None if self.read() else "soctherm_oc has no readable oc*_event_cnt files"

    def read(self) -> dict[str, float]:
        values = {}
        for f in sorted(self.hwmon.glob("oc*_event_cnt")):
            v = fs.read_number(fs.device_path(f))
            if v is not None:
                values[f"oc_event_cnt:{f.name.split('_')[0]}"] = v
        return values


# -- release, power mode, clocks ---------------------------------------------------------------------
_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


def parse_l4t_release(text: str) -> dict[str, Any] | None:
    """``# R35 (release), REVISION: 4.1, GCID: …, BOARD: …`` -> release facts."""
    m = _L4T.search(text)
    if not m:
        return None
    major, rev = int(m.group(1)), m.group(2)
    fields = dict(re.findall(r"(\w+):\s*([^,]+)", text.split(")", 1)[-1]))
    jetpack = {32: "4", 34: "5", 35: "5", 36: "6", 38: "7"}.get(major)
    return {"l4t": f"{major}.{rev}", "release": f"R{major}", "revision": rev, "board": fields.get("BOARD", "").strip()
            or None, "jetpack_major": jetpack}


def l4t_release() -> dict[str, Any] | None:
    text = fs.read_text("/etc/nv_tegra_release")
    return parse_l4t_release(text) if text else None


_NVP_CONF = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)")


def parse_nvpmodel_query(text: str) -> dict[str, Any] | None:
    """``nvpmodel -q``: ``NV Power Mode: MAXN`` then the id on a following line (``NVPM WARN`` lines
    may come anywhere)."""
    name, mode_id = None, None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("NVPM")]
    for i, line in enumerate(lines):
        if line.startswith("NV Power Mode:"):
            name = line.split(":", 1)[1].strip()
            if i + 1 < len(lines) and lines[i + 1].isdigit():
                mode_id = int(lines[i + 1])
    return None if name is None else {"name": name, "id": mode_id}


def parse_nvpmodel_conf(text: str) -> dict[int, str]:
    """``/etc/nvpmodel.conf``: ``< POWER_MODEL ID=0 NAME=MAXN >`` -> {0: "MAXN"}."""
    return {int(i): n for i, n in _NVP_CONF.findall(text)}


def parse_nvpmodel_status(text: str) -> int | None:
    """``/var/lib/nvpmodel/status``: ``pmode:0000`` -> 0."""
    m = re.search(r"pmode:\s*(\d+)", text)
    return int(m.group(1)) if m else None


def power_mode() -> dict[str, Any]:
    """The JetPack power mode: ``nvpmodel -q``, else (no root) its status and config files.
    Ids are board-specific, so the name comes from this board's config, never assumed."""
    out = fs.run_command(["nvpmodel", "-q"])
    if out:
        parsed = parse_nvpmodel_query(out)
        if parsed:
            return {**parsed, "source": "nvpmodel -q"}
    status = fs.read_text("/var/lib/nvpmodel/status")
    mode_id = parse_nvpmodel_status(status) if status else None
    if mode_id is None:
        return {"name": None, "id": None, "reason": "nvpmodel -q failed and /var/lib/nvpmodel/status is absent"}
    conf = fs.read_text("/etc/nvpmodel.conf")
    names = parse_nvpmodel_conf(conf) if conf else {}
    return {"name": names.get(mode_id), "id": mode_id, "source": "/var/lib/nvpmodel/status",
            **({} if mode_id in names else {"reason": f"mode id {mode_id} not found in /etc/nvpmodel.conf"})}


_KV = re.compile(r"(\w+)=(\S+)")


def parse_jetson_clocks(text: str) -> dict[str, Any]:
    """``jetson_clocks --show``: CPUs (kHz), GPU/EMC/others (Hz), and whether clocks are locked
    (min = max = current for every online CPU and the GPU)."""
    cpus: dict[str, dict[str, Any]] = {}
    engines: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"cpus": cpus, "engines": engines}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("NV Power Mode:"):
            out["power_mode"] = line.split(":", 1)[1].strip()
            continue
        if line.startswith("SOC family:"):
            m = re.search(r"Machine:\s*(.+)$", line)
            out["machine"] = m.group(1).strip() if m else None
            continue
        head = re.match(r"^([A-Za-z][\w]*)\s*:?\s", line)
        kv = dict(_KV.findall(line))
        if not head or not ({"MinFreq", "MaxFreq", "CurrentFreq"} & set(kv)):
            continue
        name = head.group(1)
        entry = {k: _num(v) for k, v in kv.items() if k in ("Online", "MinFreq", "MaxFreq", "CurrentFreq")}
        if "Governor" in kv:
            entry["Governor"] = kv["Governor"]
        if re.fullmatch(r"cpu\d+", name):
            cpus[name] = {"online": bool(entry.get("Online", 1)), "governor": entry.get("Governor"),
                          "min_khz": entry.get("MinFreq"), "max_khz": entry.get("MaxFreq"),
                          "cur_khz": entry.get("CurrentFreq")}
        else:
            engines[name] = {"min_hz": entry.get("MinFreq"), "max_hz": entry.get("MaxFreq"),
                             "cur_hz": entry.get("CurrentFreq")}
    def locked(d: dict[str, Any], unit: str) -> bool:
        return d[f"min_{unit}"] is not None and d[f"min_{unit}"] == d[f"max_{unit}"] == d[f"cur_{unit}"]

    online = [c for c in cpus.values() if c["online"]]
    checks = [locked(c, "khz") for c in online]
    if "GPU" in engines:
        checks.append(locked(engines["GPU"], "hz"))
    out["locked"] = bool(checks) and all(checks) if checks else None
    return out


def _num(v: str) -> float | int | str:
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def clocks_state() -> dict[str, Any]:
    out = fs.run_command(["jetson_clocks", "--show"])
    if not out:
        return {"locked": None, "reason": "jetson_clocks --show failed (absent, or needs root)"}
    parsed = parse_jetson_clocks(out)
    return {"locked": parsed["locked"], "source": "jetson_clocks --show",
            "gpu": parsed["engines"].get("GPU"), "emc": parsed["engines"].get("EMC"),
            "cpus": parsed["cpus"]}


def is_jetson() -> tuple[bool, list[str]]:
    """Whether this is a Jetson, with the evidence either way."""
    evidence = []
    release = fs.read_text("/etc/nv_tegra_release")
    if release:
        evidence.append(f"/etc/nv_tegra_release: {release.strip().splitlines()[0][:80]}")
    else:
        evidence.append("no /etc/nv_tegra_release")
    model = board_model()
    compatible = (fs.read_text("/proc/device-tree/compatible") or "").replace("\x00", " ")
    if model:
        evidence.append(f"device-tree model: {model!r}")
    else:
        evidence.append("no /proc/device-tree/model")
    hit = bool(release) or (model is not None and "jetson" in model.lower()) or "nvidia,tegra" in compatible
    return hit, evidence


def board_model() -> str | None:
    text = fs.read_text("/proc/device-tree/model")
    if text is None:
        return None
    return text.replace("\x00", "").strip() or None


class JetsonPowerModeSampler(SnapshotSampler):
    """The power mode (``nvpmodel``) and clock lock (``jetson_clocks``) at the window's edges."""

    name = "jetson_power_mode"

    def probe(self) -> str | None:
        mode = power_mode()
        if mode.get("name") is None and mode.get("id") is None:
            return mode.get("reason") or "power mode unknown"
        return None

    def snapshot(self) -> dict[str, object]:
        return {"power_mode": power_mode(), "jetson_clocks": clocks_state()}
