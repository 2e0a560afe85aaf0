"""edgebench's latency vs the vendors' own benchmark tools, on the same model, threads and precision.

    .venv/bin/python benchmarks/vendor_tools.py [--models DIR_OR_FILES...] [--threads 1]
        [--iterations 300] [--warmup 30] [--json out/vendor_tools.json]

For each model (default: the MLPerf Tiny float/int8 pairs, which both runtimes read) it measures,
one after the other on this machine:

OpenVINO
  edgebench            ``OpenVINOBackend.infer(feeds)`` in a ``perf_counter_ns`` loop, the way the
                       runner times it (float feeds in, float outputs copied out).
  edgebench io=invoke_only  the adapter's vendor-like mode: inputs set once as shared tensors,
                       outputs converted lazily, so the timed call is ``InferRequest.infer()``.
  benchmark_app        ``benchmark_app -hint latency`` (shipped in the openvino wheel as a Python
                       tool) with INFERENCE_NUM_THREADS from a -load_config file (benchmark_app
                       refuses -nthreads with a hint); its reported median.
LiteRT
  edgebench            ``LiteRTBackend.infer(feeds)`` in the same loop.
  edgebench io=invoke_only  inputs set once, outputs dequantized lazily.
  bare invoke()        ``interpreter.invoke()`` alone in a loop: what TFLite's C++
                       ``benchmark_model`` times.
  litert-benchmark     the ``litert-benchmark`` console script of ai-edge-litert: a Python tool on
                       the newer CompiledModel API (TensorBuffers filled once, ``run_by_name``
                       timed); its reported median.

Ratios are edgebench median / vendor median. Each figure is one run on a shared machine: run it
twice before believing a difference under ~10 %.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.base import ModelSource, Variant  # noqa: E402

DEFAULT_MODELS = Path("/work/shared/models/mlperf-tiny")


def _median_ms(fn, iterations: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    clock = time.perf_counter_ns
    gc_was = gc.isenabled()
    gc.disable()  # as the runner does
    try:
        for _ in range(iterations):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(samples) / 1e6


def _feeds(backend) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in backend.inputs():
        shape = [d if isinstance(d, int) else 1 for d in spec.shape]
        feeds[spec.name] = rng.uniform(-1, 1, shape).astype(np.float32)
    return feeds


def _precision(path: Path) -> str:
    return "int8" if "int8" in path.stem else "fp32"


def _adapter(cls, path: Path, threads: int, **options):
    backend = cls({"threads": threads, **options})
    source = ModelSource.from_path(path)
    with tempfile.TemporaryDirectory() as cache:
        backend.load(backend.prepare(source, Variant(_precision(path), {"prebuilt": True}), None, Path(cache)))
    return backend


def _parse_ms(text: str, label: str) -> float | None:
    match = re.search(rf"{label}:\s*([0-9.]+)\s*(ms|us|s)\b", text)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"ms": 1.0, "us": 1e-3, "s": 1e3}[unit]


def openvino_rows(path: Path, threads: int, iterations: int, warmup: int) -> dict[str, Any]:
    from backends.openvino import OpenVINOBackend

    rows: dict[str, Any] = {}
    backend = _adapter(OpenVINOBackend, path, threads, hint="latency")
    feeds = _feeds(backend)
    rows["edgebench_ms"] = _median_ms(lambda: backend.infer(feeds), iterations, warmup)
    lean = _adapter(OpenVINOBackend, path, threads, hint="latency", io="invoke_only")
    rows["edgebench_invoke_only_ms"] = _median_ms(lambda: lean.infer(feeds), iterations, warmup)
    request = lean._request  # the bare call, for reference
    rows["bare_infer_request_ms"] = _median_ms(request.infer, iterations, warmup)

    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    if not Path(tool).exists():
        rows["benchmark_app_ms"] = None
        rows["benchmark_app_reason"] = "benchmark_app is not installed (it ships in the openvino wheel)"
        return rows
    # benchmark_app knows the file's own tensor names (input_1_int8), not the adapter's reference ones.
    shapes = ",".join(f"{p.ov_name}[{','.join(str(d) for d in p.shape)}]" for p in backend._in)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        # The precision edgebench pins for these fp32/int8 files (f32): left unset, benchmark_app would run bf16 on
        # an AVX512_BF16/AMX CPU and the two would not measure the same compute.
        config.write_text(json.dumps({"CPU": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                              "INFERENCE_PRECISION_HINT": "f32"}}))
        cmd = [tool, "-m", str(path), "-d", "CPU", "-hint", "latency", "-load_config", str(config),
               "-niter", str(iterations), "-shape", shapes]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    rows["benchmark_app_ms"] = _parse_ms(proc.stdout + proc.stderr, "Median")
    rows["benchmark_app_api"] = "async, 1 infer request (the latency hint)"
    if rows["benchmark_app_ms"] is None:
        rows["benchmark_app_reason"] = f"could not read benchmark_app's median: {(proc.stdout + proc.stderr)[-400:]}"
    return rows


def litert_rows(path: Path, threads: int, iterations: int, warmup: int) -> dict[str, Any]:
    from backends.litert import LiteRTBackend

    rows: dict[str, Any] = {}
    backend = _adapter(LiteRTBackend, path, threads)
    feeds = _feeds(backend)
    rows["edgebench_ms"] = _median_ms(lambda: backend.infer(feeds), iterations, warmup)
    lean = _adapter(LiteRTBackend, path, threads, io="invoke_only")
    rows["edgebench_invoke_only_ms"] = _median_ms(lambda: lean.infer(feeds), iterations, warmup)
    lean.infer(feeds)
    rows["bare_invoke_ms"] = _median_ms(lean.invoke, iterations, warmup)

    tool = shutil.which("litert-benchmark") or str(Path(sys.executable).with_name("litert-benchmark"))
    if not Path(tool).exists():
        rows["litert_benchmark_ms"] = None
        rows["litert_benchmark_reason"] = "ai-edge-litert ships no litert-benchmark here; bare invoke() stands in"
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [tool, f"--model={path}", f"--num_threads={threads}", f"--num_runs={iterations}",
               f"--warmup_runs={warmup}", f"--result_json={out}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if out.exists():
            rows["litert_benchmark_ms"] = float(json.loads(out.read_text())["latency"]["median_ms"])
        else:
            rows["litert_benchmark_ms"] = _parse_ms(proc.stdout, r"Inference \(median\)")
    rows["litert_benchmark_api"] = "CompiledModel.run_by_name with TensorBuffers (not the Interpreter)"
    if rows["litert_benchmark_ms"] is None:
        tail = (proc.stdout + proc.stderr)[-400:]
        rows["litert_benchmark_reason"] = f"could not read litert-benchmark's median: {tail}"
    return rows


def _combine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(rows[0])
    for key in rows[0]:
        if key.endswith("_ms"):
            values = [r[key] for r in rows if r.get(key) is not None]
            out[key] = statistics.median(values) if values else None
            out[key.removesuffix("_ms") + "_all_ms"] = values
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", type=Path, default=[DEFAULT_MODELS])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measure everything this many times, interleaved; report the median of the medians")
    args = parser.parse_args(argv)

    files: list[Path] = []
    for item in args.models:
        files += sorted(item.glob("*.tflite")) if item.is_dir() else [item]
    if not files:
        print(f"no .tflite models found in {', '.join(map(str, args.models))}: pass --models FILE...", file=sys.stderr)
        return 2
    results = []
    for path in files:
        entry: dict[str, Any] = {"model": path.name, "precision": _precision(path), "threads": args.threads,
                                 "repeats": args.repeats}
        # A shared machine drifts: repeat the whole set and keep the median of each figure's medians.
        runs = [(openvino_rows(path, args.threads, args.iterations, args.warmup),
                 litert_rows(path, args.threads, args.iterations, args.warmup)) for _ in range(args.repeats)]
        entry["openvino"] = _combine([r[0] for r in runs])
        entry["litert"] = _combine([r[1] for r in runs])
        ov, lt = entry["openvino"], entry["litert"]
        ov["ratio_vs_benchmark_app"] = _ratio(ov["edgebench_ms"], ov.get("benchmark_app_ms"))
        ov["ratio_invoke_only_vs_benchmark_app"] = _ratio(ov["edgebench_invoke_only_ms"], ov.get("benchmark_app_ms"))
        lt["ratio_vs_litert_benchmark"] = _ratio(lt["edgebench_ms"], lt.get("litert_benchmark_ms"))
        lt["ratio_invoke_only_vs_litert_benchmark"] = _ratio(lt["edgebench_invoke_only_ms"],
                                                             lt.get("litert_benchmark_ms"))
        lt["ratio_vs_bare_invoke"] = _ratio(lt["edgebench_ms"], lt["bare_invoke_ms"])
        results.append(entry)

    def fmt(v: float | None, unit: str = "") -> str:
        return "n/a" if v is None else f"{v:.3f}{unit}"

    print(f"threads={args.threads} iterations={args.iterations} warmup={args.warmup} (median ms; ratio = "
          "edgebench / vendor)")
    head = (f"{'model':28} {'runtime':9} {'edgebench':>10} {'invoke_only':>12} {'bare call':>10} {'vendor tool':>12} "
            f"{'ratio':>7} {'ratio io':>9}")
    print(head)
    for e in results:
        ov, lt = e["openvino"], e["litert"]
        print(f"{e['model']:28} {'openvino':9} {fmt(ov['edgebench_ms']):>10} "
              f"{fmt(ov['edgebench_invoke_only_ms']):>12} "
              f"{fmt(ov['bare_infer_request_ms']):>10} {fmt(ov.get('benchmark_app_ms')):>12} "
              f"{fmt(ov['ratio_vs_benchmark_app'], 'x'):>7} {fmt(ov['ratio_invoke_only_vs_benchmark_app'], 'x'):>9}")
        print(f"{'':28} {'litert':9} {fmt(lt['edgebench_ms']):>10} {fmt(lt['edgebench_invoke_only_ms']):>12} "
              f"{fmt(lt['bare_invoke_ms']):>10} {fmt(lt.get('litert_benchmark_ms')):>12} "
              f"{fmt(lt['ratio_vs_litert_benchmark'], 'x'):>7} "
              f"{fmt(lt['ratio_invoke_only_vs_litert_benchmark'], 'x'):>9}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
