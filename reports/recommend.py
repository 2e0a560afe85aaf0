"""Rank configurations per device and model: recommended, feasible, not recommended — with reasons.

The rules are data (``RULES``) so that the report states exactly what decided. Thresholds come from
the suite's gates when the records carry them (``gates.sqnr_db.spec``, e.g. ``">= 25"``), else from
the defaults below, and the report says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from reports import fmt
from results.compare import interleaved
from results.schema import RunRecord, executed_label, precision_mismatch
from results.stats import rounds_ratio

DEFAULT_SQNR_FLOOR_DB = 20.0  # end-to-end int8 floors seen in practice are 15–20 dB (reference/quality.md)
REFERENCE_PRECISION = "fp32"

RECOMMENDED, FEASIBLE, NOT_RECOMMENDED = "recommended", "feasible", "not recommended"
RANK_ORDER = {RECOMMENDED: 0, FEASIBLE: 1, NOT_RECOMMENDED: 2}


def rules_text(sqnr_floor_db: float, floor_source: str) -> list[str]:
    """The ranking rules in words, as the report states them."""
    return [
        "Configurations are ranked per device and model; fp32 is the quality reference and needs no score.",
        "Failed or skipped runs are not recommended; their reason is given.",
        "A run whose runtime computed in another precision than it was asked for (its executed precision, read "
        "back after load) is not recommended and is named by what ran, “X (ran Y)”; it is never an fp32 baseline.",
        "A run that fails any of its quality gates is not recommended.",
        f"Fidelity floor: SQNR ≥ {sqnr_floor_db:g} dB against fp32 ({floor_source}); "
        "a reduced-precision run below it is not recommended.",
        "Speed is compared as a ratio of medians with its 95% interval, from rounds paired by index when the runs "
        "were interleaved (else from the two runs' rounds, else from the overlap of the medians' CIs for runs "
        "without rounds).",
        "A reduced-precision run clearly slower than fp32 on the same backend (the whole interval of the ratio "
        "is on the slow side) is not recommended: it gives up fidelity and buys no speed.",
        "A reduced-precision run that is not clearly faster than fp32 on the same backend (the interval of the "
        "ratio includes 1), has no quality score yet, was measured while the device throttled, or was timed on "
        "generated inputs that steer data-dependent control flow (If/Loop), is at most feasible.",
        "Of the rest, the lowest median latency is recommended; when another is not clearly slower than the "
        "fastest, the smaller peak memory wins, then the smaller artifact. Everything else that passes is "
        "feasible.",
    ]


@dataclass
class Verdict:
    run_id: str
    backend: str
    precision: str
    rank: str
    reason: str
    p50_ms: float | None = None
    caveats: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.precision} on {self.backend}"

    @property
    def sentence(self) -> str:
        return f"{self.label}: {self.reason}"


@dataclass
class GroupRecommendation:
    device: str
    model: str
    verdicts: list[Verdict]
    rules: list[str]
    sqnr_floor_db: float
    floor_source: str

    @property
    def recommended(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.rank == RECOMMENDED), None)

    @property
    def headline(self) -> str:
        best = self.recommended
        if best is not None:
            return f"Ship {best.label} on {self.device} for {self.model}: {best.reason}"
        if any(v.rank == FEASIBLE for v in self.verdicts):
            return (f"No configuration of {self.model} on {self.device} meets every rule; "
                    "the feasible ones below each lack one thing, named in their reason.")
        return f"No configuration of {self.model} on {self.device} can be recommended: none ran and passed."


# -- figures read from a record -------------------------------------------------------------------

def p50(record: RunRecord) -> float | None:
    return fmt.num((record.latency_ms or {}).get("p50"))


def median_ci(record: RunRecord) -> tuple[float, float] | None:
    ci = (record.latency_ms or {}).get("median_ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and fmt.num(ci[0]) is not None and fmt.num(ci[1]) is not None:
        return float(ci[0]), float(ci[1])
    return None


def rounds_ci(record: RunRecord) -> tuple[float, float] | None:
    """The between-round 95% interval of the median (``latency_ms.p50_ci95``), for runs measured in rounds."""
    ci = (record.latency_ms or {}).get("p50_ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and fmt.num(ci[0]) is not None and fmt.num(ci[1]) is not None:
        return float(ci[0]), float(ci[1])
    return None


def peak_rss(record: RunRecord) -> float | None:
    return fmt.num((record.memory or {}).get("peak_rss_bytes"))


def sqnr(record: RunRecord) -> float | None:
    return fmt.num((record.quality or {}).get("sqnr_db"))


def throttled(record: RunRecord) -> bool | None:
    value = (record.thermal or {}).get("throttled")
    return value if isinstance(value, bool) else None


def control_flow_note(record: RunRecord) -> str | None:
    """"If node 'pick' on sr" when the run was timed on generated data that decides its control flow."""
    flow = (record.extra or {}).get("control_flow") or {}
    generated = set(flow.get("on_generated") or [])
    hits = [n for n in flow.get("nodes") or [] if generated & set(n.get("depends_on") or [])]
    if not hits:
        return None
    return "; ".join(f"{n.get('op')} node '{n.get('node')}' on {', '.join(sorted(generated & set(n['depends_on'])))}"
                     for n in hits[:3])


def failed_gates(record: RunRecord) -> list[str]:
    out = []
    for name, gate in sorted((record.gates or {}).items()):
        if isinstance(gate, dict) and gate.get("passed") is False:
            value = fmt.num(gate.get("value"))
            shown = fmt.sig(value) if value is not None else "n/a"
            out.append(f"{name} {shown} (needs {gate.get('spec', '?')})")
    return out


def gate_summary(record: RunRecord) -> str:
    gates = {k: g for k, g in (record.gates or {}).items() if isinstance(g, dict)}
    if not gates:
        return "no gates defined"
    failed = failed_gates(record)
    if failed:
        return "fails " + ", ".join(failed)
    unknown = [k for k, g in gates.items() if g.get("passed") is None]
    if unknown:
        reasons = {str(gates[k].get("reason") or "not evaluated") for k in unknown}
        return (f"{len(gates) - len(unknown)}/{len(gates)} pass; {', '.join(sorted(unknown))} not evaluated "
                f"({'; '.join(sorted(reasons))})")
    return "passes all gates" if len(gates) > 1 else "passes its gate"


def baseline(record: RunRecord, group: Iterable[RunRecord]) -> RunRecord | None:
    """The fp32 run to compare with: same device, model and backend; else the fastest fp32 of the group."""
    fp32 = [r for r in group if r.status == "ok" and r.precision == REFERENCE_PRECISION and p50(r) is not None
            and precision_mismatch(r.precision, r.executed_precision) is None]
    same = [r for r in fp32 if r.backend.get("name") == record.backend.get("name")]
    pool = same or fp32
    return min(pool, key=lambda r: p50(r) or float("inf")) if pool else None


def speedup_interval(base: RunRecord, record: RunRecord) -> tuple[float, float, float] | None:
    """(speed-up of ``record`` over ``base``, lo, hi): base p50 / record p50 with its 95% interval from
    rounds (paired by index when the two were interleaved in one session), or None without rounds."""
    got = rounds_ratio(base.latency_ms, record.latency_ms, interleaved(base, record))
    if got is None:
        return None
    ratio, lo, hi = got  # record / base
    return 1.0 / ratio, 1.0 / hi, 1.0 / lo


def speedup_text(base: RunRecord, record: RunRecord) -> str:
    """"1.31× faster [1.24–1.39]": the speed-up with its interval when rounds give one."""
    text = fmt.speedup(p50(base), p50(record))
    got = speedup_interval(base, record)
    if got is None or text == "n/a":
        return text
    s, lo, hi = got
    if s >= 1:
        return f"{text} [{lo:.2f}–{hi:.2f}]"
    return f"{text} [{1 / hi:.2f}–{1 / lo:.2f}]"


def _ci_overlap(a: RunRecord, b: RunRecord) -> bool | None:
    """Whether the two speeds are indistinguishable: the ratio's interval includes 1 (runs with rounds),
    else the medians' within-window CIs overlap (older runs)."""
    got = speedup_interval(a, b)
    if got is not None:
        return got[1] <= 1.0 <= got[2]
    ca, cb = median_ci(a), median_ci(b)
    if ca is None or cb is None:
        return None
    return ca[0] <= cb[1] and cb[0] <= ca[1]


