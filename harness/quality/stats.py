"""The one interval every quality score reports: mean ± t(0.975, N−1)·s/√N (s with ddof = 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def mean_ci95(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``{"mean", "std", "ci95", "ci95_low", "ci95_high", "n"}``; the CI is None (with a reason) for N < 2."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).ravel()
    n = int(x.size)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "ci95_low": None, "ci95_high": None, "n": 0,
                "ci_reason": "no values"}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "std": None, "ci95": None, "ci95_low": None, "ci95_high": None, "n": n,
                "ci_reason": "one value: no interval"}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n))
    return {"mean": mean, "std": std, "ci95": half, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}
