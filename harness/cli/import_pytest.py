"""``edgebench import-pytest``: pytest-benchmark results into the store, for list/report/compare."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_json, add_out, print_json, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-pytest",
        help="import pytest-benchmark JSON into the store",
        description="Import pytest-benchmark results (a --benchmark-json file, or the storage folder that "
        "--benchmark-autosave fills, .benchmarks by default) as runs, so 'edgebench list', 'report' and "
        "'compare' work on them. Importing the same file twice adds nothing.",
    )
    p.add_argument("paths", nargs="+", metavar="FILE.json|STORAGE_DIR", help="pytest-benchmark JSON files or folders")
    p.add_argument("--all", action="store_true",
                   help="also import benchmarks edgebench's plugin did not write (test name as the model)")
    p.add_argument("--suite", metavar="NAME", help="store the runs under this suite name (default: the case's suite)")
    add_out(p)
    add_json(p)
    p.set_defaults(func=import_pytest_command)


def import_pytest_command(args: argparse.Namespace) -> int:
    from results.pytest_import import PytestImportError, import_paths
    from results.store import ResultStore

    try:
        result = import_paths(args.paths, include_foreign=args.all)
    except PytestImportError as exc:
        raise UsageError(str(exc)) from exc
    if not result.records:
        why = "\n  ".join(result.left_out[:10]) or "the files hold no benchmarks"
        raise UsageError(f"nothing to import from {', '.join(args.paths)}:\n  {why}")
    path = store_path(args)
    saved, already = [], []
    with ResultStore(path) as store:
        for record in result.records:
            if args.suite:
                record.suite = args.suite
            if _already_there(store, record):
                already.append(record.run_id)
                continue
            store.save(record)
            saved.append(record.run_id)
    if args.json:
        print_json({"imported": saved, "already_stored": already, "files": [str(f) for f in result.files],
                    "left_out": result.left_out, "store": str(path)})
        return 0
    for line in result.left_out:
        print(f"left out: {line}", file=sys.stderr)
    note = f" ({len(already)} already stored)" if already else ""
    print(f"imported {len(saved)} run(s){note} from {len(result.files)} file(s) into {path}; see them with "
          f"'edgebench list --out {path.parent}'")
    return 0


def _already_there(store, record) -> bool:
    """The same benchmark can sit in a --benchmark-json file and in the storage folder; the copy with raw
    latency samples wins, otherwise the first one imported stays."""
    from results.store import StoreError

    try:
        stored = store.get(record.run_id, with_samples=True)
    except StoreError:
        return False
    if stored.run_id != record.run_id:  # a prefix match of another run
        return False
    return bool(stored.samples.get("latency_ms")) or not record.samples.get("latency_ms")
