"""The normalised profile, the diff of two, the sentence that explains a slowdown, and the store's table."""

from __future__ import annotations

import json
import sqlite3

import pytest

from results.profile import categorize, diff, explain, normalise
from results.schema import RunRecord
from results.store import STORE_VERSION, ResultStore
from tests.results.profile_samples import NODES, raw_fp32, raw_int8


@pytest.mark.parametrize("op, category", [
    ("QuantizeLinear", "quantize"), ("DequantizeLinear", "quantize"), ("DynamicQuantizeLinear", "quantize"),
    ("FakeQuantize", "quantize"), ("Convert (NC, F32, QD8)", "quantize"), ("Cast", "quantize"),
    ("Reorder", "layout"), ("Transpose", "layout"), ("Transpose (ND, X32)", "layout"), ("Reformat", "layout"),
    ("Reshape", "other"), ("Concat", "other"), ("Misc Runtime Ops", "other"),
    ("Conv", "compute"), ("QLinearConv", "compute"), ("FullyConnected", "compute"), ("Softmax", "compute"),
])
def test_categories(op, category):
    assert categorize(op) == category


def test_normalise_per_inference_modules_and_shares():
    p = normalise(raw_fp32(iterations=4), model_nodes=NODES, requested_precision="fp32", pass_overhead_pct=3.5)
    assert p["total_ms"] == pytest.approx(8.0)  # per inference, not per 4 iterations
    assert p["runtime_total_ms"] == pytest.approx(8.5) and p["coverage_pct"] == pytest.approx(100 * 8 / 8.5)
    assert p["by_module"]["enc"]["time_ms"] == pytest.approx(3.0)
    assert p["by_module"]["dec"]["share_pct"] == pytest.approx(62.5)
    assert sum(r["share_pct"] for r in p["rows"]) == pytest.approx(100.0)
    assert [r["node"] for r in p["rows"]][:2] == ["dec/attn/MatMul", "enc/conv/Conv"]  # slowest first
    assert p["by_op_type"]["Transpose"]["category"] == "layout"
    assert p["pass_overhead_pct"] == 3.5 and "pass_overhead_reason" not in p
    assert p["off_precision"] == []


def test_normalise_without_nodes_keeps_the_reason():
    p = normalise({"source": "x", "reason": "no profiler here", "nodes": []}, overhead_reason="not run")
    assert p["reason"] == "no profiler here" and p["rows"] == [] and p["pass_overhead_pct"] is None
    assert p["pass_overhead_reason"] == "not run"


def test_int8_profile_counts_conversions_and_float_kernels():
    p = normalise(raw_int8(), model_nodes=NODES, requested_precision="int8")
    q = p["by_category"]["quantize"]
    assert q["count"] == 20 and q["time_ms"] == pytest.approx(6.0) and q["share_pct"] == pytest.approx(50.0)
    assert p["rows"][0]["module"] == "dec"
    conv = next(r for r in p["rows"] if r["op_type"] == "QLinearConv")
    assert conv["source_nodes"] == ["enc/conv/Conv"] and conv["module"] == "enc"
    assert p["off_precision"] == [{"op_type": "MatMul", "executed_precision": "fp32", "count": 1, "time_ms": 3.0,
                                   "modules": ["dec"], "attention": True}]


def test_module_from_a_runtime_made_node_and_from_its_neighbour():
    raw = raw_fp32(1)
    raw["nodes"].insert(1, {"name": "input_f32_bf16_dec/attn/MatMul", "op_type": "Reorder", "time_ms": 0.1})
    raw["nodes"].insert(4, {"name": "MVN_17", "op_type": "MVN", "time_ms": 0.1})
    p = normalise(raw, model_nodes=NODES)
    rows = {r["node"]: r for r in p["rows"]}
    assert rows["input_f32_bf16_dec/attn/MatMul"]["module"] == "dec"
    assert rows["MVN_17"]["module"] == "dec" and rows["MVN_17"]["module_inferred"] is True


def test_input_quantization_before_the_first_module_joins_the_module_it_feeds():
    raw = raw_int8(1)
    raw["nodes"].insert(0, {"name": "x_QuantizeLinear", "op_type": "QuantizeLinear", "time_ms": 0.1})
    p = normalise(raw, model_nodes=NODES)
    row = next(r for r in p["rows"] if r["node"] == "x_QuantizeLinear")
    assert row["module"] == "enc" and row["module_inferred"] is True


