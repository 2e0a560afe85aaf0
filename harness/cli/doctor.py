"""``edgebench doctor``: what on this machine would make benchmark numbers unreliable, and how to fix each."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_json, add_out, print_json
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check this machine for what makes timing unreliable, with fixes",
                       description="List what would make numbers unreliable here (CPU governor, turbo/boost, load, "
                       "busy processes, hypervisor steal, core pinning) and how to fix each. Exit 0 either way: "
                       "it advises, it does not gate.")
    p.add_argument("--wait-quiet", type=float, metavar="S", default=None,
                   help="first wait (at most S seconds) until no other process is busy and steal is low, as "
                   "`make bench` does")
    add_json(p)
    add_out(p)
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from devices import stability

    waited = None
    if args.wait_quiet is not None:
        if args.wait_quiet < 0:
            raise UsageError(f"--wait-quiet must not be negative, found {args.wait_quiet}")
        waited = stability.wait_for_quiet(args.wait_quiet)
        if not args.json:
            state = "quiet" if waited["quiet"] else f"not quiet ({waited['reason']})"
            print(f"waited {waited['waited_s']:.0f} s for a quiet machine: {state}", file=sys.stderr)
    findings = stability.check()
    if args.json:
        print_json({"wait": waited, "findings": [f.to_dict() for f in findings]})
        return 0
    warns = [f for f in findings if f.severity == "warn"]
    print(f"{len(warns)} thing(s) here would make numbers unreliable" if warns
          else "nothing found that would make numbers unreliable")
    for f in findings:
        mark = "!" if f.severity == "warn" else "-"
        print(f" {mark} {f.what}: {f.detail}\n     fix: {f.fix}")
    return 0
