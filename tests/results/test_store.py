import json
import sqlite3

import pytest

from results.schema import SCHEMA_VERSION, RunRecord, flatten, new_run_id
from results.store import STORE_VERSION, ResultStore, StoreError


def make_record(**overrides) -> RunRecord:
    base = dict(
        run_id=new_run_id(),
        status="ok",
        precision="int8",
        model={"name": "tiny", "sha256": "ab" * 32},
        backend={"name": "onnxruntime", "version": "1.0"},
        device={"name": "host"},
        suite="quick",
        latency_ms={"p50": 1.5, "p99": 2.0, "n": 100, "mean": 1.6},
        memory={"peak_rss_bytes": 123456},
        samples={"latency_ms": [1.0, 1.5, 2.0]},
    )
    base.update(overrides)
    return RunRecord(**base)


def test_round_trip_keeps_fields_and_samples(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    record = make_record()
    store.save(record)
    back = store.get(record.run_id)
    assert back.to_dict(with_samples=True) == record.to_dict(with_samples=True)
    listed = store.records()
    assert [r.run_id for r in listed] == [record.run_id]
    assert listed[0].samples == {}  # listing stays cheap
    assert store.samples(record.run_id) == {"latency_ms": [1.0, 1.5, 2.0]}


def test_schema_version_recorded_and_newer_store_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    store = ResultStore(path)
    assert store.version == STORE_VERSION
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer edgebench"):
        ResultStore(path)


def test_record_json_carries_schema_version(tmp_path):
    record = make_record()
    assert json.loads(record.to_json())["schema_version"] == SCHEMA_VERSION


def test_filters_prefix_and_dataframe(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    a = make_record(precision="fp32")
    b = make_record(precision="int8", suite="other")
    store.save(a)
    store.save(b)
    assert [r.run_id for r in store.records(precision="fp32")] == [a.run_id]
    assert [r.run_id for r in store.records(suite="other")] == [b.run_id]
    assert store.resolve(a.run_id[:-2]) == a.run_id
    with pytest.raises(StoreError, match="no run matches"):
        store.resolve("zzz")
    frame = store.query()
    assert {"latency_ms.p50", "model.name", "precision"} <= set(frame.columns)
    assert len(frame) == 2


def test_attach_merges_and_drops_stale_reason(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    record = make_record()
    assert record.quality == {"reason": "not scored"}
    store.save(record)
    store.attach(record.run_id, "quality", {"mos": 4.1})
    back = store.get(record.run_id)
    assert back.quality == {"mos": 4.1}
    assert back.samples["latency_ms"] == [1.0, 1.5, 2.0]


def test_nan_is_stored_as_null(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    record = make_record(quality={"sqnr_db": float("nan")})
    store.save(record)
    assert store.get(record.run_id).quality == {"sqnr_db": None}


def test_not_a_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable edgebench store"):
        ResultStore(bad)
    with pytest.raises(StoreError, match="no result store"):
        ResultStore(tmp_path / "missing.sqlite", create=False)


def test_invalid_status_rejected():
    with pytest.raises(ValueError, match="status"):
        make_record(status="meh")


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2]}) == {"a.b": 1, "a.c.d": 2, "e": "[1, 2]"}


def test_executed_precision_round_trips_and_exports_flat(tmp_path):
    executed = {"precision": "bf16", "by_type": {"bf16": 9, "fp32": 1}, "unit": "layers", "source": "test",
                "reason": None}
    store = ResultStore(tmp_path / "s.sqlite")
    record = make_record(precision="fp32", executed_precision=executed)
    store.save(record)
    assert store.get(record.run_id).executed_precision == executed
    flat = flatten(record.to_dict())
    assert flat["executed_precision.precision"] == "bf16" and flat["executed_precision.by_type.bf16"] == 9
    # a record written before the field existed reads back as unknown, not as its label
    old = record.to_dict()
    old.pop("executed_precision")
    assert RunRecord.from_dict(old).executed_precision is None
