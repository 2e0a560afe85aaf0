"""The best int8 recipe each runtime's search finds, against the same runtime's fp32, in one interleaved run.

    .venv/bin/python benchmarks/recipes.py [--models talking-head foley] [--backends onnxruntime openvino litert]
        [--floor "sqnr_db >= 25"] [--budget-s 900] [--threads 1] [--rounds 5] [--iterations 200]
        [--calibration 32] [--evaluation 4] [--out out/recipes] [--json out/recipes.json]

Per zoo model and runtime:

1. the recipe search (``edgebench tune``'s code: each recipe a stored run, resumable from ``--out``)
   picks the fastest recipe that meets the floor (its fidelity is the search's, on the evaluation set);
2. that recipe's artifact and the fp32 artifact are loaded side by side in this process and timed in
   alternating rounds (fp32 block, int8 block, ...) of ``--iterations`` calls each, so drift on a
   busy machine hits both; the figure is the median over all calls, the ratio fp32 / int8.

Run it on a quiet machine; one run of a shared 2-core VM moves by more than 10 %. Check the script with
tiny settings: ``--budget-s 60 --rounds 1 --iterations 5 --calibration 4 --evaluation 2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends import get_backend  # noqa: E402
from backends.base import Artifact  # noqa: E402
from harness.plan import RunPlan  # noqa: E402
from harness.quant.auto import parse_floor  # noqa: E402
from harness.quant.tune import tune  # noqa: E402
from harness.runner import RunContext, run_plans  # noqa: E402
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings  # noqa: E402
from reports import quant  # noqa: E402
from results.store import ResultStore  # noqa: E402


def search(model: str, backend: str, args: argparse.Namespace, store: ResultStore, ctx: RunContext) -> list[Any]:
    runner = RunnerSettings(warmup=3, min_iterations=20, min_duration_s=0.5, max_duration_s=5.0, timeout_s=1800.0,
                            rounds=3, threads=args.threads, idle_s=0.0)
    data = DataSettings(calibration=args.calibration, evaluation=args.evaluation)
    base = RunPlan(ModelSpec(name=model, zoo=model), BackendSpec(backend), PrecisionSpec("fp32"), runner, data,
                   suite=f"recipes-{model}")

    def plan_for(precision: str, settings: dict[str, Any]) -> RunPlan:
        return dataclasses.replace(base, precision=PrecisionSpec(precision, dict(settings)))

    def run(plans: list[RunPlan], infos: list[dict[str, Any]]) -> list[Any]:
        records: list[Any] = [None] * len(plans)
        for i, record in run_plans(plans, ctx):
            record.extra["tune"] = infos[i]
            store.save(record)
            records[i] = record
        return records

    def existing(key: str) -> Any:
        found = [r for r in store.records(model=model, backend=backend)
                 if (r.extra.get("tune") or {}).get("key") == key]
        return found[-1] if found else None

    outcome = tune(plan_for, backend, model, run, existing, parse_floor(args.floor), args.budget_s,
                   log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    return outcome.records


def _artifact(record: Any) -> Artifact:
    a = record.artifact
    return Artifact(Path(a["path"]), a["format"], a["precision"], a["source_sha256"], a["bytes"], a["metadata"])


def interleaved(backend: str, records: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """Median latency (ms) of each record's artifact, timed in alternating rounds in this process."""
    from harness import data, zoo
    from harness.runner import as_model_dtype

    loaded = {}
    for name, record in records.items():
        b = get_backend(backend)({"threads": args.threads} if args.threads else {})
        b.load(_artifact(record))
        loaded[name] = b
    any_backend = next(iter(loaded.values()))
    specs = [s if s.dtype not in ("int8", "uint8") else dataclasses.replace(s, dtype="float32")
             for s in any_backend.inputs()]
    feeds = data.evaluation_set(zoo.get(next(iter(records.values())).model["name"]), specs, n=1, seed=11)[0]
    times: dict[str, list[int]] = {n: [] for n in loaded}
    for b in loaded.values():  # warm-up, outside the timed rounds
        prepared = as_model_dtype(feeds, b.inputs())
        for _ in range(max(3, args.iterations // 10)):
            b.infer(prepared)
    for _ in range(args.rounds):
        for name, b in loaded.items():
            prepared = as_model_dtype(feeds, b.inputs())
            for _ in range(args.iterations):
                t0 = time.perf_counter_ns()
                b.infer(prepared)
                times[name].append(time.perf_counter_ns() - t0)
    for b in loaded.values():
        b.close()
    return {n: statistics.median(t) / 1e6 for n, t in times.items()}


def one(model: str, backend: str, args: argparse.Namespace, store: ResultStore, ctx: RunContext) -> dict[str, Any]:
    print(f"{model} · {backend}: recipe search", file=sys.stderr, flush=True)
    records = search(model, backend, args, store, ctx)
    section = quant.build([], records)
    pick = next((t for t in section.tune if t.fastest_meeting_floor), None)
    fp32 = next((r for r in records if r.precision == "fp32" and r.status == "ok"), None)
    row: dict[str, Any] = {"model": model, "backend": backend, "floor": args.floor, "headline": section.headline}
    if fp32 is None or pick is None:
        row["reason"] = "fp32 did not run" if fp32 is None else f"no recipe meets {args.floor}"
        return row
    best = next(r for r in records if r.run_id == pick.run_id)
    medians = interleaved(backend, {"fp32": fp32, "best": best}, args)
    row.update(recipe=best.extra["tune"]["label"], recipe_text=pick.recipe, fidelity=pick.figure,
               fp32_p50_ms=round(medians["fp32"], 3), best_p50_ms=round(medians["best"], 3),
               speedup=round(medians["fp32"] / medians["best"], 3),
               compute_nodes=((best.artifact or {}).get("metadata") or {}).get("compute_nodes"))
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["talking-head", "foley"])
    p.add_argument("--backends", nargs="+", default=["onnxruntime", "openvino", "litert"])
    p.add_argument("--floor", default="sqnr_db >= 25")
    p.add_argument("--budget-s", type=float, default=None, help="per model and backend")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--calibration", type=int, default=32)
    p.add_argument("--evaluation", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path("out/recipes"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    ctx = RunContext(out_dir=args.out)
    rows = []
    with ResultStore(args.out / "edgebench.sqlite") as store:
        for model in args.models:
            for backend in args.backends:
                if not get_backend(backend).probe().available:
                    rows.append({"model": model, "backend": backend, "reason": "backend not available here"})
                    continue
                rows.append(one(model, backend, args, store, ctx))
    print("| model | runtime | best recipe (search) | fp32 p50 ms | int8 p50 ms | speed-up | fidelity | int8 nodes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "speedup" not in r:
            print(f"| {r['model']} | {r['backend']} | n/a ({r.get('reason')}) | | | | | |")
            continue
        nodes = r.get("compute_nodes") or {}
        print(f"| {r['model']} | {r['backend']} | {r['recipe']} | {r['fp32_p50_ms']:.2f} | {r['best_p50_ms']:.2f} | "
              f"{r['speedup']:.2f}× | {r['fidelity']:.1f} | {nodes.get('quantized')}/{nodes.get('total')} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
