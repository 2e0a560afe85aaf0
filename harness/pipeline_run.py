"""Pipeline plans and their runs: one record per (pipeline, backend, precision, steps, resident).

A pipeline run, in its own process like a single-model run: prepare every stage (static int8
stages are calibrated on the stage inputs of fp32 generations, captured when first needed) →
load (``resident: all``: every stage; ``staged``: none, each loads inside the generation) → one
cold generation → warm-up generations → at least 3 timed generations (telemetry around them) →
quality of the media against the fp32 pipeline at the largest step count of the sweep.

The parent samples the child's RSS at 50 Hz and labels each sample with the stage the child is
running (a shared integer the child sets before each stage call), which gives per-stage peaks.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import ModelSource, TensorSpec, UnsupportedVariant, file_sha256, format_of
from harness.pipeline import Executor, Generation, StageRuntime
from harness.pipeline_spec import PipelineSpec, StageSpec
from harness.plan import RunPlan, check_model_file, model_source
from harness.suite import BackendSpec, DataSettings, PrecisionSpec, RunnerSettings, Suite
from results.schema import RunRecord

RSS_SAMPLE_INTERVAL_S = 0.02
CALIBRATION_GENERATIONS = 8  # fp32 generations whose stage inputs calibrate static int8 stages


@dataclass(frozen=True)
class PipelinePlan:
    pipeline: PipelineSpec
    backend: BackendSpec
    precision: PrecisionSpec
    steps: int
    resident: str
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    data: DataSettings = field(default_factory=DataSettings)
    device: str = "host"
    suite: str | None = None

    @property
    def label(self) -> str:
        return (f"{self.pipeline.name} · {self.backend.name} · {self.precision.name} · {self.steps} steps"
                + (" · staged" if self.resident == "staged" else ""))

    def stage_plan(self, stage: StageSpec) -> RunPlan:
        """The single-model plan of one stage: the stage's own backend/precision, else the pipeline's."""
        return RunPlan(model=stage.model, backend=stage.backend or self.backend,
                       precision=stage.precision or self.precision, runner=self.runner, data=self.data,
                       device=self.device, suite=self.suite)


def expand_pipelines(suite: Suite, runner: RunnerSettings, device: str = "host") -> list[PipelinePlan]:
    """Pipelines × backends × precisions × steps × resident, in that nesting order."""
    return [
        PipelinePlan(pipeline=p, backend=b, precision=q, steps=n, resident=r, runner=runner, data=suite.data,
                     device=device, suite=suite.name)
        for p in suite.pipelines
        for b in (p.backends or suite.backends)
        for q in (p.precisions or suite.precisions)
        for n in p.steps
        for r in p.resident
    ]


def stage_source(stage: StageSpec, precision: str, zoo_dir: Path) -> ModelSource:
    if stage.zoo_stage:
        from harness.zoo import pipelines as zp

        zm = zp.stage_model(stage.zoo_stage)
        path = zm.export(zoo_dir / "pipelines")
        check_model_file(path)
        return ModelSource(path=path, name=stage.model.name, sha256=file_sha256(path), format=format_of(path),
                           output_kinds=dict(zm.output_kinds))
    return model_source(stage.model, precision, zoo_dir)


# ---------------------------------------------------------------------------------------------
# Child side
# ---------------------------------------------------------------------------------------------


class _Recording:
    """A loaded backend whose calls' feeds are kept (calibration capture); runs like the backend."""

    def __init__(self, backend: Any, sink: list[dict[str, np.ndarray]]) -> None:
        self.backend, self.sink = backend, sink

    def infer(self, feeds: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        self.sink.append({k: np.array(v, copy=True) for k, v in feeds.items()})
        return self.backend.infer(feeds)

    def close(self) -> None:
        self.backend.close()


class _LazyCalibration(Iterable[dict[str, np.ndarray]]):
    """One stage's calibration feeds, captured from fp32 generations the first time it is read
    (a cached artifact still hashes its calibration set, so capture is shared across stages)."""

    def __init__(self, capture: Any, stage: str, limit: int) -> None:
        self.capture, self.stage, self.limit = capture, stage, limit

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.capture()[self.stage][: self.limit])


