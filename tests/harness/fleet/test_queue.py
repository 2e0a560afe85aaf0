"""The durable job queue: survives reopening the store, counts attempts, keeps the last error."""

from __future__ import annotations

import sqlite3

import pytest

from harness.fleet.queue import JobQueue


def test_jobs_survive_a_restart_and_keep_their_state(tmp_path):
    path = tmp_path / "edgebench.sqlite"
    with JobQueue(path) as q:
        fid = q.create_run("suite.yaml", "fleet.yaml", {"run_options": {}},
                           [("a", "m · null · fp32", {"x": 1}), ("b", "m · null · fp32", {"x": 2})])
        a, b = q.jobs(fid)
        q.start(a.job_id)
        q.done(a.job_id, ["r1"])
        q.start(b.job_id)
        q.fail(b.job_id, "unreachable: refused")
    with JobQueue(path) as q:  # a new controller process
        assert q.latest_run() == fid
        a, b = q.jobs(fid)
        assert (a.status, a.attempts, a.run_ids, a.spec) == ("done", 1, ["r1"], {"x": 1})
        assert (b.status, b.attempts, b.last_error) == ("failed", 1, "unreachable: refused")
        assert q.counts(fid) == {"pending": 0, "running": 0, "done": 1, "failed": 1}
        assert [j.device for j in q.jobs(fid, device="b")] == ["b"]


def test_the_store_refuses_an_unknown_job_status(tmp_path):
    path = tmp_path / "edgebench.sqlite"
    with JobQueue(path) as q:
        fid = q.create_run("s", "i", {}, [("a", "l", {})])
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE fleet_jobs SET status = 'lost' WHERE fleet_run_id = ?", (fid,))
    db.close()
