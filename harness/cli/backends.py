"""``edgebench backends``: which runtimes run here, with versions and devices, and why not."""

from __future__ import annotations

import argparse

from harness.cli.common import add_json, add_out, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backends", help="which backends run on this machine, and why not")
    add_json(p)
    add_out(p)  # accepted everywhere for uniform scripts; nothing is written
    p.set_defaults(func=backends_command)


def backends_command(args: argparse.Namespace) -> int:
    import backends

    rows = []
    for name, cls in backends.registry().items():
        availability = cls.probe()
        rows.append({"name": name, **availability.to_dict(), "formats": list(cls.source_formats),
                     "precisions": list(cls.precisions)})
    if args.json:
        print_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        if r["available"]:
            devices = ", ".join(r["devices"]) or "-"
            print(f"{r['name']:<{width}}  yes  {r['version'] or '?':<12} devices: {devices}")
            if r.get("reason"):
                print(f"{'':<{width}}       note: {r['reason']}")
        else:
            print(f"{r['name']:<{width}}  no   {r['reason']}")
    return 0