class _Child:
    """Everything one pipeline run does in its process."""

    def __init__(self, plan: PipelinePlan, cache_dir: Path, mark: Any) -> None:
        self.plan, self.cache_dir, self.mark_value = plan, cache_dir, mark
        self.spec = plan.pipeline
        zoo_dir = cache_dir / "zoo"
        self.sources = {s.name: stage_source(s, plan.stage_plan(s).precision.name, zoo_dir) for s in self.spec.stages}
        # The fp32 file of a stage is its own file unless the stage declares variant files.
        self.ref_sources = {s.name: self.sources[s.name] if not s.model.variants else stage_source(s, "fp32", zoo_dir)
                            for s in self.spec.stages}
        self.warnings: list[str] = []
        self._captured: dict[str, list[dict[str, np.ndarray]]] | None = None

    def mark(self, index: int) -> None:
        if self.mark_value is not None:
            self.mark_value.value = index

    # -- data ---------------------------------------------------------------------------------
    def external_specs(self, runtimes: Mapping[str, StageRuntime]) -> list[TensorSpec]:
        wired = {tuple(d.split(".", 1)) for d in self.spec.wiring}
        specs: dict[str, TensorSpec] = {}
        for name, rt in runtimes.items():
            for s in rt.inputs:
                if (name, s.name) not in wired and s.name != rt.spec.timestep:
                    specs.setdefault(s.name, TensorSpec(s.name, s.shape, "float32" if s.dtype in (
                        "int8", "uint8", "float16") else s.dtype, s.layout))
        return list(specs.values())

    def feeds(self, specs: list[TensorSpec], split: str, n: int, seed_offset: int = 0) -> list[dict[str, np.ndarray]]:
        from harness import data

        seed = self.plan.data.seed + seed_offset
        if self.spec.zoo:
            from harness import zoo
            from harness.zoo import pipelines as zp

            return zoo.get(zp.get(self.spec.zoo).source).samples(split, n, seed)
        if split == "calibration":
            return data.calibration_set(None, specs, calib_dir=self.plan.data.calibration_dir, n=n, seed=seed)
        return data.evaluation_set(None, specs, calib_dir=self.plan.data.calibration_dir, n=n, seed=seed)

    def generation_feeds(self, specs: list[TensorSpec], split: str, generations: int) -> list[list[dict]]:
        chunks = self.spec.chunks
        flat = self.feeds(specs, split, generations * chunks)
        if len(flat) < generations * chunks:  # a small folder: reuse its files in turn
            flat = [flat[i % len(flat)] for i in range(generations * chunks)]
        return [flat[g * chunks:(g + 1) * chunks] for g in range(generations)]

    # -- stages -------------------------------------------------------------------------------
    def reference_runtimes(self, sink: dict[str, list] | None = None) -> dict[str, StageRuntime]:
        from backends import get_backend
        from backends.base import Variant
        from harness import reference as ref

        runtimes = {}
        for s in self.spec.stages:
            source = self.ref_sources[s.name]

            def open_(source: ModelSource = source, name: str = s.name) -> Any:
                backend = get_backend(ref.reference_backend_name(source))()
                artifact = backend.prepare(source, Variant("fp32", {"prebuilt": True}), None,
                                           self.cache_dir / "reference" / "artifacts")
                backend.load(artifact)
                return _Recording(backend, sink.setdefault(name, [])) if sink is not None else backend

            runtimes[s.name] = self._runtime(s, open_, source)
        return runtimes

    def _runtime(self, stage: StageSpec, open_: Any, source: ModelSource) -> StageRuntime:
        from harness.pipeline_spec import stage_io
        from harness.runner import resolve_specs

        io = stage_io(stage)
        if io is None:  # a format only its runtime can read: ask a loaded backend
            probe = open_()
            io = (probe.inputs(), probe.outputs())
            probe.close()
        specs, notes = resolve_specs(io[0], source.input_shapes)
        self.warnings += [f"stage {stage.name}: {n}" for n in notes]
        return StageRuntime(stage, specs, open_)

    def captured(self) -> dict[str, list[dict[str, np.ndarray]]]:
        """Stage inputs of fp32 generations on calibration inputs (the plan's step count), cached on
        disk by the stage files, the wiring, the steps and the inputs: the other precisions, backends
        and memory strategies of a sweep calibrate on the same feeds without generating them again."""
        if self._captured is not None:
            return self._captured
        runtimes = self.reference_runtimes()
        n_gen = min(CALIBRATION_GENERATIONS, max(1, self.plan.data.calibration))
        inputs = self.generation_feeds(self.external_specs(runtimes), "calibration", n_gen)
        parts = [self.ref_sources[s.name].sha256 for s in self.spec.stages] + [
            repr(sorted(self.spec.wiring.items())), repr([sorted(s.carry.items()) for s in self.spec.stages]),
            self.spec.sampler, str(self.spec.timestep_scale), str(self.plan.steps)]
        path = self.cache_dir / "calibration" / f"pipeline-{media_key(parts, inputs)}.npz"
        if path.exists():
            with np.load(path) as z:
                self._captured = _unflatten(z)
        else:
            sink: dict[str, list] = {}
            ex = Executor(self.spec, self.reference_runtimes(sink))
            try:
                ex.load_all()
                for feeds in inputs:
                    ex.generate(feeds, self.plan.steps)
            finally:
                ex.close_all()
            self._captured = sink
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
            np.savez(tmp, **{f"{stage}/{i}/{name}": v for stage, calls in sink.items()
                             for i, feeds in enumerate(calls) for name, v in feeds.items()})
            os.replace(tmp, path)
        self.warnings.append(f"static int8 stages calibrated on their inputs in {n_gen} fp32 generation(s) "
                             f"at {self.plan.steps} steps")
        return self._captured


