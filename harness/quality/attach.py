"""Attach scores to runs that finished long ago, then re-evaluate those runs' gates.

Listening tests end weeks after a benchmark; ``edgebench score … --attach RUN_ID | --suite NAME``
stores their figures in ``record.quality`` so reports pick them up without re-running anything.

Mapping a test condition to runs (``--suite``): a condition ``C`` matches a run when ``C`` equals
``"<backend>/<precision>"`` (e.g. ``onnxruntime/int8``) or, failing that, the run's precision
(``int8``). The backend-qualified form wins when both are present in a test. A pipeline run (one
configuration of a steps sweep) also answers to ``<backend>/<precision>@<steps>``,
``<precision>@<steps>`` and, with ``:staged`` or ``:all`` after the steps, its memory strategy; the
most specific name in the test wins. Only runs with
status ``ok`` are matched (a failed run produced no output to rate). Optional device/model
filters narrow the runs further.

LSE deltas: a run's per-clip LSE scores are kept in ``quality.lse_clips`` (clip id = the video's
file name). Whenever LSE scores are attached, every run of the same suite, model and device that
has them gets ``lse_d_delta``/``lse_c_delta`` (paired per clip, candidate − fp32) against the fp32
run of that group (the one with the same backend if there is one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.quality import QualityError
from harness.quality.gates import evaluate_gates, gate_figures
from harness.quality.lse import paired_deltas

REFERENCE_PRECISION = "fp32"


def condition_keys(record: Any) -> tuple[str, str]:
    """The two names a condition may use for a run: ("backend/precision", "precision")."""
    return f"{record.backend.get('name', '')}/{record.precision}", record.precision


def condition_for(record: Any, conditions: Iterable[str]) -> str | None:
    names = set(conditions)
    qualified, plain = condition_keys(record)
    candidates = [qualified, plain]
    pipeline = getattr(record, "pipeline", None)
    if pipeline:
        steps, resident = pipeline.get("steps"), pipeline.get("resident")
        candidates = [f"{qualified}@{steps}:{resident}", f"{plain}@{steps}:{resident}", f"{qualified}@{steps}",
                      f"{plain}@{steps}", *candidates]
    return next((c for c in candidates if c in names), None)


def select_runs(store: Any, suite: str, device: str | None = None, model: str | None = None) -> list[Any]:
    records = [r for r in store.records(suite=suite) if r.status == "ok"]
    if device is not None:
        records = [r for r in records if r.device.get("name") == device]
    if model is not None:
        records = [r for r in records if r.model.get("name") == model]
    if not records:
        narrowed = "".join(f" {k}={v!r}" for k, v in (("device", device), ("model", model)) if v)
        raise QualityError(
            f"no successful run in suite {suite!r}{narrowed}: 'edgebench list' shows the runs and their suites"
        )
    return records


def record_figures(record: Any) -> dict[str, Any]:
    """The flat figures gates read: the runner's own set (quality, latency, memory, power) when
    available, so a re-evaluated gate is decided exactly as at run time; else the quality numbers."""
    try:
        from harness.quality.scoring import gate_figures as runner_figures
    except ImportError:  # pragma: no cover - the runner is part of this package
        return gate_figures(record.quality)
    return runner_figures(record)


def regate(store: Any, run_id: str) -> dict[str, Any]:
    """Re-evaluate a run's gates (specs from ``record.gates[*]['spec']``) on its current figures."""
    record = store.get(run_id)
    specs = {name: entry["spec"] for name, entry in (record.gates or {}).items()
             if isinstance(entry, Mapping) and "spec" in entry}
    if not specs:
        return {}
    results = evaluate_gates(specs, record_figures(record))
    store.attach(run_id, "gates", results)
    return results


def attach_quality(store: Any, run_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the run's quality group, then re-evaluate its gates; returns the gates."""
    store.attach(run_id, "quality", dict(values))
    return regate(store, run_id)


def refresh_lse_deltas(store: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Recompute paired LSE deltas for the group (suite, model, device) of ``run_id``; run_id -> gates."""
    record = store.get(run_id)
    group = [r for r in store.records(suite=record.suite)
             if r.suite == record.suite and r.model.get("name") == record.model.get("name")
             and r.device.get("name") == record.device.get("name") and r.quality.get("lse_clips")]
    references = [r for r in group if r.precision == REFERENCE_PRECISION]
    gates: dict[str, dict[str, Any]] = {}
    for r in group:
        if r.precision == REFERENCE_PRECISION:
            continue
        same_backend = [ref for ref in references if ref.backend.get("name") == r.backend.get("name")]
        ref = (same_backend or references or [None])[-1]  # the latest fp32 run of the group
        if ref is None:
            continue
        deltas = paired_deltas(ref.quality["lse_clips"], r.quality["lse_clips"])
        deltas["lse_delta_reference_run"] = ref.run_id
        gates[r.run_id] = attach_quality(store, r.run_id, deltas)
    return gates
