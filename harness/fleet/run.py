"""The controller loop: boards in parallel, one job at a time per board, records pulled back into the
store (deduplicated by run_id), bounded retry when a board drops, resume without repeating done jobs."""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.fleet import jobs as jobmod
from harness.fleet.inventory import Device, Inventory
from harness.fleet.queue import Job, JobQueue
from harness.fleet.ssh import Board, BoardError, Unreachable, connect
from results.schema import RunRecord
from results.store import ResultStore

RUN_OPTION_FLAGS = {"warmup": "--warmup", "min_iterations": "--min-iterations", "min_duration_s": "--min-duration",
                    "max_duration_s": "--max-duration", "evaluation": "--evaluation", "timeout_s": "--timeout"}


@dataclass
class FleetSettings:
    store_path: Path
    known_hosts: str
    accept_new: bool = False
    retries: int = 2  # reconnections tried after a board drops, before its job is failed as unreachable
    retry_delay_s: float = 5.0  # grows linearly with each attempt
    connect_timeout_s: float = 15.0
    run_options: dict[str, Any] = field(default_factory=dict)
    on_event: Callable[[str, str, Job | None, str], None] | None = None  # (kind, device, job, text)
    verbose: bool = False


@dataclass
class BoardOutcome:
    device: str
    done: int = 0
    failed: int = 0
    records: list[str] = field(default_factory=list)


def new_fleet_run(queue: JobQueue, suite_path: str, inventory: Inventory, devices: list[Device],
                  run_options: dict[str, Any]) -> str:
    planned = jobmod.expand_jobs(suite_path, devices)
    return queue.create_run(str(suite_path), inventory.path, {"run_options": run_options,
                                                             "devices": [d.name for d in devices]}, planned)


async def run_fleet(fleet_run_id: str, devices: list[Device], settings: FleetSettings) -> list[BoardOutcome]:
    """Every not-done job of the fleet run, boards in parallel; returns what each board did."""
    with JobQueue(settings.store_path) as queue, ResultStore(settings.store_path) as store:
        tasks = [_Board(d, fleet_run_id, queue, store, settings).run() for d in devices]
        return list(await asyncio.gather(*tasks))


