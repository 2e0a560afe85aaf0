"""Listening/viewing-test ratings -> MOS per condition, as ITU-T P.800 / P.800.1 / P.800.2 ask.

Input: a CSV with columns ``rater, stimulus, condition, score`` (header required, any order,
case-insensitive, other columns ignored). ``stimulus`` names the source item (the same sentence or
clip rendered by each condition); ``condition`` names the system (``fp32``, ``int8``,
``onnxruntime/int8`` …).

Scales: ACR (absolute category rating, 1–5, P.800) -> MOS; DCR (degradation category rating,
1–5) -> DMOS; CCR (comparison category rating, −3…+3) -> CMOS. Votes are category numbers:
a vote outside the scale or between categories is refused.

Per condition: the mean of votes, its 95 % CI ``t(0.975, N−1)·s/√N`` (s with ddof = 1), N votes,
N listeners. ``per_listener=True`` first averages each listener's votes in a condition and takes
statistics over listeners (N = listeners), because one listener's votes are correlated.

ΔMOS vs the reference condition (``fp32`` by default): for each stimulus rated under both, the
mean vote of the condition minus the mean vote of the reference; ΔMOS = the mean of those
differences, with a paired t CI and p-value over stimuli. A condition with no stimulus in
common with the reference, or a reference that is absent, is an error.

Labels (P.800.1): scores from a listening test are MOS-LQS; predicted scores (DNSMOS…) are
MOS-LQO and live in ``dnsmos``; MOS from different tests are not comparable.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.quality import QualityError
from harness.quality.stats import mean_ci95


@dataclass(frozen=True)
class Scale:
    name: str
    method: str
    quantity: str
    low: int
    high: int
    anchors: str


SCALES: dict[str, Scale] = {
    "acr": Scale("acr", "ACR", "MOS", 1, 5, "5 Excellent, 4 Good, 3 Fair, 2 Poor, 1 Bad"),
    "dcr": Scale("dcr", "DCR", "DMOS", 1, 5, "5 inaudible … 1 very annoying"),
    "ccr": Scale("ccr", "CCR", "CMOS", -3, 3, "+3 much better … −3 much worse"),
}
LABEL_LISTENING = "MOS-LQS"
COLUMNS = ("rater", "stimulus", "condition", "score")


@dataclass(frozen=True)
class Rating:
    rater: str
    stimulus: str
    condition: str
    score: float


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise QualityError(f"unknown rating scale {name!r}: expected one of {', '.join(SCALES)}")
    return SCALES[name]


def read_ratings(path: str | Path, scale: str = "acr") -> list[Rating]:
    """Parse and validate a ratings CSV; errors name the file, line and what to fix."""
    s = get_scale(scale)
    p = Path(path)
    if not p.is_file():
        raise QualityError(f"ratings file {p} not found")
    from harness.errors import UsageError
    from harness.textio import read_text

    try:
        text = read_text(p, what="ratings file")
    except UsageError as exc:
        raise QualityError(str(exc)) from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise QualityError(
                f"{p}: missing column(s) {', '.join(missing)}; expected a header with "
                f"{', '.join(COLUMNS)}, found {', '.join(reader.fieldnames or []) or 'no header'}"
            )
        key = {h.strip().lower(): h for h in reader.fieldnames or []}
        rows = []
        for line, row in enumerate(reader, start=2):
            rows.append((line, {c: (row.get(key[c]) or "").strip() for c in COLUMNS}))
    return validate_ratings(rows, s, str(p))


def validate_ratings(rows: Iterable[tuple[int, Mapping[str, str]]] | Iterable[Mapping[str, Any]], scale: Scale,
                     source: str = "ratings") -> list[Rating]:
    ratings: list[Rating] = []
    for i, item in enumerate(rows, start=1):
        line, row = item if isinstance(item, tuple) else (i, item)
        for c in ("rater", "stimulus", "condition"):
            if not str(row.get(c, "")).strip():
                raise QualityError(f"{source} line {line}: empty {c!r}")
        raw = row.get("score")
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise QualityError(f"{source} line {line}: score {raw!r} is not a number") from None
        if not math.isfinite(value) or value != round(value) or not scale.low <= value <= scale.high:
            raise QualityError(
                f"{source} line {line}: score {raw!r} is outside the {scale.method} scale: expected an integer "
                f"category {scale.low}..{scale.high} ({scale.anchors}); pick the right --scale or fix the file"
            )
        ratings.append(Rating(str(row["rater"]).strip(), str(row["stimulus"]).strip(),
                              str(row["condition"]).strip(), value))
    if not ratings:
        raise QualityError(f"{source}: no ratings found")
    return ratings


def _condition_stats(votes: list[Rating], per_listener: bool) -> dict[str, Any]:
    listeners = sorted({r.rater for r in votes})
    if per_listener:
        by_rater: dict[str, list[float]] = defaultdict(list)
        for r in votes:
            by_rater[r.rater].append(r.score)
        s = mean_ci95([float(np.mean(v)) for v in by_rater.values()])
        basis = "listener means"
    else:
        s = mean_ci95([r.score for r in votes])
        basis = "votes"
    out = {
        "mos": s["mean"],
        "ci95": s["ci95"],
        "ci95_low": s["ci95_low"],
        "ci95_high": s["ci95_high"],
        "std": s["std"],
        "n_votes": len(votes),
        "n_listeners": len(listeners),
        "n_stimuli": len({r.stimulus for r in votes}),
        "ci_basis": basis,
    }
    if "ci_reason" in s:
        out["ci_reason"] = s["ci_reason"]
    return out


def _stimulus_means(votes: Iterable[Rating]) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for r in votes:
        acc[r.stimulus].append(r.score)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def paired_delta(condition: list[Rating], reference: list[Rating]) -> dict[str, Any]:
    """ΔMOS = mean over shared stimuli of (condition − reference) stimulus means, paired t CI."""
    cond_means, ref_means = _stimulus_means(condition), _stimulus_means(reference)
    shared = sorted(set(cond_means) & set(ref_means))
    if not shared:
        return {}
    diffs = np.array([cond_means[k] - ref_means[k] for k in shared])
    s = mean_ci95(diffs)
    out: dict[str, Any] = {
        "delta": s["mean"],
        "ci95": s["ci95"],
        "ci95_low": s["ci95_low"],
        "ci95_high": s["ci95_high"],
        "n_pairs": len(shared),
        "test": "paired t over stimuli",
    }
    if len(shared) >= 2 and s["std"]:
        from scipy import stats

        out["p_value"] = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    else:
        out["p_value"] = None
    if "ci_reason" in s:
        out["ci_reason"] = s["ci_reason"]
    unpaired = sorted(set(cond_means) - set(ref_means))
    if unpaired:
        out["unpaired_stimuli"] = unpaired
    return out


def summarize(ratings: list[Rating], scale: str = "acr", reference: str | None = "fp32",
              per_listener: bool = False) -> dict[str, Any]:
    """Per-condition MOS with CI and counts, and ΔMOS of each condition vs ``reference`` (None: no deltas)."""
    s = get_scale(scale)
    by_condition: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        by_condition[r.condition].append(r)
    result: dict[str, Any] = {
        "label": LABEL_LISTENING,
        "label_meaning": "mean opinion score from a subjective test (ITU-T P.800.1 MOS-LQS); "
        "not comparable with MOS from another test",
        "method": s.method,
        "quantity": s.quantity,
        "scale": {"name": s.name, "min": s.low, "max": s.high, "anchors": s.anchors},
        "n_votes": len(ratings),
        "n_listeners": len({r.rater for r in ratings}),
        "per_listener_means": per_listener,
        "reference_condition": reference,
        "conditions": {c: _condition_stats(v, per_listener) for c, v in sorted(by_condition.items())},
        "deltas": {},
    }
    if reference is not None:
        if reference not in by_condition:
            raise QualityError(
                f"reference condition {reference!r} not in the ratings "
                f"(conditions: {', '.join(sorted(by_condition))}); "
                "name the fp32 condition with --reference, or pass --no-delta"
            )
        for c, votes in sorted(by_condition.items()):
            if c == reference:
                continue
            delta = paired_delta(votes, by_condition[reference])
            if not delta:
                raise QualityError(
                    f"condition {c!r} shares no stimulus with the reference {reference!r}: a paired ΔMOS needs the "
                    "same stimuli rendered by both; rate them, or drop the condition"
                )
            result["deltas"][c] = delta
    return result


def analyze_file(path: str | Path, scale: str = "acr", reference: str | None = "fp32",
                 per_listener: bool = False) -> dict[str, Any]:
    result = summarize(read_ratings(path, scale), scale, reference, per_listener)
    result["source"] = str(path)
    return result


def condition_figures(summary: Mapping[str, Any], condition: str) -> dict[str, Any]:
    """The flat figures stored on a run for one condition (``quality.mos``, ``quality.mos_delta`` …)."""
    c = summary["conditions"][condition]
    figures: dict[str, Any] = {
        "mos": c["mos"],
        "mos_ci95": c["ci95"],
        "mos_n_votes": c["n_votes"],
        "mos_n_listeners": c["n_listeners"],
        "mos_label": summary["label"],
        "mos_method": summary["method"],
        "mos_quantity": summary["quantity"],
        "mos_scale": f"{summary['scale']['min']}..{summary['scale']['max']}",
        "mos_condition": condition,
        "mos_ci_basis": c["ci_basis"],
        "mos_reference_condition": summary.get("reference_condition"),
    }
    delta = summary.get("deltas", {}).get(condition)
    if delta:
        figures.update({"mos_delta": delta["delta"], "mos_delta_ci95": delta["ci95"],
                        "mos_delta_n_pairs": delta["n_pairs"], "mos_delta_p_value": delta["p_value"]})
    elif condition == summary.get("reference_condition"):
        figures["mos_delta"] = 0.0  # the reference against itself, by definition
    return figures
