"""``edgebench fleet check|deploy|run|jobs``: suites on remote boards over SSH, one store here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from harness.cli.common import add_json, add_out, out_dir, print_json, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="run suites on remote boards over SSH into one store",
                       description="Drive boards listed in an inventory (fleet.yaml) over SSH: check them, "
                       "deploy this checkout, run a suite on each and gather the records here.")
    fleet = p.add_subparsers(dest="fleet_command", metavar="ACTION")

    c = fleet.add_parser("check", help="reachability, OS, Python, edgebench, backends and facts per board")
    _common(c)
    add_json(c)
    c.set_defaults(func=check_command)

    d = fleet.add_parser("deploy", help="install a wheel of this checkout in a venv on each board")
    _common(d)
    d.add_argument("--wheelhouse", metavar="DIR", help="wheels for the boards (pip download …) copied along")
    d.add_argument("--offline", action="store_true", help="pip on the board uses no index (wheels copied only)")
    d.set_defaults(func=deploy_command)

    r = fleet.add_parser("run", help="run a suite on the boards; records come back into this store")
    r.add_argument("suite", nargs="?", metavar="SUITE", help="suite YAML (not needed with --resume)")
    _common(r, inventory_flag=True)
    r.add_argument("--resume", nargs="?", const="latest", metavar="FLEET_RUN_ID",
                   help="continue a fleet run (default: the latest) without repeating its finished jobs")
    r.add_argument("--retries", type=int, default=2, metavar="N", help="reconnections before a job is unreachable")
    r.add_argument("--retry-delay", type=float, default=5.0, metavar="S", help="wait before the first reconnection")
    r.add_argument("--warmup", type=int, metavar="N")
    r.add_argument("--min-iterations", type=int, metavar="N")
    r.add_argument("--min-duration", type=float, metavar="S")
    r.add_argument("--max-duration", type=float, metavar="S")
    r.add_argument("--evaluation", type=int, metavar="N")
    r.add_argument("--verbose", action="store_true", help="show the boards' own stderr lines")
    r.add_argument("--report", metavar="FILE", help="also write the cross-device report (HTML, or .md)")
    add_json(r)
    r.set_defaults(func=run_command)

    j = fleet.add_parser("jobs", help="the jobs of a fleet run and their state")
    j.add_argument("fleet_run_id", nargs="?", default="latest", metavar="FLEET_RUN_ID")
    add_out(j)
    add_json(j)
    j.set_defaults(func=jobs_command)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _common(p: argparse.ArgumentParser, inventory_flag: bool = False) -> None:
    if inventory_flag:
        p.add_argument("--inventory", "-i", metavar="FILE", required=False, help="the fleet.yaml")
    else:
        p.add_argument("inventory", metavar="INVENTORY", help="the fleet.yaml")
    p.add_argument("--devices", metavar="NAME,…", help="only these devices")
    p.add_argument("--tags", metavar="TAG,…", help="only devices with any of these tags")
    p.add_argument("--accept-new", action="store_true",
                   help="trust a board not yet in known_hosts and add it (a changed key is still refused)")
    p.add_argument("--connect-timeout", type=float, default=15.0, metavar="S")
    add_out(p)


def _devices(args: argparse.Namespace, inventory_path: str | None = None):
    import importlib.util

    from harness.fleet.inventory import load_inventory

    if importlib.util.find_spec("asyncssh") is None:
        raise UsageError("fleet mode needs asyncssh on this controller: pip install 'edgebench[fleet]' "
                         "(make install does)")

    path = inventory_path or getattr(args, "inventory", None)
    if not path:
        raise UsageError("give the inventory: --inventory fleet.yaml")
    inventory = load_inventory(path)
    names = [n.strip() for n in args.devices.split(",") if n.strip()] if args.devices else None
    tags = [t.strip() for t in args.tags.split(",") if t.strip()] if args.tags else None
    return inventory, inventory.select(names, tags)


def check_command(args: argparse.Namespace) -> int:
    from harness.fleet.check import check_all

    inventory, devices = _devices(args)
    rows = asyncio.run(check_all(devices, inventory.known_hosts, args.accept_new, args.connect_timeout))
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print(_check_line(row))
    return 0 if all(r["usable"] for r in rows) else 1


def _check_line(row: dict) -> str:
    head = f"{row['name']} ({row['address']}, profile {row['profile']})"
    if not row["usable"]:
        return f"{head}: NOT USABLE: " + "; ".join(row["problems"])
    eb = row["edgebench"]
    runnable = ", ".join(f"{n} {v}" for n, v in row.get("backends", {}).items() if v) or "none"
    facts = row.get("facts") or {}
    return (f"{head}: ok; {row.get('os')}; {row.get('python')}; edgebench {eb['version']}"
            f"{' (' + eb['commit'] + ')' if eb.get('commit') else ''}; backends: {runnable}; "
            f"cpu {facts.get('cpu_model') or 'n/a'}; power source {row.get('power_source') or 'none'}")


def deploy_command(args: argparse.Namespace) -> int:
    import tempfile

    from harness.fleet.deploy import build_wheel

    inventory, devices = _devices(args)
    if args.wheelhouse and not Path(args.wheelhouse).is_dir():
        raise UsageError(f"--wheelhouse {args.wheelhouse} is not a folder of wheels")
    with tempfile.TemporaryDirectory(prefix="edgebench-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        print(f"built {wheel.path.name} ({wheel.commit or 'no git commit'})", file=sys.stderr)
        results = asyncio.run(_deploy_all(devices, inventory.known_hosts, args, wheel))
    for name, state in results:
        print(f"{name}: {state}")
    return 0 if all(not s.startswith("FAILED") for _, s in results) else 1


async def _deploy_all(devices, known_hosts: str, args: argparse.Namespace, wheel) -> list[tuple[str, str]]:
    from harness.fleet.deploy import deploy
    from harness.fleet.ssh import BoardError, connect

    async def one(device) -> tuple[str, str]:
        try:
            board = await connect(device, known_hosts, args.accept_new, args.connect_timeout)
        except BoardError as exc:
            return device.name, f"FAILED: {exc}"
        try:
            wheelhouse = Path(args.wheelhouse) if args.wheelhouse else None
            log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
            return device.name, await deploy(board, wheel, wheelhouse, args.offline, log)
        except BoardError as exc:
            return device.name, f"FAILED: {exc}"
        finally:
            await board.close()

    return list(await asyncio.gather(*(one(d) for d in devices)))


def _run_options(args: argparse.Namespace) -> dict:
    options = {"warmup": args.warmup, "min_iterations": args.min_iterations, "min_duration_s": args.min_duration,
               "max_duration_s": args.max_duration, "evaluation": args.evaluation}
    for name, value in options.items():
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_s', '').replace('_', '-')} must not be negative, found {value}")
    return {k: v for k, v in options.items() if v is not None}


def run_command(args: argparse.Namespace) -> int:
    from harness.fleet.queue import JobQueue
    from harness.fleet.run import FleetSettings, new_fleet_run, run_fleet

    if args.retries < 0 or args.retry_delay < 0:
        raise UsageError("--retries and --retry-delay must not be negative")
    out_dir(args)
    with JobQueue(store_path(args)) as queue:
        if args.resume:
            fleet_run_id, inventory, devices = _resumed(args, queue)
        else:
            if not args.suite:
                raise UsageError("give a suite file, or --resume to continue a fleet run")
            inventory, devices = _devices(args)
            fleet_run_id = new_fleet_run(queue, args.suite, inventory, devices, _run_options(args))
        options = queue.run_info(fleet_run_id)["options"]
    print(f"fleet run {fleet_run_id}: {len(devices)} board(s); store {store_path(args)}", file=sys.stderr)
    settings = FleetSettings(store_path=store_path(args), known_hosts=inventory.known_hosts,
                             accept_new=args.accept_new, retries=args.retries, retry_delay_s=args.retry_delay,
                             connect_timeout_s=args.connect_timeout, run_options=options["run_options"],
                             verbose=args.verbose)
    try:
        asyncio.run(run_fleet(fleet_run_id, devices, settings))
    except KeyboardInterrupt:
        print(f"edgebench: interrupted; every record a board finished and this controller received is stored. "
              f"Continue with: edgebench fleet run --resume {fleet_run_id} --out {out_dir(args)}", file=sys.stderr)
        return 130
    return _finish(args, fleet_run_id)


def _resumed(args: argparse.Namespace, queue):
    fleet_run_id = queue.latest_run() if args.resume == "latest" else args.resume
    info = queue.run_info(fleet_run_id) if fleet_run_id else None
    if info is None:
        raise UsageError(f"no fleet run {args.resume!r} in {store_path(args)}; 'edgebench fleet jobs' lists the latest")
    if args.suite:
        raise UsageError("--resume continues the jobs already planned; leave the suite out")
    inventory, devices = _devices(args, args.inventory or info["inventory"])
    planned = set(info["options"].get("devices") or [])
    devices = [d for d in devices if d.name in planned]
    return fleet_run_id, inventory, devices


def _finish(args: argparse.Namespace, fleet_run_id: str) -> int:
    from harness.fleet.queue import JobQueue
    from results.store import ResultStore

    with JobQueue(store_path(args)) as queue:
        jobs = queue.jobs(fleet_run_id)
        counts = queue.counts(fleet_run_id)
    run_ids = [r for j in jobs for r in j.run_ids]
    with ResultStore(store_path(args)) as store:
        records = [store.get(r, with_samples=False) for r in run_ids if store.has(r)]
    if args.json:
        print_json({"fleet_run_id": fleet_run_id, "jobs": [_job_dict(j) for j in jobs], "counts": counts,
                    "records": [r.to_dict() for r in records]})
    else:
        from reports.table import summary_table

        if records:
            print(summary_table(records))
        for j in jobs:
            if j.status == "failed":
                print(f"FAILED {j.device}: {j.label}: {j.last_error}")
        print(f"\nfleet run {fleet_run_id}: {counts['done']} job(s) done, {counts['failed']} failed, "
              f"{counts['pending'] + counts['running']} left; {len(records)} record(s) in {store_path(args)}")
    if args.report and records:
        _write_report(records, Path(args.report), store_path(args))
    return 0 if counts["failed"] == 0 and counts["pending"] + counts["running"] == 0 else 1


def _write_report(records: list, path: Path, store_file: Path) -> None:
    """The cross-device report of this fleet run's records (HTML, or Markdown for .md)."""
    from results.store import ResultStore

    with ResultStore(store_file) as store:
        samples = {r.run_id: store.samples(r.run_id) for r in records}
    if path.suffix.lower() == ".md":
        from reports.markdown import render
    else:
        from reports.html import render
    render(records, samples, path)
    print(f"report: {path.resolve()}", file=sys.stderr)


