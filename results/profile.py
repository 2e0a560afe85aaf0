"""Per-operator profiles: one normalised shape for every runtime, and the diff of two of them.

A runtime's raw profile (``RawProfile.to_dict()`` of the adapter's ``profile()`` hook) becomes rows of
(runtime node, op type, the model nodes it came from, module, category, executed precision, time per
inference in ms, share %), plus sums by module, op type and category. ``category`` is one of:

- ``quantize``: quantize/dequantize and precision conversions (QuantizeLinear, DequantizeLinear,
  DynamicQuantizeLinear, FakeQuantize, Convert, Cast, XNNPACK's Convert): what a quantization recipe
  costs in conversions, as one figure;
- ``layout``: data moved into another memory layout (Reorder, Transpose, TensorRT reformat layers, Copy);
- ``other``: shape bookkeeping and I/O (Reshape, Shape, Gather, Concat, Split, Squeeze, Identity,
  Parameter/Result, the interpreter's own runtime ops);
- ``compute``: everything else (Conv, MatMul, attention, normalisation, activations...).

``module`` is the user's mapping (module → glob patterns over node names) when given, else the first
segment of the model node's name (``denoiser/mid/attn/MatMul`` → ``denoiser``). A node the runtime added
(an OpenVINO reorder, a TensorRT reformat) has no model node: its name is searched for a known module, and
failing that it takes the module of the node before it in execution order (``module_inferred``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CATEGORIES = ("compute", "quantize", "layout", "other")
UNATTRIBUTED = "(unattributed)"

_QUANTIZE = {"quantizelinear", "dequantizelinear", "dynamicquantizelinear", "fakequantize", "quantize", "dequantize",
             "convert", "cast", "requantize"}
_LAYOUT = {"reorder", "transpose", "reformat", "copy", "permute", "shuffle", "depthtospace", "spacetodepth"}
_OTHER = {"reshape", "shape", "gather", "concat", "concatenation", "split", "squeeze", "unsqueeze", "identity",
          "flatten", "parameter", "result", "input", "output", "constant", "const", "misc runtime ops", "slice",
          "stridedslice", "strided_slice", "expand", "tile", "pad", "view", "memorycopy"}
# Op types a quantization recipe is expected to run in int8 (matched on the lowered op type).
_QUANTIZABLE = ("conv", "matmul", "gemm", "fullyconnected", "innerproduct", "convolution",
                "attention", "deconvolution", "convtranspose")
_LOWER_PRECISIONS = {"fp32": ("bf16", "fp16", "int8", "int4"), "fp16": ("int8", "int4")}


def categorize(op_type: str) -> str:
    """compute | quantize | layout | other, from the op type as the runtime names it."""
    t = op_type.strip().lower()
    head = t.split(" (")[0].replace("_", "").replace(" ", "")  # "Convert (NC, F32, QD8)" -> "convert"
    raw_head = t.split(" (")[0]
    if head in _QUANTIZE or raw_head in _QUANTIZE or "quantize" in head:
        return "quantize"
    if head in _LAYOUT or raw_head in _LAYOUT or "reformat" in t or "reorder" in t:
        return "layout"
    if head in _OTHER or raw_head in _OTHER:
        return "other"
    return "compute"


def _segment(name: str) -> str | None:
    name = name.lstrip("/")
    return name.split("/", 1)[0] if "/" in name else None


def _user_module(names: Iterable[str], modules: Mapping[str, Sequence[str]]) -> str | None:
    for name in names:
        bare = name.lstrip("/")
        for module, patterns in modules.items():
            if any(fnmatch.fnmatchcase(bare, p.lstrip("/")) for p in patterns):
                return module
    return None


def _source_nodes(name: str, given: Sequence[str], model_nodes: set[str], by_length: list[str]) -> list[str]:
    if given:
        return list(given)
    # ONNX Runtime names an activation fusion "fused <first node>..."; the rest is the model's name.
    name = name[len("fused "):] if name.startswith("fused ") else name
    if name in model_nodes:
        return [name]
    # A fused ONNX Runtime node keeps its first node's name plus a suffix ("..._token_3", "...MatMulAddFusion").
    for candidate in by_length:
        if name.startswith(candidate):
            return [candidate]
    return []


def _module_in_name(name: str, known: Sequence[str]) -> str | None:
    """A runtime-made node's name mentions the node it feeds: 'latent_f32_abcd_bf16_denoiser/conv_in/Conv' (an
    OpenVINO reorder), 'Reformatting CopyNode for Input Tensor 0 to enc/fc' (a TensorRT reformat)."""
    head = name.split("/", 1)[0]
    for module in sorted(known, key=len, reverse=True):
        if re.search(rf"(?:^|[^A-Za-z0-9]){re.escape(module)}$", head):
            return module
    return None


def normalise(raw: Mapping[str, Any], *, model_nodes: Iterable[str] = (),
              modules: Mapping[str, Sequence[str]] | None = None, requested_precision: str | None = None,
              pass_overhead_pct: float | None = None, overhead_reason: str | None = None) -> dict[str, Any]:
    """A raw profile (``RawProfile.to_dict()``) as the record's ``profile`` group."""
    base: dict[str, Any] = {"source": raw.get("source"), "iterations": raw.get("iterations"),
                            "requested_precision": requested_precision, "notes": list(raw.get("notes") or []),
                            "pass_overhead_pct": pass_overhead_pct}
    if pass_overhead_pct is None:
        base["pass_overhead_reason"] = overhead_reason or "not measured"
    if raw.get("reason") or not raw.get("nodes"):
        return {**base, "reason": raw.get("reason") or "the profiler reported no nodes", "rows": [],
                "by_module": {}, "by_op_type": {}, "by_category": {}, "off_precision": []}
    iterations = max(1, int(raw.get("iterations") or 1))
    known_nodes = set(model_nodes)
    by_length = sorted(known_nodes, key=len, reverse=True)
    modules = dict(modules or {})
    rows: list[dict[str, Any]] = []
    for node in raw["nodes"]:
        sources = _source_nodes(str(node["name"]), node.get("source_nodes") or [], known_nodes, by_length)
        rows.append({"node": str(node["name"]), "op_type": str(node["op_type"]), "source_nodes": sources,
                     "module": _user_module(sources or [node["name"]], modules) if modules else None,
                     "category": categorize(str(node["op_type"])),
                     "executed_precision": node.get("executed_precision"),
                     "time_ms": float(node.get("time_ms") or 0.0) / iterations})
    _assign_modules(rows, known_nodes)
    total = sum(r["time_ms"] for r in rows)
    for r in rows:
        r["share_pct"] = 100.0 * r["time_ms"] / total if total > 0 else None
    runtime_total = raw.get("total_ms")
    out = {**base, "reason": None, "total_ms": total,
           "runtime_total_ms": float(runtime_total) / iterations if runtime_total else None,
           "rows": sorted(rows, key=lambda r: -r["time_ms"]),
           "by_module": _sums(rows, "module", total), "by_op_type": _sums(rows, "op_type", total),
           "by_category": _sums(rows, "category", total),
           "off_precision": off_precision(rows, requested_precision)}
    if out["runtime_total_ms"]:
        out["coverage_pct"] = 100.0 * total / out["runtime_total_ms"]
    return out


