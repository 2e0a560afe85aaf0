"""Where the time goes: the profile part of a report, from records that carry ``profile``.

Per configuration: module shares (a stacked bar, drawn by ``reports.charts.module_shares``) and the
op-type table (top 15, the rest folded into one line). Under each "not recommended because slower"
verdict: the diff against fp32 on the same backend, opened by one sentence that says why.
Records without a profile contribute nothing here, so a report of them reads as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reports import fmt
from reports import recommend as rec
from results import profile as prof
from results.schema import RunRecord

TOP_ROWS = 15
# The ranking's wording for a reduced precision that is slower than fp32 ("1.30× slower [1.10–1.50] than fp32 on
# the same backend: quantization costs time here"); the interval in brackets is there when rounds gave one.
SLOWER_VERDICT = re.compile(r"slower(?: \[[^\]]*\])? than fp32 on the same backend")


@dataclass
class OpRow:
    op_type: str
    category: str
    count: int
    time: str
    share: str


@dataclass
class ConfigProfile:
    run_id: str
    label: str
    source: str
    overhead: str
    total: str
    modules: list[tuple[str, float, str]]  # (module, share %, time text)
    op_rows: list[OpRow]
    folded: str | None  # "12 more op types: 3.1% of the time"
    conversions: str
    off_precision: list[str]
    notes: list[str]
    reason: str | None = None  # why there is no profile (the pass ran but the runtime could not)


@dataclass
class DiffView:
    label: str
    base_label: str
    base_run_id: str
    run_id: str
    explanation: str
    modules: list[tuple[str, str, str, str]]  # module, A, B, B/A
    op_types: list[tuple[str, str, str, str]]
    folded: str | None
    top_slowdown: list[str]
    conversions: list[str]
    off_precision: list[str]
    slower: bool = False  # the ranking called it slower than fp32 (shown first, as "why slower")


@dataclass
class GroupProfiles:
    configs: list[ConfigProfile]
    diffs: list[DiffView] = field(default_factory=list)
    chart: Any = None  # reports.model.Chart, filled by the model when charts are drawn


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} ms" if value < 1 else fmt.ms(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _ratio(a: float | None, b: float | None) -> str:
    """B/A; 'new' for what only B runs (e.g. its Q/DQ nodes), 'gone' for what only A runs."""
    if not a:
        return "new" if b else "n/a"
    if b is None:
        return "gone"
    return f"×{b / a:.2f}"


def _conversions_text(p: Mapping[str, Any]) -> str:
    parts = []
    for category, what in (("quantize", "quantize/dequantize/convert"), ("layout", "layout conversions")):
        group = (p.get("by_category") or {}).get(category)
        if group:
            parts.append(f"{group['count']} {what}: {_ms(group['time_ms'])} ({_pct(group['share_pct'])})")
        else:
            parts.append(f"no {what}")
    return "; ".join(parts)


def _off_lines(items: Iterable[Mapping[str, Any]]) -> list[str]:
    return [f"{o['count']} {o['op_type']} ran in {o['executed_precision']} ({_ms(o['time_ms'])}; "
            f"{', '.join(o['modules'])})" for o in items]


def config_profile(r: RunRecord) -> ConfigProfile | None:
    p = r.profile
    if not isinstance(p, Mapping):
        return None
    label = f"{r.backend.get('name', '?')} · {r.precision}"
    overhead = (f"{p['pass_overhead_pct']:+.1f}% per inference vs the timed rounds"
                if p.get("pass_overhead_pct") is not None
                else f"n/a ({p.get('pass_overhead_reason') or 'not measured'})")
    if p.get("reason"):
        return ConfigProfile(r.run_id, label, str(p.get("source") or "n/a"), overhead, "n/a", [], [], None, "",
                             [], list(p.get("notes") or []), reason=str(p["reason"]))
    ops = list((p.get("by_op_type") or {}).items())
    rows = [OpRow(k, v.get("category", "?"), v["count"], _ms(v["time_ms"]), _pct(v["share_pct"]))
            for k, v in ops[:TOP_ROWS]]
    folded = None
    if len(ops) > TOP_ROWS:
        rest = ops[TOP_ROWS:]
        folded = (f"{len(rest)} more op types ({sum(v['count'] for _, v in rest)} nodes): "
                  f"{_ms(sum(v['time_ms'] for _, v in rest))}, "
                  f"{_pct(sum(v['share_pct'] or 0 for _, v in rest))} of the time")
    modules = [(k, float(v["share_pct"] or 0.0), _ms(v["time_ms"])) for k, v in (p.get("by_module") or {}).items()]
    total = _ms(p.get("total_ms"))
    if p.get("coverage_pct") is not None:
        total += f" (the runtime's own per-inference time: {_ms(p.get('runtime_total_ms'))})"
    return ConfigProfile(r.run_id, label, str(p.get("source")), overhead, total, modules, rows, folded,
                         _conversions_text(p), _off_lines(p.get("off_precision") or []), list(p.get("notes") or []))


def diff_view(base: RunRecord, r: RunRecord) -> DiffView | None:
    if not isinstance(base.profile, Mapping) or not isinstance(r.profile, Mapping):
        return None
    d = prof.diff(base.profile, r.profile)
    label = f"{r.precision} on {r.backend.get('name', '?')}"
    base_label = f"{base.precision} on {base.backend.get('name', '?')}"
    bp, rp = rec.p50(base), rec.p50(r)
    slowdown = rp / bp if bp and rp else None
    explanation = prof.explain(d, label, slowdown)
    if d.get("reason"):
        return DiffView(label, base_label, base.run_id, r.run_id, explanation, [], [], None, [], [], [])
    modules = [(m["key"], _ms(m["a_ms"]), _ms(m["b_ms"]), _ratio(m["a_ms"], m["b_ms"])) for m in d["by_module"]]
    ops = d["by_op_type"]
    op_rows = [(o["key"], f"{_ms(o['a_ms'])} ({o['a_count']})", f"{_ms(o['b_ms'])} ({o['b_count']})",
                _ratio(o["a_ms"], o["b_ms"])) for o in ops[:TOP_ROWS]]
    folded = None
    if len(ops) > TOP_ROWS:
        folded = f"{len(ops) - TOP_ROWS} more op types change by {sum(o['delta_ms'] for o in ops[TOP_ROWS:]):+.3f} ms"
    top = [f"{o['key']}: +{_ms(o['delta_ms'])} ({_ms(o['a_ms'])} → {_ms(o['b_ms'])})" for o in d["top_slowdown"]]
    conv = []
    for key, what in (("quantize", "quantize/dequantize/convert"), ("layout", "layout conversions")):
        a, b = d[key]["a"], d[key]["b"]
        conv.append(f"{what}: {a['count']} nodes, {_ms(a['time_ms'])} ({_pct(a['share_pct'])}) → {b['count']} nodes, "
                    f"{_ms(b['time_ms'])} ({_pct(b['share_pct'])})")
    return DiffView(label, base_label, base.run_id, r.run_id, explanation, modules, op_rows, folded, top, conv,
                    _off_lines(d["off_precision_b"]))


def group_profiles(records: Sequence[RunRecord], verdicts: Iterable[Any]) -> GroupProfiles | None:
    """The profile part of one device × model group; None when no run of it was profiled."""
    configs = [c for c in (config_profile(r) for r in records if r.status == "ok") if c is not None]
    if not configs:
        return None
    by_id = {r.run_id: r for r in records}
    diffs = []
    # Every reduced precision against fp32 on its own backend: the "why slower" ones first, then what made the
    # others faster (or not), so the int8/fp32 difference is explained whichever way it went.
    for v in verdicts:
        r = by_id.get(v.run_id)
        if r is None or r.precision == rec.REFERENCE_PRECISION:
            continue
        base = rec.baseline(r, records)
        if base is None or base is r or base.backend.get("name") != r.backend.get("name"):
            continue
        view = diff_view(base, r)
        if view is not None:
            view.slower = v.rank == rec.NOT_RECOMMENDED and bool(SLOWER_VERDICT.search(v.reason or ""))
            diffs.append(view)
    diffs.sort(key=lambda d: not d.slower)
    return GroupProfiles(configs, diffs)


def diff_lines(d: Mapping[str, Any], label_a: str, label_b: str, explanation: str) -> list[str]:
    """``edgebench profile-diff`` as terminal text."""
    if d.get("reason"):
        return [explanation]
    lines = [explanation, "", f"A = {label_a}   B = {label_b}   profiled total {_ms(d['total_a_ms'])} → "
             f"{_ms(d['total_b_ms'])} ({_ratio(d['total_a_ms'], d['total_b_ms'])})", ""]

    def table(title: str, rows: list[Mapping[str, Any]], limit: int) -> None:
        lines.append(f"{title:<34} {'A':>12} {'B':>12} {'B/A':>8} {'nodes A→B':>10}")
        for row in rows[:limit]:
            lines.append(f"{str(row['key'])[:34]:<34} {_ms(row['a_ms']):>12} {_ms(row['b_ms']):>12} "
                         f"{_ratio(row['a_ms'], row['b_ms']):>8} {row['a_count']:>4}→{row['b_count']:<5}")
        if len(rows) > limit:
            lines.append(f"… {len(rows) - limit} more, {sum(r['delta_ms'] for r in rows[limit:]):+.3f} ms together")
        lines.append("")

    table("module", d["by_module"], TOP_ROWS)
    table("op type", d["by_op_type"], TOP_ROWS)
    lines.append("op types that gained the most time in B (top contributors to a slowdown):")
    lines += [f"  {o['key']}: +{_ms(o['delta_ms'])}" for o in d["top_slowdown"]] or ["  none gained time"]
    for key, what in (("quantize", "quantize/dequantize/convert"), ("layout", "layout conversions")):
        a, b = d[key]["a"], d[key]["b"]
        lines.append(f"{what}: A {a['count']} nodes {_ms(a['time_ms'])} ({_pct(a['share_pct'])}); "
                     f"B {b['count']} nodes {_ms(b['time_ms'])} ({_pct(b['share_pct'])})")
    for side in ("A", "B"):
        key, req = f"off_precision_{side.lower()}", d.get(f"requested_{side.lower()}")
        off = _off_lines(d.get(key) or [])
        lines.append(f"{side} not at its requested precision ({req or 'n/a'}): " + ("; ".join(off) if off else "none"))
    return lines


def slowdown_sentences(records: Sequence[RunRecord]) -> list[str]:
    """One sentence per profiled reduced-precision run that is slower than fp32 on its backend (same model and
    device; beyond both medians' confidence intervals, as in the ranking), for the terminal after ``run --profile``."""
    out = []
    ok = [r for r in records if r.status == "ok" and isinstance(r.profile, Mapping)]
    for r in ok:
        if r.precision == rec.REFERENCE_PRECISION:
            continue
        same = [b for b in ok if b.precision == rec.REFERENCE_PRECISION and b.backend.get("name") == r.backend.get(
            "name") and b.model.get("name") == r.model.get("name") and b.device.get("name") == r.device.get("name")]
        base = same[-1] if same else None
        bp, rp = (rec.p50(base), rec.p50(r)) if base is not None else (None, None)
        if base is None or not bp or not rp or rp <= bp:
            continue
        ci_b, ci_r = rec.median_ci(base), rec.median_ci(r)
        if ci_b and ci_r and ci_r[0] <= ci_b[1]:
            continue  # within the noise: the ranking does not call it slower either
        view = diff_view(base, r)
        if view is not None:
            out.append(f"{r.model.get('name', '?')}: {view.explanation}")
    return out