_SPEC_RE = re.compile(r"^\s*(>=|>|≥)\s*([-+]?\d+(?:\.\d*)?)\s*(?:dB)?\s*$", re.IGNORECASE)


def sqnr_floor(records: Iterable[RunRecord], default: float = DEFAULT_SQNR_FLOOR_DB) -> tuple[float, str]:
    """The SQNR floor from the suite's ``sqnr_db`` gate if any record carries it, else the default."""
    for r in records:
        gate = (r.gates or {}).get("sqnr_db")
        if isinstance(gate, dict):
            m = _SPEC_RE.match(str(gate.get("spec", "")))
            if m:
                return float(m.group(2)), f"from the suite's gate sqnr_db {gate.get('spec')}"
    return default, "default: the suite sets no sqnr_db gate"


# -- the ranking ----------------------------------------------------------------------------------

def _facts(record: RunRecord, base: RunRecord | None) -> list[str]:
    """The figures a reason is made of: speed and size vs fp32, fidelity, gates."""
    facts = []
    is_ref = record.precision == REFERENCE_PRECISION
    if base is not None and not (is_ref and base.run_id == record.run_id):
        where = "" if base.backend.get("name") == record.backend.get("name") else f" on {base.backend.get('name')}"
        facts.append(f"{speedup_text(base, record)} than fp32{where}")
        size = fmt.reduction(fmt.num(base.artifact_bytes), fmt.num(record.artifact_bytes))
        if size != "n/a":
            facts.append(size)
        mem = fmt.reduction(peak_rss(base), peak_rss(record))
        if mem != "n/a" and mem != "same size":
            facts.append(f"peak memory {mem.replace('smaller', 'lower').replace('larger', 'higher')}")
    elif base is None and not is_ref:
        facts.append("no fp32 run to compare speed with")
    facts.append(f"p50 {fmt.ms(p50(record))}")
    value = sqnr(record)
    if value is not None:
        facts.append(f"SQNR {fmt.sig(value, 2) if value < 100 else fmt.sig(value)} dB")
    elif is_ref:
        facts.append("the quality reference")
    else:
        facts.append(f"quality not scored ({(record.quality or {}).get('reason') or 'no reason given'})")
    facts.append(gate_summary(record))
    return facts


