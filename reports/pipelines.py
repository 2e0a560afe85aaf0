"""The pipelines part of a report: per pipeline and device, every configuration (backend ·
precision · steps · memory strategy) with its end-to-end figures and stage shares, the steps sweep
(time and quality against inference steps, per precision), and the answer to "which is the fastest
configuration that meets the quality floor", the step count included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reports import fmt
from reports import recommend as rec
from reports.model import Chart
from results.schema import RunRecord


@dataclass
class PipelineRow:
    run_id: str
    config: str
    status: str
    cells: dict[str, str]
    shares: str = ""
    verdict: str = ""
    reason: str | None = None


@dataclass
class PipelineGroup:
    device: str
    pipeline: str
    rows: list[PipelineRow]
    headline: str
    verdicts: list[str]
    floor_db: float
    floor_source: str
    charts: list[Chart] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "p-" + "".join(c if c.isalnum() else "-" for c in f"{self.device}-{self.pipeline}").strip("-").lower()


COLUMNS = [("generation", "generation (median)"), ("rtf", "RTF"), ("x_realtime", "x real time"),
           ("first_chunk", "first chunk"), ("step", "step p50 / p90"), ("load", "load"), ("memory", "peak memory"),
           ("energy", "energy / generation"), ("sqnr", "SQNR vs fp32 @max steps"), ("mos", "MOS-LQO (DNSMOS)")]


def config_label(r: RunRecord) -> str:
    p = r.pipeline or {}
    mixed = sorted({f"{n} {s.get('precision')}" for n, s in (p.get("stages") or {}).items()
                    if s.get("precision") != r.precision})
    label = f"{r.backend.get('name', '?')} · {r.precision} · {p.get('steps')} steps · {p.get('resident')}"
    return label + (f" (mixed: {', '.join(mixed)})" if mixed else "")


def generation_s(r: RunRecord) -> float | None:
    return fmt.num((r.pipeline or {}).get("generation_s")) if r.status == "ok" else None


def _na(reason: str) -> str:
    return f"n/a ({reason})"


def _cells(r: RunRecord) -> dict[str, str]:
    p = r.pipeline or {}
    q = r.quality or {}
    step = p.get("step_ms") or {}
    peak = fmt.num(p.get("peak_rss_bytes"))
    energy = fmt.num(p.get("energy_per_generation_j"))
    sqnr = fmt.num(q.get("sqnr_db"))
    mos = fmt.num(q.get("mos_lqo_ovrl"))
    return {
        "generation": f"{fmt.sig(p['generation_s'])} s for {fmt.sig(p['media_s'])} s",
        "rtf": fmt.sig(p["rtf"]),
        "x_realtime": f"{fmt.sig(p['x_realtime'])}x",
        "first_chunk": f"{fmt.sig(p['first_chunk_s'])} s",
        "step": (f"{fmt.ms(fmt.num(step.get('p50')))} / {fmt.ms(fmt.num(step.get('p90')))}"
                 if fmt.num(step.get("p50")) is not None else _na(step.get("reason", "no per-step stage"))),
        "load": (f"{fmt.sig(r.load_s)} s" + (" per generation" if p.get("resident") == "staged" else "")
                 if fmt.num(r.load_s) is not None else _na("not measured")),
        "memory": fmt.bytes_(peak) if peak is not None else _na((r.memory or {}).get("reason", "not sampled")),
        "energy": f"{fmt.sig(energy)} J" if energy is not None else _na(p.get("energy_reason", "not measured")),
        "sqnr": f"{fmt.sig(sqnr)} dB" if sqnr is not None else _na(q.get("reason", "not scored")),
        "mos": (f"OVRL {fmt.sig(mos)} · SIG {fmt.sig(q['mos_lqo_sig'])} · BAK {fmt.sig(q['mos_lqo_bak'])}"
                if mos is not None else _na(q.get("mos_lqo_reason", "not audio, or not scored"))),
    }


def shares_text(p: dict[str, Any]) -> str:
    parts = []
    for name, s in (p.get("stages") or {}).items():
        share = fmt.num(s.get("share_pct"))
        if share is None:
            continue
        p50 = fmt.num(s.get("p50_ms"))
        parts.append(f"{name} {fmt.sig(share, 2)}% ({s.get('calls')} call{'s' if s.get('calls') != 1 else ''}, "
                     f"p50 {fmt.ms(p50)}, {s.get('precision')} on {s.get('backend')})")
    for key, label in (("stage_load_pct", "stage loads"), ("overhead_pct", "harness between calls")):
        v = fmt.num(p.get(key))
        if v:
            parts.append(f"{label} {fmt.sig(max(v, 0.0), 2)}%")
    return " · ".join(parts)


def recommend(records: Sequence[RunRecord], floor_db: float) -> tuple[RunRecord | None, dict[str, str]]:
    """The fastest configuration whose media meets the floor (SQNR against the fp32 pipeline at the
    largest step count), and a verdict for every run."""
    verdicts: dict[str, str] = {}
    eligible = []
    for r in records:
        q = rec.sqnr(r)
        if r.status != "ok":
            verdicts[r.run_id] = f"{r.status}: {r.reason or 'no reason recorded'}"
        elif generation_s(r) is None:
            verdicts[r.run_id] = "no generation timed"
        elif q is None:
            verdicts[r.run_id] = "quality not scored: cannot say whether it meets the floor"
        elif q < floor_db:
            verdicts[r.run_id] = f"below the floor: SQNR {q:.1f} dB < {floor_db:g} dB"
        else:
            eligible.append(r)
    best = min(eligible, key=lambda r: (generation_s(r), fmt.num((r.pipeline or {}).get("peak_rss_bytes")) or 0.0),
               default=None)
    for r in eligible:
        if r is best:
            verdicts[r.run_id] = "recommended: the fastest configuration that meets the quality floor"
        else:
            verdicts[r.run_id] = (f"meets the floor, {fmt.speedup(generation_s(best), generation_s(r))} than the "
                                  "recommended configuration")
    return best, verdicts


def _headline(best: RunRecord | None, floor_db: float) -> str:
    if best is None:
        return f"No configuration meets the quality floor (SQNR ≥ {floor_db:g} dB against fp32 at the most steps)."
    p = best.pipeline or {}
    q = rec.sqnr(best)
    peak = fmt.num(p.get("peak_rss_bytes"))
    ref_steps = (best.quality or {}).get("reference", {}).get("steps", "?")
    is_ref = best.precision == "fp32" and p.get("steps") == ref_steps and all(
        s.get("precision") == "fp32" for s in (p.get("stages") or {}).values())
    return (f"Ship {best.backend.get('name')} · {best.precision} at {p.get('steps')} steps ({p.get('resident')} "
            f"resident): {fmt.sig(p['generation_s'])} s per {fmt.sig(p['media_s'])} s of media (RTF "
            f"{fmt.sig(p['rtf'])}, {fmt.sig(p['x_realtime'])}x real time), first chunk after "
            f"{fmt.sig(p['first_chunk_s'])} s, SQNR {fmt.sig(q or 0.0)} dB against fp32 at "
            f"{ref_steps} steps (floor {floor_db:g} dB)"
            + (f", peak memory {fmt.bytes_(peak)}" if peak is not None else "")
            + (": the reference configuration itself (no faster one meets the floor)" if is_ref else "") + ".")


def build(records: Iterable[RunRecord], default_floor_db: float = rec.DEFAULT_SQNR_FLOOR_DB,
          charts: bool = True) -> list[PipelineGroup]:
    latest = rec.latest_per_config([r for r in records if r.pipeline])
    by_group: dict[tuple[str, str], list[RunRecord]] = {}
    for r in latest:
        by_group.setdefault((r.device.get("name", "?"), (r.pipeline or {}).get("name", "?")), []).append(r)
    groups = []
    for (device, name), recs in by_group.items():
        recs.sort(key=lambda r: (r.status != "ok", r.backend.get("name", ""), _precision_key(r.precision),
                                 (r.pipeline or {}).get("steps") or 0, str((r.pipeline or {}).get("resident"))))
        floor, source = rec.sqnr_floor(recs, default_floor_db)
        best, verdicts = recommend(recs, floor)
        rows = [PipelineRow(r.run_id, config_label(r), r.status, _cells(r) if generation_s(r) is not None else {},
                            shares_text(r.pipeline or {}), verdicts[r.run_id], r.reason) for r in recs]
        group = PipelineGroup(device, name, rows, _headline(best, floor),
                              [f"{config_label(r)}: {verdicts[r.run_id]}" for r in recs], floor, source)
        if charts:
            from reports.pipeline_charts import shares_chart, steps_sweep

            group.charts = [steps_sweep(recs, floor, group.anchor), shares_chart(recs, group.anchor)]
        groups.append(group)
    return groups


def _precision_key(p: str) -> tuple[int, str]:
    order = ["fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed", "int8-auto"]
    return (order.index(p) if p in order else len(order), p)
