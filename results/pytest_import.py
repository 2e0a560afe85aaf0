"""pytest-benchmark results (JSON) -> run records, so ``list``, ``report`` and ``compare`` read them.

Reads what ``pytest --benchmark-json FILE`` writes and what ``--benchmark-autosave`` /
``--benchmark-save`` leave in the storage folder (``.benchmarks/<machine-id>/NNNN_*.json``).

pytest-benchmark times in seconds; records hold milliseconds. With ``--benchmark-save-data`` the
JSON carries every round's time, and the record gets the full latency statistics and the raw
samples; without it, the percentiles edgebench's plugin computed in-process are used (they are in
``extra_info``), else only pytest-benchmark's summary (mean, std, min, max, median). The
edgebench plugin's ``extra_info`` restores the rest of the record (model, backend, precision,
memory, power, artifact size, quality); device facts come from ``machine_info``.

A benchmark that edgebench's plugin did not write (a plain pytest-benchmark test) has none of
that: it is left out unless ``include_foreign`` is set, and then recorded with the test name as
the model, backend ``python`` and precision ``n/a``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from results.schema import RunRecord, sanitize

#: the ``extra_info`` key that marks a benchmark as written by edgebench's pytest plugin
EXTRA_INFO_MARK = "edgebench_version"
FOREIGN_BACKEND = "python"
FOREIGN_PRECISION = "n/a"
_STATS_KEYS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "iterations", "ops", "total")


class PytestImportError(ValueError):
    """The file is not pytest-benchmark JSON (or cannot be read); the message says what to do."""


@dataclass
class ImportResult:
    records: list[RunRecord] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # one line per benchmark not imported, with why


def json_files(path: str | Path) -> list[Path]:
    """``path`` itself, or every ``*.json`` under a storage folder, oldest name first."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(f for f in p.rglob("*.json") if f.is_file())
        if not found:
            raise PytestImportError(f"{p} holds no .json files: expected pytest-benchmark results (the folder given "
                                    "to --benchmark-storage, .benchmarks by default, or a --benchmark-json file)")
        return found
    raise PytestImportError(f"{p} does not exist: give a pytest-benchmark JSON file (--benchmark-json FILE) or "
                            "its storage folder (.benchmarks)")


#: far above any pytest-benchmark file (raw timings included)
MAX_JSON_BYTES = 512 * 1024 * 1024


