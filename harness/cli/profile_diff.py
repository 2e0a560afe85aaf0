"""``edgebench profile-diff RUN_A RUN_B``: where two profiled runs spend their time differently."""

from __future__ import annotations

import argparse

from harness.cli.common import add_json, add_out, print_json, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile-diff",
        help="compare the per-operator profiles of two runs (made with run --profile)",
        description="Per module and per op type: time per inference in A and in B and the ratio; the top "
        "contributors to a slowdown; the count and time of quantize/dequantize and layout conversions; the "
        "kernels that did not run at the requested precision; and one sentence that sums it up.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="run id (or unique prefix) of the reference, e.g. the fp32 run")
    p.add_argument("run_b", metavar="RUN_B", help="run id (or unique prefix) to explain against RUN_A")
    add_out(p)
    add_json(p)
    p.set_defaults(func=profile_diff_command)


def _label(record) -> str:
    return f"{record.precision} on {record.backend.get('name', '?')}"


def profile_diff_command(args: argparse.Namespace) -> int:
    from reports import recommend as rec
    from reports.profile import diff_lines
    from results.profile import diff, explain
    from results.store import ResultStore, StoreError

    try:
        with ResultStore(store_path(args, create=False), create=False) as store:
            a, b = store.get(args.run_a, with_samples=False), store.get(args.run_b, with_samples=False)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    for record in (a, b):
        if not isinstance(record.profile, dict):
            raise UsageError(f"run {record.run_id} ({_label(record)}) has no profile: re-run that configuration "
                             "with 'edgebench run … --profile' (or profile: true in the suite)")
    d = diff(a.profile, b.profile)
    pa, pb = rec.p50(a), rec.p50(b)
    slowdown = pb / pa if pa and pb else None
    sentence = explain(d, f"{_label(b)} vs {_label(a)}", slowdown)
    if args.json:
        print_json({"run_a": a.run_id, "run_b": b.run_id, "explanation": sentence,
                    "latency_ratio": slowdown, **d})
        return 0
    if a.model.get("name") != b.model.get("name"):
        print(f"note: the runs are of different models ({a.model.get('name')} and {b.model.get('name')})")
    print("\n".join(diff_lines(d, f"{_label(a)} ({a.run_id})", f"{_label(b)} ({b.run_id})", sentence)))
    return 0
