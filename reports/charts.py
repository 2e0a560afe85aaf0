"""Charts as inline SVG text (matplotlib, Agg backend): no files, no network, printable.

A chart with nothing to draw is not drawn: it becomes a sentence saying why (``Chart.na``).
Text stays text in the SVG (``svg.fonttype: none``), so it is searchable and small; each chart
salts its element ids so several charts can live in one HTML page without id clashes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on devices or CI; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from reports import fmt
from reports import recommend as rec
from reports.model import Chart
from results.schema import RunRecord

# Colour-blind-safe palette (Okabe–Ito), one colour per backend, consistent across charts.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MARKERS = {"fp32": "o", "fp16": "s", "int8": "D", "int8-dynamic": "^", "int8-mixed": "v"}
_STYLE = {
    "svg.fonttype": "none",
    # DejaVu Sans ships with matplotlib, so sizes are measured with a font that always exists.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "legend.fontsize": 8,
}


def _label(r: RunRecord) -> str:
    return f"{r.backend.get('name', '?')} · {r.precision}"


def _colors(records: Sequence[RunRecord]) -> dict[str, str]:
    backends = sorted({r.backend.get("name", "?") for r in records})
    return {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}


def _svg(fig: Any, salt: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: invalid inside HTML
    # Width/height in pt would fix the size; the viewBox alone lets CSS scale it to the page.
    text = re.sub(r'(<svg[^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"\1", text, count=1)
    # matplotlib numbers its ids per figure (figure_1, patch_1, ...): prefix them, and every
    # reference to them, so several charts in one page keep ids unique (valid HTML, no cross-wiring).
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", salt) + "-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'((?:xlink:)?href)="#([^"]+)"', lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{salt}" ', 1)


def _reasons(values: Sequence[str | None], default: str) -> str:
    seen: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.append(v)
    return "; ".join(seen) if seen else default


def _height(n: int) -> float:
    return max(1.8, 0.42 * n + 0.9)


def latency_bars(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "latency", "Median latency per configuration (95% CI) and p99"
    ok = [r for r in records if r.status == "ok" and rec.p50(r) is not None]
    if not ok:
        return Chart(key, title, na="no run finished with latency figures")
    ok = sorted(ok, key=lambda r: rec.p50(r) or 0)  # fastest at the bottom leaves room for the legend
    colors = _colors(ok)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, _height(len(ok))))
        y = np.arange(len(ok))
        p50 = np.array([rec.p50(r) for r in ok], dtype=float)
        lo, hi = [], []
        for r, m in zip(ok, p50):
            # The between-round interval when the run has rounds (it is centred on the mean of round
            # medians, so the median may sit near an end: bars are clipped at 0).
            ci = rec.rounds_ci(r) or rec.median_ci(r)
            lo.append(max(0.0, m - ci[0]) if ci else 0.0)
            hi.append(max(0.0, ci[1] - m) if ci else 0.0)
        ax.barh(y, p50, color=[colors[r.backend.get("name", "?")] for r in ok], alpha=0.85, height=0.6,
                xerr=[lo, hi], error_kw={"ecolor": "#333", "capsize": 3, "lw": 1}, label="p50 (95% interval)")
        shown_unreliable = shown_valid = False
        for yi, r in zip(y, ok):
            lat = r.latency_ms or {}
            p99 = fmt.num(lat.get("p99"))
            if p99 is None:
                continue
            unreliable = "p99" in (lat.get("unreliable") or [])
            ax.plot([p99], [yi], marker="|", markersize=12, mew=2, linestyle="none",
                    color="#999" if unreliable else "#222",
                    label=("p99 (unreliable: too few samples)" if unreliable and not shown_unreliable
                           else "p99" if not unreliable and not shown_valid else None))
            shown_unreliable |= unreliable
            shown_valid |= not unreliable
        ax.set_yticks(y, [_label(r) for r in ok])
        ax.set_xlabel("latency (ms), lower is better")
        ax.set_xlim(left=0)
        ax.legend(loc="lower right")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-latency"))


def latency_cdf(records: Sequence[RunRecord], samples_by_run: dict[str, dict[str, Any]], salt: str) -> Chart:
    key, title = "distribution", "Latency distribution (cumulative, from every timed iteration)"
    series = []
    for r in records:
        if r.status != "ok":
            continue
        values = (samples_by_run.get(r.run_id) or {}).get("latency_ms") or []
        arr = np.array([v for v in values if fmt.num(v) is not None], dtype=float)
        if arr.size:
            series.append((r, np.sort(arr)))
    if not series:
        return Chart(key, title, na="no per-iteration latency samples stored for these runs "
                                    "(records exported without samples, or no run finished)")
    colors = _colors([r for r, _ in series])
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 3.2))
        for r, arr in series:
            y = np.arange(1, arr.size + 1) / arr.size
            ax.step(arr, y, where="post", color=colors[r.backend.get("name", "?")], lw=1.5,
                    linestyle="-" if r.precision == "fp32" else ("--" if r.precision.startswith("int8") else ":"),
                    label=f"{_label(r)} (n={arr.size})")
        lo = min(float(a[0]) for _, a in series)
        hi = max(float(a[-1]) for _, a in series)
        if lo > 0 and hi / lo > 20:
            ax.set_xscale("log")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("share of iterations ≤ x")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right", ncol=1 if len(series) < 6 else 2)
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-cdf"),
                     caption="Solid: fp32; dashed: int8 variants; dotted: other precisions. Further right is slower; "
                             "a long flat tail means occasional slow iterations.")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated by another (lower latency is better, higher quality is better)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_q = [], -np.inf
    for i in order:
        if points[i][1] > best_q:
            front.append(i)
            best_q = points[i][1]
    return front


def quality_vs_latency(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "pareto", "Fidelity vs latency (SQNR against fp32; the Pareto front is marked)"
    ok = [r for r in records if r.status == "ok" and rec.p50(r) is not None]
    scored = [r for r in ok if rec.sqnr(r) is not None]
    if not scored:
        why = _reasons([(r.quality or {}).get("reason") for r in ok if r.precision != "fp32"], "not scored yet")
        return Chart(key, title, na=f"no run has a fidelity score ({why})")
    colors = _colors(ok)
    pts = [(rec.p50(r) or 0.0, rec.sqnr(r) or 0.0) for r in scored]
    front = pareto_front(pts)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 3.4))
        for r, (x, yv) in zip(scored, pts):
            ax.scatter([x], [yv], s=46, color=colors[r.backend.get("name", "?")],
                       marker=MARKERS.get(r.precision, "o"), zorder=3, edgecolor="white", linewidth=0.6)
            ax.annotate(_label(r), (x, yv), textcoords="offset points", xytext=(6, 4), fontsize=8)
        fx = [pts[i][0] for i in front]
        fy = [pts[i][1] for i in front]
        ax.step(fx, fy, where="post", color="#D55E00", lw=1.4, zorder=2, label="Pareto front (no config is both "
                                                                            "faster and more faithful)")
        ax.scatter(fx, fy, s=140, facecolor="none", edgecolor="#D55E00", lw=1.2, zorder=4)
        for r in ok:
            if r.precision == "fp32" and rec.sqnr(r) is None:
                ax.axvline(rec.p50(r), color=colors[r.backend.get("name", "?")], lw=1, ls=":", zorder=1)
                ax.annotate(f"fp32 {r.backend.get('name')} (reference)", (rec.p50(r), 1.0),
                            xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize=7,
                            color="#555")
        floor, _ = rec.sqnr_floor(records)
        ax.axhline(floor, color="#999", lw=1, ls="--", zorder=1)
        ax.annotate(f"floor {floor:g} dB", (1.0, floor), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=7, color="#666")
        ax.set_xlabel("p50 latency (ms), lower is better")
        ax.set_ylabel("SQNR (dB), higher is better")
        ax.legend(loc="lower right")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-pareto"))


def _bars(records: Sequence[RunRecord], values: list[float], xlabel: str, title: str, key: str, salt: str,
          formatter: Any) -> Chart:
    colors = _colors(records)
    order = sorted(range(len(records)), key=lambda i: values[i], reverse=True)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, _height(len(records))))
        y = np.arange(len(order))
        ax.barh(y, [values[i] for i in order], color=[colors[records[i].backend.get("name", "?")] for i in order],
                alpha=0.85, height=0.6)
        for yi, i in zip(y, order):
            ax.annotate(formatter(values[i]), (values[i], yi), textcoords="offset points", xytext=(4, 0),
                        va="center", fontsize=8)
        ax.set_yticks(y, [_label(records[i]) for i in order])
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, max(values) * 1.18 if max(values) > 0 else 1)
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, f"{salt}-{key}"))


def energy_bars(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "energy", "Energy per inference"
    ok = [r for r in records if r.status == "ok"]
    have = [r for r in ok if fmt.num((r.power or {}).get("energy_per_inference_mj")) is not None]
    if not have:
        why = _reasons([(r.power or {}).get("reason") for r in ok], "not measured")
        return Chart(key, title, na=f"no energy figures: {why}")
    values = [float((r.power or {})["energy_per_inference_mj"]) for r in have]
    chart = _bars(have, values, "energy per inference (mJ), lower is better", title, key, salt,
                  lambda v: f"{fmt.sig(v)} mJ")
    missing = [r for r in ok if r not in have]
    if missing:
        chart.caption = "Not shown (no energy figure): " + "; ".join(
            f"{_label(r)}: {(r.power or {}).get('reason') or 'not measured'}" for r in missing)
    return chart


def memory_bars(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "memory", "Peak memory (resident set of the run's process)"
    ok = [r for r in records if r.status == "ok"]
    have = [r for r in ok if rec.peak_rss(r) is not None]
    if not have:
        why = _reasons([(r.memory or {}).get("reason") for r in ok], "not measured")
        return Chart(key, title, na=f"no memory figures: {why}")
    values = [(rec.peak_rss(r) or 0.0) / 2**20 for r in have]
    return _bars(have, values, "peak RSS (MiB), lower is better", title, key, salt, lambda v: f"{fmt.sig(v)} MiB")


def per_module_error(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "per_module", "Where the error enters: SQNR per module against fp32"
    have = [r for r in records if r.status == "ok" and isinstance((r.quality or {}).get("per_module"), dict)
            and (r.quality or {})["per_module"]]
    if not have:
        return Chart(key, title, na="no run carries per-module scores (they come from a sensitivity analysis "
                                    "of a quantized model)")
    modules: list[str] = []
    for r in have:
        for m in r.quality["per_module"]:
            if m not in modules:
                modules.append(m)
    colors = _colors(have)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, max(2.0, 0.32 * len(modules) * max(1, len(have)) ** 0.5 + 1)))
        height = 0.8 / len(have)
        y = np.arange(len(modules))
        for k, r in enumerate(have):
            vals = [fmt.num(_module_sqnr(r.quality["per_module"].get(m))) for m in modules]
            ax.barh(y + k * height, [v if v is not None else 0 for v in vals], height=height,
                    color=colors[r.backend.get("name", "?")], alpha=0.55 + 0.45 * (k % 2),
                    label=_label(r))
            for yi, v in zip(y, vals):
                if v is None:
                    ax.annotate("n/a", (0, yi + k * height), xytext=(3, 0), textcoords="offset points",
                                va="center", fontsize=7, color="#888")
        ax.set_yticks(y + 0.4 - height / 2, modules)
        ax.invert_yaxis()
        floor, _ = rec.sqnr_floor(records)
        ax.axvline(floor, color="#999", lw=1, ls="--")
        ax.set_xlabel("SQNR (dB), lower means more error enters here")
        ax.legend(loc="lower right")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-modules"))


def sensitivity_chart(records: Sequence[RunRecord], salt: str) -> Chart | None:
    """int8-auto's sensitivity: fidelity won back by keeping each module in float (None without int8-auto)."""
    have = [r for r in records if r.status == "ok" and isinstance((r.extra or {}).get("int8_auto"), dict)]
    if not have:
        return None
    key, title = "sensitivity", "int8-auto: fidelity won back by keeping one module in float"
    colors = _colors(have)
    with plt.rc_context(_STYLE):
        rows = [(r, row) for r in have for row in r.extra["int8_auto"].get("sensitivity") or []]
        fig, ax = plt.subplots(figsize=(7.2, _height(len(rows))))
        y = np.arange(len(rows))
        gains = [fmt.num(row.get("gain_if_float")) for _, row in rows]
        ax.barh(y, [g if g is not None else 0 for g in gains], height=0.6, alpha=0.85,
                color=[colors[r.backend.get("name", "?")] for r, _ in rows])
        for yi, g in zip(y, gains):
            ax.annotate("n/a" if g is None else f"{g:+.3g}", (g or 0, yi), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=8)
        ax.set_yticks(y, [f"{r.backend.get('name', '?')} · {row['module']}" for r, row in rows])
        ax.invert_yaxis()
        metric = str(have[0].extra["int8_auto"].get("floor", "fidelity")).split(" ")[0]
        ax.set_xlabel(f"gain in {metric} over all-int8 when kept in float (higher = more sensitive)")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-sensitivity"))