def load_json(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)  # bounded: a wrong path to a huge file or a device is refused
        if len(data) > MAX_JSON_BYTES:
            raise PytestImportError(f"{p} is larger than {MAX_JSON_BYTES // 2**20} MiB: not a pytest-benchmark file")
        doc = json.loads(data)  # bytes: json detects UTF-8/16/32 by itself
    except (OSError, UnicodeDecodeError) as exc:
        raise PytestImportError(f"cannot read {p}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PytestImportError(f"{p} is not valid JSON ({exc}); expected the file pytest-benchmark writes with "
                                "--benchmark-json or --benchmark-autosave") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        found = sorted(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise PytestImportError(f"{p} is not pytest-benchmark JSON: expected an object with a 'benchmarks' list "
                                f"(and 'machine_info', 'datetime'), found {found}")
    return doc


def import_paths(paths: Iterable[str | Path], include_foreign: bool = False) -> ImportResult:
    """Records of every benchmark in these files / storage folders."""
    result = ImportResult()
    for path in paths:
        for f in json_files(path):
            doc = load_json(f)
            result.files.append(f)
            for i, bench in enumerate(doc["benchmarks"]):
                if not isinstance(bench, Mapping):
                    result.left_out.append(f"{f}: benchmarks[{i}]: expected an object, found {type(bench).__name__}")
                    continue
                name = str(bench.get("fullname") or bench.get("name") or f"benchmarks[{i}]")
                try:
                    record = record_from_benchmark(bench, doc, source=str(f), include_foreign=include_foreign)
                except PytestImportError as exc:
                    result.left_out.append(f"{f}: {name}: {exc}")
                    continue
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    # a field of the wrong type somewhere in a hand-edited or foreign file
                    result.left_out.append(f"{f}: {name}: malformed entry ({type(exc).__name__}: {exc}); "
                                           "expected the layout pytest-benchmark writes")
                    continue
                if record is None:
                    result.left_out.append(f"{f}: {name}: not an edgebench benchmark (no extra_info."
                                           f"{EXTRA_INFO_MARK}); pass --all to import it under its test name")
                else:
                    result.records.append(record)
    return result


def records_from_json(doc: Mapping[str, Any], source: str | None = None,
                      include_foreign: bool = False) -> list[RunRecord]:
    out = []
    for bench in doc.get("benchmarks", []):
        record = record_from_benchmark(bench, doc, source, include_foreign)
        if record is not None:
            out.append(record)
    return out


def record_from_benchmark(bench: Mapping[str, Any], doc: Mapping[str, Any], source: str | None = None,
                          include_foreign: bool = False) -> RunRecord | None:
    """One benchmark entry -> a RunRecord (None for a foreign benchmark unless ``include_foreign``)."""
    info = bench.get("extra_info") or {}
    if not isinstance(info, Mapping):
        raise PytestImportError(f"'extra_info' must be an object, found {info!r:.60} ({type(info).__name__})")
    ours = EXTRA_INFO_MARK in info
    for key in ("record", "stats"):
        value = (info if key == "record" else bench).get(key)
        if value is not None and not isinstance(value, Mapping):
            raise PytestImportError(f"'{key}' must be an object, found {value!r:.60} ({type(value).__name__})")
    if not ours and not include_foreign:
        return None
    stats = bench.get("stats")
    if not isinstance(stats, Mapping) or not stats.get("rounds"):
        raise PytestImportError("no 'stats' with rounds: the benchmark did not run (was --benchmark-disable on?)")
    saved: Mapping[str, Any] = info.get("record") or {}
    machine = doc.get("machine_info") or {}
    eb_machine = machine.get("edgebench") if isinstance(machine.get("edgebench"), Mapping) else {}

    record = RunRecord(
        run_id=info.get("run_id") or _stable_run_id(doc, bench),
        status="ok",
        precision=str(info.get("precision") or FOREIGN_PRECISION),
        model=dict(saved.get("model") or {"name": info.get("model") or bench.get("name")}),
        backend=dict(saved.get("backend") or {"name": info.get("backend") or FOREIGN_BACKEND}),
        device=_device(info, eb_machine, machine),
        created_at=str(doc.get("datetime") or ""),
        suite=info.get("suite") or "pytest",
        variant=dict(saved.get("variant") or {}),
        environment=_environment(machine, eb_machine, doc.get("commit_info") or {}),
        runner=dict(saved.get("runner") or {}),
    )
    if not record.created_at:
        from results.schema import utc_now_iso

        record.created_at = utc_now_iso()
    for key in ("prepare_s", "load_s", "first_inference_ms", "warmup_iterations", "gates"):
        if saved.get(key) is not None:
            setattr(record, key, saved[key])
    record.batch_size = int(saved.get("batch_size") or 1)
    for group in ("memory", "power", "thermal", "quality", "pipeline"):
        if isinstance(saved.get(group), Mapping):
            setattr(record, group, dict(saved[group]))
    if not ours:
        record.quality = {"reason": "not scored: a plain pytest-benchmark test"}
        record.power = {**record.power, "reason": "not measured: a plain pytest-benchmark test"}
    record.artifact = dict(saved.get("artifact") or {})
    record.artifact_bytes = info.get("artifact_bytes", record.artifact.get("bytes"))
    record.warnings = list(saved.get("warnings") or [])
    record.extra.update(saved.get("extra") or {})

    _latency(record, stats, saved.get("latency_ms"))
    record.runner.setdefault("rounds", stats.get("rounds"))
    record.runner.setdefault("iterations", stats.get("iterations"))
    record.extra["pytest_benchmark"] = {
        "source": source,
        "name": bench.get("name"),
        "fullname": bench.get("fullname"),
        "param": bench.get("param"),
        "group": bench.get("group"),
        "stats_s": {k: stats.get(k) for k in _STATS_KEYS if k in stats},
        "options": bench.get("options"),
        "version": doc.get("version"),
        "commit_info": doc.get("commit_info"),
        "machine_id": _machine_id(machine),
    }
    if not ours:
        record.extra["pytest_benchmark"]["extra_info"] = dict(info)
    return RunRecord.from_dict(sanitize(record.to_dict(with_samples=True)))


def _latency(record: RunRecord, stats: Mapping[str, Any], saved_ms: Mapping[str, Any] | None) -> None:
    from results import stats as st

    data_s = stats.get("data")
    iterations = int(stats.get("iterations") or 1)
    if iterations > 1:
        record.warnings.append(f"pytest-benchmark timed {iterations} iterations per round: each latency sample is "
                               "the mean of a round, so tails are smoothed")
    if isinstance(data_s, list) and data_s:
        latencies_ms = [float(s) * 1e3 for s in data_s]
        record.latency_ms = st.summarize(latencies_ms)
        record.throughput_ips, record.items_per_s = st.throughput(latencies_ms, record.batch_size)
        record.samples["latency_ms"] = latencies_ms
        record.latency_ms["source"] = "pytest-benchmark raw data"
        return
    mean_ms = float(stats["mean"]) * 1e3
    if isinstance(saved_ms, Mapping) and saved_ms.get("n"):
        record.latency_ms = dict(saved_ms)
        record.latency_ms["source"] = "percentiles computed in-process by the edgebench plugin"
    else:
        n = int(stats["rounds"])
        std_ms = float(stats.get("stddev") or 0.0) * 1e3
        record.latency_ms = {
            "n": n,
            "mean": mean_ms,
            "std": std_ms,
            "min": float(stats["min"]) * 1e3,
            "max": float(stats["max"]) * 1e3,
            "p50": float(stats["median"]) * 1e3,
            "p90": None,
            "p95": None,
            "p99": None,
            "cv_pct": 100.0 * std_ms / mean_ms if mean_ms > 0 else None,
            "unreliable": [],
            "median_ci95": None,
            "reason": "pytest-benchmark saved no raw data: run it with --benchmark-save-data for percentiles",
            "source": "pytest-benchmark summary",
        }
    ops = stats.get("ops") or (1.0 / float(stats["mean"]) if stats.get("mean") else None)
    record.throughput_ips = float(ops) if ops else None
    record.items_per_s = record.throughput_ips * record.batch_size if record.throughput_ips else None


def _device(info: Mapping[str, Any], eb_machine: Mapping[str, Any], machine: Mapping[str, Any]) -> dict[str, Any]:
    facts = eb_machine.get("facts") if isinstance(eb_machine.get("facts"), Mapping) else {}
    name = eb_machine.get("device") or info.get("device") or "host"
    device = {"name": str(name), **dict(facts)}
    device.setdefault("node", machine.get("node"))
    return device


def _environment(machine: Mapping[str, Any], eb_machine: Mapping[str, Any],
                 commit: Mapping[str, Any]) -> dict[str, Any]:
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), Mapping) else {}
    commit_id = commit.get("id")
    return {
        "os": " ".join(str(machine[k]) for k in ("system", "release") if machine.get(k)) or None,
        "machine": machine.get("machine"),
        "hostname": machine.get("node"),
        "cpu": {"model": cpu.get("brand_raw"), "logical_cores": cpu.get("count"), "isa_features": None},
        "python": machine.get("python_version"),
        "packages": dict(eb_machine.get("packages") or {}),
        "edgebench": {"version": eb_machine.get("edgebench_version"),
                      "commit": (commit_id[:12] + ("-dirty" if commit.get("dirty") else "")) if commit_id else None},
        "source": "pytest-benchmark machine_info",
    }


def _machine_id(machine: Mapping[str, Any]) -> str | None:
    parts = [machine.get(k) for k in ("system", "python_implementation", "python_version", "machine")]
    return "-".join(str(p) for p in parts) if all(parts) else None


def _stable_run_id(doc: Mapping[str, Any], bench: Mapping[str, Any]) -> str:
    """The same benchmark of the same file always gets the same id: importing twice adds nothing."""
    stamp = str(doc.get("datetime") or "")
    digits = "".join(c for c in stamp if c.isdigit())
    prefix = f"{digits[:8]}T{digits[8:14]}" if len(digits) >= 14 else "00000000T000000"
    key = json.dumps([stamp, bench.get("fullname"), bench.get("param"), (doc.get("machine_info") or {}).get("node")],
                     default=str)
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
