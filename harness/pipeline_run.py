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
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import ModelSource, TensorSpec, atomic_path, file_sha256, format_of
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
        """One feed per stage's unwired input: named ``input``, or ``stage.input`` when several stages
        have an unwired input of that name (two stages never share a feed by accident of naming)."""
        wired = {tuple(d.split(".", 1)) for d in self.spec.wiring}
        unwired = [(name, s) for name, rt in runtimes.items() for s in rt.inputs
                   if (name, s.name) not in wired and s.name != rt.spec.timestep]
        counts: dict[str, int] = {}
        for _, s in unwired:
            counts[s.name] = counts.get(s.name, 0) + 1
        return [TensorSpec(s.name if counts[s.name] == 1 else f"{name}.{s.name}", s.shape,
                           "float32" if s.dtype in ("int8", "uint8", "float16") else s.dtype, s.layout)
                for name, s in unwired]

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
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, **{f"{stage}/{i}/{name}": v for stage, calls in sink.items()
                                 for i, feeds in enumerate(calls) for name, v in feeds.items()})
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
    """Prepare every stage with one backend instance each (closed once its artifact is built); each
    load then opens a fresh instance and notes its version, facts and deployed bytes in ``info``."""
    from backends import get_backend

    runtimes = {}
    for s in child.spec.stages:
        sp = child.plan.stage_plan(s)
        variant = sp.variant()
        backend_cls = get_backend(sp.backend.name)
        preparer = backend_cls(sp.backend_options())
        try:
            calibration = None
            if preparer.needs_calibration(variant):
                calibration = _LazyCalibration(child.captured, s.name, sp.data.calibration)
            t0 = time.perf_counter_ns()
            artifact = preparer.prepare(child.sources[s.name], variant, calibration, child.cache_dir / "artifacts")
        finally:
            preparer.close()
        stage_info = info[s.name] = {"prepare_s": (time.perf_counter_ns() - t0) / 1e9, "artifact": artifact.to_dict(),
                                     "precision": sp.precision.name, "backend": sp.backend.name,
                                     "sha256": child.sources[s.name].sha256}

        def open_(cls: Any = backend_cls, sp: RunPlan = sp, artifact: Any = artifact,
                  stage_info: dict[str, Any] = stage_info) -> Any:
            backend = cls(sp.backend_options())
            backend.load(artifact)
            if "version" not in stage_info:  # once: a staged stage loads again in every generation
                # Deployed bytes (an engine built at load) and the runtime's facts are known once loaded.
                stage_info.update(deployed_bytes=backend.deployed_bytes(artifact), version=backend.version(),
                                  info=backend.run_info())
            return backend

        runtimes[s.name] = child._runtime(s, open_, child.sources[s.name])
    return runtimes


@dataclass
class PipelineResult(PhaseResult):
    """A pipeline run's phases: the single-model fields (one latency sample per generation, one window
    per round) plus each stage's preparation, the resident loads and every timed generation's stage calls."""

    stages: dict[str, Any] = field(default_factory=dict)
    load_ns: dict[str, int] = field(default_factory=dict)
    cold_generation: dict[str, Any] = field(default_factory=dict)
    generations: list[dict[str, Any]] = field(default_factory=list)


