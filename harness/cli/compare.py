"""``edgebench compare BASE NEW``: what changed between two result sets, and did anything regress."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli._sources import SOURCE_HELP, load
from harness.cli.common import add_json, add_out, print_json, store_path
from harness.errors import RegressionFound, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two result sets (commits, devices, library versions); exit 4 on a regression",
        description="Match the runs of BASE and NEW by configuration (model, backend, precision, and the device "
        "when both sides share one), test each latency change on the per-iteration samples (Mann-Whitney U and a "
        "bootstrap 95%% CI of the median ratio), and apply --fail-on rules. Exit status: 0 no regression, "
        "4 regression (a rule tripped with a significant change, or a configuration that ran in BASE failed in "
        "NEW), 2 bad input.",
        epilog=f"BASE and NEW: {SOURCE_HELP}. Examples: edgebench compare old-out/ out/ --fail-on p50:5%%; "
        "edgebench compare suite:nightly+commit:ab12 suite:nightly+commit:cd34 -o cmp.html; "
        "edgebench compare pkg:onnxruntime=1.30.0 pkg:onnxruntime=1.31.0 --json.",
    )
    p.add_argument("base", metavar="BASE", help="the reference result set")
    p.add_argument("new", metavar="NEW", help="the result set to check against BASE")
    p.add_argument("--fail-on", metavar="SPEC", default=None,
                   help="regression rules FIELD:LIMIT[,…]: LIMIT a percentage or an amount with a unit, e.g. "
                   "'p50:5%%,energy_j:10%%,mean:0.5ms,peak_rss_bytes:20MiB,sqnr_db:1dB'. Fields: p50 p90 p95 p99 "
                   "mean min max std throughput_ips load_s first_inference_ms peak_rss_bytes artifact_bytes energy_j "
                   "energy_per_inference_mj mean_w peak_w sqnr_db cosine lse_d lse_c mos")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the latency tests (default 0.05)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the comparison as FILE.html or FILE.md")
    add_json(p)
    add_out(p)
    p.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from results.compare import CompareError, compare

    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, found {args.alpha}")
    if args.output and Path(args.output).suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
        raise UsageError(f"-o {args.output}: expected a file ending in .html or .md")
    default_store = store_path(args, create=False)
    base = load(args.base, default_store)
    new = load(args.new, default_store)
    try:
        result = compare(base.records, new.records, base.samples, new.samples, args.fail_on,
                         base_label=args.base, new_label=args.new, alpha=args.alpha)
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() in (".md", ".markdown"):
            from reports.markdown import render_comparison as render_md

            render_md(result, out)
        else:
            from reports.html import render_comparison as render_html

            render_html(result, out)
    if args.json:
        print_json(result.to_dict())
    else:
        from reports.markdown import render_comparison as render_md

        print(render_md(result))
        if args.output:
            print(f"comparison written to {args.output}")
    if result.has_regression:
        lines = result.regressions or ["see the table above"]
        raise RegressionFound(f"{len(lines)} regression(s) from {args.base} to {args.new}:\n  " + "\n  ".join(lines))
    if args.json:
        return 0
    print("no regression", file=sys.stderr)
    return 0
