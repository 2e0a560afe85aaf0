"""Compare two result sets: match runs by configuration, test latency shifts, apply regression rules.

Two result sets (two commits, two devices, two library versions) are matched by configuration:
model, backend and precision, plus the device when both sides ran on a common device (comparing
two devices matches across them). For each matched pair the per-iteration latency samples are
compared with a two-sided Mann-Whitney U test and a bootstrap confidence interval of the ratio of
medians (new / base). A latency change counts only when it is significant: a difference inside the
noise is never called a regression, however large the threshold allows.

Regression rules use a small grammar in the spirit of pytest-benchmark's ``--benchmark-compare-fail``::

    p50:5%,energy_j:10%,mean:0.5ms,sqnr_db:1dB

Each rule is ``FIELD:LIMIT``: LIMIT is a percentage of the base value, or an absolute amount with an
optional unit of the field's kind (``ms``, ``us``, ``s``; ``J``, ``mJ``; ``W``, ``mW``; ``B``, ``KiB``,
``MiB``, ``GiB``, ``KB``, ``MB``, ``GB``; ``dB``). The worse direction is known per field: higher latency,
energy and memory are worse; lower throughput, SQNR, cosine, LSE-C and MOS are worse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from results.schema import RunRecord
from results.stats import MIN_SAMPLES, rounds_ratio

DEFAULT_ALPHA = 0.05
DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 20240607


class CompareError(ValueError):
    """A comparison cannot be made as asked (bad rule, nothing to compare); the message says why."""


@dataclass(frozen=True)
class Metric:
    name: str  # canonical name used in rules and reports
    path: tuple[str, ...]  # where it lives in a record
    kind: str  # time_ms | time_s | energy_j | energy_mj | power_w | bytes | db | rate | unitless
    higher_is_worse: bool
    label: str
    sample_stat: str | None = None  # statistic over latency samples, when it is one

    def value(self, record: RunRecord) -> float | None:
        node: Any = record
        for i, part in enumerate(self.path):
            node = getattr(node, part, None) if i == 0 else (node.get(part) if isinstance(node, dict) else None)
            if node is None:
                return None
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            return None
        value = float(node)
        return value if math.isfinite(value) else None


def _latency(stat: str, label: str) -> Metric:
    return Metric(stat, ("latency_ms", stat), "time_ms", True, label, sample_stat=stat)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _latency("p50", "p50 latency"),
        _latency("p90", "p90 latency"),
        _latency("p95", "p95 latency"),
        _latency("p99", "p99 latency"),
        _latency("mean", "mean latency"),
        _latency("min", "min latency"),
        _latency("max", "max latency"),
        _latency("std", "latency std"),
        Metric("throughput_ips", ("throughput_ips",), "rate", False, "throughput"),
        Metric("load_s", ("load_s",), "time_s", True, "load time"),
        Metric("first_inference_ms", ("first_inference_ms",), "time_ms", True, "first inference"),
        Metric("peak_rss_bytes", ("memory", "peak_rss_bytes"), "bytes", True, "peak memory"),
        Metric("artifact_bytes", ("artifact_bytes",), "bytes", True, "artifact size"),
        Metric("energy_j", ("power", "energy_j"), "energy_j", True, "energy"),
        Metric("energy_per_inference_mj", ("power", "energy_per_inference_mj"), "energy_mj", True,
               "energy per inference"),
        Metric("mean_w", ("power", "mean_w"), "power_w", True, "mean power"),
        Metric("peak_w", ("power", "peak_w"), "power_w", True, "peak power"),
        Metric("sqnr_db", ("quality", "sqnr_db"), "db", False, "SQNR"),
        Metric("cosine", ("quality", "cosine"), "unitless", False, "cosine similarity"),
        Metric("lse_d", ("quality", "lse_d"), "unitless", True, "LSE-D"),
        Metric("lse_c", ("quality", "lse_c"), "unitless", False, "LSE-C"),
        Metric("mos", ("quality", "mos"), "unitless", False, "MOS"),
    )
}
ALIASES = {
    "median": "p50",
    "throughput": "throughput_ips",
    "memory": "peak_rss_bytes",
    "peak_memory": "peak_rss_bytes",
    "energy": "energy_j",
    "energy_mj": "energy_per_inference_mj",
    "power": "mean_w",
    "sqnr": "sqnr_db",
    **{f"latency_ms.{s}": s for s in ("p50", "p90", "p95", "p99", "mean", "min", "max", "std")},
    "memory.peak_rss_bytes": "peak_rss_bytes",
    "power.energy_j": "energy_j",
    "power.energy_per_inference_mj": "energy_per_inference_mj",
    "power.mean_w": "mean_w",
    "quality.sqnr_db": "sqnr_db",
}
# Shown in every comparison when both sides have them; rules may name any metric.
DEFAULT_METRICS = ("p50", "p99", "mean", "throughput_ips", "peak_rss_bytes", "artifact_bytes",
                   "energy_per_inference_mj", "mean_w", "sqnr_db", "lse_d", "lse_c", "mos")
# Tail statistics move without the bulk of the distribution moving: for them the bootstrap CI of
# the statistic itself decides, not the rank test (which looks at the whole distribution).
_TAIL_STATS = {"p90", "p95", "p99", "std"}

# unit -> (kind, factor to the field's own unit)
_UNITS: dict[str, tuple[str, float]] = {
    "us": ("time", 1e-3), "µs": ("time", 1e-3), "ms": ("time", 1.0), "s": ("time", 1e3),
    "mj": ("energy", 1e-3), "j": ("energy", 1.0),
    "mw": ("power", 1e-3), "w": ("power", 1.0),
    "b": ("bytes", 1.0), "kb": ("bytes", 1e3), "mb": ("bytes", 1e6), "gb": ("bytes", 1e9),
    "kib": ("bytes", 1024.0), "mib": ("bytes", 1024.0**2), "gib": ("bytes", 1024.0**3),
    "db": ("db", 1.0),
}
_KIND_FAMILY = {"time_ms": ("time", 1.0), "time_s": ("time", 1e3), "energy_j": ("energy", 1.0),
                "energy_mj": ("energy", 1e-3), "power_w": ("power", 1.0), "bytes": ("bytes", 1.0),
                "db": ("db", 1.0), "rate": ("rate", 1.0), "unitless": ("unitless", 1.0)}
_NATIVE_UNIT = {"time_ms": "ms", "time_s": "s", "energy_j": "J", "energy_mj": "mJ", "power_w": "W",
                "bytes": "B", "db": "dB", "rate": "/s", "unitless": ""}


@dataclass(frozen=True)
class Threshold:
    """One regression rule: ``metric`` may get worse by at most ``limit`` (percent or absolute)."""

    metric: str
    limit: float  # percent when relative, else in the metric's own unit
    relative: bool
    text: str  # as the user wrote it

    def exceeded(self, base: float, new: float, higher_is_worse: bool) -> bool:
        worse_by = (new - base) if higher_is_worse else (base - new)
        if self.relative:
            if base == 0:
                return worse_by > 0
            return 100.0 * worse_by / abs(base) > self.limit
        return worse_by > self.limit

    def describe(self) -> str:
        m = METRICS[self.metric]
        amount = f"{self.limit:g}%" if self.relative else f"{self.limit:g} {_NATIVE_UNIT[m.kind]}".strip()
        return f"{m.name} may get worse by at most {amount}"


_RULE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*:\s*([+]?\d+(?:\.\d*)?|[+]?\.\d+)\s*(%|[A-Za-zµ]+)?\s*$")


def parse_fail_on(spec: str) -> list[Threshold]:
    """Parse ``p50:5%,energy_j:10%,mean:0.5ms`` into thresholds; raise CompareError on bad input."""
    if spec is None or not spec.strip():
        raise CompareError("empty --fail-on rule list: expected e.g. 'p50:5%,energy_j:10%,mean:0.5ms'")
    rules: list[Threshold] = []
    for part in spec.split(","):
        if not part.strip():
            raise CompareError(f"empty rule in {spec!r}: remove the stray comma (expected FIELD:LIMIT,FIELD:LIMIT)")
        m = _RULE_RE.match(part)
        if not m:
            raise CompareError(
                f"cannot read rule {part.strip()!r}: expected FIELD:LIMIT where LIMIT is a non-negative number "
                "followed by % (relative to the base) or by a unit of the field "
                "(e.g. p50:5%, mean:0.5ms, energy_j:0.2J)"
            )
        name, number, unit = m.group(1), float(m.group(2)), m.group(3)
        canonical = ALIASES.get(name.lower(), name.lower())
        if canonical not in METRICS:
            known = ", ".join(sorted(METRICS))
            raise CompareError(f"unknown field {name!r} in rule {part.strip()!r}; known fields: {known}")
        metric = METRICS[canonical]
        if unit == "%":
            rules.append(Threshold(canonical, number, True, part.strip()))
            continue
        family, to_native = _KIND_FAMILY[metric.kind]
        if unit is None:
            limit = number
        else:
            found = _UNITS.get(unit.lower())
            if found is None or found[0] != family:
                native = _NATIVE_UNIT[metric.kind] or "no unit"
                what = f"unknown unit {unit!r}" if found is None else f"unit {unit!r} measures {found[0]}"
                raise CompareError(
                    f"rule {part.strip()!r}: {what}, but {canonical} is measured in {native}; "
                    f"write a percentage (e.g. {canonical}:5%) or an amount in {native}"
                )
            limit = number * found[1] / to_native
        rules.append(Threshold(canonical, limit, False, part.strip()))
    seen: set[str] = set()
    for rule in rules:
        if rule.metric in seen:
            raise CompareError(f"field {rule.metric!r} appears twice in {spec!r}: keep one rule per field")
        seen.add(rule.metric)
    return rules


# -- statistics ---------------------------------------------------------------------------------

def mann_whitney_p(base: Sequence[float], new: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value; None when either side has fewer than 3 samples."""
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if a.size < 3 or b.size < 3:
        return None
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _stat(x: np.ndarray, stat: str, axis: int = -1) -> np.ndarray:
    if stat == "mean":
        return x.mean(axis=axis)
    if stat == "min":
        return x.min(axis=axis)
    if stat == "max":
        return x.max(axis=axis)
    if stat == "std":
        return x.std(axis=axis, ddof=1)
    q = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}[stat]
    return np.percentile(x, q, axis=axis)