def _unflatten(z: Any) -> dict[str, list[dict[str, np.ndarray]]]:
    """``stage/i/input`` arrays back to each stage's list of feed dicts."""
    out: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for key in z.files:
        stage, i, name = key.split("/", 2)
        out.setdefault(stage, {}).setdefault(int(i), {})[name] = z[key]
    return {stage: [calls[i] for i in sorted(calls)] for stage, calls in out.items()}


def _prepare_stages(child: _Child, result: dict[str, Any]) -> dict[str, StageRuntime]:
    from backends import get_backend

    runtimes, info = {}, {}
    for s in child.spec.stages:
        sp = child.plan.stage_plan(s)
        variant = sp.variant()
        backend_cls = get_backend(sp.backend.name)
        calibration = None
        if variant.precision in ("int8", "int8-mixed") and not variant.settings.get("prebuilt"):
            calibration = _LazyCalibration(child.captured, s.name, sp.data.calibration)
        t0 = time.perf_counter_ns()
        artifact = backend_cls(sp.backend_options()).prepare(child.sources[s.name], variant, calibration,
                                                               child.cache_dir / "artifacts")
        info[s.name] = {"prepare_s": (time.perf_counter_ns() - t0) / 1e9, "artifact": artifact.to_dict(),
                        "precision": sp.precision.name, "backend": sp.backend.name}

        def open_(cls: Any = backend_cls, sp: RunPlan = sp, artifact: Any = artifact) -> Any:
            backend = cls(sp.backend_options())
            backend.load(artifact)
            return backend

        runtimes[s.name] = child._runtime(s, open_, child.sources[s.name])
    result["stages"] = info
    return runtimes


def _child_main(conn: Any, plan: PipelinePlan, cache_dir: str, mark: Any, min_window_s: float) -> None:
    phase = "start"

    def send(kind: str, **payload: Any) -> None:
        conn.send((kind, time.perf_counter_ns(), payload))

    try:
        child = _Child(plan, Path(cache_dir), mark)
        result: dict[str, Any] = {}
        phase = "prepare"
        send("phase", name=phase)
        runtimes = _prepare_stages(child, result)
        phase = "load"
        send("phase", name=phase)
        ex = Executor(plan.pipeline, runtimes, staged=plan.resident == "staged", mark=child.mark)
        loads = ex.load_all() if plan.resident == "all" else {}
        result["load_ns"] = loads
        _measure(child, ex, runtimes, result, send, conn, min_window_s)
        ex.close_all()
        phase = "evaluation"
        send("phase", name=phase)
        result["quality"] = _quality(child, result.pop("media"))
        result["warnings"] = child.warnings
        send("result", result=result)
    except UnsupportedVariant as exc:
        send("skipped", reason=str(exc), phase=phase)
    except BaseException as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        send("error", reason=f"{type(exc).__name__}: {exc}"[:2000], phase=phase, where=where,
             traceback="".join(traceback.format_exception(exc))[-8000:])
    finally:
        conn.close()


def _measure(child: _Child, ex: Executor, runtimes: Mapping[str, StageRuntime], result: dict[str, Any],
             send: Any, conn: Any, min_window_s: float) -> None:
    import gc

    plan = child.plan
    n = plan.pipeline.generations
    inputs = child.generation_feeds(child.external_specs(runtimes), "evaluation", n)
    send("phase", name="first_inference")
    result["cold_generation"] = _summary(ex.generate(inputs[0], plan.steps))
    send("phase", name="warmup")
    for _ in range(plan.pipeline.warmup_generations):
        ex.generate(inputs[0], plan.steps)
    send("steady_start")
    conn.recv()
    gens: list[Generation] = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        while len(gens) < n or (time.perf_counter_ns() - start) / 1e9 < min_window_s:
            gens.append(ex.generate(inputs[len(gens) % n], plan.steps))
    finally:
        if gc_was:
            gc.enable()
    send("steady_end", n=len(gens))
    conn.recv()
    result["generations"] = [_summary(g) for g in gens]
    result["media"] = [m for g in gens[:n] for m in g.media]
    result["eval_inputs"] = n