def test_fp32_run_at_a_narrower_precision_is_named():
    raw = raw_fp32(1)
    raw["nodes"][0]["executed_precision"] = "bf16"  # OpenVINO's default on CPUs with bf16 units
    p = normalise(raw, model_nodes=NODES, requested_precision="fp32")
    assert p["off_precision"][0]["op_type"] == "Conv" and p["off_precision"][0]["executed_precision"] == "bf16"


def test_diff_and_explanation_of_a_slowdown():
    a = normalise(raw_fp32(), model_nodes=NODES, requested_precision="fp32")
    b = normalise(raw_int8(), model_nodes=NODES, requested_precision="int8")
    d = diff(a, b)
    assert d["total_a_ms"] == pytest.approx(8.0) and d["total_b_ms"] == pytest.approx(12.0)
    assert d["ratio"] == pytest.approx(1.5)
    modules = {m["key"]: m for m in d["by_module"]}
    assert modules["dec"]["a_ms"] == pytest.approx(5.0) and modules["dec"]["b_ms"] == pytest.approx(10.5)
    assert modules["dec"]["ratio"] == pytest.approx(2.1)
    top = [t["key"] for t in d["top_slowdown"]]
    assert set(top[:2]) == {"DequantizeLinear", "QuantizeLinear"}
    assert d["quantize"]["a"]["count"] == 0 and d["quantize"]["b"]["count"] == 20
    assert d["layout"]["b"]["count"] == 1
    sentence = explain(d, "int8 on onnxruntime", slowdown=1.7)
    assert sentence.startswith("int8 on onnxruntime is 1.70× slower: 20 ")
    assert "QuantizeLinear" in sentence and "DequantizeLinear" in sentence and "take 50% of the time" in sentence
    assert "1 attention MatMul nodes (dec) ran in fp32" in sentence  # its node is dec/attn/MatMul
    assert "most of the added time is in dec" in sentence


def test_explanation_says_when_the_profile_disagrees_with_the_clock():
    a = normalise(raw_int8(), model_nodes=NODES, requested_precision="fp32")
    b = normalise(raw_fp32(), model_nodes=NODES, requested_precision="int8")
    sentence = explain(diff(a, b), "int8 on x", slowdown=1.2)
    assert sentence.startswith("int8 on x is 1.20× slower")
    assert "The profile pass itself saw B at ×0.67 of A's kernel time" in sentence


def test_explanation_of_a_faster_run_says_what_it_still_pays():
    a = normalise(raw_fp32(), model_nodes=NODES, requested_precision="fp32")
    b = normalise(raw_int8(), model_nodes=NODES, requested_precision="int8")
    sentence = explain(diff(a, b), "int8 on x", slowdown=0.8)
    assert sentence.startswith("int8 on x is 1.25× faster: still, 20 ")
    assert "dec (5.00 ms → 10.5 ms) still got slower" in sentence and "added time" not in sentence


def test_diff_of_a_run_without_rows_says_why():
    a = normalise(raw_fp32(), model_nodes=NODES)
    b = normalise({"source": "x", "reason": "no profiler", "nodes": []})
    d = diff(a, b)
    assert "B: no profiler" in d["reason"]
    assert "no explanation" in explain(d, "int8 on x")


def _record(run_id: str, precision: str, profile: dict | None) -> RunRecord:
    return RunRecord(run_id=run_id, status="ok", precision=precision, model={"name": "m"},
                     backend={"name": "onnxruntime"}, device={"name": "host"}, profile=profile)


def test_store_keeps_profile_rows_and_the_record(tmp_path):
    profile = normalise(raw_int8(), model_nodes=NODES, requested_precision="int8")
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.save(_record("r1", "int8", profile))
        store.save(_record("r2", "fp32", None))
        rows = store.profile_rows()
        assert len(rows) == len(profile["rows"]) and {r["run_id"] for r in rows} == {"r1"}
        assert rows[0]["module"] == profile["rows"][0]["module"] and rows[0]["precision"] == "int8"
        assert isinstance(rows[0]["source_nodes"], list)
        assert store.get("r1").profile["by_category"]["quantize"]["count"] == 20
        assert store.get("r2").profile is None
        frame = store.query()
        assert "profile.source" in frame.columns and not any(c.startswith("profile.rows") for c in frame.columns)
        store.save(_record("r1", "int8", None))  # re-saving without a profile drops its rows
        assert store.profile_rows() == []


def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    from results.store import MIGRATIONS

    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    record = _record("old1", "fp32", None).to_dict()
    record.pop("profile")  # written before the field existed
    db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
               ("old1", "2025-01-01", None, "ok", "m", "onnxruntime", "fp32", "host", json.dumps(record)))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with ResultStore(path) as store:
        assert store.version == STORE_VERSION >= 2
        assert store.get("old1").profile is None and store.profile_rows() == []
