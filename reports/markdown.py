"""Markdown summary of the matrix and the recommendation, for pull requests and CI logs."""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reports import model as rm
from results.schema import RunRecord

_MD_COLUMNS = ["p50", "p99", "throughput", "speedup", "memory", "artifact", "power", "energy", "sqnr", "lse_d",
               "lse_c", "mos", "gates", "throttled"]


def _esc(text: Any) -> str:
    """User and model text made inert: HTML escaped (Markdown renderers pass raw HTML through), table
    pipes escaped, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def render_model(model: rm.ReportModel) -> str:
    lines = [f"# {_esc(model.title)}", ""]
    lines.append(f"{model.run_count} runs · suite {_esc(', '.join(model.suites) or 'n/a')} · devices "
                 f"{_esc(', '.join(d.name for d in model.devices))} · runs from {_esc(model.period)} · "
                 f"edgebench {model.edgebench_version}")
    lines.append("")
    for d in model.devices:  # what decides which precisions are fast here
        lines.append(f"- device {d.name}: {_esc(d.cpu)}; precision features: {_esc(d.precision_features)}")
    lines.append("")
    if model.across:
        lines.append("## At a glance: best device × runtime × precision per model")
        lines.append("")
        devices = [d.name for d in model.devices]
        lines.append("| model | ship | why | " + " | ".join(f"{_esc(d)}: its own pick" for d in devices) + " |")
        lines.append("|---|---|---|" + "---|" * len(devices))
        for a in model.across:
            ship = f"**{a.best.label}** on **{_esc(a.best_device or '')}**" if a.best else "none"
            cells = [_esc(a.pick_for(d)) for d in devices]
            lines.append(f"| {_esc(a.model)} | {ship} | {_esc(a.reason)} | " + " | ".join(cells) + " |")
        lines.append("")
    for g in model.groups:
        best = g.recommendation.recommended
        lines.append(f"## {_esc(g.model)} on {_esc(g.device)}")
        lines.append("")
        lines.append(f"**Ship {_esc(best.label)}.**" if best else f"**{_esc(g.recommendation.headline)}**")
        lines.append("")
        for v in g.recommendation.verdicts:
            lines.append(f"- **{_esc(v.rank)}**: {_esc(v.sentence)}")
        lines.append("")
        cols = [c for c in g.columns if c.key in _MD_COLUMNS]
        lines.append("| configuration | ranking | status | " + " | ".join(_esc(c.header) for c in cols) + " |")
        lines.append("|---|---|---|" + "---|" * len(cols))
        for row in g.rows:
            if row.status != "ok":
                cells = [f"{_esc(row.status)}: {_esc(row.reason or '')}"] + [""] * (len(cols) - 1)
            else:
                cells = []
                for c in cols:
                    cell = row.cells.get(c.key)
                    cells.append(_esc(cell.display) if cell else "n/a (not recorded)")
            head = [_esc(row.config), _esc(row.rank or ""), _esc(row.status)]
            lines.append("| " + " | ".join(head + cells) + " |")
        lines.append("")
        for headers, reason in g.unavailable:
            lines.append(f"- {_esc(headers)}: n/a for every run ({_esc(reason)})")
        if g.unavailable:
            lines.append("")
        if g.profiles is not None:
            lines.extend(_profiles(g.profiles))
        if g.quant:
            lines.extend(_quant_lines(g.quant))
    lines += _pipelines(model)
    if model.failed:
        lines.append("## Failed and skipped runs")
        lines.append("")
        for f in model.failed:
            lines.append(f"- {_esc(f['run_id'])} {_esc(f['model'])} · {_esc(f['backend'])} · {_esc(f['precision'])} on "
                         f"{_esc(f['device'])}: **{_esc(f['status'])}**: {_esc(f['reason'])}")
        lines.append("")
    lines.append("## How the recommendation is made")
    lines.append("")
    seen: list[list[str]] = []
    for g in model.groups:
        if g.recommendation.rules in seen:
            continue
        seen.append(g.recommendation.rules)
        lines.extend(f"- {_esc(r)}" for r in g.recommendation.rules)
    if model.footnotes:
        lines.append("")
        lines.extend(f"- {_esc(f)}" for f in model.footnotes)
    lines.append("")
    return "\n".join(lines)


def _pipelines(model: rm.ReportModel) -> list[str]:
    from reports.pipelines import COLUMNS

    lines: list[str] = []
    for pg in model.pipelines:
        lines += [f"## Pipeline {pg.pipeline} on {pg.device}", "", f"**{_esc(pg.headline)}**", "",
                  f"Quality floor: SQNR ≥ {pg.floor_db:g} dB ({_esc(pg.floor_source)}) against the fp32 pipeline at "
                  "the largest step count. RTF = seconds to generate one second of media; x real time = 1 / RTF.", ""]
        lines.append("| configuration | verdict | " + " | ".join(h for _, h in COLUMNS) + " | stage shares |")
        lines.append("|---|---|" + "---|" * (len(COLUMNS) + 1))
        for row in pg.rows:
            cells = ([_esc(row.cells[k]) for k, _ in COLUMNS] if row.cells
                     else [f"{row.status}: {_esc(row.reason or '')}"] + [""] * (len(COLUMNS) - 1))
            lines.append(f"| {_esc(row.config)} | {_esc(row.verdict)} | " + " | ".join(cells)
                         + f" | {_esc(row.shares)} |")
        lines.append("")
    return lines


def _profiles(gp: object) -> list[str]:
    """Where the time goes: module shares, op types (top rows, the rest folded), and the diff under slower verdicts."""
    lines = ["### Where the time goes", ""]
    configs = [c for c in gp.configs]  # type: ignore[attr-defined]
    modules = list(dict.fromkeys(m for c in configs for m, _, _ in c.modules))
    if modules:
        lines.append("| configuration | " + " | ".join(_esc(m) for m in modules) + " | profiled per inference |")
        lines.append("|---|" + "---|" * (len(modules) + 1))
        for c in configs:
            if c.reason:
                continue
            shares = {m: s for m, s, _ in c.modules}
            lines.append(f"| {c.label} | " + " | ".join(f"{shares[m]:.1f}%" if m in shares else "—" for m in modules)
                         + f" | {_esc(c.total)} |")
        lines.append("")
    for c in configs:
        lines.append(f"**{c.label}** ({_esc(c.source)}; pass overhead {_esc(c.overhead)})")
        lines.append("")
        if c.reason:
            lines.append(f"- profile n/a ({_esc(c.reason)})")
            lines.append("")
            continue
        lines.append("| op type | category | nodes | time / inference | share |")
        lines.append("|---|---|---|---|---|")
        lines.extend(f"| {_esc(o.op_type)} | {o.category} | {o.count} | {o.time} | {o.share} |" for o in c.op_rows)
        if c.folded:
            lines.append(f"| … {_esc(c.folded)} | | | | |")
        lines.append("")
        lines.append(f"- conversions: {_esc(c.conversions)}")
        if c.off_precision:
            lines.append(f"- not at the requested precision: {_esc('; '.join(c.off_precision))}")
        lines.extend(f"- {_esc(n)}" for n in c.notes)
        lines.append("")
    for d in gp.diffs:  # type: ignore[attr-defined]
        lines.append(f"#### Why {d.label} is slower than {d.base_label}" if d.slower
                     else f"#### What changes from {d.base_label} to {d.label}")
        lines.append("")
        lines.append(f"**{_esc(d.explanation)}**")
        lines.append("")
        if d.modules:
            lines.append(f"| module | {_esc(d.base_label)} | {_esc(d.label)} | ratio |")
            lines.append("|---|---|---|---|")
            lines.extend(f"| {_esc(m)} | {a} | {b} | {r} |" for m, a, b, r in d.modules)
            lines.append("")
            lines.append(f"| op type | {_esc(d.base_label)} (nodes) | {_esc(d.label)} (nodes) | ratio |")
            lines.append("|---|---|---|---|")
            lines.extend(f"| {_esc(o)} | {a} | {b} | {r} |" for o, a, b, r in d.op_types)
            if d.folded:
                lines.append(f"| … {_esc(d.folded)} | | | |")
            lines.append("")
            lines.append("- top contributors: " + ("; ".join(d.top_slowdown) or "none"))
            lines.extend(f"- {_esc(x)}" for x in d.conversions)
            lines.append("- not at the requested precision: " + (_esc("; ".join(d.off_precision)) or "none"))
            lines.append("")
    return lines


def _quant_lines(q: Any) -> list[str]:
    """Recipes and int8 compute per quantized run, int8-auto sensitivity, tune results."""
    lines = ["### Quantization", ""]
    for row in q.recipes:
        lines.append(f"- {row.config}: {_esc(row.recipe)}; {row.compute}")
    if q.recipes:
        lines.append("")
    for t in q.auto:
        took = f", search took {t.seconds:.0f} s" if isinstance(t.seconds, (int, float)) else ""
        lines.append(f"**int8-auto, {t.config}** (floor {t.floor}{took}): {_esc(t.outcome)}")
        lines.append("")
        lines.append("| module | only this module int8 | only this module float | gain if kept float | pass time |")
        lines.append("|---|---|---|---|---|")
        for r in t.rows:
            lines.append(f"| {_esc(r['module'])} | {rm.fmt_value(r.get('only_quantized'), '')} | "
                         f"{rm.fmt_value(r.get('only_float'), '')} | {rm.fmt_value(r.get('gain_if_float'), '')} | "
                         f"{rm.fmt_value(r.get('seconds'), 's')} |")
        lines.append("")
        lines.append("Suite snippet:")
        lines.append("")
        lines.append("```yaml")
        lines.append(t.snippet)
        lines.append("```")
        lines.append("")
    if q.tune:
        lines.append(f"**Recipe search** (floor {q.tune_floor}): {_esc(q.headline or '')}")
        lines.append("")
        lines.append("| recipe | p50 | fidelity | size | Pareto front | |")
        lines.append("|---|---|---|---|---|---|")
        for t in q.tune:
            if t.status != "ok":
                lines.append(f"| {_esc(t.config)} | {t.status}: {_esc(t.reason or '')} | | | | |")
                continue
            mark = "**fastest meeting the floor**" if t.fastest_meeting_floor else ""
            lines.append(f"| {_esc(t.config)}: {_esc(t.recipe)} | {rm.fmt_value(t.p50_ms, 'ms')} | "
                         f"{rm.fmt_value(t.figure, '')} | {rm.fmt_value(t.artifact_bytes, 'B')} | "
                         f"{'yes' if t.on_front else ''} | {mark} |")
        lines.append("")
    return lines


def render(
    records: Iterable[RunRecord],
    samples_by_run: dict[str, dict[str, Any]] | None = None,
    path: str | Path | None = None,
    *,
    title: str | None = None,
) -> str:
    """The Markdown summary of these runs; written to ``path`` when given."""
    model = rm.build(records, samples_by_run, title=title, charts=False)
    text = render_model(model)
    if path is not None:
        from reports.html import write_atomic

        write_atomic(path, text)
    return text


def render_comparison(comparison: Any, path: str | Path | None = None) -> str:
    """The comparison as Markdown: verdict first, then one row per configuration."""
    rows = rm.comparison_rows(comparison)
    lines = [f"# edgebench compare: {_esc(comparison.base_label)} → {_esc(comparison.new_label)}", ""]
    if comparison.has_regression:
        lines.append(f"**REGRESSION** in {sum(r.verdict in ('regression', 'mixed') for r in rows)} configuration(s).")
    else:
        lines.append("**No regression**" + (" (no rules given)." if not comparison.thresholds else "."))
    lines.append("")
    lines.append(f"Matched on {_esc(', '.join(comparison.matched_on))}; rules: "
                 + (", ".join(_esc(t.text) for t in comparison.thresholds) or "none")
                 + f"; latency tested with Mann-Whitney U (alpha {comparison.alpha:g}) and a bootstrap 95% CI of "
                   "the median ratio.")
    lines.extend(f"- {_esc(n)}" for n in comparison.notes)
    lines.append("")
    lines.append("| configuration | verdict | p50 base → new | change | median ratio [95% CI] | MW p | why |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in rows:
        verdict = r.verdict if r.verdict != "n/a" else r.state.replace("_", " ")
        cells = [verdict, r.p50, r.p50_change, r.ratio_ci, r.p_value]
        lines.append(f"| {_esc(r.label)} | " + " | ".join(_esc(c) for c in cells) + " | "
                     f"{_esc('; '.join(r.reasons))} |")
    lines.append("")
    text = "\n".join(lines)
    if path is not None:
        from reports.html import write_atomic

        write_atomic(path, text)
    return text
