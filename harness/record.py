"""A plan plus what its phases and trackers produced -> the RunRecord (one function for every launcher)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from harness.phases import PhaseResult
from harness.plan import RunPlan
from harness.trackers import Figures
from results import stats
from results.schema import RunRecord, new_run_id, precision_mismatch, sanitize


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


def outcome_record(record: RunRecord, outcome: Any, on_result: Callable[[RunRecord], RunRecord],
                   process: str = "the run's process", hint: str = "") -> RunRecord:
    """The record of a launched run (``launchers.Outcome``), whatever its end: ``on_result`` fills it
    when the phases finished; a skip, a raise or a crash becomes the status and its reason."""
    record.phase = outcome.phase
    if outcome.kind == "result" and outcome.result is not None:
        return on_result(record)
    for fig in outcome.figures:  # e.g. the cool-down before a run that then failed
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
        how = f"was killed by {signal_name(code)}" if code is not None and code < 0 else f"exited with code {code}"
        record.status = "failed"
        record.reason = f"{process} {how} during phase {outcome.phase}{hint}"
    return record


def signal_name(code: int) -> str:
    """The signal's name of a negative exit code (``-6`` → ``SIGABRT``)."""
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


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
    _fill_inputs(record, plan, result)
    record.prepare_s = result.prepare_s
    record.load_s = result.load_s
    record.first_inference_ms = result.first_inference_ms
    record.warmup_iterations = result.warmup_iterations
    record.artifact = dict(result.artifact)
    record.artifact_bytes = result.deployed_bytes if result.deployed_bytes is not None else record.artifact.get("bytes")
    quant_facts(record, result.int8_auto)
    record.backend["version"] = result.backend_version
    record.backend["info"] = dict(result.run_info)
    record.executed_precision = result.executed_precision
    mismatch = precision_mismatch(record.precision, record.executed_precision)
    if mismatch:
        record.warnings.append(f"precision mismatch: {mismatch}; compare it as what ran, not as its label")
    record.extra["inputs"] = result.inputs
    record.extra["outputs"] = result.outputs
    passes = dict(result.passes)
    record.profile = passes.pop("profile", None)  # the profile pass has its own record group
    if passes:
        record.extra["passes"] = passes
    apply_figures(record, figures)
    if result.quality:
        record.quality = result.quality
        record.warnings += quality_warnings(result.quality, plan.data.fidelity_floor_db)
    record.quality = sanitize(record.quality)  # NaN is not a figure: the store keeps None.
    apply_gates(record, plan)
    return record


def quant_facts(record: RunRecord, int8_auto: dict[str, Any] | None) -> None:
    """The quantization recipe and int8 compute count in the record's variant, their warnings, and
    int8-auto's search (plan, sensitivity, pass times) in ``extra.int8_auto``."""
    meta = record.artifact.get("metadata") or {}
    recipe = meta.get("recipe")
    if isinstance(recipe, dict):
        record.variant["recipe"] = recipe
        record.warnings += list(recipe.get("warnings") or [])
    if isinstance(meta.get("compute_nodes"), dict):
        record.variant["compute_nodes"] = meta["compute_nodes"]
    if int8_auto:
        record.extra["int8_auto"] = int8_auto
        record.variant["keep_float"] = (int8_auto.get("keep_float") if int8_auto.get("met")
                                        else (int8_auto.get("best") or {}).get("keep_float"))
        if int8_auto.get("note"):
            record.warnings.append(f"int8-auto: {int8_auto['note']}")


def _fill_latency(record: RunRecord, plan: RunPlan, result: PhaseResult) -> None:
    record.batch_size = batch_size(result.inputs)
    if not result.windows:
        return
    # Every round's window: p50 is the median of round medians, with the between-round interval; the
    # within-window figures (percentiles, median_ci95) are over all samples pooled.
    rounds_ms = [[ns / 1e6 for ns in w.latency_ns] for w in result.windows]
    latencies_ms = [v for r in rounds_ms for v in r]
    summary = stats.summarize_rounds(rounds_ms)
    record.latency_ms = summary
    record.throughput_ips, record.items_per_s = stats.throughput(latencies_ms, record.batch_size)
    record.warnings += stats.warnings_for(summary)
    if len(rounds_ms) > 1:  # one window is a choice (rounds: 1, the pytest plugin's own rounds): no nagging
        record.warnings += stats.round_warnings(summary)
    if any(w.hit_max_duration for w in result.windows):
        short = min(len(r) for r in rounds_ms)
        record.warnings.append(
            f"stopped at max_duration_s ({plan.runner.max_duration_s:g} s) before min_iterations "
            f"({plan.runner.min_iterations}) in some round: as few as {short} samples in a round"
        )
    device_ms = [v for w in result.windows for v in (w.device_time_ms or [])]
    if device_ms and all(w.device_time_ms for w in result.windows):
        # Compute-only time on the accelerator, apart from the end-to-end latency (as trtexec reports both).
        record.extra["device_time_ms"] = stats.summarize(device_ms)
        record.samples["device_time_ms"] = device_ms
    record.samples["latency_ms"] = latencies_ms
    record.samples["round_sizes"] = [len(r) for r in rounds_ms]
    record.extra.setdefault("rounds", {}).update(
        {"count": len(rounds_ms), "rewarm_iterations": plan.runner.rewarm_iterations()})


def _fill_inputs(record: RunRecord, plan: RunPlan, result: PhaseResult) -> None:
    """Where each input's data came from, and a warning for guesses that can steer what was timed."""
    from backends.base import TensorSpec
    from harness import controlflow
    from harness import input_values as iv
    from harness.inputs import timing_source

    specs = [TensorSpec(d["name"], tuple(d["shape"]), d["dtype"], d.get("layout")) for d in result.inputs]
    if not specs:
        return
    prov = iv.provenance(specs, plan.model.input_values, timing_source(plan, specs))
    record.extra["input_provenance"] = prov
    record.warnings += iv.provenance_warnings(prov, specs)
    source = plan.source
    if source is None:
        return
    found = _control_flow(str(source.path), source.format, source.sha256)
    if found:
        generated = sorted(iv.generated_inputs(prov))
        record.extra["control_flow"] = {"nodes": found, "on_generated": generated}
        note = controlflow.warning(found, set(generated))
        if note:
            record.warnings.append(note)


@functools.lru_cache(maxsize=32)
def _control_flow(path: str, fmt: str, sha256: str) -> list[dict[str, Any]]:
    """Control-flow nodes of a model file, parsed once per file version (a suite runs it many times)."""
    from harness import controlflow

    return controlflow.find(path, fmt)


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
