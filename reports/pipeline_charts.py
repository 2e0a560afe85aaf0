"""Pipeline charts: the steps sweep (time and quality against inference steps, one line per backend ·
precision · memory strategy) and each configuration's stage shares of the generation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reports import fmt
from reports import recommend as rec
from reports.charts import _STYLE, MARKERS, PALETTE, _height, _svg, plt
from reports.model import Chart
from results.schema import RunRecord


def _series(records: Sequence[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    out: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in records:
        p = r.pipeline or {}
        if r.status == "ok" and fmt.num(p.get("generation_s")) is not None:
            out.setdefault((r.backend.get("name", "?"), r.precision, str(p.get("resident"))), []).append(r)
    for recs in out.values():
        recs.sort(key=lambda r: (r.pipeline or {}).get("steps") or 0)
    return out


def steps_sweep(records: Sequence[RunRecord], floor_db: float, salt: str) -> Chart:
    key, title = "steps-sweep", "Steps sweep: generation time and quality against inference steps"
    series = _series(records)
    if not series:
        return Chart(key, title, na="no pipeline configuration finished a generation")
    backends = sorted({b for b, _, _ in series})
    colors = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}
    with plt.rc_context(_STYLE):
        fig, (ax_t, ax_q) = plt.subplots(1, 2, figsize=(9.0, 3.4))
        any_quality = False
        for (backend, precision, resident), recs in series.items():
            steps = [(r.pipeline or {})["steps"] for r in recs]
            style = {"color": colors[backend], "marker": MARKERS.get(precision, "o"),
                     "ls": "--" if resident == "staged" else "-", "lw": 1.3, "ms": 5}
            label = f"{backend} · {precision}" + (" · staged" if resident == "staged" else "")
            ax_t.plot(steps, [(r.pipeline or {})["generation_s"] for r in recs], label=label, **style)
            q = [(s, rec.sqnr(r)) for s, r in zip(steps, recs) if rec.sqnr(r) is not None]
            if q:
                any_quality = True
                ax_q.plot([s for s, _ in q], [v for _, v in q], label=label, **style)
        ax_t.set_xlabel("inference steps")
        ax_t.set_ylabel("generation time (s, median), lower is better")
        ax_t.set_ylim(bottom=0)
        ax_t.legend(loc="upper left")
        ax_q.axhline(floor_db, color="#999", lw=1, ls=":")
        ax_q.annotate(f"floor {floor_db:g} dB", (0.0, floor_db), xycoords=("axes fraction", "data"), fontsize=7,
                      color="#666", va="bottom")
        ax_q.set_xlabel("inference steps")
        ax_q.set_ylabel("SQNR vs fp32 at the most steps (dB)")
        if not any_quality:
            ax_q.annotate("quality not scored", (0.5, 0.5), xycoords="axes fraction", ha="center")
        for ax in (ax_t, ax_q):
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
        return Chart(key, title, _svg(fig, f"{salt}-{key}"),
                     caption="Each line is one backend · precision (dashed: stages loaded when needed). The media "
                             "of every configuration is scored against the fp32 pipeline at the largest step count.")


def shares_chart(records: Sequence[RunRecord], salt: str) -> Chart:
    key, title = "stage-shares", "Where a generation's time goes (share per stage)"
    ok = [r for recs in _series(records).values() for r in recs]
    if not ok:
        return Chart(key, title, na="no pipeline configuration finished a generation")
    stages = list((ok[0].pipeline or {}).get("stages") or {})
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, _height(len(ok))))
        y = np.arange(len(ok))
        left = np.zeros(len(ok))
        parts = [(s, [fmt.num(((r.pipeline or {}).get("stages") or {}).get(s, {}).get("share_pct")) or 0.0
                      for r in ok]) for s in stages]
        parts.append(("stage loads", [fmt.num((r.pipeline or {}).get("stage_load_pct")) or 0.0 for r in ok]))
        parts.append(("harness", [max(fmt.num((r.pipeline or {}).get("overhead_pct")) or 0.0, 0.0) for r in ok]))
        for i, (name, values) in enumerate(parts):
            ax.barh(y, values, left=left, height=0.6, label=name, color=PALETTE[i % len(PALETTE)], alpha=0.85)
            left += np.asarray(values)
        ax.set_yticks(y, [f"{r.backend.get('name')} · {r.precision} · {(r.pipeline or {}).get('steps')} steps"
                          + (" · staged" if (r.pipeline or {}).get("resident") == "staged" else "") for r in ok])
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the generation (%)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.set_title(title, loc="left")
        return Chart(key, title, _svg(fig, f"{salt}-{key}"))
