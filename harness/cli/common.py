"""Options every command shares and the output folder they resolve to."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import UsageError


def add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder holding the store, the artifact cache and reports (default: $EDGEBENCH_OUT or ./out)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def out_dir(args: argparse.Namespace, create: bool = True) -> Path:
    path = Path(getattr(args, "out", None) or os.environ.get("EDGEBENCH_OUT") or "out")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UsageError(
                f"output folder {path} is not writable ({exc.strerror or exc}); "
                "pass --out DIR or set EDGEBENCH_OUT to a folder you can write"
            ) from exc
    return path


def store_path(args: argparse.Namespace, create: bool = True) -> Path:
    return out_dir(args, create) / "edgebench.sqlite"


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str, allow_nan=False)
    sys.stdout.write("\n")
