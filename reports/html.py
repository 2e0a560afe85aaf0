"""Self-contained HTML reports: one file, inline CSS and SVG, no scripts, no network, printable.

Entry points: ``render(records, samples_by_run, path)`` for a benchmark report (optionally with a
comparison section) and ``render_comparison(comparison, path)`` for the page of ``edgebench compare``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reports import model as rm
from results.schema import RunRecord

TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value is text from records: escape it; SVG is marked safe explicitly
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("edgebench")
    except Exception:  # not pip-installed (running from a checkout)
        return "0.1.0"


def write_atomic(path: str | Path, text: str) -> Path:
    """Write via a temporary file in the same folder, so a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _comparison_context(comparison: Any) -> dict[str, Any]:
    from reports import charts

    rows = rm.comparison_rows(comparison)
    counts = {"regression": 0, "mixed": 0, "improvement": 0, "unchanged": 0, "unmatched": 0}
    for r in comparison.rows:
        if r.state in ("only_base", "only_new"):
            counts["unmatched"] += 1
        elif r.verdict in ("regression", "mixed", "improvement"):
            counts[r.verdict] += 1
        else:
            counts["unchanged"] += 1
    return {"comparison": comparison, "cmp_rows": rows, "cmp_counts": counts,
            "cmp_chart": charts.ratio_chart(comparison)}


def render_model(model: rm.ReportModel, comparison: Any = None) -> str:
    rule_sets: list[tuple[list[str], list[str]]] = []
    for g in model.groups:
        for rules, names in rule_sets:
            if rules == g.recommendation.rules:
                names.append(f"{g.model} on {g.device}")
                break
        else:
            rule_sets.append((g.recommendation.rules, [f"{g.model} on {g.device}"]))
    from reports.pipelines import COLUMNS

    context = {"m": model, "page_title": model.title, "version": _version(), "generated_at": model.generated_at,
               "rule_sets": rule_sets, "comparison": None, "pipeline_columns": COLUMNS,
               "fmt_value": rm.fmt_value}
    if comparison is not None:
        context.update(_comparison_context(comparison))
    return _env().get_template("report.html.j2").render(**context)


def render(
    records: Iterable[RunRecord],
    samples_by_run: dict[str, dict[str, Any]] | None = None,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    comparison: Any = None,
) -> str:
    """The HTML report of these runs; written to ``path`` when given. Returns the HTML text."""
    model = rm.build(records, samples_by_run, title=title)
    html = render_model(model, comparison)
    if path is not None:
        write_atomic(path, html)
    return html


def render_comparison(comparison: Any, path: str | Path | None = None, *, title: str | None = None) -> str:
    """The page of ``edgebench compare``: matched configurations, deltas, tests and verdicts."""
    import datetime as dt

    context = {"page_title": title or f"edgebench compare: {comparison.base_label} → {comparison.new_label}",
               "version": _version(),
               "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    context.update(_comparison_context(comparison))
    html = _env().get_template("compare.html.j2").render(**context)
    if path is not None:
        write_atomic(path, html)
    return html
