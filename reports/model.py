"""The report model: what a report says, built from run records, independent of HTML or Markdown.

Every cell is text ready to show plus, when the figure is missing, the reason (``n/a (why)``): a
figure that was not measured is never shown blank or as 0.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reports import fmt
from reports import recommend as rec
from results.schema import RunRecord, executed_label, precision_mismatch

try:  # the minimum sample counts live with the statistics; keep working if that module moves
    from results.stats import MIN_SAMPLES
except ImportError:  # pragma: no cover
    MIN_SAMPLES = {"p50": 1, "p90": 64, "p95": 130, "p99": 662}


@dataclass
class Cell:
    text: str
    na: str | None = None  # why the figure is not available
    na_ref: int | None = None  # number of the note that gives the reason, in tables that use notes
    sub: str | None = None  # secondary text (a CI, a change vs fp32), shown smaller under the figure
    note: str | None = None  # shown as a tooltip and, when marked, as a footnote
    cls: str = ""
    value: float | None = None

    @property
    def display(self) -> str:
        """One-line text for Markdown and terminals."""
        if self.na:
            return f"n/a ({self.na})"
        return f"{self.text} {self.sub}" if self.sub else self.text


def na(reason: str | None) -> Cell:
    return Cell("n/a", na=reason or "no reason recorded", cls="na")


@dataclass
class MatrixRow:
    run_id: str
    backend: str
    precision: str
    status: str
    cells: dict[str, Cell]
    rank: str | None = None
    reason: str | None = None  # failed/skipped runs

    @property
    def config(self) -> str:
        return f"{self.backend} · {self.precision}"


@dataclass
class Column:
    key: str
    header: str
    unit: str = ""


@dataclass
class Chart:
    key: str
    title: str
    svg: str | None = None
    na: str | None = None  # why there is no chart
    caption: str | None = None


@dataclass
class Group:
    device: str
    model: str
    columns: list[Column]
    rows: list[MatrixRow]
    recommendation: rec.GroupRecommendation
    records: list[RunRecord]
    charts: list[Chart] = field(default_factory=list)
    # Columns with no figure in any run, folded into one line each: (headers, the shared reason).
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    # Reasons of the n/a cells still in the table, numbered: cells show "n/a ¹" and the note says why.
    na_notes: list[str] = field(default_factory=list)
    # Per-operator profiles of the group's runs (reports.profile.GroupProfiles), None when none was profiled.
    profiles: Any = None
    # Recipes, int8 compute counts, int8-auto plans and tune results of the quantized runs.
    quant: Any = None

    @property
    def anchor(self) -> str:
        return "g-" + "".join(c if c.isalnum() else "-" for c in f"{self.device}-{self.model}").strip("-").lower()


@dataclass
class DeviceProvenance:
    name: str
    facts: list[tuple[str, str]]
    os: str
    cpu: str
    isa_features: str
    precision_features: str  # "AVX2 yes, ..., BF16 yes; native: fp32, int8, bf16" or n/a (why)
    packages: list[tuple[str, str]]
    edgebench: str
    notes: list[str]


@dataclass
class ReportModel:
    title: str
    generated_at: str
    run_count: int
    suites: list[str]
    period: str
    devices: list[DeviceProvenance]
    groups: list[Group]
    failed: list[dict[str, str]]
    footnotes: list[str]
    edgebench_version: str
    pipelines: list[Any] = field(default_factory=list)  # reports.pipelines.PipelineGroup
    # More than one device (a fleet): per model, each device's pick and the best of them.
    across: list[rec.AcrossDevices] = field(default_factory=list)


def _latency_cells(r: RunRecord, footnotes: set[str]) -> dict[str, Cell]:
    lat = r.latency_ms or {}
    p50 = fmt.num(lat.get("p50"))
    out: dict[str, Cell] = {}
    if p50 is None:
        out["p50"] = na(lat.get("reason") or "no latency measured")
    else:
        ci = rec.median_ci(r)
        rounds_ci = rec.rounds_ci(r)
        if rounds_ci:
            out["p50"] = Cell(fmt.ms(p50), value=p50, sub=f"[{fmt.sig(rounds_ci[0])}–{fmt.sig(rounds_ci[1])}]",
                              note=f"median of {lat.get('rounds')} round medians with the between-round 95% interval")
        elif ci:
            out["p50"] = Cell(fmt.ms(p50), note="p50 with the 95% confidence interval of the median", value=p50,
                              sub=f"[{fmt.sig(ci[0])}–{fmt.sig(ci[1])}]")
        else:
            out["p50"] = Cell(fmt.ms(p50), note="too few samples for a confidence interval of the median",
                              value=p50, sub="[no CI: too few samples]")
    p99 = fmt.num(lat.get("p99"))
    n = lat.get("n")
    if p99 is None:
        out["p99"] = na(lat.get("reason") or "no latency measured")
    elif "p99" in (lat.get("unreliable") or []):
        need = MIN_SAMPLES.get("p99", 662)
        note = f"unreliable: only {n} samples, p99 needs at least {need}"
        footnotes.add(f"† unreliable: a p99 from fewer than {need} samples is indicative only; "
                      "run longer (--min-iterations) for a valid tail.")
        out["p99"] = Cell(f"{fmt.ms(p99)} †", note=note, cls="unreliable", value=p99)
    else:
        out["p99"] = Cell(fmt.ms(p99), note=f"{n} samples", value=p99)
    tput = fmt.num(r.throughput_ips)
    out["throughput"] = Cell(f"{fmt.sig(tput)} /s", value=tput) if tput is not None else na("no latency measured")
    return out


def _row(r: RunRecord, group: list[RunRecord], footnotes: set[str]) -> MatrixRow:
    row = MatrixRow(r.run_id, r.backend.get("name", "?"), executed_label(r), r.status, {})
    mismatch = precision_mismatch(r.precision, r.executed_precision)
    if mismatch:
        footnotes.add("“X (ran Y)”: the run was asked for precision X but the runtime computed in Y (read back from "
                      "the runtime after load); it is compared as what ran, never as X.")
    if r.status != "ok":
        row.reason = r.reason or "no reason recorded"
        return row
    c = row.cells
    c.update(_latency_cells(r, footnotes))
    base = rec.baseline(r, group)
    is_base = base is not None and base.run_id == r.run_id
    where = ""
    if base is not None and base.backend.get("name") != r.backend.get("name"):
        where = f" (vs fp32 on {base.backend.get('name')})"
    if base is None:
        c["speedup"] = na("no fp32 run of this model")
    elif is_base:
        c["speedup"] = Cell("baseline", note="fp32 on this backend is the reference")
    else:
        ratio = (rec.p50(base) or 0) / (rec.p50(r) or float("inf"))
        text = rec.speedup_text(base, r)
        interval = rec.speedup_interval(base, r)
        if interval is not None:  # colour only what the interval shows clearly
            cls = "good" if interval[1] > 1.0 else ("bad" if interval[2] < 1.0 else "")
        else:
            cls = "good" if ratio > 1.005 else ("bad" if ratio < 0.995 else "")
        c["speedup"] = Cell(text, cls=cls, value=ratio, sub=where.strip() or None)
    mem = r.memory or {}
    peak = fmt.num(mem.get("peak_rss_bytes"))
    if peak is None:
        c["memory"] = na(mem.get("reason") or "not measured")
    else:
        sub = None
        if base is not None and not is_base:
            red = fmt.reduction(rec.peak_rss(base), peak)
            if red != "n/a":
                sub = f"({red.replace('smaller', 'less').replace('larger', 'more')})"
        c["memory"] = Cell(fmt.bytes_(peak), value=peak, note="peak resident memory of the run's process", sub=sub)
    art = fmt.num(r.artifact_bytes)
    if art is None:
        c["artifact"] = na((r.artifact or {}).get("reason") or "not recorded")
    else:
        sub = None
        if base is not None and not is_base:
            red = fmt.reduction(fmt.num(base.artifact_bytes), art)
            if red != "n/a":
                sub = f"({red})"
        c["artifact"] = Cell(fmt.bytes_(art), value=art, sub=sub)
    power = r.power or {}
    why = power.get("reason") or "not measured"
    mean_w = fmt.num(power.get("mean_w"))
    c["power"] = Cell(f"{fmt.sig(mean_w)} W", value=mean_w,
                      note=f"source: {power.get('source')}") if mean_w is not None else na(why)
    e_mj = fmt.num(power.get("energy_per_inference_mj"))
    c["energy"] = Cell(f"{fmt.sig(e_mj)} mJ", value=e_mj) if e_mj is not None else na(why)
    q = r.quality or {}
    qwhy = q.get("reason") or "not scored"
    sq = fmt.num(q.get("sqnr_db"))
    if sq is not None:
        c["sqnr"] = Cell(f"{sq:.1f} dB", value=sq)
    elif r.precision == rec.REFERENCE_PRECISION and not mismatch:
        c["sqnr"] = Cell("reference", note="fp32 is what the others are scored against")
    else:
        c["sqnr"] = na(qwhy)
    for key, label in (("lse_d", "LSE-D"), ("lse_c", "LSE-C"), ("mos", "MOS")):
        v = fmt.num(q.get(key))
        c[key] = Cell(fmt.sig(v), value=v) if v is not None else na(qwhy if q.get("reason") else f"no {label} score")
    gates = rec.gate_summary(r)
    failed = bool(rec.failed_gates(r))
    c["gates"] = Cell(gates, cls="wrap " + ("bad" if failed else ("good" if gates.startswith("passes") else "")))
    thermal = r.thermal or {}
    t = thermal.get("throttled")
    if isinstance(t, bool):
        c["throttled"] = Cell("yes" if t else "no", cls="bad" if t else "", note=str(thermal.get("evidence") or ""))
    else:
        c["throttled"] = na(thermal.get("reason") or "not measured")
    return row


_BASE_COLUMNS = [
    Column("p50", "p50 latency [95% CI]"),
    Column("p99", "p99 latency"),
    Column("throughput", "throughput"),
    Column("speedup", "vs fp32 (same backend)"),
    Column("memory", "peak memory (vs fp32)"),
    Column("artifact", "artifact (vs fp32)"),
    Column("power", "mean power"),
    Column("energy", "energy / inference"),
    Column("sqnr", "SQNR"),
    Column("lse_d", "LSE-D ↓"),
    Column("lse_c", "LSE-C ↑"),
    Column("mos", "MOS"),
    Column("gates", "gates"),
    Column("throttled", "throttled"),
]
_OPTIONAL = {"lse_d", "lse_c", "mos"}  # shown only when some run of the group has them


def _columns(rows: list[MatrixRow]) -> tuple[list[Column], list[tuple[str, str]]]:
    """The matrix's columns, and the ones folded away because no run has the figure.

    A column that is n/a for every run says the same reason in every row; it is stated once under
    the table instead ("mean power, energy / inference: n/a (no power sensor)"), never dropped
    silently. LSE and MOS columns appear only when some run has them.
    """
    ok = [r for r in rows if r.status == "ok"]
    if not ok:  # nothing ran: one column carries each run's reason
        return [_BASE_COLUMNS[0]], []
    columns: list[Column] = []
    folded: dict[str, list[str]] = {}
    for col in _BASE_COLUMNS:
        cells = [r.cells.get(col.key) for r in ok]
        if ok and all(c is not None and c.na for c in cells):
            if col.key in _OPTIONAL:
                continue
            reasons = sorted({c.na for c in cells if c is not None and c.na})
            folded.setdefault("; ".join(reasons), []).append(col.header)
            continue
        columns.append(col)
    return columns, [(", ".join(headers), reason) for reason, headers in folded.items()]


def _precision_features_text(found: dict[str, Any] | None) -> str:
    if not found:
        return "n/a (not recorded: the runs predate it)"
    if found.get("reason") and not any((found.get("features") or {}).values()):
        return f"n/a ({found['reason']})"
    feats = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in (found.get("features") or {}).items())
    return f"{feats}; computes natively: {', '.join(found.get('native') or [])}"


def _provenance(records: list[RunRecord]) -> list[DeviceProvenance]:
    out = []
    by_device: dict[str, list[RunRecord]] = {}
    for r in records:
        by_device.setdefault(r.device.get("name", "?"), []).append(r)
    for name, recs in by_device.items():
        latest = max(recs, key=lambda r: r.created_at or "")
        facts = []
        for k, v in _flat(latest.device).items():
            if k != "name" and v not in (None, "", [], {}):
                facts.append((k, ", ".join(map(str, v)) if isinstance(v, list) else str(v)))
        env = latest.environment or {}
        cpu = env.get("cpu") or {}
        isa = cpu.get("isa_features") or []
        pkgs = env.get("packages") or {}
        eb = env.get("edgebench") or {}
        notes = []
        versions: dict[str, set[str]] = {}
        for r in recs:
            for k, v in ((r.environment or {}).get("packages") or {}).items():
                versions.setdefault(k, set()).add(str(v))
        for k, vs in sorted(versions.items()):
            if len(vs) > 1:
                notes.append(f"{k} differs between runs: {', '.join(sorted(vs))}")
        commits = {str(((r.environment or {}).get("edgebench") or {}).get("commit")) for r in recs}
        if len(commits) > 1:
            notes.append(f"runs come from {len(commits)} edgebench commits: {', '.join(sorted(commits))}")
        out.append(DeviceProvenance(
            name=name,
            facts=facts,
            os=" ".join(str(x) for x in (env.get("os"), env.get("kernel")) if x) or "n/a (not recorded)",
            cpu=str(cpu.get("model") or "n/a (not recorded)"),
            isa_features=", ".join(map(str, isa)) if isa else "n/a (not recorded)",
            precision_features=_precision_features_text(cpu.get("precision_features")),
            packages=sorted((str(k), str(v)) for k, v in pkgs.items()),
            edgebench=" ".join(x for x in (str(eb.get("version") or ""), f"commit {eb['commit']}"
                                           if eb.get("commit") else "") if x) or "n/a (not recorded)",
            notes=notes,
        ))
    return out


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def build(
    records: Iterable[RunRecord],
    samples_by_run: dict[str, dict[str, Any]] | None = None,
    *,
    title: str | None = None,
    charts: bool = True,
    default_sqnr_floor_db: float = rec.DEFAULT_SQNR_FLOOR_DB,
) -> ReportModel:
    """Everything a report shows, from records (and their samples, for distributions)."""
    records = list(records)
    if not records:
        raise ValueError("no runs to report: the selection is empty; 'edgebench list' shows what the store holds")
    samples_by_run = dict(samples_by_run or {})
    for r in records:  # records fetched with their samples need no separate map
        if r.samples and r.run_id not in samples_by_run:
            samples_by_run[r.run_id] = r.samples
    footnotes: set[str] = set()
    from reports import pipelines as pl

    # Pipeline runs (whole generations) have their own section; the model matrix holds single models.
    pipeline_groups = pl.build(records, default_sqnr_floor_db, charts=charts)
    singles = [r for r in records if not r.pipeline]
    recommendations = {(g.device, g.model): g for g in rec.recommend(singles, default_sqnr_floor_db)}
    latest = rec.latest_per_config(records)
    groups: list[Group] = []
    # Grouped by device (in order of first appearance), then by model: a fleet's report reads board by board.
    device_order = {d: i for i, d in enumerate(dict.fromkeys(d for d, _ in recommendations))}
    ordered = sorted(recommendations.items(), key=lambda kv: device_order[kv[0][0]])
    for (device, model), recommendation in ordered:
        recs = [r for r in latest if r.device.get("name", "?") == device and r.model.get("name", "?") == model]
        rank_of = {v.run_id: v.rank for v in recommendation.verdicts}
        rows = [_row(r, recs, footnotes) for r in recs]
        for row in rows:
            row.rank = rank_of.get(row.run_id)
        rows.sort(key=lambda row: (row.status != "ok", row.backend, _precision_order(row.precision)))
        columns, unavailable = _columns(rows)
        group = Group(device, model, columns, rows, recommendation, recs, unavailable=unavailable)
        from reports import quant

        # tune runs share (backend, precision) and differ by recipe: all of them, not the newest per config
        group.quant = quant.build(recs, [r for r in records if r.device.get("name", "?") == device
                                         and r.model.get("name", "?") == model])
        for row in rows:
            for col in columns:
                c = row.cells.get(col.key)
                if c is not None and c.na:
                    if c.na not in group.na_notes:
                        group.na_notes.append(c.na)
                    c.na_ref = group.na_notes.index(c.na) + 1
        from reports.profile import group_profiles

        group.profiles = group_profiles(recs, recommendation.verdicts)
        if charts:
            from reports import charts as ch

            group.charts = ch.group_charts(recs, samples_by_run, group.anchor)
            if group.profiles is not None:
                group.profiles.chart = ch.module_shares(group.profiles.configs, group.anchor)
            if group.quant is not None and group.quant.tune:
                group.charts.append(ch.tune_front(group.quant, group.anchor))
        groups.append(group)
    failed = [
        {"run_id": r.run_id, "model": r.model.get("name", "?"), "backend": r.backend.get("name", "?"),
         "precision": r.precision, "device": r.device.get("name", "?"), "status": r.status,
         "phase": r.phase or "n/a", "reason": r.reason or "no reason recorded"}
        for r in records if r.status != "ok"
    ]
    dates = sorted(r.created_at for r in records if r.created_at)
    period = f"{dates[0]} … {dates[-1]}" if dates and dates[0] != dates[-1] else (dates[0] if dates else "n/a")
    older = len(records) - len(latest)
    if older:
        footnotes.add(f"{older} older run(s) of configurations that ran again are left out of the matrix and "
                      "ranking; the newest successful run of each configuration is shown.")
    versions = sorted({str(((r.environment or {}).get("edgebench") or {}).get("version") or "")
                       for r in records} - {""})
    return ReportModel(
        title=title or _default_title(records),
        generated_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        run_count=len(records),
        suites=sorted({r.suite for r in records if r.suite}),
        period=period,
        devices=_provenance(records),
        groups=groups,
        failed=failed,
        footnotes=sorted(footnotes),
        edgebench_version=", ".join(versions) or "n/a",
        pipelines=pipeline_groups,
        across=rec.across_devices(recommendations.values(), latest) if len(device_order) > 1 else [],
    )


_PRECISIONS = ["fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed", "int8-auto"]


def _precision_order(p: str) -> tuple[int, str]:
    label = p.split(" ")[0]  # "fp16 (ran bf16)" sorts with fp16
    return (_PRECISIONS.index(label) if label in _PRECISIONS else len(_PRECISIONS), p)


def _default_title(records: list[RunRecord]) -> str:
    suites = sorted({r.suite for r in records if r.suite})
    devices = sorted({r.device.get("name", "?") for r in records})
    what = f"suite {', '.join(suites)}" if suites else f"{len(records)} runs"
    return f"edgebench report: {what} on {', '.join(devices)}"


# -- comparisons ----------------------------------------------------------------------------------

def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return fmt.ms(value)
    if unit == "B":
        return fmt.bytes_(value)
    if unit == "/s":
        return f"{fmt.sig(value)} /s"
    return f"{fmt.sig(value)} {unit}".strip()


@dataclass
class CompareRow:
    label: str
    verdict: str
    state: str
    base_run_id: str | None
    new_run_id: str | None
    devices: str
    p50: str
    p50_change: str
    ratio_ci: str
    p_value: str
    others: list[str]
    reasons: list[str]
    regression_metrics: list[str]


def comparison_rows(comparison: Any) -> list[CompareRow]:
    """Display rows for a ``results.compare.Comparison``: text for every figure, reasons in words."""
    out = []
    for row in comparison.rows:
        p50 = next((m for m in row.metrics if m.metric == "p50"), None)
        if p50 is not None and p50.base is not None and p50.new is not None:
            p50_text = f"{fmt_value(p50.base, 'ms')} → {fmt_value(p50.new, 'ms')}"
            change = f"{p50.delta_pct:+.1f}%" if p50.delta_pct is not None else "n/a"
        else:
            p50_text, change = "n/a", "n/a"
        ci = row.median_ratio_ci95
        method = f" ({row.ratio_method})" if getattr(row, "ratio_method", None) else ""
        ratio_ci = fmt.ratio_interval(row.median_ratio, ci) + method if ci and row.median_ratio else (
            "n/a (no samples on both sides)" if row.state == "matched" else "n/a")
        p_value = (f"{row.mwu_p:.2g}" if row.mwu_p is not None else
                   ("n/a (no samples on both sides)" if row.state == "matched" else "n/a"))
        others = []
        for m in row.metrics:
            if m.metric == "p50" or m.base is None or m.new is None:
                continue
            change_txt = f"{m.delta_pct:+.1f}%" if m.delta_pct is not None else f"{m.delta:+g} {m.unit}".strip()
            flag = " (significant)" if m.significant else ""
            others.append(f"{m.label}: {fmt_value(m.base, m.unit)} → {fmt_value(m.new, m.unit)} ({change_txt}){flag}")
        devices = row.device_base or "—"
        if row.device_new and row.device_new != row.device_base:
            devices = f"{row.device_base or '—'} → {row.device_new}"
        out.append(CompareRow(row.label, row.verdict, row.state, row.base_run_id, row.new_run_id, devices, p50_text,
                              change, ratio_ci, p_value, others, list(row.reasons),
                              [m.metric for m in row.metrics if m.regression]))
    return out