def tune_front(section: Any, salt: str) -> Chart:
    """The recipe search: latency vs fidelity of every tried recipe, the Pareto front, the pick."""
    key, title = "tune", "Recipe search: fidelity vs latency (front marked, pick circled)"
    rows = [t for t in section.tune if t.p50_ms is not None and t.figure is not None]
    if not rows:
        return Chart(key, title, na="no tried recipe finished with a latency and a fidelity figure")
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 3.4))
        for t in rows:
            ax.scatter([t.p50_ms], [t.figure], s=40, zorder=3, color="#D55E00" if t.on_front else "#999",
                       marker="s" if t.baseline else "o")
            ax.annotate(t.config.split(" · ", 1)[-1], (t.p50_ms, t.figure), textcoords="offset points",
                        xytext=(5, 3), fontsize=7)
            if t.fastest_meeting_floor:
                ax.scatter([t.p50_ms], [t.figure], s=160, facecolor="none", edgecolor="#0072B2", lw=1.6, zorder=4,
                           label="fastest meeting the floor")
        front = sorted((t for t in rows if t.on_front), key=lambda t: t.p50_ms)
        ax.plot([t.p50_ms for t in front], [t.figure for t in front], color="#D55E00", lw=1.2, zorder=2,
                label="Pareto front")
        ax.set_xlabel("p50 latency (ms), lower is better")
        ax.set_ylabel(f"{section.tune_floor.split(' ')[0] if section.tune_floor else 'fidelity'}")
        ax.legend(loc="lower right")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-tune"))