def _job_dict(job) -> dict:
    return {"job_id": job.job_id, "device": job.device, "label": job.label, "status": job.status,
            "attempts": job.attempts, "last_error": job.last_error, "run_ids": job.run_ids,
            "started_at": job.started_at, "finished_at": job.finished_at}


def jobs_command(args: argparse.Namespace) -> int:
    from harness.fleet.queue import JobQueue

    path = store_path(args, create=False)
    if not path.exists():
        raise UsageError(f"no result store at {path}: run 'edgebench fleet run' first, or pass --out DIR")
    with JobQueue(path) as queue:
        fleet_run_id = queue.latest_run() if args.fleet_run_id == "latest" else args.fleet_run_id
        if not fleet_run_id or queue.run_info(fleet_run_id) is None:
            raise UsageError(f"no fleet run {args.fleet_run_id!r} in {path}")
        jobs = queue.jobs(fleet_run_id)
    if args.json:
        print_json({"fleet_run_id": fleet_run_id, "jobs": [_job_dict(j) for j in jobs]})
        return 0
    print(f"fleet run {fleet_run_id}")
    for j in jobs:
        error = f"  ({j.last_error})" if j.last_error else ""
        print(f"  {j.device:<16} {j.status:<8} attempts {j.attempts}  {j.label}{error}")
    return 0
