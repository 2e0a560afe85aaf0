"""`edgebench fleet run` against two real sshd "boards" on loopback: a plain host board and a FAKE
Jetson board (its sshd sets EDGEBENCH_FS_ROOT to the fake AGX Orin tree of tests/devices/fakes.py).
Both boards run this checkout's edgebench (the inventory's `edgebench:` key), so no deploy is needed."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
from pathlib import Path

import psutil
import pytest
import yaml

from harness.cli import main
from harness.fleet.inventory import load_inventory
from harness.fleet.queue import JobQueue
from harness.fleet.run import FleetSettings, run_fleet
from results.store import ResultStore
from tests.conftest import build_tiny_onnx
from tests.devices.fakes import fake_agx_orin_jp5
from tests.harness.fleet.conftest import inventory_entry, write_inventory

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")

EDGEBENCH = str(Path(sys.executable).with_name("edgebench"))


def tiny_suite(tmp_path: Path) -> Path:
    model = build_tiny_onnx(tmp_path / "tiny.onnx")
    suite = {
        "name": "fleet-tiny",
        "runner": {"warmup": 1, "min_iterations": 5, "min_duration_s": 0.05, "max_duration_s": 1.0,
                   "timeout_s": 120, "cooldown_s": 0, "idle_s": 0},
        "data": {"evaluation": 0, "calibration": 2},
        "models": [{"path": model.name}],
        "backends": ["onnxruntime", "null"],
        "precisions": ["fp32"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def fleet(tmp_path, make_sshd):
    """Two boards (host, fake Jetson), their inventory with known host keys, a tiny suite, an out folder."""
    fake_root = tmp_path / "fake-agx-orin"
    fake_root.mkdir()
    fake_agx_orin_jp5(fake_root)
    host_board = make_sshd()
    jetson_board = make_sshd(env={"EDGEBENCH_FS_ROOT": str(fake_root)})
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(host_board.known_hosts_line + jetson_board.known_hosts_line)
    inventory = write_inventory(tmp_path / "fleet.yaml", [
        inventory_entry(host_board, "x86-a", "host", tmp_path / "board-a", edgebench=EDGEBENCH, tags=["x86"]),
        inventory_entry(jetson_board, "orin-fake", "jetson", tmp_path / "board-b", edgebench=EDGEBENCH,
                        tags=["jetson"]),
    ], known_hosts)
    return {"inventory": inventory, "suite": tiny_suite(tmp_path), "out": tmp_path / "out",
            "boards": {"x86-a": host_board, "orin-fake": jetson_board}}


def _records(out: Path):
    with ResultStore(out / "edgebench.sqlite") as store:
        return store.records()


def test_two_boards_into_one_store_and_resume_repeats_nothing(fleet, capsys):
    rc = main(["fleet", "run", str(fleet["suite"]), "--inventory", str(fleet["inventory"]), "--out",
               str(fleet["out"]), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0, result
    assert result["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}
    records = _records(fleet["out"])
    assert len(records) == 4 and len({r.run_id for r in records}) == 4
    by_device = {}
    for r in records:
        by_device.setdefault(r.device["name"], []).append(r)
    assert sorted(by_device) == ["orin-fake", "x86-a"]
    for r in records:
        assert r.status in ("ok", "skipped"), r.reason
        assert r.suite == "fleet-tiny"
        assert r.extra["fleet"]["fleet_run_id"] == result["fleet_run_id"]
    ort = {r.device["name"]: r for r in records if r.backend["name"] == "onnxruntime"}
    assert ort["x86-a"].status == "ok" and ort["orin-fake"].status == "ok"
    # The board's own facts are kept: the fake Jetson's L4T release, the host's profile.
    assert ort["orin-fake"].device["profile"] == "jetson"
    assert ort["orin-fake"].device["jetson"]["l4t"]["l4t"] == "35.4.1"
    assert ort["orin-fake"].power["source"] == "ina3221"
    assert ort["x86-a"].device["profile"] == "host" and "jetson" not in ort["x86-a"].device
    with ResultStore(fleet["out"] / "edgebench.sqlite") as store:  # raw samples came back too
        assert len(store.samples(ort["x86-a"].run_id)["latency_ms"]) == ort["x86-a"].latency_ms["n"]
    # The model was copied once per board, content-addressed.
    for board in ("board-a", "board-b"):
        copies = list((fleet["out"].parent / board / "data").glob("*/tiny.onnx"))
        assert len(copies) == 1
    # Nothing in the store names the key file.
    text = (fleet["out"] / "edgebench.sqlite").read_bytes()
    assert b"client_key" not in text

    # The cross-device report: grouped by device, the best device × runtime × precision per model.
    assert main(["report", "--out", str(fleet["out"]), "-o", str(fleet["out"] / "fleet.md")]) == 0
    md = (fleet["out"] / "fleet.md").read_text()
    assert main(["fleet", "jobs", "--out", str(fleet["out"])]) == 0
    assert capsys.readouterr().out.count(" done ") == 4
    assert "best device × runtime × precision per model" in md
    assert "## tiny on x86-a" in md and "## tiny on orin-fake" in md
    capsys.readouterr()

    rc = main(["fleet", "run", "--resume", "--inventory", str(fleet["inventory"]), "--out", str(fleet["out"]),
               "--json"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert again["fleet_run_id"] == result["fleet_run_id"]
    assert [j["attempts"] for j in again["jobs"]] == [1, 1, 1, 1]
    assert len(_records(fleet["out"])) == 4


def test_board_dropped_mid_run_fails_unreachable_others_complete_and_resume_finishes(fleet, capsys):
    inventory = load_inventory(fleet["inventory"])
    store_path = fleet["out"] / "edgebench.sqlite"
    fleet["out"].mkdir()
    with JobQueue(store_path) as queue:
        from harness.fleet.run import new_fleet_run

        fleet_run_id = new_fleet_run(queue, str(fleet["suite"]), inventory, inventory.devices, {})
    dropped: list[str] = []
    killers: list[threading.Thread] = []

    def lose_power(job_id: str) -> None:
        """As soon as the board's `edgebench run` for this job exists, kill sshd and everything under it."""
        server = fleet["boards"]["orin-fake"]
        root = psutil.Process(server.proc.pid)
        while not dropped:
            for p in root.children(recursive=True):
                try:
                    if job_id in " ".join(p.cmdline()):
                        server.kill()
                        dropped.append(job_id)
                        return
                except psutil.NoSuchProcess:
                    continue
            threading.Event().wait(0.01)  # poll for the process to exist (readiness, not a timing assumption)

    def on_event(kind, device, job, text):
        # The fake Jetson "loses power" in the middle of its second job.
        if kind == "started" and device == "orin-fake" and job.seq % 2 == 1 and not killers:
            killers.append(threading.Thread(target=lose_power, args=(job.job_id,), daemon=True))
            killers[0].start()

    settings = FleetSettings(store_path=store_path, known_hosts=inventory.known_hosts, retries=1,
                             retry_delay_s=0.05, connect_timeout_s=5, on_event=on_event)
    asyncio.run(run_fleet(fleet_run_id, inventory.devices, settings))
    killers[0].join(timeout=60)
    assert dropped
    with JobQueue(store_path) as queue:
        jobs = {(j.device, j.seq): j for j in queue.jobs(fleet_run_id)}
    host_jobs = [j for (d, _), j in jobs.items() if d == "x86-a"]
    jetson_jobs = sorted((j for (d, _), j in jobs.items() if d == "orin-fake"), key=lambda j: j.seq)
    assert all(j.status == "done" and j.run_ids for j in host_jobs)
    assert jetson_jobs[0].status == "done"
    assert jetson_jobs[1].status == "failed"
    assert jetson_jobs[1].last_error.startswith("unreachable: ")
    assert jetson_jobs[1].attempts == 1  # started once; the reconnection was refused
    stored = {r.run_id for r in _records(fleet["out"])}
    assert {r for j in host_jobs + jetson_jobs[:1] for r in j.run_ids} == stored

    fleet["boards"]["orin-fake"].start()  # the board is back, same port and host key
    rc = main(["fleet", "run", "--resume", fleet_run_id, "--inventory", str(fleet["inventory"]),
               "--out", str(fleet["out"]), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0, result["jobs"]
    attempts = {(j["device"], j["label"]): j["attempts"] for j in result["jobs"]}
    assert all(n == 1 for (d, _), n in attempts.items() if d == "x86-a")  # nothing finished was repeated
    assert len(_records(fleet["out"])) == 4


def test_a_record_the_board_finished_but_the_controller_never_received_is_recovered_not_rerun(fleet, capsys):
    """The controller died after the board finished a run and before the record came back: --resume
    pulls it from the board's store instead of running it again."""
    import sqlite3

    rc = main(["fleet", "run", str(fleet["suite"]), "--inventory", str(fleet["inventory"]), "--devices", "x86-a",
               "--out", str(fleet["out"]), "--json", "--report", str(fleet["out"] / "fleet.html")])
    first = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert "x86-a" in (fleet["out"] / "fleet.html").read_text()
    lost = first["jobs"][0]
    db = sqlite3.connect(fleet["out"] / "edgebench.sqlite")
    with db:  # as if the controller stopped mid-pull: the job still running, its record not here
        db.execute("DELETE FROM runs WHERE run_id = ?", (lost["run_ids"][0],))
        db.execute("UPDATE fleet_jobs SET status = 'running', run_ids = '[]' WHERE job_id = ?", (lost["job_id"],))
    db.close()
    board_store = fleet["out"].parent / "board-a" / "out" / "edgebench.sqlite"
    with ResultStore(board_store) as store:
        on_board = len(store)

    rc = main(["fleet", "run", "--resume", "--inventory", str(fleet["inventory"]), "--out", str(fleet["out"]),
               "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0
    job = next(j for j in result["jobs"] if j["job_id"] == lost["job_id"])
    assert job["status"] == "done" and job["run_ids"] == lost["run_ids"] and job["attempts"] == 1
    with ResultStore(board_store) as store:
        assert len(store) == on_board  # nothing ran again on the board
    assert {r.run_id for r in _records(fleet["out"])} >= set(lost["run_ids"])
