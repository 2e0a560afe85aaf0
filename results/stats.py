"""Latency statistics from raw per-iteration samples.

Percentiles use linear interpolation (numpy's default). A tail percentile computed from fewer
samples than its rank needs is listed in ``unreliable`` rather than presented as valid; the
thresholds follow MLPerf LoadGen's minimum sample counts (about 64 for p90, 130 for p95, 662 for
p99). The median's 95% confidence interval is the distribution-free order-statistic interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as _sps

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
MIN_SAMPLES = {"p50": 1, "p90": 64, "p95": 130, "p99": 662}
HIGH_CV_PCT = 10.0


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free CI of the median from order statistics (binomial(n, 1/2)).

    Returns None when n is too small for any interval at this confidence (n < 6 at 95%).
    """
    x = np.sort(np.asarray(samples, dtype=float))
    n = x.size
    if n < 6:
        return None
    alpha = 1.0 - confidence
    # Largest k such that P(B <= k-1) <= alpha/2, B ~ Binomial(n, 0.5); interval [x_(k), x_(n-k+1)] (1-based).
    k = int(_sps.binom.ppf(alpha / 2, n, 0.5))
    while k > 0 and _sps.binom.cdf(k - 1, n, 0.5) > alpha / 2:
        k -= 1
    if k < 1:
        return None
    return float(x[k - 1]), float(x[n - k])


def summarize(samples_ms: Sequence[float], batch_size: int = 1) -> dict[str, Any]:
    """Everything the record's ``latency_ms`` group holds, from raw samples in milliseconds."""
    x = np.asarray(samples_ms, dtype=float)
    n = int(x.size)
    if n == 0:
        raise ValueError("no latency samples: the timed loop ran zero iterations")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    out: dict[str, Any] = {
        "n": n,
        "mean": mean,
        "std": std,
        "min": float(x.min()),
        "max": float(x.max()),
        "cv_pct": 100.0 * std / mean if mean > 0 else None,
    }
    for name, q in PERCENTILES.items():
        out[name] = float(np.percentile(x, q))
    out["unreliable"] = [name for name, need in MIN_SAMPLES.items() if n < need]
    ci = median_ci(x)
    out["median_ci95"] = list(ci) if ci else None
    return out


def throughput(samples_ms: Sequence[float], batch_size: int = 1) -> tuple[float, float]:
    """(inferences per second, items per second) over the timed loop's total busy time."""
    total_s = float(np.sum(samples_ms)) / 1e3
    if total_s <= 0:
        return math.nan, math.nan
    ips = len(samples_ms) / total_s
    return ips, ips * batch_size


def warnings_for(summary: dict[str, Any]) -> list[str]:
    notes = []
    cv = summary.get("cv_pct")
    if cv is not None and cv > HIGH_CV_PCT:
        notes.append(
            f"latency varies a lot (CV {cv:.1f}% > {HIGH_CV_PCT:.0f}%): the machine may be busy or throttling; "
            "lengthen the run or pin clocks before trusting small differences"
        )
    unreliable = summary.get("unreliable") or []
    if unreliable:
        n = summary["n"]
        need = ", ".join(f"{p} needs ≥{MIN_SAMPLES[p]}" for p in unreliable)
        notes.append(f"only {n} samples: {need}; those percentiles are shown as unreliable")
    return notes


# -- rounds --------------------------------------------------------------------------------------
# A run is measured in several rounds (each a warm timed window). One window's CI describes that
# window only: slow drift of a shared machine moves whole windows, so the figure that holds on the
# next run is the median of round medians with an interval over the rounds themselves.

MIN_ROUNDS_FOR_CI = 3