def rank_group(records: list[RunRecord], sqnr_floor_db: float) -> list[Verdict]:
    """Verdicts for the runs of one device and model, best first."""
    verdicts: list[Verdict] = []
    candidates: list[RunRecord] = []
    for r in records:
        v = Verdict(r.run_id, r.backend.get("name", "?"), executed_label(r), NOT_RECOMMENDED, "", p50(r))
        verdicts.append(v)
        if r.status != "ok":
            v.reason = f"{r.status}: {r.reason or 'no reason recorded'}"
            continue
        mismatch = precision_mismatch(r.precision, r.executed_precision)
        if mismatch:
            ran = (r.executed_precision or {}).get("precision")
            v.reason = f"{mismatch}: not a {r.precision} result; ask for {ran} to measure what ran"
            continue
        if p50(r) is None:
            v.reason = "no latency measured"
            continue
        base = baseline(r, records)
        facts = _facts(r, base)
        is_ref = r.precision == REFERENCE_PRECISION
        gates_failed = failed_gates(r)
        if gates_failed:
            v.reason = f"fails gate {', '.join(gates_failed)}; " + ", ".join(facts[:-1])
            continue
        q = sqnr(r)
        if not is_ref and q is not None and q < sqnr_floor_db:
            v.reason = f"SQNR {q:.1f} dB is below the {sqnr_floor_db:g} dB floor; " + ", ".join(
                f for f in facts if not f.startswith("SQNR"))
            continue
        same_backend_base = base if base is not None and base.backend.get("name") == r.backend.get("name") else None
        if not is_ref and same_backend_base is not None:
            bp, rp = p50(same_backend_base), p50(r)
            assert bp is not None and rp is not None
            overlap = _ci_overlap(r, same_backend_base)
            if rp > bp and overlap is not True:
                v.reason = (f"{speedup_text(same_backend_base, r)} than fp32 on the same backend: quantization costs "
                            f"time here, not saves it; " + ", ".join(facts[1:]))
                continue
            if rp >= bp or overlap:
                how = ("the interval of the speed-up includes 1" if speedup_interval(same_backend_base, r)
                       else "median CIs overlap")
                v.caveats.append(f"not clearly faster than fp32 on the same backend ({how})")
        if not is_ref and sqnr(r) is None:
            v.caveats.append("quality not scored yet, so its fidelity is unknown")
        if throttled(r):
            v.caveats.append("measured while the device throttled; re-run cooler before trusting the speed")
        flow = control_flow_note(r)
        if flow:
            v.caveats.append(f"timed on generated inputs that steer its control flow ({flow}): the timed path may "
                             "not be the one users take")
        v.reason = ", ".join(facts)
        candidates.append(r)
        v.rank = FEASIBLE
    clean = [r for r in candidates if not next(v for v in verdicts if v.run_id == r.run_id).caveats]
    if clean:
        fastest = min(clean, key=lambda r: p50(r) or float("inf"))
        tied = [r for r in clean if r is fastest or _ci_overlap(r, fastest)]
        best = min(tied, key=lambda r: (peak_rss(r) or float("inf"), fmt.num(r.artifact_bytes) or float("inf"),
                                         p50(r) or float("inf")))
        bv = next(v for v in verdicts if v.run_id == best.run_id)
        bv.rank = RECOMMENDED
        if best is not fastest:
            others = ", ".join(f"{executed_label(r)} on {r.backend.get('name')}" for r in tied if r is not best)
            bv.reason += f"; as fast as {others} within the noise, with less memory"
        for r in candidates:
            v = next(v for v in verdicts if v.run_id == r.run_id)
            if v.rank == FEASIBLE and not v.caveats and r in tied:
                # faster or not, its speed is within the noise of the pick: memory decided
                v.reason += (f"; {fmt.speedup(p50(best), p50(r))} than the recommended {bv.label}, within the noise, "
                             "and the recommended one uses less memory")
            elif v.rank == FEASIBLE and not v.caveats:
                v.reason += f"; passes every rule but {fmt.speedup(p50(best), p50(r))} than the recommended {bv.label}"
    for v in verdicts:
        if v.rank == FEASIBLE and v.caveats:
            v.reason += "; but " + "; ".join(v.caveats)
    verdicts.sort(key=lambda v: (RANK_ORDER[v.rank], v.p50_ms if v.p50_ms is not None else float("inf")))
    return verdicts