def _summary(g: Generation) -> dict[str, Any]:
    return {"total_ns": g.total_ns, "first_chunk_ns": g.first_chunk_ns, "calls_ns": g.calls_ns,
            "step_ns": g.step_ns, "load_ns": g.load_ns}


def _quality(child: _Child, media: list[np.ndarray]) -> dict[str, Any]:
    from harness.pipeline_quality import score_media

    return score_media(child, media)


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------


def run_pipeline_plan(plan: PipelinePlan, ctx: Any) -> RunRecord:
    """Run one pipeline plan in its own process; a failing stage is a failed record, never a raise."""
    from harness.pipeline_record import base_record, fill_record, precheck_pipeline

    record = base_record(plan, ctx)
    why_not = precheck_pipeline(plan, ctx.cache_dir / "zoo")
    if why_not:
        record.status, record.reason = why_not
        return record
    telemetry = ctx.telemetry
    if telemetry is not None and plan.runner.idle_s > 0:
        telemetry.measure_idle(plan.runner.idle_s)
    mp_ctx = mp.get_context("spawn")
    parent_conn, child_conn = mp_ctx.Pipe()
    mark = mp_ctx.Value("i", -1, lock=False)
    min_window_s = telemetry.min_window_s() if telemetry is not None else 0.0
    process = mp_ctx.Process(target=_child_main, args=(child_conn, plan, str(ctx.cache_dir), mark, min_window_s),
                             name=f"edgebench-pipeline-{plan.label}", daemon=True)
    process.start()
    child_conn.close()
    sup = _supervise(process, parent_conn, plan, mark, telemetry)
    record.phase = sup["phase"]
    fill_record(record, plan, sup)
    return record


def _supervise(process: Any, conn: Any, plan: PipelinePlan, mark: Any, telemetry: Any) -> dict[str, Any]:
    """Sample RSS (labelled by phase and stage) until the child reports, crashes or times out."""
    from harness.runner import _rss_bytes

    deadline = time.monotonic() + plan.runner.timeout_s
    rss: dict[str, list[Any]] = {"t_ns": [], "bytes": [], "phase": [], "stage": []}
    out: dict[str, Any] = {"phase": "start", "rss": rss, "outcome": None, "telemetry": None}
    window: list[int] = []
    next_sample = time.perf_counter()
    try:
        while True:
            next_sample += RSS_SAMPLE_INTERVAL_S
            try:
                ready = conn.poll(max(0.0, next_sample - time.perf_counter()))
            except (EOFError, OSError):
                break
            if time.perf_counter() - next_sample > RSS_SAMPLE_INTERVAL_S:
                next_sample = time.perf_counter()
            value = _rss_bytes(process.pid)
            if value is not None:
                rss["t_ns"].append(time.perf_counter_ns())
                rss["bytes"].append(value)
                rss["phase"].append(out["phase"])
                rss["stage"].append(int(mark.value))
            if ready:
                try:
                    kind, t_ns, payload = conn.recv()
                except (EOFError, OSError):
                    break
                if kind == "phase":
                    out["phase"] = payload["name"]
                elif kind == "steady_start":
                    out["phase"] = "steady"
                    if telemetry is not None:
                        telemetry.start()
                    window = [time.perf_counter_ns()]
                    conn.send("go")
                elif kind == "steady_end":
                    if telemetry is not None:
                        out["telemetry"] = telemetry.stop((window[0], t_ns), payload["n"])
                    window.append(t_ns)
                    out["phase"] = "after_steady"
                    conn.send("ok")
                else:
                    out["outcome"] = (kind, payload)
                    break
            if time.monotonic() > deadline:
                out["outcome"] = ("error", {"reason": f"timed out after {plan.runner.timeout_s:g} s (raise "
                                  "runner.timeout_s, or look for a hang in a stage)", "phase": out["phase"]})
                break
            if not process.is_alive() and not conn.poll(0):
                break
    except KeyboardInterrupt:
        process.kill()
        process.join()
        raise
    finally:
        if process.is_alive() and (out["outcome"] is None or out["outcome"][0] == "error"):
            process.kill()
        process.join(timeout=10)
        conn.close()
        if telemetry is not None and len(window) == 1:
            telemetry.stop((window[0], time.perf_counter_ns()), 0)
    out["exitcode"] = process.exitcode
    return out


def media_key(parts: Iterable[str], inputs: list[list[dict[str, np.ndarray]]]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
    from harness.reference import _inputs_key

    h.update(_inputs_key([f for gen in inputs for f in gen]).encode())
    return h.hexdigest()[:20]

