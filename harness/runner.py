"""The runner: owns the clock, the phases and the stop rule; runs each plan in its own process.

Phases, each reported apart: prepare (convert/quantize, cached) → load/compile → first inference
→ warm-up → steady state (the timed loop) → evaluation (outputs for quality scoring).

The parent process never busy-waits: it blocks in ``Connection.poll(interval)``, which is both
its sleep and its wake-up on a message from the child, and each tick reads the child's RSS from
/proc (≥ 50 Hz). Telemetry samplers run as threads in the parent around the child's timed window.
A child that raises, crashes (segfault/abort) or hangs past the timeout becomes a ``failed``
record with the reason, and the suite goes on.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import ModelSource, TensorSpec, UnsupportedVariant
from harness.errors import UsageError
from harness.plan import RunPlan, model_source, reference_source
from results import stats
from results.schema import RunRecord, new_run_id, sanitize

RSS_SAMPLE_INTERVAL_S = 0.02  # 50 Hz
INPUT_POOL_SIZE = 16  # distinct inputs cycled when fresh_inputs is on
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class RunContext:
    """Where a run writes and what it records about the machine."""

    out_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=lambda: {"name": "host"})
    telemetry: Any = None  # devices.telemetry.Telemetry, or None for none
    device_options: dict[str, Any] = field(default_factory=dict)  # the profile's options (cool-down threshold...)

    @property
    def cache_dir(self) -> Path:
        return self.out_dir / "cache"


# ---------------------------------------------------------------------------------------------
# Child side: everything here runs in the run's own process.
# ---------------------------------------------------------------------------------------------


def resolve_specs(specs: Sequence[TensorSpec],
                  overrides: Mapping[str, Sequence[int]]) -> tuple[list[TensorSpec], list[str]]:
    """Fix dynamic dims from the user's shapes; a lone dynamic batch dim defaults to 1 (said in a warning)."""
    resolved, notes = [], []
    unknown = set(overrides) - {s.name for s in specs}
    if unknown:
        raise ValueError(
            f"input shape given for {sorted(unknown)} but the model's inputs are {[s.name for s in specs]}; "
            "fix the name in --shape / the suite's inputs"
        )
    for spec in specs:
        if spec.name in overrides:
            shape = tuple(int(d) for d in overrides[spec.name])
            if len(shape) != len(spec.shape) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(spec.shape, shape)
            ):
                raise ValueError(
                    f"input {spec.name!r}: shape {list(shape)} does not fit the model's {list(spec.shape)}; "
                    "give a shape with the same rank that keeps the fixed dims"
                )
        elif spec.is_static:
            shape = tuple(int(d) for d in spec.shape)
        else:
            dynamic = [i for i, d in enumerate(spec.shape) if not (isinstance(d, int) and d > 0)]
            if dynamic != [0]:
                raise ValueError(
                    f"input {spec.name!r} has dynamic dims {list(spec.shape)}; fix them with "
                    f"--shape {spec.name}=" + "x".join(str(d) if isinstance(d, int) and d > 0 else "N"
                                                       for d in spec.shape)
                )
            shape = (1, *(int(d) for d in spec.shape[1:]))
            notes.append(f"input {spec.name!r}: dynamic batch dim set to 1 (use --shape to choose)")
        resolved.append(TensorSpec(spec.name, shape, spec.dtype, spec.layout))
    return resolved, notes


