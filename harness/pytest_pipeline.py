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

import itertools
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.pipeline_run import PipelinePlan

RSS_SAMPLE_INTERVAL_S = 0.02


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


class _Rss:
    """This process's RSS from a side thread, labelled with the phase and the running stage."""

    def __init__(self) -> None:
        self.series: dict[str, list[Any]] = {"t_ns": [], "bytes": [], "phase": [], "stage": []}
        self.phase = "start"
        self.value = -1  # the stage index the executor marks (shared-memory stand-in)
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._loop, name="edgebench-pipeline-rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_INTERVAL_S):
            try:
                with open("/proc/self/statm") as f:
                    rss = int(f.read().split()[1]) * self._page
            except (OSError, ValueError, IndexError):
                return  # not Linux: memory stays n/a with its reason
            for key, v in (("t_ns", time.perf_counter_ns()), ("bytes", rss), ("phase", self.phase),
                           ("stage", self.value)):
                self.series[key].append(v)

    def start(self) -> _Rss:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)


class LoadedPipeline:
    """A pipeline configuration prepared (and, resident, loaded) in this process."""

    def __init__(self, plan: PipelinePlan, session: Any) -> None:
        from harness.pipeline import Executor
        from harness.pipeline_record import base_record
        from harness.pipeline_run import _Child, _prepare_stages

        self.plan, self.session = plan, session
        self.rss = _Rss().start()
        self.record = base_record(plan, _Ctx(session))
        self.child = _Child(plan, session.cache_dir, self.rss)
        self.result: dict[str, Any] = {}
        self.rss.phase = "prepare"
        runtimes = _prepare_stages(self.child, self.result)
        self.rss.phase = "load"
        self.executor = Executor(plan.pipeline, runtimes, staged=plan.resident == "staged", mark=self.child.mark)
        self.result["load_ns"] = self.executor.load_all() if plan.resident == "all" else {}
        specs = self.child.external_specs(runtimes)
        self.inputs = self.child.generation_feeds(specs, "evaluation", plan.pipeline.generations)

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
        self.executor.close_all()
        self.rss.stop()

    def measure(self, benchmark: Any = None) -> Any:
        """Time whole generations with pytest-benchmark (≥ 3 rounds) and return the RunRecord."""
        from harness.pipeline_record import fill_record
        from harness.pipeline_run import _summary
        from harness.pytest_plugin import extra_info

        plan, gens = self.plan, []
        self.rss.phase = "first_inference"
        self.result["cold_generation"] = _summary(self.executor.generate(self.inputs[0], plan.steps))
        cycle = itertools.cycle(self.inputs)

        def generate(feeds: Any) -> None:
            gens.append(self.executor.generate(feeds, plan.steps))

        self.rss.phase = "steady"
        telemetry = self.session.telemetry
        enabled = benchmark is not None and getattr(benchmark, "enabled", False)
        rounds = plan.pipeline.generations if enabled else 1
        telemetry.start()
        w0 = time.perf_counter_ns()
        try:
            if benchmark is not None:
                benchmark.group = benchmark.group or plan.pipeline.name
                benchmark.pedantic(generate, setup=lambda: ((next(cycle),), {}), rounds=rounds,
                                   warmup_rounds=plan.pipeline.warmup_generations if enabled else 0, iterations=1)
            else:
                generate(self.inputs[0])
        finally:
            telemetry_result = telemetry.stop((w0, time.perf_counter_ns()), max(len(gens), 1))
        timed = gens[-rounds:]  # pytest-benchmark's warm-up rounds come first
        self.rss.phase = "evaluation"
        self.result["generations"] = [_summary(g) for g in timed]
        self.result["quality"] = self.child_quality([m for g in timed for m in g.media])
        self.result["warnings"] = self.child.warnings
        self.rss.stop()
        fill_record(self.record, plan, {"outcome": ("result", {"result": self.result}), "rss": self.rss.series,
                                        "phase": "evaluation", "telemetry": telemetry_result})
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

    def child_quality(self, media: list[Any]) -> dict[str, Any]:
        from harness.pipeline_quality import score_media

        if len(media) < len(self.inputs) * self.plan.pipeline.chunks:  # a smoke run: score what there is
            self.child.spec = _with_generations(self.child.spec, max(1, len(media) // self.plan.pipeline.chunks))
        return score_media(self.child, media)


def _with_generations(spec: Any, n: int) -> Any:
    import dataclasses

    return dataclasses.replace(spec, generations=n)


class _Ctx:
    def __init__(self, session: Any) -> None:
        self.device, self.environment = session.device, session.environment


@pytest.fixture
def edgebench_pipeline(edgebench_pipeline_case: PipelinePlan, edgebench_session: Any) -> Iterable[LoadedPipeline]:
    """The pipeline configuration of ``edgebench_pipeline_case``, prepared and loaded; skips when it cannot run."""
    pipe = LoadedPipeline.open(edgebench_pipeline_case, edgebench_session)
    try:
        yield pipe
    finally:
        pipe.close()