def bootstrap_ratio_ci(
    base: Sequence[float],
    new: Sequence[float],
    stat: str = "p50",
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of stat(new) / stat(base), resampling each side independently.

    None when either side has fewer than 3 samples or the base statistic can be 0.
    """
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if a.size < 3 or b.size < 3:
        return None
    rng = np.random.default_rng(seed)
    ratios = []
    # Chunks keep memory flat for long runs (thousands of samples × thousands of resamples).
    chunk = max(1, min(n_boot, 4_000_000 // max(a.size, b.size)))
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        sa = _stat(a[rng.integers(0, a.size, size=(k, a.size))], stat)
        sb = _stat(b[rng.integers(0, b.size, size=(k, b.size))], stat)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(sb / sa)
        done += k
    r = np.concatenate(ratios)
    r = r[np.isfinite(r)]
    if r.size < n_boot * 0.9:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(r, [tail, 100.0 - tail])
    return float(lo), float(hi)


def interleaved(a: RunRecord, b: RunRecord) -> bool:
    """Whether two runs were measured round by round in one session (so rounds pair by index)."""
    sa = ((a.extra or {}).get("rounds") or {}).get("session")
    sb = ((b.extra or {}).get("rounds") or {}).get("session")
    return bool(sa) and sa == sb


def _rounds_ratio(base: RunRecord, new: RunRecord) -> tuple[float, tuple[float, float], str] | None:
    """(p50 ratio new/base, its 95% interval, method) from the two runs' round medians, or None."""
    paired = interleaved(base, new)
    got = rounds_ratio(base.latency_ms, new.latency_ms, paired)
    if got is None:
        return None
    return got[0], (got[1], got[2]), "paired rounds" if paired else "rounds"


# -- matching -----------------------------------------------------------------------------------

def _key(record: RunRecord, with_device: bool) -> tuple[str, ...]:
    model, backend, precision, device = record.config_key()
    return (model, backend, precision, device) if with_device else (model, backend, precision)


def _pick(records: list[RunRecord]) -> tuple[RunRecord, int]:
    """The newest ok run of a configuration (else the newest of any status), and how many were set aside."""
    ok = [r for r in records if r.status == "ok"]
    pool = ok or records
    chosen = max(pool, key=lambda r: (r.created_at or "", r.run_id))
    return chosen, len(records) - 1


@dataclass
class MetricDelta:
    metric: str
    label: str
    unit: str
    higher_is_worse: bool
    base: float | None
    new: float | None
    delta: float | None = None
    delta_pct: float | None = None
    ratio_ci95: tuple[float, float] | None = None  # bootstrap CI of new/base for latency statistics
    significant: bool | None = None  # None: no samples to test
    threshold: str | None = None
    regression: bool = False
    improvement: bool = False
    note: str | None = None


@dataclass
class ConfigComparison:
    model: str
    backend: str
    precision: str
    device_base: str | None
    device_new: str | None
    base_run_id: str | None
    new_run_id: str | None
    state: str  # matched | only_base | only_new | new_failed | base_failed | both_failed
    metrics: list[MetricDelta] = field(default_factory=list)
    mwu_p: float | None = None
    median_ratio: float | None = None
    median_ratio_ci95: tuple[float, float] | None = None
    # How the ratio and its interval were made: "paired rounds" (interleaved in one session),
    # "rounds" (two separate runs' round medians) or "bootstrap of samples" (runs without rounds).
    ratio_method: str | None = None
    verdict: str = "n/a"  # regression | improvement | no significant change | mixed | n/a
    reasons: list[str] = field(default_factory=list)
    set_aside: int = 0  # older runs of the same configuration not compared

    @property
    def label(self) -> str:
        return f"{self.model} · {self.backend} · {self.precision}"


@dataclass
class Comparison:
    base_label: str
    new_label: str
    matched_on: tuple[str, ...]
    rows: list[ConfigComparison]
    thresholds: list[Threshold]
    alpha: float
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        out = []
        for row in self.rows:
            out.extend(f"{row.label}: {reason}" for reason in row.reasons if row.verdict in ("regression", "mixed")
                       and reason.startswith("REGRESSION"))
        return out

    @property
    def has_regression(self) -> bool:
        return any(row.verdict in ("regression", "mixed") for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base_label,
            "new": self.new_label,
            "matched_on": list(self.matched_on),
            "alpha": self.alpha,
            "thresholds": [t.text for t in self.thresholds],
            "has_regression": self.has_regression,
            "regressions": self.regressions,
            "notes": self.notes,
            "configs": [asdict(r) for r in self.rows],
        }


def _latency_samples(samples: dict[str, Any] | None) -> list[float] | None:
    if not samples:
        return None
    values = samples.get("latency_ms")
    if not values:
        return None
    return [float(v) for v in values if v is not None]


def _compare_metric(metric: Metric, base_rec: RunRecord, new_rec: RunRecord, base_s: list[float] | None,
                    new_s: list[float] | None, rule: Threshold | None, alpha: float, mwu_p: float | None,
                    seed: int, n_boot: int) -> MetricDelta | None:
    base, new = metric.value(base_rec), metric.value(new_rec)
    if base is None and new is None and rule is None:
        return None
    md = MetricDelta(metric.name, metric.label, _NATIVE_UNIT[metric.kind], metric.higher_is_worse, base, new,
                     threshold=rule.text if rule else None)
    if base is None or new is None:
        missing = "base" if base is None else "new"
        md.note = f"n/a: {metric.label} not available in the {missing} run"
        return md
    md.delta = new - base
    md.delta_pct = 100.0 * (new - base) / abs(base) if base != 0 else None
    worse = (new > base) if metric.higher_is_worse else (new < base)
    better = (new < base) if metric.higher_is_worse else (new > base)
    need = MIN_SAMPLES.get(metric.sample_stat or "", 0)
    by_rounds = _rounds_ratio(base_rec, new_rec) if metric.sample_stat == "p50" else None
    if by_rounds is not None:
        # Rounds capture the drift between windows that per-sample tests cannot see: they decide.
        md.ratio_ci95 = by_rounds[1]
        md.significant = md.ratio_ci95[0] > 1.0 or md.ratio_ci95[1] < 1.0
    elif metric.sample_stat and base_s and new_s and min(len(base_s), len(new_s)) < need:
        # A tail percentile from too few samples is itself unreliable; so is any test of its change.
        md.significant = False
        md.note = (f"{metric.name} from too few samples (needs ≥{need}, have {min(len(base_s), len(new_s))}): "
                   "its change is not tested; run longer to check the tail")
    elif metric.sample_stat and base_s and new_s and len(base_s) >= 3 and len(new_s) >= 3:
        md.ratio_ci95 = bootstrap_ratio_ci(base_s, new_s, metric.sample_stat, n_boot=n_boot, seed=seed)
        ci_clear = md.ratio_ci95 is not None and (md.ratio_ci95[0] > 1.0 or md.ratio_ci95[1] < 1.0)
        rank_clear = metric.sample_stat in _TAIL_STATS or (mwu_p is not None and mwu_p < alpha)
        md.significant = bool(ci_clear and rank_clear)
    elif metric.sample_stat:
        md.note = "no per-iteration samples on both sides: change not tested for significance"
    # Non-latency figures (memory, energy, quality) come from one measurement per run: no test, the
    # threshold alone decides.
    gate_ok = md.significant is not False
    if rule is not None and rule.exceeded(base, new, metric.higher_is_worse) and gate_ok:
        md.regression = True
    elif rule is not None and rule.exceeded(base, new, metric.higher_is_worse) and not gate_ok:
        md.note = md.note or f"beyond {rule.text} but within the noise (not significant at alpha={alpha:g})"
    if md.significant and better:
        md.improvement = True
    if md.significant and worse and rule is None:
        md.note = md.note or "significantly worse (no rule for this field)"
    return md


def compare(
    base: Iterable[RunRecord],
    new: Iterable[RunRecord],
    base_samples: dict[str, dict[str, Any]] | None = None,
    new_samples: dict[str, dict[str, Any]] | None = None,
    thresholds: Sequence[Threshold] | str | None = None,
    *,
    base_label: str = "base",
    new_label: str = "new",
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_BOOTSTRAP,
) -> Comparison:
    """Match runs of the two sets by configuration and compare each pair.

    ``base_samples``/``new_samples`` map run_id -> samples dict (as ``ResultStore.samples``); a
    record's own ``samples`` are used when present. A configuration that ran ok in BASE and failed in
    NEW is always a regression.
    """
    base, new = list(base), list(new)
    if not base and not new:
        raise CompareError("both result sets are empty: nothing to compare; check the selections")
    if not base:
        raise CompareError(f"the base result set ({base_label}) has no runs; check the selection")
    if not new:
        raise CompareError(f"the new result set ({new_label}) has no runs; check the selection")
    rules = parse_fail_on(thresholds) if isinstance(thresholds, str) else list(thresholds or [])
    rule_by_metric = {t.metric: t for t in rules}
    base_samples, new_samples = base_samples or {}, new_samples or {}

    devices_base = {r.device.get("name", "") for r in base}
    devices_new = {r.device.get("name", "") for r in new}
    with_device = bool(devices_base & devices_new)
    matched_on = ("model", "backend", "precision", "device") if with_device else ("model", "backend", "precision")
    notes = []
    if not with_device:
        notes.append(
            f"no device in common ({', '.join(sorted(devices_base))} vs {', '.join(sorted(devices_new))}): "
            "runs matched across devices by model, backend and precision"
        )

    def group(records: list[RunRecord]) -> dict[tuple[str, ...], list[RunRecord]]:
        out: dict[tuple[str, ...], list[RunRecord]] = {}
        for r in records:
            out.setdefault(_key(r, with_device), []).append(r)
        return out

    gb, gn = group(base), group(new)
    rows: list[ConfigComparison] = []
    metric_names = list(DEFAULT_METRICS) + [t.metric for t in rules if t.metric not in DEFAULT_METRICS]
    for key in sorted(set(gb) | set(gn)):
        b_rec, b_aside = _pick(gb[key]) if key in gb else (None, 0)
        n_rec, n_aside = _pick(gn[key]) if key in gn else (None, 0)
        ref = b_rec or n_rec
        assert ref is not None
        row = ConfigComparison(
            model=ref.model.get("name", ""), backend=ref.backend.get("name", ""), precision=ref.precision,
            device_base=b_rec.device.get("name") if b_rec else None,
            device_new=n_rec.device.get("name") if n_rec else None,
            base_run_id=b_rec.run_id if b_rec else None, new_run_id=n_rec.run_id if n_rec else None,
            state="matched", set_aside=b_aside + n_aside,
        )
        rows.append(row)
        if b_rec is None or n_rec is None:
            row.state = "only_new" if b_rec is None else "only_base"
            row.reasons.append(f"only in {'NEW' if b_rec is None else 'BASE'}: nothing to compare with")
            continue
        if b_rec.status != "ok" or n_rec.status != "ok":
            if b_rec.status == "ok":
                row.state, row.verdict = "new_failed", "regression"
                row.reasons.append(f"REGRESSION: ran in BASE but {n_rec.status} in NEW: {n_rec.reason or 'no reason'}")
            elif n_rec.status == "ok":
                row.state, row.verdict = "base_failed", "improvement"
                row.reasons.append(f"{b_rec.status} in BASE ({b_rec.reason or 'no reason'}), runs in NEW")
            else:
                row.state = "both_failed"
                row.reasons.append(f"{n_rec.status} on both sides: {n_rec.reason or 'no reason'}")
            continue
        bs = _latency_samples(b_rec.samples or base_samples.get(b_rec.run_id))
        ns = _latency_samples(n_rec.samples or new_samples.get(n_rec.run_id))
        by_rounds = _rounds_ratio(b_rec, n_rec)
        if bs and ns:
            row.mwu_p = mann_whitney_p(bs, ns)
        if by_rounds is not None:
            (row.median_ratio, row.median_ratio_ci95), row.ratio_method = by_rounds[:2], by_rounds[2]
        elif bs and ns:
            row.median_ratio = float(np.median(ns) / np.median(bs)) if np.median(bs) > 0 else None
            row.median_ratio_ci95 = bootstrap_ratio_ci(bs, ns, "p50", n_boot=n_boot, seed=seed)
            row.ratio_method = "bootstrap of samples"
        else:
            row.reasons.append("no per-iteration latency samples on both sides: deltas shown without a test")
        for name in metric_names:
            md = _compare_metric(METRICS[name], b_rec, n_rec, bs, ns, rule_by_metric.get(name), alpha,
                                 row.mwu_p, seed, n_boot)
            if md is not None:
                row.metrics.append(md)
        regs = [m for m in row.metrics if m.regression]
        imps = [m for m in row.metrics if m.improvement]
        for m in regs:
            pct = f"{m.delta_pct:+.1f}%" if m.delta_pct is not None else f"{m.delta:+g} {m.unit}"
            row.reasons.append(f"REGRESSION: {m.label} {pct} (rule {m.threshold})")
        if regs and imps:
            row.verdict = "mixed"
        elif regs:
            row.verdict = "regression"
        elif imps:
            row.verdict = "improvement"
            row.reasons.extend(
                f"{m.label} {m.delta_pct:+.1f}% (significant)" for m in imps if m.delta_pct is not None
            )
        else:
            row.verdict = "no significant change"
    return Comparison(base_label, new_label, matched_on, rows, rules, alpha, notes)
