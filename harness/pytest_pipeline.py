"""pytest-benchmark for pipelines: one pipeline configuration (backend · precision · steps ·
memory strategy) is one test case, and one pytest-benchmark round is one whole generation.

    from harness.pytest_pipeline import edgebench_pipeline_cases

    @pytest.mark.parametrize("edgebench_pipeline_case", edgebench_pipeline_cases(
        "talking-head-gen", steps=[4], precisions=["fp32", "int8"]))
    def test_generation(edgebench_pipeline, benchmark):
        record = edgebench_pipeline.measure(benchmark)   # pipeline.rtf, stage shares, quality, …

The stages are prepared and loaded in the test's process (as the plugin does for single models);
the figures are those of ``edgebench run`` (``pipeline.*``), and the record is stored with
``--edgebench-store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin imports this module: keep its import free of numpy and runtimes
    from harness.pipeline_run import PipelinePlan


def edgebench_pipeline_cases(pipeline: str | dict[str, Any], *, steps: Sequence[int] | None = None,
                             backends: Sequence[Any] | None = None, precisions: Sequence[Any] | None = None,
                             resident: str | Sequence[str] | None = None, runner: dict[str, Any] | None = None,
                             data: dict[str, Any] | None = None) -> list[Any]:
    """``pytest.param`` per configuration of a zoo pipeline (by name) or a suite's pipeline entry (a dict)."""
    from harness.pipeline_run import expand_pipelines
    from harness.plan import runner_settings
    from harness.suite import parse_suite

    entry: dict[str, Any] = {"zoo": pipeline} if isinstance(pipeline, str) else dict(pipeline)
    if steps is not None:
        entry["steps"] = list(steps)
    if resident is not None:
        entry["resident"] = resident
    raw: dict[str, Any] = {"name": "pytest-pipelines", "pipelines": [entry],
                           "backends": list(backends or ["onnxruntime"]), "precisions": list(precisions or ["fp32"])}
    if runner:
        raw["runner"] = dict(runner)
    if data:
        raw["data"] = dict(data)
    suite = parse_suite(raw, source="edgebench_pipeline_cases(...)", base=Path.cwd())
    plans = expand_pipelines(suite, runner_settings(suite))
    return [pytest.param(p, id="-".join([p.pipeline.name, p.backend.name, p.precision.name, f"{p.steps}steps",
                                         p.resident])) for p in plans]


class _Mark:
    """The running stage's index, set by the executor and read by the memory tracker's thread."""

    value = -1


class _Ctx:
    def __init__(self, session: Any) -> None:
        self.device, self.environment = session.device, session.environment
        self.telemetry, self.device_options = session.telemetry, dict(session.profile.options)


class LoadedPipeline:
    """A pipeline configuration prepared (and, resident, loaded) in this process by the same
    ``PipelinePhases`` and trackers ``edgebench run`` uses, through the in-process launcher."""

    def __init__(self, plan: PipelinePlan, session: Any) -> None:
        from harness.launchers import InProcessLauncher
        from harness.pipeline_record import base_record
        from harness.pipeline_run import PipelinePhases, pipeline_trackers

        self.plan, self.session = plan, session
        ctx = _Ctx(session)
        self.record = base_record(plan, ctx)
        mark = _Mark()
        self.launcher = InProcessLauncher(pipeline_trackers(plan, ctx, mark, in_process=True)).start()
        self.phases = PipelinePhases(plan, session.cache_dir, self.launcher.listener, self.launcher.min_window_s(),
                                     mark)
        try:
            self.phases.prepare()
            self.phases.load()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, plan: PipelinePlan, session: Any) -> LoadedPipeline:
        from backends.base import UnsupportedVariant
        from harness.pipeline_record import precheck_pipeline

        why = precheck_pipeline(plan, session.cache_dir / "zoo")
        if why:
            (pytest.skip if why[0] == "skipped" else pytest.fail)(why[1])
        try:
            return cls(plan, session)
        except UnsupportedVariant as exc:
            pytest.skip(str(exc))

    def close(self) -> None:
        if getattr(self, "phases", None) is not None and self.phases.executor is not None:
            self.phases.executor.close_all()
        self.launcher.stop(None)

    def measure(self, benchmark: Any = None) -> Any:
        """Time whole generations with pytest-benchmark (≥ 3 rounds) and return the RunRecord."""
        from harness.pipeline_record import fill_record
        from harness.pytest_plugin import extra_info
        from harness.record import apply_figures

        plan, phases = self.plan, self.phases
        enabled = benchmark is not None and getattr(benchmark, "enabled", False)
        self.launcher.settle()
        phases.first_inference()
        if benchmark is not None:
            benchmark.group = benchmark.group or plan.pipeline.name
        phases.timed_window(loop=_loop(benchmark, enabled, plan.pipeline.generations, plan.pipeline.warmup_generations))
        phases.evaluate()
        result = phases.finish()
        apply_figures(self.record, self.launcher.stop(result))
        fill_record(self.record, plan, result)
        self.record.extra["mode"] = "benchmark" if enabled else "smoke"
        if benchmark is not None:
            benchmark.extra_info.update(extra_info(self.record))
            headline = ("generation_s", "rtf", "x_realtime", "first_chunk_s", "steps", "resident")
            benchmark.extra_info.update({k: (self.record.pipeline or {}).get(k) for k in headline})
            benchmark.extra_info["record"]["pipeline"] = self.record.pipeline  # import-pytest restores it
        if enabled and self.session.save_records:
            from results.store import ResultStore

            with ResultStore(self.session.out_dir / "edgebench.sqlite") as store:
                store.save(self.record)
        return self.record


def _loop(benchmark: Any, enabled: bool, rounds: int, warmup_rounds: int) -> Any:
    """The timed window's loop: pytest-benchmark times each generation (one round each); disabled
    (or no benchmark), one untimed-by-pytest generation, a smoke test."""
    if enabled:
        from harness.pytest_plugin import pedantic_loop

        return pedantic_loop(benchmark, rounds, warmup_rounds)

    def once(call: Any, args: Sequence[Any], *_: Any) -> tuple[list[int], int]:
        gen = benchmark.pedantic(call, args=(args[0],), rounds=1) if benchmark is not None else call(args[0])
        return [gen.total_ns], 1

    return once


@pytest.fixture
def edgebench_pipeline(edgebench_pipeline_case: PipelinePlan, edgebench_session: Any) -> Iterable[LoadedPipeline]:
    """The pipeline configuration of ``edgebench_pipeline_case``, prepared and loaded; skips when it cannot run."""
    pipe = LoadedPipeline.open(edgebench_pipeline_case, edgebench_session)
    try:
        yield pipe
    finally:
        pipe.close()
