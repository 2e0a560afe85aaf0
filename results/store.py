"""SQLite store of run records: one row per run, raw samples in a side table.

WAL mode so a report can read while a suite writes. Each save is one transaction, so an
interrupted suite never leaves a half-written run. The schema version lives in ``PRAGMA
user_version``; ``MIGRATIONS[i]`` takes a store from version i to i+1.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from results.schema import RunRecord, flatten, sanitize

STORE_VERSION = 3

MIGRATIONS: list[Sequence[str]] = [
    # 0 -> 1: the first layout
    (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            suite TEXT,
            status TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            precision TEXT,
            device TEXT,
            record TEXT NOT NULL
        )""",
        "CREATE INDEX runs_created ON runs(created_at)",
        "CREATE INDEX runs_suite ON runs(suite)",
        """CREATE TABLE samples (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            series TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (run_id, series)
        )""",
    ),
    # 1 -> 2: the fleet controller's durable job queue (harness/fleet/queue.py). One row per fleet run
    # and one per job (a board × one plan of the suite); records stay in `runs`, jobs name their run ids.
    (
        """CREATE TABLE fleet_runs (
            fleet_run_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            suite TEXT,
            inventory TEXT,
            options TEXT NOT NULL
        )""",
        """CREATE TABLE fleet_jobs (
            job_id TEXT PRIMARY KEY,
            fleet_run_id TEXT NOT NULL REFERENCES fleet_runs(fleet_run_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            device TEXT NOT NULL,
            label TEXT NOT NULL,
            spec TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            run_ids TEXT NOT NULL DEFAULT '[]',
            started_at TEXT,
            board_started_at TEXT,
            finished_at TEXT
        )""",
        "CREATE INDEX fleet_jobs_run ON fleet_jobs(fleet_run_id, device, seq)",
    ),
    # 2 -> 3: per-operator profile rows, one per runtime node of a profiled run (record.profile.rows)
    (
        """CREATE TABLE profile_rows (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            node TEXT NOT NULL,
            op_type TEXT,
            source_nodes TEXT,
            module TEXT,
            category TEXT,
            executed_precision TEXT,
            time_ms REAL,
            share_pct REAL,
            PRIMARY KEY (run_id, seq)
        )""",
        "CREATE INDEX profile_rows_module ON profile_rows(module)",
    ),
]

PROFILE_COLUMNS = ("run_id", "seq", "node", "op_type", "source_nodes", "module", "category", "executed_precision",
                   "time_ms", "share_pct")


class StoreError(Exception):
    """The store cannot do what was asked; the message says what to do."""


