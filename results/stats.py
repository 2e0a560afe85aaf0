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
