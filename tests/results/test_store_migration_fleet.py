"""Store version 1 -> 2 adds the fleet job tables and keeps every stored run."""

from __future__ import annotations

import sqlite3

from results.schema import RunRecord, new_run_id
from results.store import MIGRATIONS, ResultStore


def test_a_version_1_store_gains_the_fleet_tables_and_keeps_its_runs(tmp_path):
    path = tmp_path / "edgebench.sqlite"
    db = sqlite3.connect(path)
    with db:  # a store as version 1 wrote it
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
    db.close()
    # save a run into the v1 layout through a v1-compatible insert
    record = RunRecord(run_id=new_run_id(), status="ok", precision="fp32", model={"name": "m"},
                       backend={"name": "null"}, device={"name": "host"})
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)", (record.run_id, record.created_at, None, "ok", "m",
                                                                  "null", "fp32", "host", record.to_json()))
    db.close()

    with ResultStore(path) as store:
        assert store.version >= 2
        assert store.get(record.run_id).model["name"] == "m" and store.has(record.run_id)
        assert not store.has(record.run_id[:-1])  # exact ids only, no prefix match
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"fleet_runs", "fleet_jobs", "runs", "samples"} <= tables