def _module_sqnr(value: Any) -> Any:
    return value.get("sqnr_db") if isinstance(value, dict) else value


def module_shares(configs: Sequence[Any], salt: str) -> Chart:
    """Stacked bar per profiled configuration: each module's share of the profiled time (100% per bar)."""
    key, title = "module-shares", "Where the time goes: share of profiled time per module"
    shown = [c for c in configs if c.modules]
    if not shown:
        return Chart(key, title, na="no configuration has a per-operator profile with rows")
    modules = list(dict.fromkeys(m for c in shown for m, _, _ in c.modules))
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(modules)}
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, _height(len(shown))))
        y = np.arange(len(shown))
        left = np.zeros(len(shown))
        for module in modules:
            widths = np.array([next((s for m, s, _ in c.modules if m == module), 0.0) for c in shown])
            ax.barh(y, widths, left=left, color=colors[module], height=0.6, label=module)
            for yi, (x0, w) in enumerate(zip(left, widths)):
                if w >= 8:  # label segments wide enough to hold their number
                    ax.text(x0 + w / 2, yi, f"{w:.0f}%", ha="center", va="center", fontsize=7, color="white")
            left += widths
        ax.set_yticks(y, [c.label for c in shown])
        ax.invert_yaxis()  # the first configuration on top, as in the tables
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the profiled time per inference (%)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(4, len(modules)))
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-modules"),
                     caption="From each runtime's own profiler, in a separate pass after the timed rounds.")


