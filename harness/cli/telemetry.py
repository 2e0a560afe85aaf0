"""``edgebench telemetry parse``: a captured device log (``tegrastats --logfile``, ``vcgencmd
pmic_read_adc``, ``nvpmodel -q``, ``jetson_clocks --show``, RAPL ``energy_uj`` readings, a meter's
``timestamp,watts`` CSV) into per-rail power, the total, temperatures and, given timestamps, energy."""

from __future__ import annotations

import argparse
import itertools
import re
from pathlib import Path
from typing import Any

from devices import energy, jetson, rpi, tegrastats
from devices.meter import MeterCsvError, parse_power_csv
from harness.cli.common import add_json, add_out, print_json
from harness.errors import UsageError

FORMATS = ("tegrastats", "pmic_read_adc", "nvpmodel", "jetson_clocks", "rapl", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("telemetry", help="parse captured telemetry logs")
    sub = p.add_subparsers(dest="telemetry_command", metavar="ACTION")
    parse = sub.add_parser(
        "parse", help="a captured log into per-rail power, the total, temperatures and energy",
        description="Parse a captured device log. Energy needs timestamps: tegrastats lines of JetPack 5+ carry "
        "dates (1 s resolution), otherwise pass --interval-ms (the interval the log was recorded with). "
        "rapl: one energy_uj reading per line, optionally preceded by a time in seconds ('t energy_uj'). "
        "csv: 'timestamp,watts' rows (seconds or ISO 8601).")
    parse.add_argument("--format", required=True, choices=FORMATS, help="what the file holds")
    parse.add_argument("file", metavar="FILE")
    parse.add_argument("--interval-ms", type=float, default=None,
                       help="time between consecutive readings, when the log has no usable timestamps")
    parse.add_argument("--max-energy-range-uj", type=float, default=None,
                       help="rapl: the zone's max_energy_range_uj, to undo counter wraps")
    add_json(parse)
    add_out(parse)
    parse.set_defaults(func=handler)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def handler(args: argparse.Namespace) -> int:
    from harness.textio import read_bytes_bounded

    path = Path(args.file)
    # bounded: `telemetry parse /dev/zero` (or a mistaken multi-GB file) is refused, not read forever
    text = read_bytes_bounded(path, what=f"{args.format} log").decode("utf-8", errors="replace")
    if args.interval_ms is not None and args.interval_ms <= 0:
        raise UsageError(f"--interval-ms must be > 0, found {args.interval_ms}")
    try:
        result = PARSERS[args.format](text, args)
    except (ValueError, tegrastats.TegrastatsFormatError, rpi.VcgencmdError, MeterCsvError) as exc:
        raise UsageError(f"{path} is not a valid {args.format} log: {exc}") from None
    result = {"format": args.format, "file": str(path), **result}
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


def _times_ns(n: int, args: argparse.Namespace, dated: list[Any] | None = None) -> tuple[list[int] | None, str]:
    """Timestamps for n readings: --interval-ms, else dated lines when they are strictly increasing."""
    if args.interval_ms is not None:
        return [round(i * args.interval_ms * 1e6) for i in range(n)], f"--interval-ms {args.interval_ms:g}"
    if dated and all(d is not None for d in dated):
        secs = [(d - dated[0]).total_seconds() for d in dated]
        if all(b > a for a, b in itertools.pairwise(secs)):
            return [round(s * 1e9) for s in secs], "line dates"
        return None, ("the lines' dates have 1 s resolution and repeat (readings closer than 1 s): "
                      "pass --interval-ms for energy")
    return None, "no timestamps in the log: pass --interval-ms for energy"


def _energy(t_ns: list[int] | None, watts: list[float], why: str) -> dict[str, Any]:
    if t_ns is None or len(t_ns) < 2:
        return {"energy_j": None, "duration_s": None, "energy_reason": why if t_ns is None else "fewer than 2 readings"}
    return {"energy_j": energy.trapezoid_j(t_ns, watts), "duration_s": (t_ns[-1] - t_ns[0]) / 1e9,
            "mean_w": energy.mean_power_w(t_ns, watts), "timestamps": why, "energy_reason": None}


def parse_tegrastats(text: str, args: argparse.Namespace) -> dict[str, Any]:
    lines = tegrastats.parse_log(text.splitlines())
    if not lines:
        raise ValueError("no tegrastats lines")
    rails: dict[str, list[float]] = {}
    temps: dict[str, list[float]] = {}
    totals: list[float | None] = []
    rules = set()
    for ln in lines:
        for k, v in ln.rails_mw.items():
            rails.setdefault(k, []).append(v / 1000)
        for k, v in ln.temps_c.items():
            temps.setdefault(k, []).append(v)
        total, rule = ln.total()
        totals.append(None if total is None else total / 1000)
        rules.add(rule)
    out: dict[str, Any] = {
        "lines": len(lines),
        "rails_w": {k: _stats(v) for k, v in rails.items()},
        "temps_c": {k: {**_stats(v), "first": v[0], "last": v[-1]} for k, v in temps.items()},
        "offline_sensors": sorted({s for ln in lines for s in ln.offline_sensors}),
        "total_rule": "; ".join(sorted(rules)),
        "scope": "Jetson module only: excludes the carrier board, fan and USB devices",
    }
    if any(t is None for t in totals):
        out["total_w"] = None
        out.update({"energy_j": None, "energy_reason": "no total power (see total_rule)"})
    else:
        watts = [t for t in totals if t is not None]
        out["total_w"] = {**_stats(watts), "peak": max(watts)}
        t_ns, why = _times_ns(len(lines), args, [ln.timestamp for ln in lines])
        out.update(_energy(t_ns, watts, why))
    out["samples"] = [ln.to_dict() for ln in lines]
    return out


def parse_pmic(text: str, args: argparse.Namespace) -> dict[str, Any]:
    snaps = rpi.parse_pmic_log(text)
    totals = [rpi.pmic_total_w(s) for s in snaps]
    last = snaps[-1]
    out: dict[str, Any] = {
        "snapshots": len(snaps),
        "rails": {k: {"current_a": r.get("a"), "voltage_v": r.get("v"), "power_w": r.get("w")}
                  for k, r in last.items()},
        "rails_without_current": sorted(k for k, r in last.items() if "w" not in r),
        "total_w": totals[-1] if len(snaps) == 1 else (
            {**_stats([t for t in totals if t is not None]), "peak": max(t for t in totals if t is not None)}
            if all(t is not None for t in totals) else None),
        "scope": "sum of PMIC rails (A x V): misses the 5 V input side (USB devices, fan, converter losses)",
    }
    if len(snaps) > 1 and all(t is not None for t in totals):
        t_ns, why = _times_ns(len(snaps), args)
        out.update(_energy(t_ns, [t for t in totals if t is not None], why))
    else:
        out.update({"energy_j": None, "energy_reason": "one snapshot: energy needs several readings and --interval-ms"})
    return out


def parse_nvpmodel(text: str, args: argparse.Namespace) -> dict[str, Any]:
    if "POWER_MODEL" in text:
        modes = jetson.parse_nvpmodel_conf(text)
        if not modes:
            raise ValueError("no '< POWER_MODEL ID=N NAME=... >' lines")
        return {"kind": "nvpmodel.conf", "modes": modes}
    if "pmode:" in text:
        mode_id = jetson.parse_nvpmodel_status(text)
        return {"kind": "/var/lib/nvpmodel/status", "id": mode_id,
                "note": "map the id to a name with /etc/nvpmodel.conf (ids are board-specific)"}
    parsed = jetson.parse_nvpmodel_query(text)
    if parsed is None:
        raise ValueError("expected 'NV Power Mode: NAME' (nvpmodel -q), 'pmode:NNNN' (status) or POWER_MODEL lines")
    return {"kind": "nvpmodel -q", **parsed}


def parse_clocks(text: str, args: argparse.Namespace) -> dict[str, Any]:
    parsed = jetson.parse_jetson_clocks(text)
    if not parsed["cpus"] and not parsed["engines"]:
        raise ValueError("no 'cpuN: ... MinFreq=... MaxFreq=... CurrentFreq=...' or 'GPU MinFreq=...' lines")
    return parsed


_RAPL_LINE = re.compile(r"^\s*(?:(-?[\d.]+)[\s,;]+)?(\d+)\s*$")


def parse_rapl(text: str, args: argparse.Namespace) -> dict[str, Any]:
    times: list[float] = []
    values: list[float] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _RAPL_LINE.match(line)
        if not m:
            raise ValueError(f"line {i}: expected 'energy_uj' or 'seconds energy_uj', found {line.strip()[:60]!r}")
        if m.group(1) is not None:
            times.append(float(m.group(1)))
        values.append(float(m.group(2)))
    if len(values) < 2:
        raise ValueError("need at least two energy_uj readings")
    if times and len(times) != len(values):
        raise ValueError("either every line has a time or none does")
    cum = energy.unwrap_counter(values, args.max_energy_range_uj)
    wraps = sum(1 for a, b in itertools.pairwise(values) if b < a)
    out: dict[str, Any] = {"readings": len(values), "wraps": wraps, "energy_j": cum[-1] * 1e-6}
    if times:
        t_ns = [round(t * 1e9) for t in times]
    elif args.interval_ms is not None:
        t_ns = [round(i * args.interval_ms * 1e6) for i in range(len(values))]
    else:
        t_ns = None
    if t_ns is not None and t_ns[-1] > t_ns[0]:
        res = energy.counter_window(t_ns, [c * 1e-6 for c in cum], (t_ns[0], t_ns[-1]))
        out.update({"duration_s": (t_ns[-1] - t_ns[0]) / 1e9, "mean_w": res.mean_w, "peak_w": res.peak_w})
    else:
        out.update({"duration_s": None, "mean_w": None, "power_reason": "no times: pass --interval-ms for power"})
    return out


def parse_csv(text: str, args: argparse.Namespace) -> dict[str, Any]:
    log = parse_power_csv(text)
    t_ns = [round((t - log.t_s[0]) * 1e9) for t in log.t_s]
    out: dict[str, Any] = {"readings": len(log.watts), "clock": log.clock, "power_w": {**_stats(log.watts),
                                                                                     "peak": max(log.watts)}}
    out.update(_energy(t_ns, log.watts, "csv timestamps"))
    return out


PARSERS = {"tegrastats": parse_tegrastats, "pmic_read_adc": parse_pmic, "nvpmodel": parse_nvpmodel,
           "jetson_clocks": parse_clocks, "rapl": parse_rapl, "csv": parse_csv}


def _print_text(result: dict[str, Any]) -> None:
    for key, value in result.items():
        if key == "samples":
            continue
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {_fmt(v)}")
        else:
            print(f"{key}: {_fmt(value)}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)
