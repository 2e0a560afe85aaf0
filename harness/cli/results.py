"""``edgebench list``, ``show RUN_ID`` and ``export``: the stored runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli.common import add_json, add_out, print_json, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list stored runs")
    _filters(p)
    add_out(p)
    add_json(p)
    p.set_defaults(func=list_command)

    p = sub.add_parser("show", help="one stored run in full")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    p.add_argument("--samples", action="store_true", help="include raw samples (per-iteration latencies, traces)")
    add_out(p)
    add_json(p)
    p.set_defaults(func=show_command)

    p = sub.add_parser("export", help="export stored runs as csv, json or parquet")
    p.add_argument("--format", choices=("csv", "json", "parquet"), required=True)
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout for csv/json)")
    p.add_argument("--profiles", action="store_true",
                   help="export the per-operator profile rows of the selected runs instead of the runs")
    _filters(p)
    add_out(p)
    p.set_defaults(func=export_command)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", metavar="NAME")
    p.add_argument("--model", metavar="NAME")
    p.add_argument("--backend", metavar="NAME")
    p.add_argument("--precision", metavar="NAME")
    p.add_argument("--device", metavar="NAME")
    p.add_argument("--status", choices=("ok", "failed", "skipped"))
    p.add_argument("--since", metavar="DATE", help="ISO date or time, e.g. 2026-11-01")


def _open(args: argparse.Namespace):
    from results.store import ResultStore, StoreError

    path = store_path(args, create=False)
    try:
        return ResultStore(path, create=False)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc


def _records(args: argparse.Namespace):
    with _open(args) as store:
        return store.records(suite=args.suite, model=args.model, backend=args.backend, precision=args.precision,
                             device=args.device, status=args.status, since=args.since)


def list_command(args: argparse.Namespace) -> int:
    from reports.table import summary_table

    records = _records(args)
    if args.json:
        print_json([r.to_dict() for r in records])
    elif not records:
        print("no runs stored yet: run 'edgebench run suites/quick.yaml'")
    else:
        print(summary_table(records, with_ids=True))
    return 0


def show_command(args: argparse.Namespace) -> int:
    from results.store import StoreError

    with _open(args) as store:
        try:
            record = store.get(args.run_id, with_samples=args.samples)
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
    d = record.to_dict(with_samples=args.samples)
    if args.json:
        print_json(d)
        return 0
    from results.schema import flatten

    profile = d.get("profile") or {}
    if profile.get("rows"):  # hundreds of node rows: summarised here, in full with --json or export --profiles
        d["profile"] = {k: v for k, v in profile.items() if k not in ("rows", "by_op_type", "off_precision")}
        d["profile"]["rows"] = (f"{len(profile['rows'])} nodes: 'edgebench show {record.run_id} --json', "
                                "'edgebench export --profiles' or 'edgebench profile-diff RUN_A RUN_B'")
    for key, value in flatten(d).items():
        if key.startswith(("environment.packages", "samples")):
            continue
        print(f"{key:<44} {value}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    if getattr(args, "profiles", False):
        return _export_profiles(args)
    with _open(args) as store:
        records = store.records(suite=args.suite, model=args.model, backend=args.backend, precision=args.precision,
                                device=args.device, status=args.status, since=args.since)
        frame = store.query(suite=args.suite, model=args.model, backend=args.backend, precision=args.precision,
                            device=args.device, status=args.status, since=args.since)
    if args.format == "json":
        text = json.dumps([r.to_dict() for r in records], indent=2, default=str, allow_nan=False)
        _write_text(text + "\n", args.output)
    elif args.format == "csv":
        _write_text(frame.to_csv(index=False), args.output)
    else:
        if not args.output:
            raise UsageError("parquet is binary: give -o FILE.parquet")
        try:
            frame.to_parquet(args.output, index=False)
        except ImportError as exc:
            raise UsageError(f"parquet export needs pyarrow ({exc}); pip install pyarrow") from exc
    if args.output:
        print(f"exported {len(records)} run(s) to {args.output}", file=sys.stderr)
    return 0


def _export_profiles(args: argparse.Namespace) -> int:
    """One row per runtime node of each selected profiled run (run_id, model, backend, precision, device first)."""
    import pandas as pd

    with _open(args) as store:
        records = store.records(suite=args.suite, model=args.model, backend=args.backend, precision=args.precision,
                                device=args.device, status=args.status, since=args.since)
        rows = store.profile_rows([r.run_id for r in records]) if records else []
    if args.format == "json":
        _write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n", args.output)
    else:
        first = ["run_id", "model", "backend", "precision", "device"]
        frame = pd.DataFrame(rows, columns=first + [c for c in (rows[0] if rows else {}) if c not in first])
        frame["source_nodes"] = frame["source_nodes"].map(lambda v: ";".join(v) if isinstance(v, list) else v)
        if args.format == "csv":
            _write_text(frame.to_csv(index=False), args.output)
        else:
            if not args.output:
                raise UsageError("parquet is binary: give -o FILE.parquet")
            try:
                frame.to_parquet(args.output, index=False)
            except ImportError as exc:
                raise UsageError(f"parquet export needs pyarrow ({exc}); pip install pyarrow") from exc
    if args.output:
        runs = len({r["run_id"] for r in rows})
        print(f"exported {len(rows)} profile row(s) of {runs} run(s) to {args.output}", file=sys.stderr)
    return 0


def _write_text(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)