def recommend(records: Iterable[RunRecord], default_sqnr_floor_db: float = DEFAULT_SQNR_FLOOR_DB) -> list[
        GroupRecommendation]:
    """One recommendation per (device, model), in the order the groups first appear."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in latest_per_config(records):
        groups.setdefault((r.device.get("name", "?"), r.model.get("name", "?")), []).append(r)
    out = []
    for (device, model), recs in groups.items():
        floor, source = sqnr_floor(recs, default_sqnr_floor_db)
        out.append(GroupRecommendation(device, model, rank_group(recs, floor), rules_text(floor, source), floor,
                                       source))
    return out


def latest_per_config(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One run per configuration (device, model, backend, precision): the newest ok run, else the newest.

    Repeated runs of one configuration would otherwise compete with each other in the ranking.
    """
    best: dict[tuple[str, ...], RunRecord] = {}
    order: list[tuple[str, ...]] = []
    for r in records:
        key = r.config_key()
        cur = best.get(key)
        if cur is None:
            order.append(key)
            best[key] = r
            continue
        rank_new = (r.status == "ok", r.created_at or "", r.run_id)
        rank_cur = (cur.status == "ok", cur.created_at or "", cur.run_id)
        if rank_new > rank_cur:
            best[key] = r
    return [best[k] for k in order]