class _Board:
    """The job loop of one board."""

    def __init__(self, device: Device, fleet_run_id: str, queue: JobQueue, store: ResultStore,
                 settings: FleetSettings) -> None:
        self.device, self.fleet_run_id, self.queue, self.store, self.settings = (
            device, fleet_run_id, queue, store, settings)
        self.board: Board | None = None
        self.outcome = BoardOutcome(device.name)

    def emit(self, kind: str, job: Job | None, text: str) -> None:
        if self.settings.on_event is not None:
            self.settings.on_event(kind, self.device.name, job, text)
        if kind != "stderr" or self.settings.verbose:
            print(f"[{self.device.name}] {text}", file=sys.stderr, flush=True)

    async def run(self) -> BoardOutcome:
        todo = [j for j in self.queue.jobs(self.fleet_run_id, self.device.name) if j.status != "done"]
        try:
            for n, job in enumerate(todo):
                error = await self._job_with_retry(job, f"[{n + 1}/{len(todo)}]")
                if error is not None:
                    for rest in todo[n + 1:]:
                        self.queue.fail(rest.job_id, f"{error} (not attempted: the board was not usable)")
                        self.outcome.failed += 1
                    break
        finally:
            if self.board is not None:
                await self.board.close()
        return self.outcome

    async def _job_with_retry(self, job: Job, step: str) -> str | None:
        """None when the job ended (done, or failed on the board's side); else the error that makes
        the board unusable, already written to the job."""
        attempt = 0
        while True:
            try:
                if self.board is None:
                    self.board = await connect(self.device, self.settings.known_hosts, self.settings.accept_new,
                                               self.settings.connect_timeout_s)
                await self._job(job, step)
                return None
            except Unreachable as exc:
                await self._drop()
                attempt += 1
                if attempt > self.settings.retries:
                    error = f"unreachable: {exc} (after {attempt} attempt(s))"
                    self.queue.fail(job.job_id, error)
                    self.outcome.failed += 1
                    self.emit("failed", job, f"{step} {job.label}: {error}")
                    return error
                delay = self.settings.retry_delay_s * attempt
                self.emit("retry", job, f"{exc}; retrying in {delay:g} s ({attempt}/{self.settings.retries})")
                await asyncio.sleep(delay)
            except BoardError as exc:  # keys, host keys, a missing edgebench: retrying cannot help
                self.queue.fail(job.job_id, str(exc))
                self.outcome.failed += 1
                self.emit("failed", job, f"{step} {job.label}: {exc}")
                return str(exc)

    async def _drop(self) -> None:
        if self.board is not None:
            board, self.board = self.board, None
            try:
                await asyncio.wait_for(board.close(), 5)
            except Exception:  # the connection is already gone; nothing to release
                pass

    async def _job(self, job: Job, step: str) -> None:
        assert self.board is not None
        # A job left running, or failed when its board dropped, may have finished on the board.
        if job.status in ("running", "failed") and await self._recover(job, step):
            return
        self.queue.start(job.job_id)
        job.status = "running"
        self.emit("started", job, f"{step} {job.label} …")
        suite = await self._stage(job)
        board_time = (await self.board.run(["date", "-u", "+%Y-%m-%dT%H:%M:%S+00:00"])).stdout.strip()
        self.queue.board_started(job.job_id, board_time)
        job.board_started_at = board_time
        argv = [self.device.remote_edgebench, "run", suite, "--device", self.device.profile, "--out",
                self.device.out, "--json", *_option_argv(self.settings.run_options)]
        done = await self.board.run(argv, on_stderr=lambda line: self.emit("stderr", job, line))
        if done.exit_status not in (0, 1):  # 1: some runs failed, which are results; the rest is an error
            self.queue.fail(job.job_id, _board_error(done))
            self.outcome.failed += 1
            self.emit("failed", job, f"{step} {job.label}: {_board_error(done)}")
            return
        run_ids = [r["run_id"] for r in _parse_json(done.stdout, argv)]
        await self._pull(job, run_ids)
        self.emit("done", job, f"{step} {job.label}: {await self._summary(run_ids)}")

    async def _stage(self, job: Job) -> str:
        """Copy the job's files (once per content) and its one-plan suite; the suite's path on the board."""
        assert self.board is not None
        suite = copy.deepcopy(job.spec["suite"])
        for upload in job.spec["uploads"]:
            files = [Path(f) for f in upload["files"]]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise BoardError(f"{job.label}: {', '.join(missing)} no longer exist(s) on the controller; "
                                 "restore the file or start a new fleet run")
            folder = f"{self.device.workdir}/data/{jobmod.content_hash([str(f) for f in files])}"
            if not await self.board.exists(folder):
                self.emit("copy", job, f"copying {', '.join(f.name for f in files)} to {folder}")
                await self.board.put_files(files, folder)
            jobmod.place(suite, upload["where"], folder if upload.get("folder") else f"{folder}/{files[0].name}")
        remote = f"{self.device.workdir}/jobs/{job.job_id}.yaml"
        await self.board.write_text(remote, json.dumps(suite, indent=1))  # JSON is YAML
        return remote

    async def _pull(self, job: Job, run_ids: list[str]) -> None:
        """Each record with its raw samples from the board's store into ours; the job is done after."""
        assert self.board is not None
        for run_id in run_ids:
            if self.store.has(run_id):
                continue
            shown = await self.board.run([self.device.remote_edgebench, "show", run_id, "--samples", "--json",
                                          "--out", self.device.out])
            if shown.exit_status != 0:
                raise BoardError(f"{job.label}: the board has no record {run_id}: {_board_error(shown)}")
            self.store.save(adopt(_parse_json(shown.stdout, ["show"]), self.device, job))
        self.queue.done(job.job_id, run_ids)
        job.status = "done"
        self.outcome.done += 1
        self.outcome.records.extend(run_ids)

    async def _recover(self, job: Job, step: str) -> bool:
        """A job left running (the controller stopped, or the board dropped): when the board finished
        every run of it since it started, those records are pulled instead of running it again; a
        job the board finished only in part runs again whole."""
        assert self.board is not None
        if not job.board_started_at:
            return False
        listed = await self.board.run([
            self.device.remote_edgebench, "list", "--json", "--out", self.device.out, "--suite",
            job.spec["suite"]["name"], "--model", job.spec["model"], "--backend", job.spec["backend"],
            "--since", job.board_started_at])
        if listed.exit_status != 0:
            return False
        newest: dict[str, str] = {}
        for r in _parse_json(listed.stdout, ["list"]):
            if isinstance(r, dict) and r.get("precision") in job.spec["precisions"]:
                newest[r["precision"]] = r["run_id"]  # listed oldest first
        if set(newest) != set(job.spec["precisions"]):
            return False
        found = [newest[p] for p in job.spec["precisions"]]
        await self._pull(job, found)
        self.emit("done", job, f"{step} {job.label}: recovered from the board: {await self._summary(found)}")
        return True

    async def _summary(self, run_ids: list[str]) -> str:
        parts = []
        for run_id in run_ids:
            r = self.store.get(run_id, with_samples=False)
            if r.status == "ok":
                p50 = (r.latency_ms or {}).get("p50")
                parts.append(f"ok, p50 {p50:.3g} ms" if isinstance(p50, (int, float)) else "ok")
            else:
                parts.append(f"{r.status}: {r.reason}")
        return "; ".join(parts) or "no record"


def adopt(data: dict[str, Any], device: Device, job: Job) -> RunRecord:
    """A board's record as the controller keeps it: device.name is the inventory name, the board's
    facts stay, and where it came from is noted (no key, no user secret)."""
    record = RunRecord.from_dict(data)
    board_device = dict(record.device or {})
    record.device = {**board_device, "name": device.name, "profile": board_device.get("profile") or device.profile}
    record.extra["fleet"] = {"fleet_run_id": job.fleet_run_id, "job_id": job.job_id,
                             "board": f"{device.host}:{device.port}", "board_device_name": board_device.get("name")}
    return record


def _option_argv(options: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, flag in RUN_OPTION_FLAGS.items():
        if options.get(key) is not None:
            argv += [flag, str(options[key])]
    return argv


def _board_error(done) -> str:
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    tail = lines[-1] if lines else f"no message (exit status {done.exit_status})"
    if done.exit_status == 127:
        tail = f"edgebench not found on the board ({tail}); run 'edgebench fleet deploy' or set 'edgebench:'"
    return f"the board's edgebench exited {done.exit_status}: {tail}"


def _parse_json(text: str, argv: list[str]) -> Any:
    """The JSON a board printed; a login banner or a noisy shell start-up file may precede it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise BoardError(f"{' '.join(argv[:2])} on the board printed no JSON (first bytes: {text[:200]!r}); "
                     "is the board's edgebench the same version as the controller's?")
