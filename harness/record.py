"""A plan plus what its phases and trackers produced -> the RunRecord (one function for every launcher)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from harness.phases import PhaseResult
from harness.plan import RunPlan
from harness.trackers import Figures
from results import stats
from results.schema import RunRecord, new_run_id, sanitize


def base_record(plan: RunPlan, device: dict[str, Any], environment: dict[str, Any], status: str = "ok",
                reason: str | None = None) -> RunRecord:
    """The record's identity (what ran, where), before any figure."""
    record = RunRecord(
        run_id=new_run_id(),
        status=status,
        reason=reason,
        precision=plan.precision.name,
        model={"name": plan.model.name, "zoo": plan.model.zoo},
        backend={"name": plan.backend.name, "options": plan.backend_options()},
        device=dict(device),
        suite=plan.suite,
        variant={"precision": plan.precision.name, "settings": dict(plan.precision.settings)},
        environment=environment,
        runner=dataclasses.asdict(plan.runner),
    )
    if plan.source is not None:
        source = plan.source
        record.model.update({"sha256": source.sha256, "path": str(source.path), "format": source.format})
    return record


def apply_figures(record: RunRecord, figures: Iterable[Figures]) -> None:
    """Trackers' figures into the record: their groups replace the record's, the rest is added."""
    for fig in figures:
        for group, value in fig.groups.items():
            setattr(record, group, value)
        record.samples.update(fig.samples)
        record.extra.update(fig.extra)
        record.warnings += fig.warnings


def record_from(plan: RunPlan, result: PhaseResult, record: RunRecord,
                figures: Sequence[Figures] = ()) -> RunRecord:
    """Fill ``record`` (from ``base_record``) with the figures of a finished run."""
    record.warnings += result.warnings
    _fill_latency(record, plan, result)
    record.prepare_s = result.prepare_s
    record.load_s = result.load_s
    record.first_inference_ms = result.first_inference_ms
    record.warmup_iterations = result.warmup_iterations
    record.artifact = dict(result.artifact)
    record.artifact_bytes = result.deployed_bytes if result.deployed_bytes is not None else record.artifact.get("bytes")
    record.backend["version"] = result.backend_version
    record.backend["info"] = dict(result.run_info)
    record.extra["inputs"] = result.inputs
    record.extra["outputs"] = result.outputs
    if result.passes:
        record.extra["passes"] = result.passes
    apply_figures(record, figures)
    if result.quality:
        record.quality = result.quality
        record.warnings += quality_warnings(result.quality, plan.data.fidelity_floor_db)
    record.quality = sanitize(record.quality)  # NaN is not a figure: the store keeps None.
    apply_gates(record, plan)
    return record


def _fill_latency(record: RunRecord, plan: RunPlan, result: PhaseResult) -> None:
    record.batch_size = batch_size(result.inputs)
    if not result.windows:
        return
    window = result.windows[-1]
    latencies_ms = [ns / 1e6 for ns in window.latency_ns]
    summary = stats.summarize(latencies_ms)
    record.latency_ms = summary
    record.throughput_ips, record.items_per_s = stats.throughput(latencies_ms, record.batch_size)
    record.warnings += stats.warnings_for(summary)
    if window.hit_max_duration:
        record.warnings.append(
            f"stopped at max_duration_s ({plan.runner.max_duration_s:g} s) before min_iterations "
            f"({plan.runner.min_iterations}): only {summary['n']} samples"
        )
    if window.device_time_ms:
        # Compute-only time on the accelerator, apart from the end-to-end latency (as trtexec reports both).
        record.extra["device_time_ms"] = stats.summarize(window.device_time_ms)
        record.samples["device_time_ms"] = window.device_time_ms
    record.samples["latency_ms"] = latencies_ms


def apply_gates(record: RunRecord, plan: RunPlan) -> None:
    if plan.gates:
        from harness.quality.gates import evaluate_gates
        from harness.quality.scoring import gate_figures

        record.gates = evaluate_gates(plan.gates, gate_figures(record))


def quality_warnings(quality: dict[str, Any], floor_db: float) -> list[str]:
    notes = []
    if quality.get("nonfinite"):
        notes.append(f"{quality['nonfinite']} NaN/Inf values in the outputs: this configuration is broken")
    sqnr = quality.get("sqnr_db")
    if isinstance(sqnr, (int, float)) and sqnr < floor_db:
        notes.append(f"fidelity SQNR {sqnr:.1f} dB is under the floor of {floor_db:g} dB: outputs differ a lot "
                     "from fp32")
    return notes


def batch_size(inputs: Sequence[dict[str, Any]]) -> int:
    for spec in inputs:
        shape = spec.get("shape") or []
        if len(shape) >= 2 and isinstance(shape[0], int) and shape[0] > 0:
            return int(shape[0])
    return 1