def _assign_modules(rows: list[dict[str, Any]], model_nodes: set[str]) -> None:
    """The prefix rule for rows the user's mapping (if any) did not place."""
    known = sorted({m for m in (_segment(n) for n in model_nodes) if m}
                   | {m for r in rows for m in (_segment(s) for s in r["source_nodes"]) if m})
    previous: str | None = None
    for r in rows:
        module = r["module"]
        if module is None:
            module = next((m for m in (_segment(s) for s in r["source_nodes"]) if m), None)
            module = module or _module_in_name(r["node"], known)
        # A node with no model node behind it (OpenVINO names its decomposed LayerNorm 'MVN_360', a name that is
        # not in the model) belongs where it runs.
        from_model = any(s in model_nodes for s in r["source_nodes"]) if model_nodes else bool(r["source_nodes"])
        if module is None and not from_model and previous is not None:
            module, r["module_inferred"] = previous, True  # a node the runtime added: its neighbour's module
        r["module"] = module or UNATTRIBUTED
        previous = r["module"] if r["module"] != UNATTRIBUTED else previous
    # Nodes before the first attributed one (the quantization of a graph input) feed the module that follows.
    following: str | None = None
    for r in reversed(rows):
        if r["module"] == UNATTRIBUTED and following is not None and not any(s in model_nodes
                                                                              for s in r["source_nodes"]):
            r["module"], r["module_inferred"] = following, True
        elif r["module"] != UNATTRIBUTED:
            following = r["module"]


