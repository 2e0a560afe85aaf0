"""``edgebench tune``: search a bounded set of int8 recipes per backend for one model (or a suite's
models), store each as an ordinary run, and show the latency-vs-fidelity Pareto front with the
fastest recipe that meets the quality floor."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from harness.cli.common import add_json, add_out, out_dir, print_json, store_path
from harness.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="search int8 recipes per backend: Pareto front of speed vs fidelity",
                       description="Try each backend's bounded set of int8 recipes (format, granularity, "
                       "calibration, op types, presets) on a model, store every try as a run, and mark the "
                       "fastest recipe that meets the quality floor. Re-running resumes from the store.")
    p.add_argument("target", metavar="MODEL|SUITE", help="a model file, a zoo model name, or a suite YAML "
                   "(its tune: section gives budget_s, floor, recipes)")
    p.add_argument("--backend", action="append", metavar="NAME", help="backend to tune (repeatable)")
    p.add_argument("--budget-s", type=float, metavar="S", help="stop starting new recipes after S seconds")
    p.add_argument("--floor", metavar="SPEC", help="quality floor: SQNR dB, 'metric >= value' or 'gate:NAME' "
                   "(default: sqnr_db >= 25)")
    p.add_argument("--recipe", action="append", metavar="LABEL", help="only these recipes (repeatable)")
    p.add_argument("--calib", metavar="DIR", help="calibration samples: a folder of .npy/.npz files")
    p.add_argument("--calibration", type=int, metavar="N", help="calibration samples (default: the suite's)")
    p.add_argument("--evaluation", type=int, metavar="N", help="evaluation samples for fidelity (default 4)")
    p.add_argument("--threads", type=int, metavar="N")
    p.add_argument("--min-iterations", type=int, metavar="N")
    p.add_argument("--max-duration", type=float, metavar="S")
    p.add_argument("--rounds", type=int, metavar="N", help="timed rounds per recipe, interleaved across recipes")
    p.add_argument("--report", metavar="FILE", help="also write a report (HTML, or .md) of the tried recipes")
    add_out(p)
    add_json(p)
    p.set_defaults(func=tune_command)


def _suite(args: argparse.Namespace):
    from harness import zoo
    from harness.suite import load_suite, parse_suite

    target = Path(args.target)
    if target.suffix.lower() in (".yaml", ".yml"):
        suite = load_suite(target)
    elif target.is_file():
        suite = parse_suite({"name": f"tune-{target.stem}", "models": [{"path": str(target.resolve())}],
                             "backends": args.backend or ["onnxruntime"]}, source="the command line")
    elif args.target in zoo.names():
        suite = parse_suite({"name": f"tune-{args.target}", "models": [{"zoo": args.target}],
                             "backends": args.backend or ["onnxruntime"]}, source="the command line")
    else:
        raise UsageError(f"{args.target}: not a model file, a suite YAML or a zoo model ({', '.join(zoo.names())})")
    data = {"evaluation": args.evaluation if args.evaluation is not None else max(suite.data.evaluation, 4)}
    if args.calibration is not None:
        data["calibration"] = args.calibration
    if args.calib:
        data["calibration_dir"] = args.calib
    if data["evaluation"] <= 0:
        raise UsageError("tune scores every recipe against fp32: --evaluation must be at least 1")
    return dataclasses.replace(suite, data=dataclasses.replace(suite.data, **data))


def tune_command(args: argparse.Namespace) -> int:
    from devices.environment import capture_environment
    from devices.profiles import resolve
    from harness import __version__
    from harness.plan import RunPlan, expand
    from harness.quant.auto import parse_floor
    from harness.quant.tune import tune
    from harness.runner import RunContext, run_plans
    from harness.suite import BackendSpec, PrecisionSpec
    from results.store import ResultStore

    suite = _suite(args)
    settings = suite.tune
    floor = parse_floor(args.floor if args.floor is not None else settings.get("floor"), suite.gates)
    budget = args.budget_s if args.budget_s is not None else settings.get("budget_s")
    backend_names = args.backend or settings.get("backends") or [b.name for b in suite.backends]
    profile = resolve("host")
    overrides = {"threads": args.threads, "min_iterations": args.min_iterations, "max_duration_s": args.max_duration,
                 "rounds": args.rounds}
    base_plans = expand(dataclasses.replace(suite, precisions=[PrecisionSpec("fp32")]), profile.name, overrides,
                        profile.runner_defaults)
    out = out_dir(args)
    ctx = RunContext(out_dir=out, environment=capture_environment(__version__),
                     device={"name": profile.name, **profile.facts()})
    outcomes = []
    with ResultStore(store_path(args)) as store:
        for model in suite.models:
            base = next(p for p in base_plans if p.model is model)
            for name in backend_names:
                spec = next((b for b in suite.backends if b.name == name), BackendSpec(name))

                def plan_for(precision: str, recipe: dict[str, Any], spec=spec, base=base) -> RunPlan:
                    return dataclasses.replace(base, backend=spec, precision=PrecisionSpec(precision, dict(recipe)),
                                               suite=f"tune-{base.model.name}")

                def run(plans: list[RunPlan], infos: list[dict[str, Any]]) -> list[Any]:
                    records: list[Any] = [None] * len(plans)
                    for i, record in run_plans(plans, ctx):
                        record.extra["tune"] = infos[i]
                        store.save(record)
                        records[i] = record
                    return records

                wanted = settings.get("recipes")
                if isinstance(wanted, dict):
                    wanted = wanted.get(name)
                outcomes.append(tune(plan_for, name, model.name, run, _finder(store, model.name, name), floor, budget,
                                     args.recipe or wanted, log=lambda m: print(m, file=sys.stderr, flush=True)))
    return _show(outcomes, args, store_path(args))


def _finder(store: Any, model: str, backend: str) -> Any:
    def existing(key: str) -> Any:
        found = [r for r in store.records(model=model, backend=backend)
                 if (r.extra.get("tune") or {}).get("key") == key]
        return found[-1] if found else None

    return existing


def _show(outcomes: list[Any], args: argparse.Namespace, store_file: Path) -> int:
    from reports import model as rm
    from reports import quant

    summary = []
    for o in outcomes:
        section = quant.build([], o.records)
        fp32 = next((t for t in section.tune if t.config.endswith("· fp32") and t.p50_ms), None)
        rows = [{"recipe": t.config, "settings": t.recipe, "status": t.status, "reason": t.reason,
                 "p50_ms": t.p50_ms, "speedup_vs_fp32": round(fp32.p50_ms / t.p50_ms, 3)
                 if fp32 and t.p50_ms else None, "fidelity": t.figure, "artifact_bytes": t.artifact_bytes,
                 "pareto": t.on_front, "fastest_meeting_floor": t.fastest_meeting_floor} for t in section.tune]
        summary.append({"model": o.model, "backend": o.backend, "floor": o.floor, "headline": section.headline,
                        "reused_runs": o.reused, "not_tried_budget": o.not_tried, "recipes": rows})
    if args.json:
        print_json(summary)
    else:
        for s in summary:
            print(f"\n{s['model']} · {s['backend']} (floor {s['floor']}): {s['headline'] or ''}")
            for r in s["recipes"]:
                if r["status"] != "ok":
                    print(f"  {r['recipe']:<45} {r['status']}: {r['reason']}")
                    continue
                mark = " ← fastest meeting the floor" if r["fastest_meeting_floor"] else ""
                front = "front" if r["pareto"] else "     "
                speed = f"{r['speedup_vs_fp32']:.2f}x" if r["speedup_vs_fp32"] else "n/a"
                print(f"  {r['recipe']:<45} {rm.fmt_value(r['p50_ms'], 'ms'):>10} {speed:>7} "
                      f"{rm.fmt_value(r['fidelity'], ''):>8} {front}{mark}")
            if s["not_tried_budget"]:
                print(f"  budget spent: not tried {', '.join(s['not_tried_budget'])} (run again to resume)")
    if args.report:
        from harness.cli.run import _write_report

        _write_report([r for o in outcomes for r in o.records], Path(args.report), store_file)
    return 0
