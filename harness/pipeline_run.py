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

import dataclasses
import hashlib
import multiprocessing as mp
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import ModelSource, TensorSpec, UnsupportedVariant, file_sha256, format_of
from harness.phases import PhaseResult
from harness.pipeline import Executor, Generation, StageRuntime
from harness.pipeline_spec import PipelineSpec, StageSpec
from harness.plan import RunPlan, check_model_file, model_source
from harness.suite import BackendSpec, DataSettings, PrecisionSpec, RunnerSettings, Suite
from results.schema import RunRecord

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
    backend_defaults: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)  # the profile's

    @property
    def label(self) -> str:
        return (f"{self.pipeline.name} · {self.backend.name} · {self.precision.name} · {self.steps} steps"
                + (" · staged" if self.resident == "staged" else ""))

    def stage_plan(self, stage: StageSpec) -> RunPlan:
        """The single-model plan of one stage: the stage's own backend/precision, else the pipeline's."""
        from harness.plan import with_defaults

        return RunPlan(model=stage.model, backend=with_defaults(stage.backend or self.backend, self.backend_defaults),
                       precision=stage.precision or self.precision, runner=self.runner, data=self.data,
                       device=self.device, suite=self.suite)


def expand_pipelines(suite: Suite, runner: RunnerSettings, device: str = "host",
                     backend_defaults: dict[str, dict[str, Any]] | None = None) -> list[PipelinePlan]:
    """Pipelines × backends × precisions × steps × resident, in that nesting order; a device profile's
    backend options (``backend_defaults``) sit under the suite's, as for single models."""
    return [
        PipelinePlan(pipeline=p, backend=b, precision=q, steps=n, resident=r, runner=runner, data=suite.data,
                     device=device, suite=suite.name, backend_defaults=dict(backend_defaults or {}))
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


def _prepare_stages(child: _Child, info: dict[str, Any]) -> dict[str, StageRuntime]:
    from backends import get_backend

    runtimes = {}
    for s in child.spec.stages:
        sp = child.plan.stage_plan(s)
        variant = sp.variant()
        backend_cls = get_backend(sp.backend.name)
        calibration = None
        if backend_cls(sp.backend_options()).needs_calibration(variant):
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
    return runtimes


@dataclass
class PipelineResult(PhaseResult):
    """A pipeline run's phases: the single-model fields (one latency sample per generation) plus each
    stage's preparation, the resident loads and every timed generation's stage calls."""

    stages: dict[str, Any] = field(default_factory=dict)
    load_ns: dict[str, int] = field(default_factory=dict)
    cold_generation: dict[str, Any] = field(default_factory=dict)
    generations: list[dict[str, Any]] = field(default_factory=list)


class PipelinePhases:
    """The phases of ``harness.phases.Phases`` for a whole generation: the same listener markers and
    timed window (a generation is one iteration, so a round of rounds is a set of generations), with
    every stage prepared and loaded, and quality scored on the final media."""

    def __init__(self, plan: PipelinePlan, cache_dir: Path, listener: Any = None, min_window_s: float = 0.0,
                 mark: Any = None) -> None:
        from harness.phases import NullListener

        self.plan, self.listener, self.min_window_s = plan, listener or NullListener(), min_window_s
        self.child = _Child(plan, Path(cache_dir), mark)
        self.result = PipelineResult()
        self.phase = "start"
        self.executor: Executor | None = None
        self.inputs: list[list[dict[str, np.ndarray]]] = []
        self._gens: list[Generation] = []

    def _enter(self, name: str) -> None:
        self.phase = name
        self.listener.phase(name)

    def run(self) -> PipelineResult:
        self.prepare()
        self.load()
        self.first_inference()
        self.warmup()
        self.timed_window()
        self.evaluate()
        return self.finish()

    def prepare(self) -> None:
        self._enter("prepare")
        self.runtimes = _prepare_stages(self.child, self.result.stages)
        self.result.prepare_s = sum(s["prepare_s"] for s in self.result.stages.values())
        self.result.artifact = {n: s["artifact"] for n, s in self.result.stages.items()}
        self.result.deployed_bytes = sum(int(s["artifact"].get("bytes") or 0) for s in self.result.stages.values())

    def load(self) -> None:
        self._enter("load")
        plan = self.plan
        self.executor = Executor(plan.pipeline, self.runtimes, staged=plan.resident == "staged", mark=self.child.mark)
        self.result.load_ns = self.executor.load_all() if plan.resident == "all" else {}
        self.result.load_s = sum(self.result.load_ns.values()) / 1e9 if self.result.load_ns else None
        specs = self.child.external_specs(self.runtimes)
        self.inputs = self.child.generation_feeds(specs, "evaluation", plan.pipeline.generations)
        self.result.inputs = [s.to_dict() for s in specs]

    def generate(self, feeds: list[dict[str, np.ndarray]]) -> Generation:
        assert self.executor is not None
        gen = self.executor.generate(feeds, self.plan.steps)
        self._gens.append(gen)
        return gen

    def first_inference(self) -> None:
        self._enter("first_inference")
        self.result.cold_generation = _summary(self.generate(self.inputs[0]))
        self.result.first_inference_ms = self.result.cold_generation["total_ns"] / 1e6

    def warmup(self, generations: int | None = None) -> None:
        self._enter("warmup")
        n = self.plan.pipeline.warmup_generations if generations is None else generations
        for i in range(n):
            self.generate(self.inputs[i % len(self.inputs)])
        self.result.warmup_iterations = n

    def timed_window(self, loop: Any = None) -> Any:
        """Timed generations: at least ``generations`` (≥ 3) and the power sensor's window."""
        from harness.phases import TimedWindow, ru_maxrss_bytes

        wanted = self.plan.pipeline.generations
        self._enter("steady")
        self.listener.window_open()
        first = len(self._gens)
        w0 = time.perf_counter_ns()
        try:
            if loop is None:
                latencies, n = _generation_loop(self.generate, self.inputs, wanted, self.min_window_s)
            else:
                latencies, n = loop(self.generate, self.inputs, wanted, self.min_window_s, float("inf"))
        finally:
            w1 = time.perf_counter_ns()
            self.listener.window_close((w0, w1), len(self._gens) - first)
        self.phase = "after_steady"
        timed = self._gens[first:][-len(latencies):] if latencies else []
        self.result.generations = [_summary(g) for g in timed]
        window = TimedWindow(latency_ns=[g.total_ns for g in timed], window_ns=(w0, w1), n_inferences=n)
        self.result.windows.append(window)
        self.result.ru_maxrss_bytes = ru_maxrss_bytes()
        self._timed = timed
        return window

    def evaluate(self) -> dict[str, Any]:
        from harness.pipeline_quality import score_media

        self._enter("evaluation")
        media = [m for g in self._timed[: self.plan.pipeline.generations] for m in g.media]
        if len(self._timed) < self.plan.pipeline.generations:  # a smoke run: score what there is
            self.child.spec = dataclasses.replace(self.child.spec, generations=max(1, len(self._timed)))
        self.result.quality = score_media(self.child, media)
        return self.result.quality

    def finish(self) -> PipelineResult:
        if self.executor is not None:
            self.executor.close_all()
        self.result.warnings += self.child.warnings
        return self.result


def _generation_loop(generate: Any, inputs: list[Any], wanted: int, min_window_s: float) -> tuple[list[int], int]:
    """At least ``wanted`` generations and ``min_window_s`` seconds; GC off while timing."""
    import gc

    gc_was = gc.isenabled()
    gc.disable()
    latencies: list[int] = []
    try:
        start = time.perf_counter_ns()
        while len(latencies) < wanted or (time.perf_counter_ns() - start) / 1e9 < min_window_s:
            latencies.append(generate(inputs[len(latencies) % len(inputs)]).total_ns)
    finally:
        if gc_was:
            gc.enable()
    return latencies, len(latencies)


def _summary(g: Generation) -> dict[str, Any]:
    return {"total_ns": g.total_ns, "first_chunk_ns": g.first_chunk_ns, "calls_ns": g.calls_ns,
            "step_ns": g.step_ns, "load_ns": g.load_ns}


def pipeline_child_main(conn: Any, plan: PipelinePlan, cache_dir: str, window_s: float, parent_pid: int,
                        passes: Any = (), mark: Any = None) -> None:
    """The child entry of a pipeline run (``ProcessLauncher(child=...)``): the generation phases, then
    ("result", PipelineResult) or ("skipped"/"error", ...), as ``launchers.child_main`` does."""
    import traceback

    from harness.launchers import PipeListener, die_with_parent

    die_with_parent(parent_pid)
    listener = PipeListener(conn)
    phases: PipelinePhases | None = None
    try:
        phases = PipelinePhases(plan, Path(cache_dir), listener, window_s, mark)
        listener.send("result", result=phases.run())
    except UnsupportedVariant as exc:
        listener.send("skipped", reason=str(exc), phase=phases.phase if phases else "start")
    except BaseException as exc:  # the parent turns this into a failed record
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        listener.send("error", reason=f"{type(exc).__name__}: {exc}"[:2000], phase=phases.phase if phases else "start",
                      where=where, traceback="".join(traceback.format_exception(exc))[-8000:])
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------


def pipeline_trackers(plan: PipelinePlan, ctx: Any, mark: Any, in_process: bool = False) -> list[Any]:
    """The run core's default trackers, with memory labelled by the running stage."""
    from harness.pipeline_record import StageMemoryTracker
    from harness.trackers import MemoryTracker, default_trackers

    others = [t for t in default_trackers(ctx.telemetry, plan.runner, ctx.device_options, in_process=in_process)
              if not isinstance(t, MemoryTracker)]
    return [StageMemoryTracker(mark, [s.name for s in plan.pipeline.stages], in_process=in_process), *others]


def run_pipeline_plan(plan: PipelinePlan, ctx: Any) -> RunRecord:
    """Run one pipeline plan through the process launcher (isolation, timeout, trackers); a failing
    stage is a failed record, never a raise."""
    from harness.launchers import ProcessLauncher
    from harness.pipeline_record import base_record, precheck_pipeline, record_of

    record = base_record(plan, ctx)
    why_not = precheck_pipeline(plan, ctx.cache_dir / "zoo")
    if why_not:
        record.status, record.reason = why_not
        return record
    mark = mp.get_context("spawn").Value("i", -1, lock=False)
    launcher = ProcessLauncher(ctx.cache_dir, child=pipeline_child_main, child_args=(mark,))
    outcome = launcher.launch(plan, pipeline_trackers(plan, ctx, mark))  # type: ignore[arg-type]
    return record_of(record, plan, outcome)


def media_key(parts: Iterable[str], inputs: list[list[dict[str, np.ndarray]]]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
    from harness.reference import _inputs_key

    h.update(_inputs_key([f for gen in inputs for f in gen]).encode())
    return h.hexdigest()[:20]

