"""What the quantized runs of a group were: the recipe each used, how much of it computes in int8,
int8-auto's sensitivity table and plan, and recipe-search (tune) results with their Pareto front.
Read from records only (``artifact.metadata.recipe`` / ``compute_nodes``, ``extra.int8_auto``,
``extra.tune``)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reports import fmt
from reports import recommend as rec
from results.schema import RunRecord


@dataclass
class RecipeRow:
    config: str
    recipe: str
    compute: str  # "67 of 74 compute nodes int8" or n/a (why)


@dataclass
class AutoTable:
    config: str
    floor: str
    outcome: str  # plan met / not met, with the note
    snippet: str
    rows: list[dict[str, Any]]
    seconds: float | None


@dataclass
class TuneRow:
    config: str
    recipe: str
    p50_ms: float | None
    figure: float | None
    artifact_bytes: int | None
    on_front: bool = False
    fastest_meeting_floor: bool = False
    baseline: bool = False  # the fp32 run the recipes are compared with: never "the pick"
    run_id: str | None = None
    status: str = "ok"
    reason: str | None = None


@dataclass
class QuantSection:
    recipes: list[RecipeRow] = field(default_factory=list)
    auto: list[AutoTable] = field(default_factory=list)
    tune: list[TuneRow] = field(default_factory=list)
    tune_floor: str | None = None
    headline: str | None = None  # "fastest int8 meeting the floor: ..."

    def __bool__(self) -> bool:
        return bool(self.recipes or self.auto or self.tune)


def _label(r: RunRecord) -> str:
    return f"{r.backend.get('name', '?')} · {r.precision}"


def recipe_text(recipe: dict[str, Any] | None) -> str:
    """One line naming the tool and the settings that decide speed and fidelity."""
    if not isinstance(recipe, dict):
        return "n/a (no recipe recorded: a prebuilt file, or an older run)"
    tool = recipe.get("tool", "?")
    parts: list[str] = []
    if tool == "onnxruntime.quantization":
        if "format" in recipe:
            parts.append(f"static {recipe['format']}")
        else:
            parts.append("dynamic")
        parts.append("per-channel" if recipe.get("per_channel") else "per-tensor")
        act, wt = recipe.get("activation_type"), recipe.get("weight_type")
        if act:
            parts.append(f"{'U' if act == 'QUInt8' else 'S'}8{'U' if wt == 'QUInt8' else 'S'}8")
        if recipe.get("symmetric"):
            parts.append("symmetric")
        if recipe.get("reduce_range"):
            parts.append("reduce_range")
        if recipe.get("calibrate_method"):
            parts.append(recipe["calibrate_method"])
        ops = recipe.get("op_types")
        if isinstance(ops, list) and len(ops) <= 6:
            parts.append("ops " + "/".join(ops))
        pre = recipe.get("preprocess") or {}
        parts.append("pre-processed" if pre.get("done") else f"not pre-processed ({pre.get('fallback_reason')})")
    elif tool == "nncf.quantize":
        parts += [f"preset {recipe.get('preset')}", f"model_type {recipe.get('model_type')}"]
        if recipe.get("fast_bias_correction"):
            parts.append("fast bias correction")
        if recipe.get("keep_float"):
            parts.append(f"ignored scope {recipe['keep_float']}")
    else:
        parts += [str(recipe.get(k)) for k in ("mode", "quant_type") if recipe.get(k)]
    return f"{tool}: " + ", ".join(parts)


def compute_text(counts: dict[str, Any] | None) -> str:
    if not isinstance(counts, dict) or counts.get("quantized") is None:
        why = (counts or {}).get("reason") if isinstance(counts, dict) else None
        return f"n/a ({why or 'not counted for this artifact'})"
    return f"{counts['quantized']} of {counts['total']} compute nodes int8"


def build(records: Sequence[RunRecord], every_run: Sequence[RunRecord] | None = None) -> QuantSection:
    """From the newest run of each configuration (``records``) and, for tune results, ``every_run``."""
    section = QuantSection()
    for r in records:
        if not r.precision.startswith("int8") or r.status != "ok":
            continue
        meta = (r.artifact or {}).get("metadata") or {}
        if meta.get("recipe") or meta.get("compute_nodes"):
            section.recipes.append(RecipeRow(_label(r), recipe_text(meta.get("recipe")),
                                             compute_text(meta.get("compute_nodes"))))
        auto = (r.extra or {}).get("int8_auto")
        if isinstance(auto, dict):
            outcome = (f"floor met keeping {auto.get('keep_float') or 'nothing'} in float" if auto.get("met")
                       else auto.get("note") or "floor not met")
            section.auto.append(AutoTable(_label(r), str(auto.get("floor")), outcome, str(auto.get("suite_snippet")),
                                          list(auto.get("sensitivity") or []), auto.get("seconds")))
    _tune(every_run if every_run is not None else records, section)
    return section


def _tune(records: Sequence[RunRecord], section: QuantSection) -> None:
    """Runs made by ``edgebench tune`` (``extra.tune``): latency vs fidelity, the front and the pick."""
    tuned = [r for r in records if isinstance((r.extra or {}).get("tune"), dict)]
    if not tuned:
        return
    metric = tuned[0].extra["tune"].get("metric", "sqnr_db")
    section.tune_floor = tuned[0].extra["tune"].get("floor")
    rows = []
    for r in tuned:
        figure = fmt.num((r.quality or {}).get(metric)) if r.status == "ok" else None
        rows.append(TuneRow(f"{r.backend.get('name', '?')} · {r.extra['tune'].get('label', r.precision)}",
                            r.extra["tune"].get("recipe_text") or recipe_text(
                                ((r.artifact or {}).get("metadata") or {}).get("recipe")),
                            rec.p50(r) if r.status == "ok" else None, figure, r.artifact_bytes, status=r.status,
                            reason=r.reason, baseline=r.precision == "fp32", run_id=r.run_id))
    mark_front(rows, tuned[0].extra["tune"])
    section.tune = sorted(rows, key=lambda t: (t.p50_ms is None, t.p50_ms or 0.0))
    pick = next((t for t in section.tune if t.fastest_meeting_floor), None)
    if pick:
        section.headline = (f"fastest recipe meeting {section.tune_floor}: {pick.config} ({pick.recipe}), "
                            f"{pick.p50_ms:.3g} ms at {metric} = {pick.figure:.4g}")
    elif section.tune_floor:
        section.headline = f"no tried recipe meets {section.tune_floor}"


def mark_front(rows: list[TuneRow], tune: dict[str, Any]) -> None:
    """Mark the Pareto front (no other row is faster, at least as faithful and no larger) and the fastest
    row meeting the floor (``tune.op`` ``tune.threshold`` on the figure)."""
    ops = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
    higher = tune.get("op", ">=") in (">=", ">", "==")
    scored = [t for t in rows if t.p50_ms is not None and t.figure is not None]

    def dominates(a: TuneRow, b: TuneRow) -> bool:
        fa, fb = (a.figure, b.figure) if higher else (-a.figure, -b.figure)  # type: ignore[operator]
        sa, sb = a.artifact_bytes or 0, b.artifact_bytes or 0
        no_worse = a.p50_ms <= b.p50_ms and fa >= fb and sa <= sb  # type: ignore[operator]
        return no_worse and (a.p50_ms < b.p50_ms or fa > fb or sa < sb)  # type: ignore[operator]

    for t in scored:
        t.on_front = not any(dominates(o, t) for o in scored if o is not t)
    check = ops.get(str(tune.get("op")))
    threshold = tune.get("threshold")
    if check is None or threshold is None:
        return
    meeting = [t for t in scored if not t.baseline and check(t.figure, float(threshold))]
    if meeting:
        min(meeting, key=lambda t: t.p50_ms).fastest_meeting_floor = True  # type: ignore[arg-type,return-value]
