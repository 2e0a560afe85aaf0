"""The terminal summary table of ``edgebench run`` and ``list``: plain text, fits the terminal.

Columns are dropped from the least to the most important when the terminal is narrow, and long
names are shortened with an ellipsis; the status column always stays. No colour codes, so the
output pastes cleanly into issues and logs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable

from reports import fmt
from reports.recommend import control_flow_note
from results.schema import RunRecord

# (key, header, align, priority): lower priority survives longer on narrow terminals.
_COLUMNS = [
    ("run_id", "run", "<", 1),
    ("model", "model", "<", 1),
    ("backend", "backend", "<", 0),
    ("precision", "precision", "<", 0),
    ("device", "device", "<", 6),
    ("p50", "p50", ">", 0),
    ("p99", "p99", ">", 2),
    ("throughput", "inf/s", ">", 3),
    ("memory", "peak mem", ">", 4),
    ("status", "status", "<", 0),
]
_MIN_WIDTH = {"model": 8, "backend": 7, "precision": 6, "status": 6, "run_id": 8}


def _cells(r: RunRecord) -> dict[str, str]:
    lat = r.latency_ms or {}
    p50, p99 = fmt.num(lat.get("p50")), fmt.num(lat.get("p99"))
    tput = fmt.num(r.throughput_ips)
    peak = fmt.num((r.memory or {}).get("peak_rss_bytes"))
    status = r.status if r.status == "ok" else f"{r.status}: {r.reason or 'no reason recorded'}"
    if r.status == "ok" and control_flow_note(r):
        status = "ok ‡"  # timed on generated inputs that steer control flow (footnote)
    return {
        "run_id": r.run_id,
        "model": str(r.model.get("name", "?")),
        "backend": str(r.backend.get("name", "?")),
        "precision": r.precision,
        "device": str(r.device.get("name", "?")),
        "p50": fmt.ms(p50) if p50 is not None else "n/a",
        # "~" marks a tail percentile from too few samples (see the footnote).
        "p99": ("n/a" if p99 is None else ("~" if "p99" in (lat.get("unreliable") or []) else "") + fmt.ms(p99)),
        "throughput": fmt.sig(tput) if tput is not None else "n/a",
        "memory": fmt.bytes_(peak) if peak is not None else "n/a",
        "status": status,
    }


def summary_table(records: Iterable[RunRecord], width: int | None = None, with_ids: bool = False) -> str:
    """A plain-text table of runs: p50/p99, throughput, peak memory, status; at most ``width`` columns wide.

    ``with_ids`` adds the run id (for ``edgebench list``, where it is what you type next).
    """
    records = list(records)
    if not records:
        return "no runs"
    width = width or shutil.get_terminal_size((100, 24)).columns
    rows = [_cells(r) for r in records]
    cols = list(_COLUMNS) if with_ids else [c for c in _COLUMNS if c[0] != "run_id"]
    if len({r["device"] for r in rows}) <= 1:
        cols = [c for c in cols if c[0] != "device"]

    def widths(cs: list[tuple[str, str, str, int]]) -> dict[str, int]:
        return {k: max(len(h), *(len(r[k]) for r in rows)) for k, h, _, _ in cs}

    w = widths(cols)
    sep = "  "

    def total(cs: list[tuple[str, str, str, int]], ws: dict[str, int]) -> int:
        return sum(ws[k] for k, *_ in cs) + len(sep) * (len(cs) - 1)

    # Reasons of failed runs can be long: decide which columns fit with the status column capped,
    # then give the status column whatever width is left.
    natural_status = w["status"]
    w["status"] = min(natural_status, 16)
    for prio in (6, 5, 4, 3, 2):  # drop optional columns, least important first
        if total(cols, w) <= width:
            break
        cols = [c for c in cols if c[3] != prio]
    w["status"] = max(_MIN_WIDTH["status"], min(natural_status, width - (total(cols, w) - w["status"])))
    for key in ("model", "backend", "precision", "run_id"):  # still too wide: shorten names
        over = total(cols, w) - width
        if over <= 0:
            break
        if key in w and any(k == key for k, *_ in cols):
            w[key] = max(_MIN_WIDTH.get(key, 6), w[key] - over)
    lines = [sep.join(f"{h:{a}{w[k]}}" for k, h, a, _ in cols).rstrip()]
    lines.append(sep.join("-" * w[k] for k, *_ in cols))
    for r in rows:
        lines.append(sep.join(f"{fmt.short(r[k], w[k]):{a}{w[k]}}" for k, _, a, _ in cols).rstrip())
    if any(r["p99"].startswith("~") for r in rows) and any(k == "p99" for k, *_ in cols):
        lines.append("~ p99 from fewer samples than it needs (662): indicative only; run longer for a valid tail")
    flagged = [r for r in records if r.status == "ok" and control_flow_note(r)]
    if flagged:
        lines.append("‡ timed on generated inputs that steer data-dependent control flow "
                     f"({control_flow_note(flagged[0])}): the timed path may not be the one users take; "
                     "fix them with --input NAME=VALUE")
    return "\n".join(lines)