def _sums(rows: Iterable[Mapping[str, Any]], key: str, total: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        group = out.setdefault(str(r[key]), {"time_ms": 0.0, "count": 0})
        group["time_ms"] += r["time_ms"]
        group["count"] += 1
        if key == "op_type":
            group["category"] = r["category"]
    for group in out.values():
        group["share_pct"] = 100.0 * group["time_ms"] / total if total > 0 else None
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["time_ms"]))


def off_precision(rows: Iterable[Mapping[str, Any]], requested: str | None) -> list[dict[str, Any]]:
    """Compute nodes that did not run at the requested precision, grouped by op type and precision.

    int8 asked: the quantizable kernels (Conv, MatMul, Gemm, FullyConnected...) that ran in float.
    fp16 asked: compute that ran in fp32 (or narrower). fp32 asked: compute the runtime ran narrower
    (e.g. OpenVINO's bf16 default on CPUs with AMX/AVX512-BF16)."""
    if not requested:
        return []
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        got = r.get("executed_precision")
        if r["category"] != "compute" or not got:
            continue
        lowered = r["op_type"].lower().replace(" ", "").replace("_", "")
        if requested.startswith("int8"):
            off = got in ("fp32", "fp16", "bf16") and any(k in lowered for k in _QUANTIZABLE)
        elif requested == "fp16":
            off = got == "fp32" or got in _LOWER_PRECISIONS["fp16"]
        elif requested == "fp32":
            off = got in _LOWER_PRECISIONS["fp32"]
        else:
            off = False
        if off:
            g = groups.setdefault((r["op_type"], got), {"op_type": r["op_type"], "executed_precision": got,
                                                        "count": 0, "time_ms": 0.0, "modules": [],
                                                        "attention": True})
            names = " ".join([r["node"], *r["source_nodes"]]).lower()
            g["attention"] = g["attention"] and ("attn" in names or "attention" in names)
            g["count"] += 1
            g["time_ms"] += r["time_ms"]
            if r["module"] not in g["modules"]:
                g["modules"].append(r["module"])
    return sorted(groups.values(), key=lambda g: -g["time_ms"])


# -- diff ---------------------------------------------------------------------------------------------

