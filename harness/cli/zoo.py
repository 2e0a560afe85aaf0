"""``edgebench zoo list [--json]`` and ``edgebench zoo export NAME DIR``: the reference models."""

from __future__ import annotations

import argparse

from harness.cli.common import add_json, add_out, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="the reference model zoo: list the models, export one as ONNX")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    lp = zsub.add_parser("list", help="the zoo models, their inputs, outputs and modules")
    add_json(lp)
    add_out(lp)  # accepted everywhere for uniform scripts; the zoo writes nothing there
    lp.set_defaults(func=list_command)
    ep = zsub.add_parser("export", help="write NAME.onnx into DIR (same bytes every time)")
    ep.add_argument("name", metavar="NAME", help="zoo model name (see `edgebench zoo list`)")
    ep.add_argument("dir", metavar="DIR", help="folder to write NAME.onnx into (created if missing)")
    add_json(ep)
    add_out(ep)
    ep.set_defaults(func=export_command)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _describe(m) -> dict:
    return {
        "name": m.name,
        "description": m.description,
        "inputs": [s.to_dict() for s in m.inputs],
        "output_kinds": dict(m.output_kinds),
        "modules": list(m.modules),
    }


def list_command(args: argparse.Namespace) -> int:
    from harness import zoo

    rows = [_describe(zoo.get(n)) for n in zoo.names()]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        ins = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in r["inputs"])
        outs = ", ".join(f"{k} ({v})" for k, v in r["output_kinds"].items())
        print(f"{r['name']}: {r['description']}")
        print(f"  inputs:  {ins}")
        print(f"  outputs: {outs}")
        print(f"  modules: {', '.join(r['modules'])}")
    from harness.zoo import pipelines as zp

    for name in zp.names():
        p = zp.get(name)
        stages = ", ".join(f"{s.name} ({s.repeat})" for s in p.stages)
        print(f"{name} (pipeline, suite key `pipelines: [{{zoo: {name}}}]`): {p.description}")
        print(f"  stages:  {stages}; {p.chunk_seconds:g} s of media per chunk")
    return 0


def export_command(args: argparse.Namespace) -> int:
    from backends.base import file_sha256
    from harness import zoo

    path = zoo.get(args.name).export(args.dir)
    info = {"name": args.name, "path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}
    if args.json:
        print_json(info)
    else:
        print(f"{path}  {info['bytes']} bytes  sha256 {info['sha256']}")
    return 0