# -- across devices (a fleet) ---------------------------------------------------------------------

@dataclass
class AcrossDevices:
    """Per model: each device's own pick (ranked by the rules above), and the best of those picks."""

    model: str
    picks: list[tuple[str, Verdict | None]]  # (device, its recommended configuration or None)
    best_device: str | None
    best: Verdict | None
    reason: str

    def pick_for(self, device: str) -> str:
        """What ``device``'s own ranking picked for this model, in words."""
        for d, v in self.picks:
            if d == device:
                return v.label if v is not None else "none recommended"
        return "not run"

    @property
    def headline(self) -> str:
        if self.best is None:
            return f"{self.model}: {self.reason}"
        return f"{self.model}: ship {self.best.label} on {self.best_device}"


def across_devices(groups: Iterable[GroupRecommendation], records: Iterable[RunRecord]) -> list[AcrossDevices]:
    """Best device × runtime × precision per model, by the same rules: each device's recommended
    configuration competes; the lowest median latency wins, and when another's median CI overlaps
    the fastest, the smaller peak memory, then the smaller artifact. Quality was already judged on
    each device against that device's own fp32 run."""
    by_id = {r.run_id: r for r in records}
    per_model: dict[str, list[GroupRecommendation]] = {}
    for g in groups:
        per_model.setdefault(g.model, []).append(g)
    out = []
    for model, gs in per_model.items():
        picks = [(g.device, g.recommended) for g in gs]
        contenders = [(d, v, by_id[v.run_id]) for d, v in picks if v is not None and v.run_id in by_id]
        if not contenders:
            out.append(AcrossDevices(model, picks, None, None, "no device has a recommended configuration "
                                     "(each device's section says why)"))
            continue
        fastest = min(contenders, key=lambda c: p50(c[2]) or float("inf"))
        tied = [c for c in contenders if c is fastest or _ci_overlap(c[2], fastest[2])]
        chosen = min(tied, key=lambda c: (peak_rss(c[2]) or float("inf"), fmt.num(c[2].artifact_bytes) or float("inf"),
                                          p50(c[2]) or float("inf")))
        device, verdict, record = chosen
        tied_others = [c for c in tied if c is not chosen]
        if len(contenders) == 1:
            reason = f"the only device with a recommended configuration; p50 {fmt.ms(p50(record))}"
        elif tied_others:
            names = ", ".join(f"{c[1].label} on {c[0]}" for c in tied_others)
            lighter = all((peak_rss(record) or float("inf")) < (peak_rss(c[2]) or float("inf")) for c in tied_others)
            reason = (f"p50 {fmt.ms(p50(record))}, as fast as {names} within the noise, "
                      f"{'with less memory' if lighter else 'with a smaller artifact or the same memory'}")
        else:
            runner_up = min((c for c in contenders if c is not chosen), key=lambda c: p50(c[2]) or float("inf"))
            reason = (f"p50 {fmt.ms(p50(record))}, {fmt.speedup(p50(runner_up[2]), p50(record))} than the next "
                      f"device's pick ({runner_up[1].label} on {runner_up[0]})")
        out.append(AcrossDevices(model, picks, device, verdict, reason))
    return out