class ResultStore:
    """``create=False`` opens an existing store to read; one on a read-only file or folder (a mounted
    archive, a CI cache) is opened read-only, so it can still be listed, shown, exported and reported."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no result store at {self.path}: run 'edgebench run' first, or pass --out DIR")
        self.read_only = not create and not _writable(self.path)
        try:
            if self.read_only:
                self._db = _open_read_only(self.path)
            else:
                try:
                    self._db = self._open_writable()
                except sqlite3.OperationalError:
                    if create:
                        raise
                    # reading needs no space: a store on a full disk can still be listed and reported
                    self.read_only = True
                    self._db = _open_read_only(self.path)
            self._migrate()
        except sqlite3.OperationalError as exc:
            if _out_of_space(self.path):
                raise StoreError(f"cannot open the store {self.path} ({exc}): the disk holding it is full; free some "
                                 "space or point --out at another folder") from exc
            raise StoreError(f"cannot open the store {self.path} ({exc}); check the file and its folder, or point "
                             "--out at another folder") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a readable edgebench store ({exc}); point --out at another folder"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot open the store {self.path} ({exc.strerror or exc}); check the folder "
                             "or point --out at another one") from exc

    def _open_writable(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            db.close()
            raise
        return db

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > STORE_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer edgebench (store version {version}, this one reads up to "
                f"{STORE_VERSION}); upgrade edgebench"
            )
        if self.read_only and version < STORE_VERSION:
            raise StoreError(f"{self.path} is read-only and in an older layout (version {version}); open it once "
                             "where it is writable so edgebench can upgrade it")
        if version == 0 and self.read_only is False and self._has_foreign_tables():
            raise StoreError(f"{self.path} is an SQLite file but not an edgebench store (it has other tables); "
                             "point --out at another folder")
        for target in range(version, STORE_VERSION):
            with self._db:
                for statement in MIGRATIONS[target]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target + 1}")

    def _has_foreign_tables(self) -> bool:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return any(r[0] not in ("runs", "samples") for r in rows)

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------
    def save(self, record: RunRecord) -> None:
        """Store the record and its raw samples in one transaction."""
        body = sanitize(record.to_dict(with_samples=False))
        text = json.dumps(body, default=str, allow_nan=False)
        series = {name: _pack(values) for name, values in (record.samples or {}).items()}
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.run_id,
                    record.created_at,
                    record.suite,
                    record.status,
                    record.model.get("name"),
                    record.backend.get("name"),
                    record.precision,
                    record.device.get("name"),
                    text,
                ),
            )
            self._db.execute("DELETE FROM samples WHERE run_id = ?", (record.run_id,))
            self._db.executemany(
                "INSERT INTO samples VALUES (?,?,?)", [(record.run_id, k, v) for k, v in series.items()]
            )
            self._save_profile_rows(record)

    def _save_profile_rows(self, record: RunRecord) -> None:
        self._db.execute("DELETE FROM profile_rows WHERE run_id = ?", (record.run_id,))
        rows = (record.profile or {}).get("rows") or []
        self._db.executemany(
            "INSERT INTO profile_rows VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(record.run_id, i, r.get("node"), r.get("op_type"), json.dumps(list(r.get("source_nodes") or [])),
              r.get("module"), r.get("category"), r.get("executed_precision"), r.get("time_ms"), r.get("share_pct"))
             for i, r in enumerate(rows)],
        )

    def attach(self, run_id: str, group: str, values: dict[str, Any]) -> RunRecord:
        """Merge ``values`` into ``record.<group>`` (e.g. scores that arrive weeks later)."""
        with self._db:
            record = self.get(run_id, with_samples=False)
            current = getattr(record, group, None)
            if current is None or isinstance(current, dict):
                merged = dict(current or {})
                # A stale "not scored" reason must not outlive the scores that now exist.
                if "reason" not in values and any(v is not None for v in values.values()):
                    merged.pop("reason", None)
                merged.update(values)
                setattr(record, group, merged)
            else:
                raise StoreError(f"cannot attach to {group!r}: it is not a group of figures")
            text = json.dumps(sanitize(record.to_dict()), default=str, allow_nan=False)
            self._db.execute("UPDATE runs SET record = ? WHERE run_id = ?", (text, record.run_id))
        return record

    def replace_record(self, record: RunRecord) -> None:
        """Rewrite a stored record's fields (samples untouched)."""
        text = json.dumps(sanitize(record.to_dict()), default=str, allow_nan=False)
        with self._db:
            cur = self._db.execute("UPDATE runs SET record = ?, status = ? WHERE run_id = ?",
                                   (text, record.status, record.run_id))
            if cur.rowcount != 1:
                raise StoreError(f"no run {record.run_id} in {self.path}")
            self._save_profile_rows(record)

    # -- reading --------------------------------------------------------------------------
    def resolve(self, run_id_or_prefix: str) -> str:
        # A prefix compared as text, never a LIKE pattern: '%' or '_' in an id mean themselves.
        rows = self._read(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id LIMIT 50",
            (len(run_id_or_prefix), run_id_or_prefix),
        ) if run_id_or_prefix else []
        exact = [r[0] for r in rows if r[0] == run_id_or_prefix]
        if exact:
            return exact[0]
        if not rows:
            raise StoreError(f"no run matches {run_id_or_prefix!r} in {self.path}; 'edgebench list' shows the runs")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5])
            many = f"{len(rows)}" if len(rows) < 50 else "50 or more"
            raise StoreError(f"{run_id_or_prefix!r} matches {many} runs ({shown}…); give more characters")
        return rows[0][0]

    def get(self, run_id: str, with_samples: bool = True) -> RunRecord:
        run_id = self.resolve(run_id)
        row = self._read("SELECT record FROM runs WHERE run_id = ?", (run_id,))[0]
        record = self._record(row[0])
        if with_samples:
            record.samples = self.samples(run_id)
        return record

    def samples(self, run_id: str) -> dict[str, Any]:
        rows = self._read("SELECT series, data FROM samples WHERE run_id = ?", (run_id,))
        try:
            return {series: _unpack(data) for series, data in rows}
        except (zlib.error, ValueError, TypeError) as exc:
            raise self._damaged(exc) from exc

    def records(
        self,
        *,
        suite: str | None = None,
        run_ids: Iterable[str] | None = None,
        since: str | None = None,
        device: str | None = None,
        model: str | None = None,
        backend: str | None = None,
        precision: str | None = None,
        status: str | None = None,
    ) -> list[RunRecord]:
        where, args = [], []
        for column, value in (("suite", suite), ("device", device), ("model", model), ("backend", backend),
                              ("precision", precision), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if run_ids is not None:
            ids = [self.resolve(r) for r in run_ids]
            where.append(f"run_id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        sql = "SELECT record FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at, run_id"
        return [self._record(r[0]) for r in self._read(sql, args)]

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def _record(self, text: Any) -> RunRecord:
        try:
            return RunRecord.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise self._damaged(exc) from exc

    def _damaged(self, exc: Exception) -> StoreError:
        return StoreError(f"{self.path} is damaged ({type(exc).__name__}: {exc}); recover what is left with "
                          f"'sqlite3 {self.path} .recover | sqlite3 recovered.sqlite', or point --out elsewhere")

    def query(self, **filters: Any):  # -> pandas.DataFrame
        """One row per run, nested groups flattened to dotted columns (``latency_ms.p50``)."""
        import pandas as pd

        rows = [flatten(_without_profile_rows(r.to_dict())) for r in self.records(**filters)]
        return pd.DataFrame(rows)

    def has(self, run_id: str) -> bool:
        """Whether exactly this run id is stored (no prefix matching)."""
        return self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def profile_rows(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Stored profile rows (of the given runs, or all), each with its run's model, backend, precision
        and device, in node order."""
        sql = ("SELECT p.run_id, p.seq, p.node, p.op_type, p.source_nodes, p.module, p.category, "
               "p.executed_precision, p.time_ms, p.share_pct, r.model, r.backend, r.precision, r.device "
               "FROM profile_rows p JOIN runs r ON r.run_id = p.run_id")
        args: list[str] = []
        if run_ids is not None:
            ids = [self.resolve(r) for r in run_ids]
            sql += f" WHERE p.run_id IN ({','.join('?' * len(ids))})"
            args = ids
        sql += " ORDER BY r.created_at, p.run_id, p.seq"
        names = (*PROFILE_COLUMNS, "model", "backend", "precision", "device")
        out = []
        for row in self._db.execute(sql, args):
            item = dict(zip(names, row))
            item["source_nodes"] = json.loads(item["source_nodes"] or "[]")
            out.append(item)
        return out

    def __len__(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM runs")[0][0])


def _out_of_space(path: Path, need_bytes: int = 1024 * 1024) -> bool:
    import shutil

    try:
        return shutil.disk_usage(path.parent).free < need_bytes
    except OSError:
        return False


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Read-only first (sees a WAL a writer left); when SQLite cannot even create the WAL index in a
    read-only folder, as immutable: nothing can change a file nobody can write."""
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30.0)


def _without_profile_rows(d: dict[str, Any]) -> dict[str, Any]:
    """A run's flat row keeps the profile's summary (source, overhead, share by module); its per-node rows and
    per-op-type sums would add hundreds of columns: they are exported from the profile table instead."""
    profile = d.get("profile")
    if isinstance(profile, dict):
        d["profile"] = {k: v for k, v in profile.items()
                        if k not in ("rows", "by_op_type", "by_category", "off_precision", "notes")}
    return d


def _pack(values: Any) -> bytes:
    return zlib.compress(json.dumps(sanitize(values), default=str, allow_nan=False).encode(), 6)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))
