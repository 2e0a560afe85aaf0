"""``edgebench report``: one self-contained HTML page (or a Markdown summary) of stored runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli._sources import SOURCE_HELP, load
from harness.cli.common import add_out, out_dir, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render stored runs as a self-contained HTML report (or Markdown) with a recommendation",
        description="Render runs of the store as one self-contained HTML file (inline CSS and SVG charts, no "
        "network, printable) or a Markdown summary: the matrix model × backend × precision, charts, and per "
        "device and model which configuration to ship and why. Filters combine (all must hold).",
        epilog=f"Examples: edgebench report -o out/report.html; edgebench report --suite quick --format md -o "
        f"summary.md; edgebench report --from exported.json -o r.html. --from takes {SOURCE_HELP}.",
    )
    p.add_argument("--suite", metavar="NAME", help="only runs of this suite")
    p.add_argument("--runs", metavar="ID", nargs="+", help="only these runs (ids or unique prefixes)")
    p.add_argument("--since", metavar="DATE", help="only runs created at or after this ISO date/time")
    p.add_argument("--device", metavar="NAME", help="only runs on this device profile")
    p.add_argument("--model", metavar="NAME", help="only runs of this model")
    p.add_argument("--from", dest="source", metavar="SOURCE",
                   help="read runs from here instead of the store of --out (a folder, store file or JSON export)")
    p.add_argument("--format", choices=("html", "md"), default=None,
                   help="html (default) or md; inferred from -o's extension when not given")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default: OUT/report.html or .md)")
    p.add_argument("--title", metavar="TEXT", help="the report's title (default: suite and devices)")
    add_out(p)
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    fmt = args.format
    if fmt is None:
        fmt = "md" if args.output and Path(args.output).suffix.lower() in (".md", ".markdown") else "html"
    output = Path(args.output) if args.output else out_dir(args) / f"report.{fmt}"
    filters = {"suite": args.suite, "since": args.since, "device": args.device, "model": args.model,
               "run": ",".join(args.runs) if args.runs else None}
    loaded = load(args.source or "", store_path(args, create=False),
                  extra=filters, with_samples=(fmt == "html"))
    if not loaded.records:
        asked = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "no filter"
        where = loaded.label or str(store_path(args, create=False))
        raise UsageError(f"no runs match ({asked}) in {where}: 'edgebench list' shows what is stored")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "md":
            from reports.markdown import render as render_md

            render_md(loaded.records, loaded.samples, output, title=args.title)
        else:
            from reports.html import render as render_html

            render_html(loaded.records, loaded.samples, output, title=args.title)
    except OSError as exc:
        why = exc.strerror or exc
        raise UsageError(f"cannot write the report to {output} ({why}); choose another -o FILE") from exc
    print(f"report of {len(loaded.records)} run(s) written to {output}")
    return 0