class PipelinePhases:
    """The phases of ``harness.phases.Phases`` for a whole generation: the same listener markers, round
    gates and timed windows (a generation is one iteration), with every stage prepared and loaded, and
    quality scored on the final media."""

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
        self._timed: list[Generation] = []

    def _enter(self, name: str) -> None:
        self.phase = name
        self.listener.phase(name)

    def run(self) -> PipelineResult:
        self.prepare()
        self.load()
        self.first_inference()
        self.warmup()
        self.rounds()
        self.evaluate()
        return self.finish()

    def prepare(self) -> None:
        self._enter("prepare")
        self.runtimes = _prepare_stages(self.child, self.result.stages)
        self.result.prepare_s = sum(s["prepare_s"] for s in self.result.stages.values())
        self.result.artifact = {n: s["artifact"] for n, s in self.result.stages.items()}

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
        """One generation on ``feeds`` (one of ``self.inputs``: the generation notes which, so its media
        are scored against the reference made from the same input, whatever order a loop used)."""
        assert self.executor is not None
        gen = self.executor.generate(feeds, self.plan.steps)
        gen.input_index = next((i for i, x in enumerate(self.inputs) if x is feeds), None)
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

    def rounds(self, n: int | None = None) -> None:
        """``n`` rounds (default ``runner.rounds``), as single runs have: each waits at its gate, re-warms
        with one generation (after the first), then times a window of at least ``generations``."""
        n = max(1, self.plan.runner.rounds if n is None else n)
        warmup_total = self.result.warmup_iterations or 0
        for r in range(n):
            waited = self.listener.round_ready(r)
            if r > 0 or waited:
                self.warmup(1)  # caches and clocks may have gone cold since the last window
                warmup_total += 1
            self.timed_window()
        self.result.warmup_iterations = warmup_total

    def timed_window(self, loop: Any = None) -> Any:
        """Timed generations: at least ``generations`` (≥ 3), lengthened to the power sensor's window
        but not past ``runner.max_duration_s``; ``loop`` (pytest-benchmark's) owns the clock instead."""
        from harness.phases import TimedWindow, ru_maxrss_bytes

        wanted = self.plan.pipeline.generations
        min_s, max_s = self.window_bounds_s()
        self._enter("steady")
        self.listener.window_open()
        first = len(self._gens)
        w0 = time.perf_counter_ns()
        latencies: list[int] = []
        n = 0
        try:
            if loop is None:
                latencies, n = _generation_loop(self.generate, self.inputs, wanted, min_s, max_s)
            else:
                latencies, n = loop(self.generate, self.inputs, wanted, min_s, float("inf"))
        finally:
            w1 = time.perf_counter_ns()
            self.listener.window_close((w0, w1), len(self._gens) - first)
        self.phase = "after_steady"
        timed = self._gens[first:][-len(latencies):] if latencies else []
        self.result.generations += [_summary(g) for g in timed]
        cut = loop is None and (w1 - w0) / 1e9 < min_s
        window = TimedWindow(latency_ns=[g.total_ns for g in timed], window_ns=(w0, w1), n_inferences=n,
                             hit_max_duration=cut)
        self.result.windows.append(window)
        self.result.ru_maxrss_bytes = ru_maxrss_bytes()
        self._timed += timed
        return window

    def window_bounds_s(self) -> tuple[float, float]:
        """(min, max) seconds of a window beyond its generations: the power sensor's need, capped."""
        runner = self.plan.runner
        min_s = self.min_window_s
        if min_s > 0:
            note = (f"timed window lengthened to {min(min_s, runner.max_duration_s):g} s (at least "
                    f"{self.plan.pipeline.generations} generations): the power sensor needs about 10 updates "
                    "for a trustworthy energy figure")
            if min_s > runner.max_duration_s:
                note += f"; capped by max_duration_s ({runner.max_duration_s:g} s), so energy may be less certain"
            if note not in self.result.warnings:
                self.result.warnings.append(note)
        return min_s, runner.max_duration_s

    def evaluate(self) -> dict[str, Any]:
        """The timed generations' media (the first ``generations`` of them) against the fp32 reference
        made from each one's own input."""
        from harness.pipeline_quality import score_media

        self._enter("evaluation")
        scored = [g for g in self._timed if g.input_index is not None][: self.plan.pipeline.generations]
        self.result.quality = score_media(self.child, [(g.input_index, self.inputs[g.input_index], g.media)
                                                       for g in scored if g.input_index is not None])
        return self.result.quality

    def finish(self) -> PipelineResult:
        if self.executor is not None:
            self.executor.close_all()
        stages = self.result.stages.values()
        bytes_ = [s.get("deployed_bytes") for s in stages]
        self.result.deployed_bytes = sum(bytes_) if bytes_ and None not in bytes_ else None
        versions = {s["backend"]: s.get("version") for s in stages}
        self.result.backend_version = versions.get(self.plan.backend.name)
        self.result.run_info = {n: {"backend": s["backend"], "version": s.get("version"), **(s.get("info") or {})}
                                for n, s in self.result.stages.items()}
        self.result.warnings += self.child.warnings
        return self.result


def _generation_loop(generate: Any, inputs: list[Any], wanted: int, min_s: float, max_s: float,
                     clock: Any = time.perf_counter_ns) -> tuple[list[int], int]:
    """At least ``wanted`` generations, then more until ``min_s`` seconds (the power sensor's window)
    unless ``max_s`` has passed; GC off while timing."""
    import gc

    gc_was = gc.isenabled()
    gc.disable()
    latencies: list[int] = []
    try:
        start = clock()
        while True:
            elapsed_s = (clock() - start) / 1e9
            if len(latencies) >= wanted and (elapsed_s >= min_s or elapsed_s >= max_s):
                break
            latencies.append(generate(inputs[len(latencies) % len(inputs)]).total_ns)
    finally:
        if gc_was:
            gc.enable()
    return latencies, len(latencies)


def _summary(g: Generation) -> dict[str, Any]:
    return {"total_ns": g.total_ns, "first_chunk_ns": g.first_chunk_ns, "calls_ns": g.calls_ns,
            "step_ns": g.step_ns, "load_ns": g.load_ns, "input_index": g.input_index}


def pipeline_phases(plan: PipelinePlan, cache_dir: Path, listener: Any, window_s: float, passes: Any,
                    mark: Any = None) -> PipelinePhases:
    """The child's phases of a pipeline run (``ProcessLauncher(make_phases=...)``; ``passes`` unused)."""
    return PipelinePhases(plan, cache_dir, listener, window_s, mark)


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
    launcher = ProcessLauncher(ctx.cache_dir, make_phases=pipeline_phases, phases_args=(mark,))
    outcome = launcher.launch(plan, pipeline_trackers(plan, ctx, mark))  # type: ignore[arg-type]
    return record_of(record, plan, outcome)


def media_key(parts: Iterable[str], inputs: list[list[dict[str, np.ndarray]]]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
    from harness.reference import _inputs_key

    h.update(_inputs_key([f for gen in inputs for f in gen]).encode())
    return h.hexdigest()[:20]

