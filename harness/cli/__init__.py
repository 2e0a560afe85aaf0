"""``edgebench`` command line. Each command lives in its own module of this package and exposes
``register(subparsers)``; the parser is assembled by discovery, so adding a command is adding a
module. Runtimes are never imported here: ``edgebench --help`` works with none installed."""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

from harness import __version__
from harness.errors import EdgebenchError

_HELPERS = {"common"}
#: exit status of an unexpected error (BSD sysexits EX_SOFTWARE): not the user's fault, please report
EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench",
        description="Benchmark a model across runtimes and precisions on this device: "
        "latency, memory, energy and quality side by side.",
    )
    parser.add_argument("--version", action="version", version=f"edgebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _HELPERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from results.store import StoreError

    try:
        return int(args.func(args) or 0)
    except EdgebenchError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except StoreError as exc:  # a garbage, damaged or newer store: the message says what to do
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgebench: interrupted; finished runs are saved", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgebench list | head`
        return 0
    except Exception as exc:  # the last resort: one line for the user, the traceback in a file
        return internal_error(exc, args)


def internal_error(exc: BaseException, args: argparse.Namespace) -> int:
    """One line naming the error and where its traceback went; the store is left as it was (every
    save is one transaction, so nothing half-written stays)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"internal-error-{stamp}-{os.getpid()}.txt"
    out = Path(getattr(args, "out", None) or os.environ.get("EDGEBENCH_OUT") or "out")
    where: Path | None = None
    for folder in (out / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"edgebench {__version__}\nargv: {sys.argv}\n\n{text}")
            where = folder / name
            break
        except OSError:
            continue
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    place = f"the traceback is in {where}" if where else "the traceback could not be written anywhere"
    print(f"edgebench: internal error: {summary} — {place}; please report it", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