def group_charts(records: Sequence[RunRecord], samples_by_run: dict[str, dict[str, Any]], salt: str) -> list[Chart]:
    """Every chart of one device × model group, in reading order."""
    return [
        latency_bars(records, salt),
        latency_cdf(records, samples_by_run, salt),
        quality_vs_latency(records, salt),
        energy_bars(records, salt),
        memory_bars(records, salt),
        per_module_error(records, salt),
        *([c] if (c := sensitivity_chart(records, salt)) is not None else []),
    ]


def ratio_chart(comparison: Any, salt: str = "compare") -> Chart:
    """Median latency ratio NEW/BASE per configuration with its bootstrap 95% CI (1 = unchanged)."""
    key, title = "ratio", "Median latency, NEW / BASE (bootstrap 95% CI; right of 1 is slower)"
    rows = [r for r in comparison.rows if r.median_ratio is not None and r.median_ratio_ci95 is not None]
    if not rows:
        return Chart(key, title, na="no configuration has latency samples on both sides")
    colors = {"regression": "#b3261e", "mixed": "#8a5a00", "improvement": "#0a7a45"}
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, _height(len(rows))))
        y = np.arange(len(rows))
        for yi, r in zip(y, rows):
            lo, hi = r.median_ratio_ci95
            c = colors.get(r.verdict, "#555")
            ax.plot([lo, hi], [yi, yi], color=c, lw=2)
            ax.plot([r.median_ratio], [yi], "o", color=c)
        ax.axvline(1.0, color="#333", lw=1, ls="--")
        ax.set_yticks(y, [r.label for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("ratio of medians (NEW / BASE)")
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, salt + "-ratio"),
                     caption="Red: regression beyond the rules; green: significant improvement; grey: no "
                             "significant change or no rule.")
