"""A pipeline run's record: the ``pipeline`` group (end-to-end time, RTF, stage shares, steps) and
the usual groups (``latency_ms`` holds the generation times, one sample per generation)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.trackers import Figures, MemoryTracker, rss_bytes
from results import stats
from results.schema import RunRecord, new_run_id, sanitize


def base_record(plan: Any, ctx: Any) -> RunRecord:
    spec = plan.pipeline
    stage_over = {s.name: {"precision": (s.precision or plan.precision).name,
                           "backend": (s.backend or plan.backend).name} for s in spec.stages}
    return RunRecord(
        run_id=new_run_id(), status="ok", precision=plan.precision.name,
        model={"name": spec.name, "zoo": spec.zoo, "kind": "pipeline"},
        backend={"name": plan.backend.name, "options": plan.stage_plan(spec.stages[0]).backend_options()},
        device=dict(ctx.device), suite=plan.suite,
        variant={"precision": plan.precision.name, "settings": dict(plan.precision.settings)},
        environment=ctx.environment, runner=dataclasses.asdict(plan.runner),
        pipeline={"name": spec.name, "steps": plan.steps, "chunks": spec.chunks, "media_s": spec.media_seconds,
                  "resident": plan.resident, "sampler": spec.sampler, "generations": None,
                  "stages": {n: {"repeat": spec.stage(n).repeat, **v} for n, v in stage_over.items()}},
    )


def precheck_pipeline(plan: Any, zoo_dir: Path) -> tuple[str, str] | None:
    """(status, reason) when a stage cannot run here (skipped) or its file is bad (failed), else None."""
    from backends import get_backend
    from harness.pipeline_run import stage_source
    from harness.runner import precheck

    for stage in plan.pipeline.stages:
        sp = plan.stage_plan(stage)
        why = precheck(sp)
        if why:
            return "skipped", f"stage {stage.name}: {why}"
        try:
            source = stage_source(stage, sp.precision.name, zoo_dir)
        except UsageError as exc:
            return "failed", f"stage {stage.name}: {exc}"
        if source.format not in get_backend(sp.backend.name).source_formats:
            return "skipped", f"stage {stage.name}: {sp.backend.name} does not run {source.format} models"
    return None


def record_of(record: RunRecord, plan: Any, outcome: Any) -> RunRecord:
    """The record of a launched pipeline run (``launchers.Outcome``), whatever its end."""
    from harness.record import apply_figures

    record.phase = outcome.phase
    if outcome.kind == "result" and outcome.result is not None:
        apply_figures(record, outcome.figures)
        fill_record(record, plan, outcome.result)
        return record
    for fig in outcome.figures:
        record.extra.update(fig.extra)
    payload = outcome.payload
    if outcome.kind == "skipped":
        record.status, record.reason = "skipped", payload["reason"]
    elif outcome.kind == "error":
        record.status = "failed"
        record.reason = f"{payload['reason']} (phase {payload.get('phase', outcome.phase)}{payload.get('where', '')})"
        if payload.get("traceback"):
            record.extra["traceback"] = payload["traceback"]
    else:
        code = outcome.exitcode
        how = f"was killed by {_signal_name(code)}" if code is not None and code < 0 else f"exited with code {code}"
        record.status, record.reason = "failed", f"the pipeline's process {how} during phase {outcome.phase}"
    return record


def _signal_name(code: int) -> str:
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def fill_record(record: RunRecord, plan: Any, result: Any) -> None:
    """A finished pipeline run's figures (``result``: a PipelineResult); memory, power and thermal are
    already in the record from the trackers."""
    from harness.record import quality_warnings

    gens = result.generations
    totals_ms = [g["total_ns"] / 1e6 for g in gens]
    record.latency_ms = stats.summarize(totals_ms)
    record.throughput_ips, record.items_per_s = stats.throughput(totals_ms, 1)
    record.first_inference_ms = result.first_inference_ms
    record.warmup_iterations = result.warmup_iterations
    record.prepare_s = result.prepare_s
    record.load_s = result.load_s if result.load_s is not None else _median_load_s(gens)
    record.artifact = dict(result.artifact)
    record.artifact_bytes = result.deployed_bytes or None
    record.pipeline = pipeline_figures(plan, result, record.memory or {})
    record.warnings += list(result.warnings)
    if len(gens) < 64:
        record.warnings.append(f"{len(gens)} generations timed: the p90 of generation time needs 64 (the median is "
                               "what the pipeline figures use)")
    if result.quality:
        record.quality = sanitize(result.quality)
        record.warnings += quality_warnings(result.quality, plan.data.fidelity_floor_db)
    power = record.power or {}
    energy_mj = power.get("energy_per_inference_mj")  # the window's inferences are generations
    record.pipeline["energy_per_generation_j"] = energy_mj / 1e3 if energy_mj is not None else None
    if energy_mj is None:
        record.pipeline["energy_reason"] = power.get("reason") or "no power source measured on this device"
    record.samples["latency_ms"] = totals_ms
    record.samples["step_ms"] = [ns / 1e6 for g in gens for ns in g["step_ns"]]


def _median_load_s(gens: list[dict[str, Any]]) -> float | None:
    loads = [sum(g["load_ns"].values()) / 1e9 for g in gens]
    return float(np.median(loads)) if loads else None


def pipeline_figures(plan: Any, result: Any, mem: dict[str, Any]) -> dict[str, Any]:
    spec = plan.pipeline
    gens = result.generations
    total_ns = sum(g["total_ns"] for g in gens)
    generation_s = float(np.median([g["total_ns"] for g in gens])) / 1e9
    stages: dict[str, Any] = {}
    stage_ns = 0
    for s in spec.stages:
        calls = [c for g in gens for c in g["calls_ns"].get(s.name, [])]
        spent = sum(calls)
        stage_ns += spent
        per_gen = [sum(g["calls_ns"].get(s.name, [])) for g in gens]
        info = result.stages[s.name]
        stages[s.name] = {
            "repeat": s.repeat, "calls": len(calls) // len(gens), "total_ms": float(np.median(per_gen)) / 1e6,
            "share_pct": 100.0 * spent / total_ns if total_ns else None,
            "p50_ms": float(np.median(calls)) / 1e6 if calls else None,
            "precision": info["precision"], "backend": info["backend"],
            "load_s": (result.load_ns.get(s.name) or sum(g["load_ns"].get(s.name, 0) for g in gens) / len(gens))
            / 1e9,
            "peak_rss_bytes": (mem.get("per_stage_peak_rss_bytes") or {}).get(s.name),
        }
    load_ns = sum(v for g in gens for v in g["load_ns"].values())
    steps = [ns / 1e6 for g in gens for ns in g["step_ns"]]
    media_s = spec.media_seconds
    return {
        "name": spec.name, "zoo": spec.zoo, "steps": plan.steps, "chunks": spec.chunks, "media_s": media_s,
        "resident": plan.resident, "sampler": spec.sampler, "generations": len(gens),
        "generation_s": generation_s, "rtf": generation_s / media_s, "x_realtime": media_s / generation_s,
        "first_chunk_s": float(np.median([g["first_chunk_ns"] for g in gens])) / 1e9,
        "stages": stages,
        "stage_load_pct": 100.0 * load_ns / total_ns if total_ns else None,
        "overhead_pct": 100.0 * (total_ns - stage_ns - load_ns) / total_ns if total_ns else None,
        "step_ms": ({"p50": float(np.percentile(steps, 50)), "p90": float(np.percentile(steps, 90)), "n": len(steps)}
                    if steps else {"p50": None, "p90": None, "n": 0, "reason": "no per_step stage"}),
        "load_s": result.load_s,
        "peak_rss_bytes": mem.get("peak_rss_bytes"),
    }


class StageMemoryTracker(MemoryTracker):
    """The run core's memory tracker, with each sample also labelled by the stage running then (a
    shared integer the generation executor sets before each stage call): per-stage peaks."""

    def __init__(self, mark: Any, stage_names: list[str], in_process: bool = False) -> None:
        super().__init__(in_process=in_process)
        self.mark, self.stage_names = mark, list(stage_names)
        self.rss["stage"] = []

    def tick(self) -> None:
        pid = None if self.in_process else self.target.pid
        if pid is None and not self.in_process:
            return
        value = rss_bytes(pid)
        if value is not None:
            with self._lock:
                for key, v in (("t_ns", time.perf_counter_ns()), ("bytes", value), ("phase", self.target.phase),
                               ("stage", int(self.mark.value))):
                    self.rss[key].append(v)

    def stop(self, result: Any) -> Figures:
        figures = super().stop(result)
        memory = figures.groups["memory"]
        running = {"load", "first_inference", "warmup", "steady"}
        per_stage: dict[str, int | None] = {}
        for i, name in enumerate(self.stage_names):
            values = [b for b, p, s in zip(self.rss["bytes"], self.rss["phase"], self.rss["stage"])
                      if p in running and s == i]
            per_stage[name] = max(values) if values else None
        memory["per_stage_peak_rss_bytes"] = per_stage
        missed = [n for n, v in per_stage.items() if v is None]
        if missed:
            memory["per_stage_reason"] = (f"no sample fell inside the calls of {', '.join(missed)} (shorter than "
                                          "the 20 ms sampling period)")
        return figures
