"""The phases of one run, written once for every launcher (a process of its own, or this process).

prepare (convert/quantize, cached) → load/compile → first inference → warm-up → timed window(s)
→ extra passes → evaluation (outputs for quality scoring). ``Phases.run()`` is the default
sequence; each step is a method, so a caller can run several timed windows (rounds: ``warmup()`` +
``timed_window()`` again), add a pass after them (``passes``), or time its own function (a
pipeline's generation) with ``timed_window(call=..., args=...)``. The result is a typed ``PhaseResult``;
``harness.record.record_from`` turns a plan plus that result into a ``RunRecord``.

Phases never measure memory, power or temperature: they tell a ``PhaseListener`` where they are,
and the launcher's trackers do the measuring (in another process, or on a side thread).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backends.base import Backend, ModelSource, TensorSpec
from harness.plan import RunPlan

INPUT_POOL_SIZE = 16  # distinct inputs cycled when fresh_inputs is on

Feeds = dict[str, np.ndarray]


class PhaseListener(Protocol):
    """Who hears where a run is: the process launcher forwards these over its pipe, the in-process
    launcher calls its trackers directly. ``window_open`` returns once the trackers are running."""

    def phase(self, name: str) -> None: ...

    def window_open(self) -> None: ...

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None: ...

    def round_ready(self, index: int) -> bool:
        """Before round ``index``: returns when it is this run's turn; True when other runs ran meanwhile
        (interleaved rounds), so caches may be cold."""


class NullListener:
    """A listener that hears nothing (unit tests, a pass that needs no trackers)."""

    def phase(self, name: str) -> None:
        pass

    def window_open(self) -> None:
        pass

    def window_close(self, window_ns: tuple[int, int], n_inferences: int) -> None:
        pass

    def round_ready(self, index: int) -> bool:
        return False


@dataclass
class TimedWindow:
    """One timed window: per-iteration latencies (and device-side times when the backend has them)."""

    latency_ns: list[int]
    window_ns: tuple[int, int]
    n_inferences: int  # inferences inside the window (energy per inference divides by this)
    hit_max_duration: bool = False
    device_time_ms: list[float] | None = None


#: A timing loop: (call, args, min_iterations, min_duration_s, max_duration_s) -> (latencies_ns, n_inferences).
#: The default is ``timed_loop``; the pytest plugin passes one that lets pytest-benchmark time.
TimedLoop = Callable[[Callable[[Any], Any], Sequence[Any], int, float, float], tuple[list[int], int]]

#: An extra pass after the timed window(s) (e.g. an operator profile): its figures go to
#: ``PhaseResult.passes[name]``.
Pass = Callable[["Phases"], dict[str, Any]]


@dataclass
class PhaseResult:
    """What the phases of one run produced; ``record_from`` turns it into record fields."""

    warnings: list[str] = field(default_factory=list)
    prepare_s: float | None = None
    load_s: float | None = None
    first_inference_ms: float | None = None
    warmup_iterations: int | None = None
    artifact: dict[str, Any] = field(default_factory=dict)
    deployed_bytes: int | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    windows: list[TimedWindow] = field(default_factory=list)
    ru_maxrss_bytes: int | None = None
    quality: dict[str, Any] | None = None
    passes: dict[str, dict[str, Any]] = field(default_factory=dict)
    int8_auto: dict[str, Any] | None = None  # int8-auto's search: plan, sensitivity, pass times
    backend_version: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    executed_precision: dict[str, Any] | None = None  # what the runtime computed in, read back after the runs
    # when conversion/quantization ran in a process of its own: its seconds and peak RSS (ru_maxrss_bytes)
    prepared_apart: dict[str, Any] | None = None


#: Runs a plan's prepare step in a process of its own (so what conversion and quantization leave in memory
#: never counts as the run's) and returns {"prepare_s", "int8_auto", "ru_maxrss_bytes"}; raises what the
#: preparation raised. The process launcher passes ``launchers.prepare_in_own_process``.
PrepareApart = Callable[[RunPlan, Path], dict[str, Any]]


class Phases:
    """The phases of one plan against one backend instance; see the module docstring."""

    def __init__(self, plan: RunPlan, backend: Backend, cache_dir: Path, listener: PhaseListener | None = None,
                 min_window_s: float = 0.0, passes: Sequence[tuple[str, Pass]] = (),
                 prepare_apart: PrepareApart | None = None) -> None:
        self.plan, self.backend, self.cache_dir = plan, backend, Path(cache_dir)
        self.prepare_apart = prepare_apart
        self.listener: PhaseListener = listener or NullListener()
        self.min_window_s = min_window_s
        self.passes = list(passes)
        self.source: ModelSource = plan.resolved_source()
        self.result = PhaseResult()
        self.specs: list[TensorSpec] = []
        self.evaluation: list[Feeds] = []  # float inputs (as the fp32 reference takes them)
        self.raw_pool: list[Feeds] = []
        self.pool: list[Feeds] = []  # the same, cast once to what the artifact takes
        self.phase = "start"

    def _enter(self, name: str) -> None:
        self.phase = name
        self.listener.phase(name)

    # -- the default sequence ------------------------------------------------------------------
    def run(self) -> PhaseResult:
        self.prepare()
        self.load()
        self.first_inference()
        self.warmup()
        self.rounds()
        self.extra_passes()
        self.evaluate()
        return self.finish()

    # -- steps ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        self._enter("prepare")
        apart = None
        if self.prepare_apart is not None:
            # The real work (conversion, calibration, quantization, int8-auto's search) in a throwaway
            # process; below, the same steps only read what it cached, so this process's memory is the
            # deployment's: heap and libraries left by quantizing would inflate every later figure.
            apart = self.prepare_apart(self.plan, self.cache_dir)
        variant = self.plan.variant()
        auto = variant.precision == "int8-auto" and not variant.settings.get("prebuilt")
        calibration = None
        if auto or self.backend.needs_calibration(variant):
            from harness.inputs import calibration_for

            calibration = calibration_for(self.plan, self.source)
        t0 = time.perf_counter_ns()
        if auto:  # the search picks the modules kept in float; the plan then runs as int8 / int8-mixed
            from harness.quant.auto import resolve_for_plan

            variant, self.result.int8_auto = resolve_for_plan(
                self.plan, self.source, self.plan.reference, lambda: type(self.backend)(self.plan.backend_options()),
                self.plan.backend_options(), calibration or [], self.cache_dir)
        self.artifact = self.backend.prepare(self.source, variant, calibration, self.cache_dir / "artifacts")
        self.result.prepare_s = (time.perf_counter_ns() - t0) / 1e9
        self.result.artifact = self.artifact.to_dict()
        if apart is not None:
            self.result.prepared_apart = apart
            self.result.prepare_s = apart["prepare_s"]  # the conversion's time, not the cache read's
            if apart.get("int8_auto") is not None:
                self.result.int8_auto = apart["int8_auto"]  # the search as it ran (timed), not its cache hit

    def load(self) -> None:
        from harness.inputs import as_model_dtype, data_specs, evaluation_for, resolve_specs, timing_inputs

        self._enter("load")
        t0 = time.perf_counter_ns()
        self.backend.load(self.artifact)
        self.result.load_s = (time.perf_counter_ns() - t0) / 1e9
        self.result.deployed_bytes = self.backend.deployed_bytes(self.artifact)
        self.specs, notes = resolve_specs(self.backend.inputs(), self.source.input_shapes)
        self.result.warnings += notes
        self.result.inputs = [s.to_dict() for s in self.specs]
        self.result.outputs = [s.to_dict() for s in self.backend.outputs()]
        floats = data_specs(self.specs)
        self.evaluation = evaluation_for(self.plan, self.source, floats)
        pool_size = INPUT_POOL_SIZE if self.plan.runner.fresh_inputs else 1
        self.raw_pool = timing_inputs(self.plan, self.source, floats, self.evaluation, pool_size)
        self.pool = [as_model_dtype(f, self.specs) for f in self.raw_pool]

    def cast(self, feeds: Mapping[str, Any]) -> Feeds:
        from harness.inputs import as_model_dtype

        return as_model_dtype(feeds, self.specs)

    def first_inference(self) -> None:
        self._enter("first_inference")
        t0 = time.perf_counter_ns()
        self.backend.infer(self.pool[0])
        self.result.first_inference_ms = (time.perf_counter_ns() - t0) / 1e6

    def warmup(self, iterations: int | None = None) -> None:
        """Untimed calls; a later round calls this again to re-warm before its window."""
        self._enter("warmup")
        n = self.plan.runner.warmup if iterations is None else iterations
        for i in range(n):
            self.backend.infer(self.pool[i % len(self.pool)])
        self.result.warmup_iterations = n

    def rounds(self, n: int | None = None) -> None:
        """``n`` rounds (default ``runner.rounds``): each waits for its turn (``round_ready``: other plans'
        rounds run in between when interleaved), re-warms briefly, then runs a full timed window."""
        n = max(1, self.plan.runner.rounds if n is None else n)
        warmup_total = self.result.warmup_iterations or 0
        for r in range(n):
            waited = self.listener.round_ready(r)
            if r > 0 or waited:
                # Caches and clocks may have gone cold while other plans ran: a few untimed calls first.
                self.warmup(self.plan.runner.rewarm_iterations())
                warmup_total += self.result.warmup_iterations or 0
            self.timed_window()
        self.result.warmup_iterations = warmup_total

    def window_bounds_s(self) -> tuple[float, float]:
        """(min, max) duration of a timed window: the runner settings, lengthened for the power sensor."""
        runner = self.plan.runner
        min_duration_s = max(runner.min_duration_s, self.min_window_s)
        if min_duration_s > runner.min_duration_s:
            note = (f"timed window lengthened from {runner.min_duration_s:g} s to {min_duration_s:g} s: "
                    "the power sensor needs about 10 updates for a trustworthy energy figure")
            if note not in self.result.warnings:
                self.result.warnings.append(note)
        return min_duration_s, max(runner.max_duration_s, min_duration_s)

    def timed_window(self, call: Callable[[Any], Any] | None = None, args: Sequence[Any] | None = None,
                     loop: TimedLoop | None = None, min_iterations: int | None = None) -> TimedWindow:
        """One timed window (callable repeatedly: each call appends to ``result.windows``).

        Iteration ``i`` times ``call(args[i % len(args)])`` (default: ``backend.infer`` on the input
        pool; a pipeline passes its generation function); ``loop`` owns the clock (default ``timed_loop``)."""
        min_s, max_s = self.window_bounds_s()
        wanted = self.plan.runner.min_iterations if min_iterations is None else min_iterations
        call = call or self.backend.infer
        args = self.pool if args is None else args
        device_times: list[float | None] = []
        after = None
        if loop is None and self.backend.has_device_time():
            device_time = self.backend.device_time_ms

            def after() -> None:
                device_times.append(device_time())

        self._enter("steady")
        self.listener.window_open()
        latencies, n = [], 0
        w0 = time.perf_counter_ns()
        try:
            if loop is None:
                latencies, n = timed_loop(call, args, wanted, min_s, max_s, after)
            else:
                latencies, n = loop(call, args, wanted, min_s, max_s)
        finally:
            w1 = time.perf_counter_ns()
            self.listener.window_close((w0, w1), n)  # an aborted window closes too
        self.phase = "after_steady"
        window = TimedWindow(latency_ns=latencies, window_ns=(w0, w1), n_inferences=n,
                             hit_max_duration=len(latencies) < wanted)
        if device_times and all(t is not None for t in device_times):
            window.device_time_ms = [float(t) for t in device_times if t is not None]
        self.result.windows.append(window)
        self.result.ru_maxrss_bytes = ru_maxrss_bytes()
        return window

    def extra_passes(self) -> None:
        """Passes after the timed window(s), untimed by the runner's clock (e.g. an operator profile)."""
        for name, run_pass in self.passes:
            self._enter(name)
            self.result.passes[name] = run_pass(self)

    def evaluate(self, inputs: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
        """Outputs on the evaluation set scored against fp32 (None with no evaluation inputs)."""
        from harness.quality.scoring import score

        inputs = list(self.evaluation if inputs is None else inputs)
        if not inputs:
            return None
        self._enter("evaluation")
        outputs = [self.backend.infer(self.cast(f)) for f in inputs]
        self.result.quality = score(self.plan, self.source, self.plan.reference, inputs, outputs, self.cache_dir)
        return self.result.quality

    def finish(self) -> PhaseResult:
        self.result.executed_precision = executed_precision_of(self.backend)
        self.result.run_info = self.backend.run_info()
        self.result.warnings += self.backend.warnings()
        self.result.backend_version = self.backend.version()
        return self.result


def executed_precision_of(backend: Backend) -> dict[str, Any]:
    """The adapter's read-back of what it ran; a failing read-back is an unknown, never a failed run."""
    try:
        return dict(backend.executed_precision())
    except Exception as exc:  # a runtime that cannot describe its compiled model still ran it
        return {"precision": None, "by_type": {}, "unit": None, "source": None,
                "reason": f"reading the executed precision back failed: {type(exc).__name__}: {exc}"[:500]}


def timed_loop(call: Callable[[Any], Any], args: Sequence[Any], min_iterations: int, min_duration_s: float,
               max_duration_s: float, after: Callable[[], None] | None = None) -> tuple[list[int], int]:
    """At least min_iterations AND min_duration, capped by max_duration. GC off while timing.

    ``after`` (accelerator backends): called after each iteration's clock has stopped, so the
    compute-only time (e.g. between CUDA events) is read outside the end-to-end one."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    n_args = len(args)
    min_ns, max_ns = int(min_duration_s * 1e9), int(max_duration_s * 1e9)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        i = 0
        while True:
            arg = args[i % n_args]
            t0 = clock()
            call(arg)
            t1 = clock()
            append(t1 - t0)
            if after is not None:
                after()
            i += 1
            elapsed = t1 - start
            if (i >= min_iterations and elapsed >= min_ns) or elapsed >= max_ns:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return latencies, len(latencies)


def ru_maxrss_bytes() -> int | None:
    """The kernel's high-water mark of this process's RSS."""
    import sys

    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
