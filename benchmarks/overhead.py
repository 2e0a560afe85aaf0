"""The harness's own cost, measured side by side in one run (a benchmark, not a test).

1. Median latency of an ONNX Runtime model through ``edgebench``'s runner vs a bare Python loop
   over the same session options and inputs: the ratio says how much the harness adds.
2. The null backend's per-iteration time: the runner's loop, feeding and result handling alone.

Rounds alternate (bare, harness, bare, harness, ...) so drift on a noisy machine hits both.
Usage: python benchmarks/overhead.py [--model zoo-name|path.onnx] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from harness.plan import RunPlan
from harness.runner import RunContext, run_plan
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings


def bare_loop_median_ms(model: Path, feeds: dict[str, np.ndarray], threads: int, iterations: int, warmup: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        session.run(None, feeds)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="talking-head", help="zoo model name or .onnx path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from backends.base import onnx_io_specs
    from harness import data, zoo

    out = Path(tempfile.mkdtemp(prefix="edgebench-overhead-"))
    if args.model.endswith(".onnx"):
        path, zoo_name = Path(args.model), None
    else:
        path, zoo_name = zoo.get(args.model).export(out / "zoo"), args.model
    specs = onnx_io_specs(path)[0]
    feeds = data.evaluation_set(zoo_name, specs, n=1, seed=0)[0]
    feeds = {s.name: np.asarray(feeds[s.name]).astype(s.dtype) for s in specs}
    # One window per run (rounds=1): this script alternates its own rounds between bare and harness.
    runner = RunnerSettings(rounds=1, warmup=20, min_iterations=args.iterations, min_duration_s=0.0,
                            max_duration_s=600.0, threads=args.threads, idle_s=0.0)
    spec = ModelSpec(name=path.stem, path=str(path), zoo=None)
    ctx = RunContext(out_dir=out)

    def harness_median(backend: str) -> float:
        plan = RunPlan(model=spec, backend=BackendSpec(backend), precision=PrecisionSpec("fp32"), runner=runner,
                       data=DataSettings(evaluation=0))
        record = run_plan(plan, ctx)
        if record.status != "ok":
            raise SystemExit(f"{backend} run failed: {record.reason}")
        return record.latency_ms["p50"]

    bare, harnessed, null = [], [], []
    for _ in range(args.rounds):
        bare.append(bare_loop_median_ms(path, feeds, args.threads, args.iterations, 20))
        harnessed.append(harness_median("onnxruntime"))
        null.append(harness_median("null"))
    b, h, n = statistics.median(bare), statistics.median(harnessed), statistics.median(null)
    print(f"model: {path.name}, threads {args.threads}, {args.iterations} iterations x {args.rounds} rounds")
    print(f"bare onnxruntime loop   median {b:8.3f} ms   (rounds: {', '.join(f'{x:.3f}' for x in bare)})")
    print(f"edgebench runner        median {h:8.3f} ms   (rounds: {', '.join(f'{x:.3f}' for x in harnessed)})")
    print(f"ratio harness / bare    {h / b:8.3f}")
    print(f"null backend per-iteration overhead {n * 1000:8.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