def as_model_dtype(feeds: Mapping[str, np.ndarray], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Cast once, outside the timed loop, to what the model takes (float data stays float for quantized I/O:
    the adapter quantizes it, and that cost is part of what an application pays)."""
    out = {}
    for spec in specs:
        array = np.asarray(feeds[spec.name])
        dtype = np.dtype(spec.dtype) if spec.dtype not in ("int8", "uint8") else np.float32
        out[spec.name] = np.ascontiguousarray(array.astype(dtype, copy=False))
    return out


def _send(conn, kind: str, **payload: Any) -> None:
    conn.send((kind, time.perf_counter_ns(), payload))


def _child_main(conn, plan: RunPlan, source: ModelSource, reference: ModelSource | None,
                ctx_paths: dict[str, str], min_window_s: float) -> None:
    """Entry point of the run's process. Sends phase markers, then ("result", ...) or ("error", ...)."""
    phase = "start"
    try:
        from backends import get_backend

        cache_dir = Path(ctx_paths["cache"])
        backend_cls = get_backend(plan.backend.name)
        backend = backend_cls(plan.backend_options())
        variant = plan.variant()
        result: dict[str, Any] = {"warnings": []}

        phase = "prepare"
        _send(conn, "phase", name=phase)
        calibration = None
        if variant.precision in ("int8", "int8-mixed") and not variant.settings.get("prebuilt"):
            calibration = calibration_for(plan, source)
        t0 = time.perf_counter_ns()
        artifact = backend.prepare(source, variant, calibration, cache_dir / "artifacts")
        result["prepare_s"] = (time.perf_counter_ns() - t0) / 1e9
        result["artifact"] = artifact.to_dict()

        phase = "load"
        _send(conn, "phase", name=phase)
        t0 = time.perf_counter_ns()
        backend.load(artifact)
        result["load_s"] = (time.perf_counter_ns() - t0) / 1e9

        specs, notes = resolve_specs(backend.inputs(), source.input_shapes)
        result["warnings"] += notes
        result["inputs"] = [s.to_dict() for s in specs]
        result["outputs"] = [s.to_dict() for s in backend.outputs()]
        # Quantized I/O takes float data like every other variant: the adapter quantizes it.
        data_specs = [TensorSpec(s.name, s.shape, "float32" if s.dtype in ("int8", "uint8", "float16") else s.dtype,
                                 s.layout) for s in specs]
        evaluation = evaluation_for(plan, source, data_specs)
        pool_size = INPUT_POOL_SIZE if plan.runner.fresh_inputs else 1
        pool = [as_model_dtype(f, specs) for f in timing_inputs(plan, source, data_specs, evaluation, pool_size)]

        phase = "first_inference"
        _send(conn, "phase", name=phase)
        t0 = time.perf_counter_ns()
        backend.infer(pool[0])
        result["first_inference_ms"] = (time.perf_counter_ns() - t0) / 1e6

        phase = "warmup"
        _send(conn, "phase", name=phase)
        for i in range(plan.runner.warmup):
            backend.infer(pool[i % len(pool)])
        result["warmup_iterations"] = plan.runner.warmup

        phase = "steady"
        min_duration_s = max(plan.runner.min_duration_s, min_window_s)
        if min_duration_s > plan.runner.min_duration_s:
            result["warnings"].append(
                f"timed window lengthened from {plan.runner.min_duration_s:g} s to {min_duration_s:g} s: "
                "the power sensor needs about 10 updates for a trustworthy energy figure"
            )
        max_duration_s = max(plan.runner.max_duration_s, min_duration_s)
        _send(conn, "steady_start")
        conn.recv()  # the parent's samplers are running: start the clock
        device_time = getattr(backend, "device_time_ms", None)
        device_times: list[float] | None = [] if callable(device_time) else None
        latencies_ns = _timed_loop(backend.infer, pool, plan.runner.min_iterations, min_duration_s,
                                   max_duration_s, device_time, device_times)
        _send(conn, "steady_end", n=len(latencies_ns))
        conn.recv()
        result["ru_maxrss_bytes"] = _ru_maxrss_bytes()
        result["latency_ns"] = latencies_ns
        result["hit_max_duration"] = len(latencies_ns) < plan.runner.min_iterations
        if device_times and all(t is not None for t in device_times):
            result["device_time_ms"] = device_times

        if evaluation:
            phase = "evaluation"
            _send(conn, "phase", name=phase)
            outputs = [backend.infer(as_model_dtype(f, specs)) for f in evaluation]
            result["quality"] = score(plan, source, reference, evaluation, outputs, cache_dir)
        result["run_info"] = backend.run_info()
        result["warnings"] += backend.warnings()
        result["backend_version"] = backend.version()
        backend.close()
        _send(conn, "result", result=result)
    except UnsupportedVariant as exc:
        _send(conn, "skipped", reason=str(exc), phase=phase)
    except BaseException as exc:  # the parent turns this into a failed record
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        _send(conn, "error", reason=f"{type(exc).__name__}: {exc}"[:2000], phase=phase, where=where,
              traceback="".join(traceback.format_exception(exc))[-8000:])
    finally:
        conn.close()


def _timed_loop(infer: Callable[[Any], Any], pool: list[dict[str, np.ndarray]], min_iterations: int,
                min_duration_s: float, max_duration_s: float,
                device_time: Callable[[], float | None] | None = None,
                device_times: list[float | None] | None = None) -> list[int]:
    """At least min_iterations AND min_duration, capped by max_duration. GC off while timing.

    ``device_time`` (accelerator backends): read after each iteration's clock has stopped, so the
    compute-only time (e.g. between CUDA events) is kept per iteration beside the end-to-end one."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    n_pool = len(pool)
    min_ns, max_ns = int(min_duration_s * 1e9), int(max_duration_s * 1e9)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        i = 0
        while True:
            feeds = pool[i % n_pool]
            t0 = clock()
            infer(feeds)
            t1 = clock()
            append(t1 - t0)
            if device_times is not None and device_time is not None:
                device_times.append(device_time())
            i += 1
            elapsed = t1 - start
            if (i >= min_iterations and elapsed >= min_ns) or elapsed >= max_ns:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return latencies


def _ru_maxrss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def calibration_for(plan: RunPlan, source: ModelSource) -> list[dict[str, np.ndarray]]:
    from backends.base import onnx_io_specs
    from harness import data

    specs, _ = resolve_specs(onnx_io_specs(source.path)[0] if source.format == "onnx" else [], source.input_shapes)
    return data.calibration_set(plan.model.zoo, specs, calib_dir=plan.data.calibration_dir,
                                n=plan.data.calibration, seed=plan.data.seed)


def evaluation_for(plan: RunPlan, source: ModelSource, specs: list[TensorSpec]) -> list[dict[str, np.ndarray]]:
    if plan.data.evaluation <= 0:
        return []
    from harness import data

    # With a calibration folder, evaluation uses the user's own files held out from calibration.
    return data.evaluation_set(plan.model.zoo, specs, calib_dir=plan.data.calibration_dir, n=plan.data.evaluation,
                               seed=plan.data.seed)


def timing_inputs(plan: RunPlan, source: ModelSource, specs: list[TensorSpec],
                   evaluation: list[dict[str, np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
    if len(evaluation) >= n:
        return evaluation[:n]
    from harness import data

    return data.evaluation_set(plan.model.zoo, specs, n=n, seed=plan.data.seed + 7919)


def score(plan: RunPlan, source: ModelSource, reference: ModelSource | None,
           evaluation: list[dict[str, np.ndarray]], outputs: list[dict[str, np.ndarray]],
           cache_dir: Path) -> dict[str, Any]:
    from harness import reference as ref
    from harness.quality.fidelity import score_outputs

    if reference is None:
        return {"reason": "no fp32 reference for this model"}
    expected = ref.reference_outputs(reference, evaluation, cache_dir / "reference")
    names = list(expected[0])
    candidate_names = list(outputs[0])
    mapping = {n: n for n in names}
    missing = [n for n in names if n not in outputs[0]]
    if missing:
        # Models made elsewhere (a float/int8 pair) may name the same outputs differently: with as many
        # outputs on both sides, match them by position, and say so in the scores.
        if len(candidate_names) != len(names):
            return {"reason": f"outputs {missing} of the reference are missing from this run's outputs "
                              f"{candidate_names}"}
        mapping = dict(zip(names, candidate_names))
    scores = score_outputs(
        {n: [e[n] for e in expected] for n in names},
        {n: [o[mapping[n]] for o in outputs] for n in names},
        dict(source.output_kinds),
    )
    scores["reference"] = {"model_sha256": reference.sha256, "backend": ref.reference_backend_name(reference)}
    if missing:
        scores["reference"]["matched_by_position"] = mapping
    return scores


# ---------------------------------------------------------------------------------------------
# Parent side.
# ---------------------------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _base_record(plan: RunPlan, ctx: RunContext, status: str, reason: str | None = None) -> RunRecord:
    return RunRecord(
        run_id=new_run_id(),
        status=status,
        reason=reason,
        precision=plan.precision.name,
        model={"name": plan.model.name, "zoo": plan.model.zoo},
        backend={"name": plan.backend.name, "options": plan.backend_options()},
        device=dict(ctx.device),
        suite=plan.suite,
        variant={"precision": plan.precision.name, "settings": dict(plan.precision.settings)},
        environment=ctx.environment,
        runner=dataclasses.asdict(plan.runner),
    )


def precheck(plan: RunPlan) -> str | None:
    """Why this plan cannot run on this machine at all (→ skipped), or None."""
    from backends import get_backend

    cls = get_backend(plan.backend.name)
    availability = cls.probe()
    if not availability.available:
        return f"{plan.backend.name} is not available here: {availability.reason}"
    if plan.model.variants and plan.precision.name not in plan.model.variants:
        return (f"model {plan.model.name} declares variants {sorted(plan.model.variants)} and no "
                f"{plan.precision.name} file")
    if plan.precision.name not in cls.precisions and not plan.model.variants:
        return f"{plan.backend.name} cannot produce {plan.precision.name} (it offers {', '.join(cls.precisions)})"
    return None


def run_plan(plan: RunPlan, ctx: RunContext) -> RunRecord:
    """Run one plan in its own process and return its record (never raises for a failing model)."""
    why_not = precheck(plan)
    if why_not:
        return _base_record(plan, ctx, "skipped", why_not)
    zoo_dir = ctx.cache_dir / "zoo"
    try:
        source = model_source(plan.model, plan.precision.name, zoo_dir)
    except UsageError as exc:
        return _base_record(plan, ctx, "failed", str(exc))
    from backends import get_backend

    if source.format not in get_backend(plan.backend.name).source_formats:
        return _base_record(plan, ctx, "skipped",
                            f"{plan.backend.name} does not run {source.format} models ({source.path.name})")
    reference = reference_source(plan.model, zoo_dir) if plan.data.evaluation > 0 else None

    record = _base_record(plan, ctx, "ok")
    record.model.update({"sha256": source.sha256, "path": str(source.path), "format": source.format})
    telemetry = ctx.telemetry
    if plan.runner.cooldown_s > 0:
        record.extra["cooldown"] = _cool_down(plan.runner.cooldown_s, ctx)
    if telemetry is not None and plan.runner.idle_s > 0:
        telemetry.measure_idle(plan.runner.idle_s)

    mp_ctx = mp.get_context("spawn")
    parent_conn, child_conn = mp_ctx.Pipe()
    min_window_s = telemetry.min_window_s() if telemetry is not None else 0.0
    process = mp_ctx.Process(
        target=_child_main,
        args=(child_conn, plan, source, reference, {"cache": str(ctx.cache_dir)}, min_window_s),
        name=f"edgebench-run-{plan.label}",
        daemon=True,
    )
    deadline = time.monotonic() + plan.runner.timeout_s
    phase = "start"
    rss: dict[str, list[int]] = {"t_ns": [], "bytes": [], "phase": []}
    outcome: tuple[str, dict[str, Any]] | None = None
    window: list[int] = []
    telemetry_result = None
    process.start()
    child_conn.close()
    try:
        next_sample = time.perf_counter()
        while True:
            # Sleep until the next sample is due, waking early for a message: ticks stay on a 50 Hz grid.
            next_sample += RSS_SAMPLE_INTERVAL_S
            try:
                ready = parent_conn.poll(max(0.0, next_sample - time.perf_counter()))
            except (EOFError, OSError):
                break
            if time.perf_counter() - next_sample > RSS_SAMPLE_INTERVAL_S:
                next_sample = time.perf_counter()  # fell behind (a busy machine): do not burst to catch up
            now = time.perf_counter_ns()
            value = _rss_bytes(process.pid)
            if value is not None:
                rss["t_ns"].append(now)
                rss["bytes"].append(value)
                rss["phase"].append(phase)
            if ready:
                try:
                    kind, t_ns, payload = parent_conn.recv()
                except (EOFError, OSError):
                    break
                if kind == "phase":
                    phase = payload["name"]
                elif kind == "steady_start":
                    phase = "steady"
                    if telemetry is not None:
                        telemetry.start()
                    window = [time.perf_counter_ns()]
                    parent_conn.send("go")
                elif kind == "steady_end":
                    window.append(t_ns)
                    if telemetry is not None:
                        telemetry_result = telemetry.stop((window[0], t_ns), payload["n"])
                    phase = "after_steady"
                    parent_conn.send("ok")
                else:
                    outcome = (kind, payload)
                    break
            if time.monotonic() > deadline:
                outcome = ("error", {"reason": f"timed out after {plan.runner.timeout_s:g} s (raise "
                                               "runner.timeout_s, or look for a hang in the backend)",
                                     "phase": phase})
                break
            if not process.is_alive() and not parent_conn.poll(0):
                break
    except KeyboardInterrupt:
        process.kill()
        process.join()
        raise
    finally:
        if process.is_alive() and (outcome is None or outcome[0] == "error"):
            process.kill()
        process.join(timeout=10)
        parent_conn.close()
        if telemetry is not None and len(window) == 1:
            telemetry.stop((window[0], time.perf_counter_ns()), 0)  # stop threads of an aborted window

    record.phase = phase
    if outcome is None:
        code = process.exitcode
        how = f"was killed by {_signal_name(code)}" if code is not None and code < 0 else f"exited with code {code}"
        record.status = "failed"
        record.reason = f"the run's process {how} during phase {phase} (a crash in the backend?)"
        return record
    kind, payload = outcome
    if kind == "skipped":
        record.status, record.reason = "skipped", payload["reason"]
        return record
    if kind == "error":
        record.status = "failed"
        record.reason = f"{payload['reason']} (phase {payload.get('phase', phase)}{payload.get('where', '')})"
        if payload.get("traceback"):
            record.extra["traceback"] = payload["traceback"]
        return record
    _fill(record, plan, payload["result"], rss, telemetry_result)
    return record


def _cool_down(seconds: float, ctx: RunContext) -> dict[str, Any]:
    """Wait until the device is under its temperature threshold (at most ``seconds``); with no
    temperature sensor, a plain pause of ``seconds`` so heat from the previous run can leave."""
    threshold_c = float(ctx.device_options.get("cooldown_threshold_c", 50.0))
    if ctx.telemetry is not None:
        result = dict(ctx.telemetry.wait_for_cooldown(threshold_c=threshold_c, timeout_s=seconds))
        if result.get("reached") is not None:
            return result
    time.sleep(seconds)
    return {"reached": None, "waited_s": seconds, "reason": "no temperature sensor: paused for the fixed cool-down"}


def _fill(record: RunRecord, plan: RunPlan, result: dict[str, Any], rss: dict[str, list[Any]],
          telemetry_result: Any) -> None:
    latencies_ms = [ns / 1e6 for ns in result["latency_ns"]]
    batch = _batch_size(result.get("inputs") or [])
    summary = stats.summarize(latencies_ms)
    record.latency_ms = summary
    record.throughput_ips, record.items_per_s = stats.throughput(latencies_ms, batch)
    record.batch_size = batch
    record.warnings += result["warnings"] + stats.warnings_for(summary)
    if result.get("hit_max_duration"):
        record.warnings.append(
            f"stopped at max_duration_s ({plan.runner.max_duration_s:g} s) before min_iterations "
            f"({plan.runner.min_iterations}): only {summary['n']} samples"
        )
    record.prepare_s = result.get("prepare_s")
    record.load_s = result.get("load_s")
    record.first_inference_ms = result.get("first_inference_ms")
    record.warmup_iterations = result.get("warmup_iterations")
    record.artifact = result.get("artifact", {})
    record.artifact_bytes = record.artifact.get("bytes")
    record.backend["version"] = result.get("backend_version")
    record.backend["info"] = result.get("run_info", {})
    record.extra["inputs"] = result.get("inputs")
    record.extra["outputs"] = result.get("outputs")
    if result.get("device_time_ms"):
        # Compute-only time on the accelerator, apart from the end-to-end latency (as trtexec reports both).
        record.extra["device_time_ms"] = stats.summarize(result["device_time_ms"])
        record.samples["device_time_ms"] = result["device_time_ms"]
    engine_bytes = record.backend["info"].get("engine_bytes")
    if engine_bytes:
        record.artifact_bytes = int(engine_bytes)  # what ships is the engine built at load, not its ONNX source
    record.memory = _memory(rss, result.get("ru_maxrss_bytes"))
    quality = result.get("quality")
    if quality:
        record.quality = quality
        record.warnings += quality_warnings(quality, plan.data.fidelity_floor_db)
    if telemetry_result is not None:
        record.power = telemetry_result.power
        record.thermal = telemetry_result.thermal
        record.warnings += telemetry_result.warnings
        record.extra["telemetry_sources"] = telemetry_result.sources
        record.samples["telemetry"] = telemetry_result.samples
    if plan.gates:
        from harness.quality.gates import evaluate_gates

        record.gates = evaluate_gates(plan.gates, gate_figures(record))
    record.samples["latency_ms"] = latencies_ms
    record.samples["rss"] = rss
    # NaN is not a figure: the store keeps None.
    record.quality = sanitize(record.quality)


def gate_figures(record: RunRecord) -> dict[str, Any]:
    """The flat figures a gate may name: quality figures, latency percentiles, memory, power."""
    figures: dict[str, Any] = {k: v for k, v in (record.quality or {}).items() if not isinstance(v, dict)}
    for k, v in (record.latency_ms or {}).items():
        if isinstance(v, (int, float)):
            figures[f"latency_{k}_ms"] = v
    figures["peak_rss_bytes"] = (record.memory or {}).get("peak_rss_bytes")
    figures["energy_per_inference_mj"] = (record.power or {}).get("energy_per_inference_mj")
    return figures


def quality_warnings(quality: dict[str, Any], floor_db: float) -> list[str]:
    notes = []
    if quality.get("nonfinite"):
        notes.append(f"{quality['nonfinite']} NaN/Inf values in the outputs: this configuration is broken")
    sqnr = quality.get("sqnr_db")
    if isinstance(sqnr, (int, float)) and sqnr < floor_db:
        notes.append(f"fidelity SQNR {sqnr:.1f} dB is under the floor of {floor_db:g} dB: outputs differ a lot "
                     "from fp32")
    return notes


def _batch_size(inputs: list[dict[str, Any]]) -> int:
    for spec in inputs:
        shape = spec.get("shape") or []
        if len(shape) >= 2 and isinstance(shape[0], int) and shape[0] > 0:
            return int(shape[0])
    return 1


def _memory(rss: dict[str, list[Any]], ru_maxrss: int | None) -> dict[str, Any]:
    def peak(phases: set[str]) -> int | None:
        values = [b for b, p in zip(rss["bytes"], rss["phase"]) if p in phases]
        return max(values) if values else None

    prepare = peak({"start", "prepare"})
    load = peak({"load"})
    steady = peak({"first_inference", "warmup", "steady"})
    # What a deployment needs: loading and running. Conversion/quantization (prepare) happens offline.
    overall = max([v for v in (load, steady) if v is not None], default=None)
    everything = max([v for v in (prepare, load, steady) if v is not None], default=None)
    times = rss["t_ns"]
    rate = (len(times) - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 and times[-1] > times[0] else None
    memory: dict[str, Any] = {
        "peak_rss_bytes": overall,
        "prepare_peak_rss_bytes": prepare,
        "load_peak_rss_bytes": load,
        "steady_peak_rss_bytes": steady,
        "ru_maxrss_bytes": ru_maxrss,
        "sample_hz": rate,
        "source": "/proc/<pid>/statm sampled by the parent",
    }
    if overall is None:
        memory["reason"] = "the run ended before the first memory sample"
    elif ru_maxrss and everything:
        # ru_maxrss is the kernel's own high-water mark up to the end of steady state (prepare included);
        # sampling can only miss short peaks, so this ratio stays at or under ~1.
        memory["sampled_vs_os_peak"] = everything / ru_maxrss
    return memory


def interrupted_message(saved: int) -> str:
    return f"interrupted: {saved} finished run(s) are saved; nothing half-written was stored"
