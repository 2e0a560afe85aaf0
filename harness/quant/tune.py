"""Recipe search: a bounded set of int8 recipes per backend, each run as an ordinary run, then the
latency-vs-fidelity(-vs-size) Pareto front and the fastest recipe that meets the quality floor.

Every tried recipe is a normal run record (``compare``/``report`` see it) with ``extra.tune`` =
{key, label, metric, floor, op, threshold}. Resumable: a recipe whose key (model, backend, its
settings, the runner and data settings) already has a record in the store is not run again.
A recipe the runtime rejects is a failed/skipped record and the search goes on. Without a budget the
pending recipes and fp32 run with their rounds interleaved (the runner's ``rounds``/``interleave``), so a
ratio to fp32 is measured under the same conditions; with a budget they run one after another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError
from harness.quant.auto import SEARCH_VERSION

#: (label, precision, settings) per backend: the recipes each runtime's vendor documents, bounded.
RECIPES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "onnxruntime": [
        ("qdq-per-channel", "int8", {}),  # the default: pre-processed, per-channel, CPU-favoured types
        ("qdq-per-tensor", "int8", {"per_channel": False}),
        ("qdq-per-channel-s8s8", "int8", {"activation_type": "QInt8", "weight_type": "QInt8"}),
        ("qdq-per-channel-percentile", "int8", {"calibrate_method": "Percentile"}),
        ("qdq-per-channel-gemm-only", "int8", {"op_types": ["MatMul", "Gemm"]}),  # convs and the rest in float
        ("qoperator-per-channel", "int8", {"format": "QOperator"}),
        ("dynamic-gemm", "int8-dynamic", {}),
        ("dynamic-gemm-per-channel", "int8-dynamic", {"per_channel": True}),
        ("int8-auto", "int8-auto", {}),  # the default recipe with the fewest modules in float meeting the floor
    ],
    "openvino": [
        # the default: preset performance, transformer scheme when attention is found, layers without an
        # int8 kernel in float
        ("nncf", "int8", {"method": "nncf"}),
        ("nncf-mixed", "int8", {"method": "nncf", "preset": "mixed"}),  # NNCF's own default for transformers
        ("nncf-no-transformer-scheme", "int8", {"method": "nncf", "model_type": "none"}),
        ("nncf-full-bias-correction", "int8", {"method": "nncf", "fast_bias_correction": False}),
        ("onnxruntime-qdq", "int8", {"method": "qdq"}),
        ("dynamic", "int8-dynamic", {}),
        ("int8-auto", "int8-auto", {}),
    ],
    "litert": [
        ("full-integer", "int8", {}),
        ("full-integer-per-tensor", "int8", {"per_channel": False}),
        ("dynamic-range", "int8-dynamic", {}),
    ],
    "tensorrt": [
        ("explicit-symmetric-qdq", "int8", {}),
        ("implicit-entropy", "int8", {"int8_mode": "implicit"}),
    ],
}
TUNE_KEYS = ("budget_s", "floor", "recipes", "backends")


@dataclass
class TuneOutcome:
    model: str
    backend: str
    records: list[Any]
    reused: int
    not_tried: list[str]
    floor: str


def recipes_for(backend: str, wanted: Sequence[str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    known = RECIPES.get(backend)
    if known is None:
        raise UsageError(f"no recipe set for backend {backend!r}; tune knows {', '.join(RECIPES)}")
    if not wanted:
        return list(known)
    labels = [r[0] for r in known]
    unknown = [w for w in wanted if w not in labels]
    if unknown:
        raise UsageError(f"unknown recipe(s) {unknown} for {backend}: it has {', '.join(labels)}")
    return [r for r in known if r[0] in wanted]


def recipe_key(plan: Any, label: str) -> str:
    blob = json.dumps({"model": plan.model.name, "path": plan.model.path, "zoo": plan.model.zoo,
                       "backend": plan.backend.name, "options": plan.backend.options, "label": label,
                       "recipe_version": getattr(plan.backend_class(), "recipe_version", None),
                       "search_version": SEARCH_VERSION if plan.precision.name == "int8-auto" else None,
                       "precision": plan.precision.name, "settings": plan.precision.settings,
                       "runner": dataclasses.asdict(plan.runner), "data": dataclasses.asdict(plan.data)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tune(plan_for: Callable[[str, dict[str, Any]], Any], backend: str, model: str,
         run_many: Callable[[list[Any], list[dict[str, Any]]], list[Any]], existing: Callable[[str], Any],
         floor: Any, budget_s: float | None = None, wanted: Sequence[str] | None = None,
         log: Callable[[str], None] = lambda _m: None) -> TuneOutcome:
    """Run the fp32 baseline and each recipe not already stored. ``plan_for(precision, settings)`` makes a
    RunPlan; ``run_many(plans, infos)`` runs plans (rounds interleaved when the runner settings ask) and
    stores each record with ``extra.tune = info``, in order; ``existing(key)`` is a stored record or None.
    Without a budget the pending recipes run together (interleaved with fp32, fairest ratios); with one
    they run one at a time until the budget is spent."""
    started = time.perf_counter()
    tune_info = {"metric": floor.metric, "floor": str(floor), "op": floor.op, "threshold": floor.threshold}
    done: dict[str, Any] = {}
    pending: list[tuple[str, Any, dict[str, Any]]] = []
    order = [("fp32", "fp32", {}), *recipes_for(backend, wanted)]
    for label, precision, settings in order:
        if precision == "int8-auto" and "floor" not in settings:
            settings = {**settings, "floor": str(floor)}  # the module search aims at the search's own floor
        plan = plan_for(precision, settings)
        key = recipe_key(plan, label)
        record = existing(key)
        if record is not None:
            # A stored try keeps its figures, but is judged against this search's floor, not the one it ran under.
            record.extra["tune"] = {**record.extra.get("tune", {}), **tune_info, "key": key, "label": label}
            done[label] = record
            log(f"{backend} · {label}: reused run {record.run_id} ({record.status})")
        else:
            pending.append((label, plan, {**tune_info, "key": key, "label": label}))
    not_tried: list[str] = []
    if budget_s is None and pending:
        log(f"{backend}: running {', '.join(lb for lb, _, _ in pending)}")
        for (label, _, _), record in zip(pending, run_many([p for _, p, _ in pending], [i for _, _, i in pending])):
            done[label] = record
    else:
        for label, plan, info in pending:
            if time.perf_counter() - started > (budget_s or 0) and label != "fp32":
                not_tried.append(label)
                continue
            log(f"{backend} · {label} …")
            done[label] = run_many([plan], [info])[0]
    for label in done:
        r = done[label]
        log(f"{backend} · {label}: {r.status}" + (f" ({r.reason})" if r.reason else ""))
    records = [done[label] for label, _, _ in order if label in done]
    return TuneOutcome(model, backend, records, len(order) - len(pending), not_tried, str(floor))


def tune_settings(raw: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """Validate a suite's ``tune:`` section: {budget_s, floor, recipes: {backend: [labels]} | [labels],
    backends: [names]}."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(TUNE_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown tune key(s) {unknown}; expected some of {', '.join(TUNE_KEYS)}")
    budget = raw.get("budget_s")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise UsageError(f"{where}: tune.budget_s must be a positive number of seconds, found {budget!r}")
    recipes = raw.get("recipes")
    if recipes is not None and not isinstance(recipes, (list, dict)):
        raise UsageError(f"{where}: tune.recipes must be a list of recipe names or {{backend: [names]}}, "
                         f"found {recipes!r}")
    return raw
