"""The profile pass: per-operator time from the runtime's own profiler, after the timed rounds.

Never inside them: a profiler perturbs timing, so the pass is separate and the record says what it
cost (``pass_overhead_pct``: the profiled inferences' median latency against the timed rounds' median,
both on the harness's clock). The adapter's ``profile()`` hook drives the runtime; this module owns the
clock around each profiled inference and turns the raw profile into the record's ``profile`` group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ITERATIONS = 20


@dataclass(frozen=True)
class ProfileSettings:
    """``profile:`` in a suite (``true``, or a mapping), or ``--profile`` on ``run``."""

    enabled: bool = False
    iterations: int = DEFAULT_ITERATIONS
    # module name -> glob patterns over model node names; unmatched nodes fall back to the name prefix
    modules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def parse(value: Any, where: str) -> ProfileSettings:
        """From YAML: ``true``/``false`` or ``{iterations: N, modules: {name: [glob, ...]}}``."""
        from harness.errors import UsageError

        if value is None or value is False:
            return ProfileSettings()
        if value is True:
            return ProfileSettings(enabled=True)
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}: profile must be true, false or a mapping with iterations/modules; "
                             f"found {value!r}")
        unknown = set(value) - {"iterations", "modules", "enabled"}
        if unknown:
            raise UsageError(f"{where}: unknown profile key(s) {sorted(unknown)}: expected iterations, modules")
        iterations = value.get("iterations", DEFAULT_ITERATIONS)
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            raise UsageError(f"{where}: profile.iterations must be a positive integer; found {iterations!r}")
        modules = value.get("modules") or {}
        if not isinstance(modules, Mapping) or not all(
                isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v) for v in modules.values()):
            raise UsageError(f"{where}: profile.modules must map a module name to a list of node-name globs, "
                             f"e.g. {{attention: ['*/attn/*']}}; found {modules!r}")
        return ProfileSettings(enabled=bool(value.get("enabled", True)), iterations=iterations,
                               modules={str(k): tuple(v) for k, v in modules.items()})


class ClockedLoop:
    """The loop handed to ``Backend.profile()``: each ``step()`` under ``perf_counter_ns``, ``after()`` untimed."""

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []

    def __call__(self, step: Callable[[], Any], after: Callable[[], Any] | None, iterations: int) -> None:
        clock = time.perf_counter_ns
        for _ in range(iterations):
            t0 = clock()
            step()
            self.latencies_ns.append(clock() - t0)
            if after is not None:
                after()


def model_node_names(path: str | Path, fmt: str) -> list[str]:
    """The ONNX graph's node names (what modules are read from); empty for other formats."""
    if fmt != "onnx":
        return []
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.name]


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def profile_pass(backend: Any, feeds: Mapping[str, Any], settings: ProfileSettings, *, precision: str,
                 timed_latencies_ms: Sequence[float], model_nodes: Sequence[str]) -> dict[str, Any]:
    """Run the backend's profiler over ``settings.iterations`` inferences; the record's ``profile`` group."""
    from results.profile import normalise

    loop = ClockedLoop()
    started = time.perf_counter_ns()
    try:
        raw = backend.profile(feeds, settings.iterations, loop).to_dict()
    except Exception as exc:  # a profiler that fails must not cost the run its timed figures
        raw = {"source": getattr(backend, "name", "?"), "reason": f"the profiler failed: {type(exc).__name__}: "
               f"{str(exc)[:400]}", "nodes": [], "notes": []}
    pass_s = (time.perf_counter_ns() - started) / 1e9
    profiled = _median([ns / 1e6 for ns in loop.latencies_ns])
    timed = _median(list(timed_latencies_ms))
    overhead, why = None, None
    if profiled is not None and timed:
        overhead = 100.0 * (profiled / timed - 1.0)
    elif not loop.latencies_ns:
        why = "the runtime's profiler ran the inferences itself (its own tool), not under the harness's clock"
    else:
        why = "no timed rounds to compare with"
    profile = normalise(raw, model_nodes=model_nodes, modules=settings.modules, requested_precision=precision,
                        pass_overhead_pct=overhead, overhead_reason=why)
    profile["pass_s"] = pass_s
    profile["profiled_p50_ms"] = profiled
    return profile


def profile_phase_pass(phases: Any) -> dict[str, Any]:
    """The profile pass as the run core runs it after the timed rounds: ``passes=[("profile", this)]``.

    Module-level (the process launcher pickles it into the child); reads the plan, the loaded backend, the
    first timing input and every round's latencies from the ``Phases`` object."""
    plan = phases.plan
    windows = getattr(phases.result, "windows", None) or []
    timed_ms = [ns / 1e6 for w in windows for ns in w.latency_ns]  # every round's samples
    return profile_pass(phases.backend, phases.pool[0], plan.profile, precision=plan.precision.name,
                        timed_latencies_ms=timed_ms,
                        model_nodes=model_node_names(phases.source.path, phases.source.format))