def round_median_ci(round_medians: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Between-round CI of the median: a Student-t interval over the round medians, centred on their mean.

    Round medians are each the median of many samples, so they are close to normal (CLT for the
    sample median); the t interval then covers the location of a new round's median with the
    stated confidence. None with fewer than ``MIN_ROUNDS_FOR_CI`` rounds.
    """
    x = np.asarray(round_medians, dtype=float)
    n = x.size
    if n < MIN_ROUNDS_FOR_CI:
        return None
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    t = float(_sps.t.ppf(0.5 + confidence / 2, n - 1))
    return mean - t * sem, mean + t * sem


def summarize_rounds(rounds_ms: Sequence[Sequence[float]], batch_size: int = 1) -> dict[str, Any]:
    """``latency_ms`` of a run measured in rounds.

    Percentiles, mean, std and ``median_ci95`` are over all samples pooled (the within-window
    figures, as before); ``p50`` is the median of round medians, ``round_p50`` the round medians,
    ``rounds`` their count and ``p50_ci95`` the between-round interval (None under 3 rounds).
    """
    rounds = [list(map(float, r)) for r in rounds_ms if len(r)]
    if not rounds:
        raise ValueError("no latency samples: every round ran zero iterations")
    pooled = [v for r in rounds for v in r]
    out = summarize(pooled, batch_size)
    medians = [float(np.median(r)) for r in rounds]
    out["rounds"] = len(rounds)
    out["round_p50"] = medians
    out["pooled_p50"] = out["p50"]
    out["p50"] = float(np.median(medians))
    ci = round_median_ci(medians)
    out["p50_ci95"] = list(ci) if ci else None
    return out


def paired_ratio_ci(base_round_p50: Sequence[float], new_round_p50: Sequence[float],
                    confidence: float = 0.95) -> tuple[float, float, float] | None:
    """(ratio, lo, hi): new / base from rounds paired by index, with a t interval on the log ratios.

    Pairing by round index cancels the drift both configurations saw in that round (they were
    interleaved). The ratio is the geometric mean of per-round ratios; its interval is the
    exponentiated t interval of their logs. None with fewer than 3 pairs or a non-positive median.
    """
    a = np.asarray(base_round_p50, dtype=float)
    b = np.asarray(new_round_p50, dtype=float)
    n = min(a.size, b.size)
    if n < MIN_ROUNDS_FOR_CI:
        return None
    a, b = a[:n], b[:n]
    if np.any(a <= 0) or np.any(b <= 0):
        return None
    logs = np.log(b / a)
    centre = float(logs.mean())
    sem = float(logs.std(ddof=1)) / math.sqrt(n)
    t = float(_sps.t.ppf(0.5 + confidence / 2, n - 1))
    return math.exp(centre), math.exp(centre - t * sem), math.exp(centre + t * sem)


def round_warnings(summary: dict[str, Any]) -> list[str]:
    """Notes on the rounds: too few for an interval, or rounds that disagree a lot."""
    rounds = summary.get("rounds")
    if not rounds:
        return []
    if rounds < MIN_ROUNDS_FOR_CI:
        return [f"only {rounds} round(s): no between-round interval of the median (needs ≥{MIN_ROUNDS_FOR_CI}); "
                "the within-window CI understates how much the next run may move"]
    medians = summary.get("round_p50") or []
    lo, hi = min(medians), max(medians)
    if lo > 0 and hi / lo > 1.2:
        return [f"round medians spread {lo:.3g}–{hi:.3g} ms ({100 * (hi / lo - 1):.0f}%): the machine drifted "
                "during the run; see `edgebench doctor`"]
    return []


def unpaired_ratio_ci(base_round_p50: Sequence[float], new_round_p50: Sequence[float],
                      confidence: float = 0.95) -> tuple[float, float, float] | None:
    """(ratio, lo, hi): new / base from rounds of two separate runs (not interleaved): Welch's t
    interval on the difference of mean log round medians, exponentiated. None under 3 rounds a side."""
    a = np.asarray(base_round_p50, dtype=float)
    b = np.asarray(new_round_p50, dtype=float)
    if a.size < MIN_ROUNDS_FOR_CI or b.size < MIN_ROUNDS_FOR_CI or np.any(a <= 0) or np.any(b <= 0):
        return None
    la, lb = np.log(a), np.log(b)
    va, vb = la.var(ddof=1) / a.size, lb.var(ddof=1) / b.size
    centre = float(lb.mean() - la.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return math.exp(centre), math.exp(centre), math.exp(centre)
    # Welch–Satterthwaite degrees of freedom.
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = float(_sps.t.ppf(0.5 + confidence / 2, df))
    return math.exp(centre), math.exp(centre - t * se), math.exp(centre + t * se)


def rounds_ratio(base_latency: dict[str, Any] | None, new_latency: dict[str, Any] | None,
                 paired: bool) -> tuple[float, float, float] | None:
    """new / base p50 ratio with its 95% interval from two records' ``latency_ms`` groups, or None
    when either lacks rounds. ``paired``: the runs were interleaved round by round (same session)."""
    a = (base_latency or {}).get("round_p50")
    b = (new_latency or {}).get("round_p50")
    if not isinstance(a, list) or not isinstance(b, list):
        return None
    if paired and len(a) == len(b):
        return paired_ratio_ci(a, b)
    return unpaired_ratio_ci(a, b)