def _side_by_side(a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        ta, tb = (a.get(key) or {}).get("time_ms"), (b.get(key) or {}).get("time_ms")
        out.append({"key": key, "a_ms": ta, "b_ms": tb, "a_count": (a.get(key) or {}).get("count", 0),
                    "b_count": (b.get(key) or {}).get("count", 0),
                    "ratio": (tb / ta) if ta and tb is not None else None,
                    "delta_ms": (tb or 0.0) - (ta or 0.0)})
    return sorted(out, key=lambda r: -abs(r["delta_ms"]))


def _conversions(p: Mapping[str, Any], category: str) -> dict[str, Any]:
    rows = [r for r in p.get("rows") or [] if r["category"] == category]
    types = list(dict.fromkeys(r["op_type"] for r in sorted(rows, key=lambda r: -r["time_ms"])))
    time_ms = sum(r["time_ms"] for r in rows)
    total = p.get("total_ms") or 0.0
    return {"count": len(rows), "time_ms": time_ms, "share_pct": 100.0 * time_ms / total if total else None,
            "op_types": types}


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Profile A vs profile B: per module and op type, time in each and B/A; the top contributors to a
    slowdown; Q/DQ and layout conversions on each side; nodes of B not at B's requested precision."""
    if a.get("reason") or b.get("reason") or not a.get("rows") or not b.get("rows"):
        why = [f"{side}: {p.get('reason') or 'no rows'}" for side, p in (("A", a), ("B", b))
               if p.get("reason") or not p.get("rows")]
        return {"reason": "no profile to compare (" + "; ".join(why) + ")"}
    by_op = _side_by_side(a["by_op_type"], b["by_op_type"])
    return {
        "reason": None,
        "total_a_ms": a.get("total_ms"), "total_b_ms": b.get("total_ms"),
        "ratio": (b["total_ms"] / a["total_ms"]) if a.get("total_ms") else None,
        "by_module": _side_by_side(a["by_module"], b["by_module"]),
        "by_op_type": by_op,
        "by_category": _side_by_side(a.get("by_category") or {}, b.get("by_category") or {}),
        "top_slowdown": [r for r in sorted(by_op, key=lambda r: -r["delta_ms"]) if r["delta_ms"] > 0][:5],
        "quantize": {"a": _conversions(a, "quantize"), "b": _conversions(b, "quantize")},
        "layout": {"a": _conversions(a, "layout"), "b": _conversions(b, "layout")},
        "off_precision_a": list(a.get("off_precision") or []),
        "off_precision_b": list(b.get("off_precision") or []),
        "requested_a": a.get("requested_precision"), "requested_b": b.get("requested_precision"),
    }


def explain(d: Mapping[str, Any], label: str, slowdown: float | None = None) -> str:
    """One sentence on why B is slower than A, from the diff: the conversions' share, the kernels not at
    the requested precision, and the module that gained most time. ``slowdown`` is B/A of the measured
    latency (the profile totals' ratio when not given)."""
    if d.get("reason"):
        return f"{label}: no explanation ({d['reason']})"
    ratio = slowdown if slowdown is not None else d.get("ratio")
    head = f"{label} is {ratio:.2f}× slower" if ratio and ratio >= 1 else (
        f"{label} is {1 / ratio:.2f}× faster" if ratio else f"{label}")
    parts = []
    q = d["quantize"]["b"]
    if q["count"] and (q["share_pct"] or 0) >= 1.0:
        parts.append(f"{q['count']} {'/'.join(q['op_types'][:3])} nodes take {q['share_pct']:.0f}% of the time")
    lay_a, lay_b = d["layout"]["a"], d["layout"]["b"]
    if lay_b["count"] and (lay_b["share_pct"] or 0) >= 5.0 and lay_b["time_ms"] > lay_a["time_ms"]:
        parts.append(f"{lay_b['count']} layout conversions ({'/'.join(lay_b['op_types'][:3])}) take "
                     f"{lay_b['share_pct']:.0f}%")
    for off in d.get("off_precision_b", [])[:2]:
        where = ", ".join(off["modules"][:3])
        what = f"attention {off['op_type']}" if off.get("attention") else off["op_type"]
        parts.append(f"{off['count']} {what} nodes ({where}) ran in {off['executed_precision']}")
    grew = [m for m in d["by_module"] if m["delta_ms"] > 0]
    faster = bool(ratio and ratio < 1)
    if grew:
        top = max(grew, key=lambda m: m["delta_ms"])
        where = f"{top['key']} ({_ms(top['a_ms'])} → {_ms(top['b_ms'])})"
        parts.append(f"{where} still got slower" if faster else f"most of the added time is in {where}")
    # Faster overall, the same facts are what it still pays, not why it is slow.
    sentence = head + ((": still, " if faster else ": ") + "; ".join(parts) if parts else "") + "."
    profiled = d.get("ratio")
    if slowdown is not None and slowdown > 1 and profiled is not None and profiled < 1:
        # The kernels' own time says the opposite of the clock: say so rather than explain a slowdown it did not see.
        sentence += (f" (The profile pass itself saw B at ×{profiled:.2f} of A's kernel time: the slowdown is not in "
                     "the kernels, or the machine was busy; re-run before trusting either.)")
    return sentence


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def rows_for_store(profile: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The rows the store's profile table holds (empty when the run has no profile)."""
    return list((profile or {}).get("rows") or [])
