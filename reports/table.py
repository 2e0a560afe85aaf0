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
from results.schema import RunRecord, executed_label

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
        "precision": executed_label(r),  # "fp32 (ran bf16)" when the runtime computed in another precision
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
    if any("(ran " in r["precision"] for r in rows):
        lines.append("X (ran Y): asked for X, the runtime computed in Y (read back after load); see the run's warnings")
    flagged = [r for r in records if r.status == "ok" and control_flow_note(r)]
    if flagged:
        lines.append("‡ timed on generated inputs that steer data-dependent control flow "
                     f"({control_flow_note(flagged[0])}): the timed path may not be the one users take; "
                     "fix them with --input NAME=VALUE")
    return "\n".join(lines)


def _shares(p: dict) -> str:
    parts = [f"{name} {fmt.sig(s['share_pct'], 2)}% ({s.get('calls')}×{fmt.ms(fmt.num(s.get('p50_ms')))})"
             for name, s in (p.get("stages") or {}).items() if fmt.num(s.get("share_pct")) is not None]
    if fmt.num(p.get("stage_load_pct")):
        parts.append(f"stage loads {fmt.sig(p['stage_load_pct'], 2)}%")
    if fmt.num(p.get("overhead_pct")) is not None:
        parts.append(f"harness {fmt.sig(max(p['overhead_pct'], 0.0), 2)}%")
    return " · ".join(parts)


def pipeline_line(r: RunRecord) -> str:
    """One line of a pipeline run for progress output: end-to-end time, RTF, first chunk."""
    p = r.pipeline or {}
    gen, rtf, xrt = fmt.num(p.get("generation_s")), fmt.num(p.get("rtf")), fmt.num(p.get("x_realtime"))
    if gen is None:
        return f"{r.status}: no generation timed"
    return (f"ok, generation {fmt.sig(gen)} s for {fmt.sig(p.get('media_s'))} s of media: RTF {fmt.sig(rtf)} "
            f"({fmt.sig(xrt)}x real time), first chunk {fmt.sig(p.get('first_chunk_s'))} s, "
            f"over {p.get('generations')} generations")


def pipeline_table(records: Iterable[RunRecord]) -> str:
    """Per pipeline configuration: end-to-end time, RTF, first chunk, memory, quality, stage shares."""
    rows = []
    for r in records:
        p = r.pipeline or {}
        if r.status != "ok" or fmt.num(p.get("generation_s")) is None:
            rows.append([f"{p.get('name', r.model.get('name'))} · {r.backend.get('name', '?')} · {r.precision} · "
                         f"{p.get('steps', '?')} steps · {p.get('resident', '?')}: {r.status}: "
                         f"{r.reason or 'no generation timed'}"])
            continue
        q = r.quality or {}
        quality = ("SQNR " + fmt.sig(q["sqnr_db"]) + " dB") if fmt.num(q.get("sqnr_db")) is not None else "n/a"
        peak = fmt.num(p.get("peak_rss_bytes"))
        rows.append([str(p["name"]), r.backend.get("name", "?"), r.precision, str(p["steps"]), str(p["resident"]),
                     f"{fmt.sig(p['generation_s'])} s", fmt.sig(p["rtf"]), f"{fmt.sig(p['x_realtime'])}x",
                     f"{fmt.sig(p['first_chunk_s'])} s", fmt.bytes_(peak) if peak is not None else "n/a", quality])
        rows.append(["  stages: " + _shares(p)])
    header = ["pipeline", "backend", "precision", "steps", "resident", "generation", "RTF", "x real time",
              "first chunk", "peak mem", "quality"]
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(h), *(len(r[i]) for r in full)) if full else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(header, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append(row[0] if len(row) == 1 else "  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip())
    lines.append("RTF: seconds to generate one second of media (under 1: faster than real time); x real time = 1/RTF")
    return "\n".join(lines)
