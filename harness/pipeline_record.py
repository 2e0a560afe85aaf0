"""A pipeline run's record: the ``pipeline`` group (end-to-end time, RTF, stage shares, steps) and
the usual groups (``latency_ms`` holds the generation times, one sample per generation)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.trackers import Figures, MemoryTracker
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
                  "reference_steps": max(spec.steps),
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
    from harness.record import apply_figures, outcome_record

    def on_result(rec: RunRecord) -> RunRecord:
        apply_figures(rec, outcome.figures)
        fill_record(rec, plan, outcome.result)
        return rec

    return outcome_record(record, outcome, on_result, "the pipeline's process")


def fill_record(record: RunRecord, plan: Any, result: Any) -> None:
    """A finished pipeline run's figures (``result``: a PipelineResult); memory, power and thermal are
    already in the record from the trackers. No timed generation is a failed record, not a figure."""
    from harness.record import quality_warnings

    gens = result.generations
    rounds_ms = [[ns / 1e6 for ns in w.latency_ns] for w in result.windows if w.latency_ns]
    _fill_identity(record, result)
    record.warnings += list(result.warnings)
    if not gens or not rounds_ms:
        record.status = "failed"
        record.reason = "no generation finished inside the timed window: nothing to report a generation time from"
        return
    record.latency_ms = stats.summarize_rounds(rounds_ms)  # p50: the median of round medians
    record.warnings += stats.warnings_for(record.latency_ms)
    if len(rounds_ms) > 1:
        record.warnings += stats.round_warnings(record.latency_ms)
    record.first_inference_ms = result.first_inference_ms
    record.warmup_iterations = result.warmup_iterations
    record.prepare_s = result.prepare_s
    record.load_s = result.load_s if result.load_s is not None else _median_load_s(gens)
    record.pipeline = pipeline_figures(plan, result, record.memory or {}, record.latency_ms["p50"] / 1e3)
    ci = record.latency_ms.get("p50_ci95")
    record.pipeline["generation_s_ci95"] = [v / 1e3 for v in ci] if ci else None
    # One generation is not an inference: its rate is x_realtime (media seconds per second).
    record.throughput_ips = record.items_per_s = None
    record.pipeline["throughput_reason"] = "a generation is not one inference: x_realtime carries the pipeline's rate"
    _fill_artifact_bytes(record, result)
    _window_warnings(record, plan, result, gens)
    if result.quality:
        record.quality = sanitize(result.quality)
        record.warnings += quality_warnings(result.quality, plan.data.fidelity_floor_db)
    power = record.power or {}
    energy_mj = power.get("energy_per_inference_mj")  # the window's inferences are generations
    record.pipeline["energy_per_generation_j"] = energy_mj / 1e3 if energy_mj is not None else None
    if energy_mj is None:
        record.pipeline["energy_reason"] = power.get("reason") or "no power source measured on this device"
    record.samples["latency_ms"] = [v for r in rounds_ms for v in r]
    record.samples["round_sizes"] = [len(r) for r in rounds_ms]
    record.samples["step_ms"] = [ns / 1e6 for g in gens for ns in g["step_ns"]]
    record.extra.setdefault("rounds", {}).update({"count": len(rounds_ms), "rewarm_generations": 1})


def _fill_identity(record: RunRecord, result: Any) -> None:
    """backend.version/info and model.sha256 (the hash of the stage files' hashes, in stage order)."""
    record.backend["version"] = result.backend_version
    record.backend["info"] = dict(result.run_info)
    shas = [s.get("sha256") for s in result.stages.values()]
    if shas and None not in shas:
        record.model["sha256"] = hashlib.sha256("".join(shas).encode()).hexdigest()
        record.model["stage_sha256"] = {n: s["sha256"] for n, s in result.stages.items()}
    record.artifact = dict(result.artifact)


def _fill_artifact_bytes(record: RunRecord, result: Any) -> None:
    """The sum of each stage's deployed bytes; null with the reason when a stage's is unknown."""
    per_stage = {n: s.get("deployed_bytes") for n, s in result.stages.items()}
    for name, value in per_stage.items():
        if record.pipeline and name in record.pipeline["stages"]:
            record.pipeline["stages"][name]["artifact_bytes"] = value
    unknown = [n for n, v in per_stage.items() if v is None]
    record.artifact_bytes = None if unknown else sum(per_stage.values())  # type: ignore[arg-type]
    if unknown and record.pipeline is not None:
        record.pipeline["artifact_bytes_reason"] = (f"deployed size unknown for stage(s) {', '.join(unknown)} "
                                                    "(never loaded in this run)")


def _window_warnings(record: RunRecord, plan: Any, result: Any, gens: list[dict[str, Any]]) -> None:
    if len(gens) < 64:
        record.warnings.append(f"{len(gens)} generations timed: the p90 of generation time needs 64 (the median is "
                               "what the pipeline figures use)")
    if any(w.hit_max_duration for w in result.windows):
        record.warnings.append(f"a timed window stopped at max_duration_s ({plan.runner.max_duration_s:g} s) before "
                               "the power sensor's window: energy per generation is less certain")


def _median_load_s(gens: list[dict[str, Any]]) -> float | None:
    loads = [sum(g["load_ns"].values()) / 1e9 for g in gens]
    return float(np.median(loads)) if loads else None


def pipeline_figures(plan: Any, result: Any, mem: dict[str, Any], generation_s: float) -> dict[str, Any]:
    """The ``pipeline`` group of a run with timed generations; ``generation_s``: the median of round medians."""
    spec = plan.pipeline
    gens = result.generations
    total_ns = sum(g["total_ns"] for g in gens)
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
        "reference_steps": max(spec.steps),
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

    def _labels(self) -> dict[str, Any]:
        return {**super()._labels(), "stage": int(self.mark.value)}

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
