"""Fidelity of a run's outputs to the fp32 reference, and the figures quality gates read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backends.base import ModelSource
from harness.plan import RunPlan
from results.schema import RunRecord


def score(plan: RunPlan, source: ModelSource, reference: ModelSource | None,
           evaluation: list[dict[str, np.ndarray]], outputs: list[dict[str, np.ndarray]],
           cache_dir: Path) -> dict[str, Any]:
    from harness import reference as ref
    from harness.quality.fidelity import score_outputs

    if reference is None:
        return {"reason": "no fp32 reference for this model"}
    expected = ref.reference_outputs(reference, evaluation, cache_dir / "reference")
    names = list(expected[0])
    candidate_names = list(outputs[0])
    mapping = {n: n for n in names}
    missing = [n for n in names if n not in outputs[0]]
    if missing:
        # Models made elsewhere (a float/int8 pair) may name the same outputs differently: with as many
        # outputs on both sides, match them by position, and say so in the scores.
        if len(candidate_names) != len(names):
            return {"reason": f"outputs {missing} of the reference are missing from this run's outputs "
                              f"{candidate_names}"}
        mapping = dict(zip(names, candidate_names))
    scores = score_outputs(
        {n: [e[n] for e in expected] for n in names},
        {n: [o[mapping[n]] for o in outputs] for n in names},
        dict(source.output_kinds),
    )
    scores["reference"] = {"model_sha256": reference.sha256, "backend": ref.reference_backend_name(reference)}
    if missing:
        scores["reference"]["matched_by_position"] = mapping
    return scores


def gate_figures(record: RunRecord) -> dict[str, Any]:
    """The flat figures a gate may name: quality figures, latency percentiles, memory, power."""
    figures: dict[str, Any] = {k: v for k, v in (record.quality or {}).items() if not isinstance(v, dict)}
    for k, v in (record.latency_ms or {}).items():
        if isinstance(v, (int, float)):
            figures[f"latency_{k}_ms"] = v
    figures["peak_rss_bytes"] = (record.memory or {}).get("peak_rss_bytes")
    figures["energy_per_inference_mj"] = (record.power or {}).get("energy_per_inference_mj")
    return figures

