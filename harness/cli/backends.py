"""``edgebench backends``: which runtimes run here, with versions and devices, and why not."""

from __future__ import annotations

import argparse

from harness.cli.common import add_json, add_out, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backends", help="which backends run on this machine, and why not")
    add_json(p)
    p.add_argument("--with-cpu", action="store_true",
                   help="with --json: an object with the CPU's precision features and the backend list")
    add_out(p)  # accepted everywhere for uniform scripts; nothing is written
    p.set_defaults(func=backends_command)


def backends_command(args: argparse.Namespace) -> int:
    import backends
    from devices.environment import cpu_info

    cpu = cpu_info()["precision_features"]
    rows = []
    for name, cls in backends.registry().items():
        availability = cls.probe()
        rows.append({"name": name, **availability.to_dict(), "formats": list(cls.source_formats),
                     "precisions": list(cls.precisions), "precisions_here": cls.native_precisions(cpu)})
    if args.json:
        print_json({"cpu_precision_features": cpu, "backends": rows} if args.with_cpu else rows)
        return 0
    print(cpu_features_line(cpu))
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        if r["available"]:
            devices = ", ".join(r["devices"]) or "-"
            print(f"{r['name']:<{width}}  yes  {r['version'] or '?':<12} devices: {devices}")
            if r.get("reason"):
                print(f"{'':<{width}}       note: {r['reason']}")
        else:
            print(f"{r['name']:<{width}}  no   {r['reason']}")
            continue
        here = r["precisions_here"]
        native = [p for p, how in here.items() if how == "native"]
        print(f"{'':<{width}}       native here: {', '.join(native) or 'none'}")
        for p, how in here.items():
            if how != "native":
                print(f"{'':<{width}}       {p}: {how}")
    return 0


def cpu_features_line(cpu: dict) -> str:
    """One line: the CPU features that decide precision speed, and the precisions it computes natively."""
    feats = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["features"].items())
    return f"CPU ({cpu['arch']}): {feats}; native precisions: {', '.join(cpu['native'])}"
