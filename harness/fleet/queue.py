"""The durable job queue: fleet runs and their jobs in the controller's store (tables made by the store's
migration 1 -> 2). A job is one board × one plan of the suite; its status moves pending -> running ->
done | failed, with the attempts made and the last error. A job left ``running`` (controller stopped,
board dropped) is recovered on ``--resume`` before it is run again."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from results.schema import utc_now_iso
from results.store import ResultStore

STATUSES = ("pending", "running", "done", "failed")


@dataclass
class Job:
    job_id: str
    fleet_run_id: str
    seq: int
    device: str
    label: str
    spec: dict[str, Any]
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    run_ids: list[str] = field(default_factory=list)
    started_at: str | None = None
    board_started_at: str | None = None
    finished_at: str | None = None


class JobQueue:
    """Jobs of fleet runs, in the same SQLite file as the records (WAL: readers never block)."""

    def __init__(self, store_path: str | Path) -> None:
        ResultStore(store_path).close()  # creates the store or migrates it to the version with the tables
        self._db = sqlite3.connect(str(store_path), timeout=30.0)
        self._db.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_run(self, suite: str, inventory: str, options: dict[str, Any],
                   jobs: list[tuple[str, str, dict[str, Any]]]) -> str:
        """A new fleet run with its jobs (device, label, spec), all pending, in one transaction."""
        fleet_run_id = f"fleet-{utc_now_iso()[:19].replace(':', '').replace('-', '')}-{uuid.uuid4().hex[:6]}"
        with self._db:
            self._db.execute("INSERT INTO fleet_runs VALUES (?,?,?,?,?)",
                             (fleet_run_id, utc_now_iso(), suite, inventory, json.dumps(options)))
            self._db.executemany(
                "INSERT INTO fleet_jobs (job_id, fleet_run_id, seq, device, label, spec, status) "
                "VALUES (?,?,?,?,?,?, 'pending')",
                [(f"{fleet_run_id}-{i:04d}", fleet_run_id, i, device, label, json.dumps(spec))
                 for i, (device, label, spec) in enumerate(jobs)])
        return fleet_run_id

    def latest_run(self) -> str | None:
        row = self._db.execute("SELECT fleet_run_id FROM fleet_runs ORDER BY created_at DESC, rowid DESC").fetchone()
        return row[0] if row else None

    def run_info(self, fleet_run_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT fleet_run_id, created_at, suite, inventory, options FROM fleet_runs "
                               "WHERE fleet_run_id = ?", (fleet_run_id,)).fetchone()
        if row is None:
            return None
        return {"fleet_run_id": row[0], "created_at": row[1], "suite": row[2], "inventory": row[3],
                "options": json.loads(row[4])}

    def jobs(self, fleet_run_id: str, device: str | None = None) -> list[Job]:
        sql = ("SELECT job_id, fleet_run_id, seq, device, label, spec, status, attempts, last_error, run_ids, "
               "started_at, board_started_at, finished_at FROM fleet_jobs WHERE fleet_run_id = ?")
        args: list[Any] = [fleet_run_id]
        if device is not None:
            sql += " AND device = ?"
            args.append(device)
        rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [Job(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], json.loads(r[9]), r[10],
                    r[11], r[12]) for r in rows]

    def start(self, job_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE fleet_jobs SET status = 'running', attempts = attempts + 1, started_at = ?, "
                             "finished_at = NULL WHERE job_id = ?", (utc_now_iso(), job_id))

    def board_started(self, job_id: str, board_time: str) -> None:
        with self._db:
            self._db.execute("UPDATE fleet_jobs SET board_started_at = ? WHERE job_id = ?", (board_time, job_id))

    def done(self, job_id: str, run_ids: list[str]) -> None:
        with self._db:
            self._db.execute("UPDATE fleet_jobs SET status = 'done', run_ids = ?, last_error = NULL, finished_at = ? "
                             "WHERE job_id = ?", (json.dumps(run_ids), utc_now_iso(), job_id))

    def fail(self, job_id: str, error: str, count_attempt: bool = False) -> None:
        with self._db:
            self._db.execute("UPDATE fleet_jobs SET status = 'failed', last_error = ?, finished_at = ?, "
                             "attempts = attempts + ? WHERE job_id = ?",
                             (error, utc_now_iso(), int(count_attempt), job_id))

    def counts(self, fleet_run_id: str) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM fleet_jobs WHERE fleet_run_id = ? GROUP BY status",
                                (fleet_run_id,)).fetchall()
        return {**dict.fromkeys(STATUSES, 0), **dict(rows)}
