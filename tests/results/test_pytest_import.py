"""pytest-benchmark JSON -> run records, on documents shaped like pytest-benchmark 5 writes them.

The end-to-end path (a real pytest-benchmark session through edgebench's plugin, then import, list and
report) is in tests/harness/test_pytest_plugin.py; here: unit conversions, the fallbacks when raw data is
missing, foreign benchmarks and bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from results.pytest_import import (
    EXTRA_INFO_MARK,
    PytestImportError,
    import_paths,
    json_files,
    load_json,
    record_from_benchmark,
)


def bench(name: str, data_s: list[float] | None, extra: dict | None = None) -> dict:
    values = sorted(data_s or [0.002, 0.003, 0.004])
    stddev = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    stats = {
        "min": values[0], "max": values[-1], "mean": float(np.mean(values)), "stddev": stddev,
        "median": float(np.median(values)), "rounds": len(values), "iterations": 1, "ops": 1 / float(np.mean(values)),
        "iqr": 0.0, "q1": values[0], "q3": values[-1], "total": float(np.sum(values)),
    }
    if data_s is not None:
        stats["data"] = list(data_s)
    return {"group": None, "name": name, "fullname": f"test_x.py::{name}", "params": None, "param": None,
            "extra_info": extra or {}, "options": {}, "stats": stats}


def doc(*benchmarks: dict, edgebench_machine: dict | None = None) -> dict:
    machine = {"node": "box", "machine": "aarch64", "system": "Linux", "release": "6.1", "python_version": "3.11.7",
               "python_implementation": "CPython", "cpu": {"brand_raw": "Cortex-A76", "count": 4}}
    if edgebench_machine is not None:
        machine["edgebench"] = edgebench_machine
    return {"machine_info": machine, "commit_info": {"id": "0123456789abcdef", "dirty": True},
            "benchmarks": list(benchmarks), "datetime": "2026-11-20T10:11:12.000000+00:00", "version": "5.3.1"}


def ours(model: str = "m", precision: str = "int8", **record: object) -> dict:
    return {EXTRA_INFO_MARK: "0.1.0", "model": model, "backend": "onnxruntime", "precision": precision,
            "device": "rpi", "suite": "quick", "artifact_bytes": 1234,
            "record": {"model": {"name": model, "sha256": "ab" * 32}, "backend": {"name": "onnxruntime",
                                                                                    "version": "1.31"},
                       "quality": {"sqnr_db": 31.5}, "memory": {"peak_rss_bytes": 5_000_000}, **record}}


def test_raw_data_becomes_millisecond_statistics_and_samples():
    rng = random.Random(1)
    data_s = [0.010 + rng.random() * 0.002 for _ in range(200)]
    d = doc(bench("test_a", data_s, ours()), edgebench_machine={"device": "rpi", "facts": {"board_model": "Pi 5"}})
    record = record_from_benchmark(d["benchmarks"][0], d, source="r.json")
    assert record.latency_ms["n"] == 200
    assert record.latency_ms["p50"] == pytest.approx(float(np.median(data_s)) * 1e3)
    assert record.latency_ms["p90"] == pytest.approx(float(np.percentile(data_s, 90)) * 1e3)
    assert record.samples["latency_ms"] == pytest.approx([s * 1e3 for s in data_s])
    assert record.throughput_ips == pytest.approx(1 / float(np.mean(data_s)))
    assert (record.model["name"], record.backend["name"], record.precision) == ("m", "onnxruntime", "int8")
    assert record.device == {"name": "rpi", "board_model": "Pi 5", "node": "box"}
    assert record.quality["sqnr_db"] == 31.5 and record.memory["peak_rss_bytes"] == 5_000_000
    assert record.artifact_bytes == 1234 and record.suite == "quick"
    assert record.environment["edgebench"]["commit"] == "0123456789ab-dirty"
    assert record.extra["pytest_benchmark"]["stats_s"]["rounds"] == 200
    assert record.created_at.startswith("2026-11-20T10:11:12")


def test_without_raw_data_the_plugin_percentiles_or_the_summary_are_used():
    saved = {"n": 500, "mean": 3.0, "p50": 2.9, "p90": 3.5, "p95": 3.7, "p99": 4.0}
    d = doc(bench("a", None, ours(latency_ms=saved)), bench("b", None, ours("m2")))
    with_saved, summary_only = (record_from_benchmark(b, d) for b in d["benchmarks"])
    assert with_saved.latency_ms["p90"] == 3.5 and "plugin" in with_saved.latency_ms["source"]
    stats = d["benchmarks"][1]["stats"]
    assert summary_only.latency_ms["mean"] == pytest.approx(stats["mean"] * 1e3)
    assert summary_only.latency_ms["p50"] == pytest.approx(stats["median"] * 1e3)
    assert summary_only.latency_ms["n"] == stats["rounds"]
    # percentiles that were never measured are None with the reason, not 0
    assert summary_only.latency_ms["p99"] is None and "--benchmark-save-data" in summary_only.latency_ms["reason"]
    assert "latency_ms" not in summary_only.samples


def test_run_ids_are_stable_so_importing_twice_adds_nothing():
    d = doc(bench("a", [0.001, 0.002]), bench("b", [0.001, 0.002]))
    first = [record_from_benchmark(b, d, include_foreign=True).run_id for b in d["benchmarks"]]
    again = [record_from_benchmark(b, d, include_foreign=True).run_id for b in d["benchmarks"]]
    assert first == again and first[0] != first[1]
    assert first[0].startswith("20261120T101112-")


def test_foreign_benchmarks_are_left_out_unless_asked(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc(bench("test_sort", [0.001, 0.002]), bench("test_model", [0.001], ours()))))
    result = import_paths([path])
    assert [r.model["name"] for r in result.records] == ["m"]
    assert len(result.left_out) == 1 and "test_sort" in result.left_out[0] and "--all" in result.left_out[0]
    everything = import_paths([tmp_path], include_foreign=True)
    foreign = next(r for r in everything.records if r.model["name"] == "test_sort")
    assert (foreign.backend["name"], foreign.precision) == ("python", "n/a")
    assert foreign.quality["reason"] and foreign.power["energy_j"] is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('{"results": []}', "expected an object with a 'benchmarks' list"),
        ("[1, 2]", "is not pytest-benchmark JSON"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PytestImportError, match=expected):
        load_json(path)


def test_missing_path_and_empty_folder_get_clear_errors(tmp_path):
    with pytest.raises(PytestImportError, match="does not exist"):
        json_files(tmp_path / "nope.json")
    with pytest.raises(PytestImportError, match=r"holds no \.json files"):
        json_files(tmp_path)


def test_benchmark_without_stats_is_left_out_with_the_reason(tmp_path):
    b = bench("a", [0.001], ours())
    b["stats"] = {}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc(b)))
    result = import_paths([path])
    assert not result.records and "did not run" in result.left_out[0]
