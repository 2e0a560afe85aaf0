"""``edgebench`` command line. Each command lives in its own module of this package and exposes
``register(subparsers)``; the parser is assembled by discovery, so adding a command is adding a
module. Runtimes are never imported here: ``edgebench --help`` works with none installed."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from harness import __version__
from harness.errors import EdgebenchError

_HELPERS = {"common"}


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
    try:
        return int(args.func(args) or 0)
    except EdgebenchError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgebench: interrupted; finished runs are saved", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgebench list | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
