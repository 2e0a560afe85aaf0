"""``edgebench import FILE.json``: edgebench records (``export --format json``, or the fallback file a
run writes when it cannot save to the store, e.g. on a full disk) back into a store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import add_out, store_path
from harness.errors import UsageError

#: a record with its raw samples is a few MB at most; an export of thousands of runs stays well below
MAX_IMPORT_BYTES = 512 * 1024 * 1024
_REQUIRED = {"run_id": str, "status": str, "precision": str, "model": dict, "backend": dict, "device": dict}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import edgebench records (export --format json, or a run's fallback file)",
                       description="Store runs from edgebench JSON: the output of 'export --format json', or the "
                       "file a run writes next to the store when it cannot save (e.g. the disk was full). "
                       "A run already stored under the same id is replaced by the imported copy.")
    p.add_argument("paths", nargs="+", metavar="FILE.json")
    add_out(p)
    p.set_defaults(func=import_command)


def read_records(path: Path) -> list[Any]:
    """The records of one file, each checked; every problem is a UsageError naming the file and entry."""
    from harness.textio import read_text
    from results.schema import RunRecord

    text = read_text(path, MAX_IMPORT_BYTES, what="JSON file")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc}); expected the output of 'edgebench export "
                         "--format json' or a run's fallback file") from exc
    items = doc if isinstance(doc, list) else [doc]
    records = []
    for i, item in enumerate(items):
        where = f"{path}: entry {i}" if isinstance(doc, list) else str(path)
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected a run record (a JSON object), found {type(item).__name__}")
        for key, kind in _REQUIRED.items():
            if not isinstance(item.get(key), kind):
                raise UsageError(f"{where}: field {key!r} must be {'text' if kind is str else 'an object'}, "
                                 f"found {item.get(key)!r:.80}; is this an edgebench record?")
        try:
            records.append(RunRecord.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: not an edgebench run record ({exc})") from exc
    return records


def import_command(args: argparse.Namespace) -> int:
    from results.store import ResultStore

    records = [r for p in args.paths for r in read_records(Path(p))]
    if not records:
        raise UsageError(f"nothing to import from {', '.join(args.paths)}: the files hold no records")
    path = store_path(args)
    with ResultStore(path) as store:
        for record in records:
            store.save(record)
    print(f"imported {len(records)} run(s) into {path}; see them with 'edgebench list --out {path.parent}'")
    return 0
