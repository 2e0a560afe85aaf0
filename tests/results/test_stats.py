import numpy as np
import pytest
from scipy import stats as sps

from results import stats


def test_summary_matches_numpy_reference():
    rng = np.random.default_rng(1)
    x = rng.lognormal(mean=1.0, sigma=0.3, size=1000)
    s = stats.summarize(x)
    assert s["n"] == 1000
    assert s["mean"] == pytest.approx(np.mean(x))
    assert s["std"] == pytest.approx(np.std(x, ddof=1))
    assert s["min"] == pytest.approx(x.min()) and s["max"] == pytest.approx(x.max())
    for name, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        assert s[name] == pytest.approx(np.percentile(x, q))
    assert s["cv_pct"] == pytest.approx(100 * np.std(x, ddof=1) / np.mean(x))
    assert s["unreliable"] == []


@pytest.mark.parametrize(("n", "expected"), [(10, ["p90", "p95", "p99"]), (64, ["p95", "p99"]),
                                             (130, ["p99"]), (662, [])])
def test_tail_percentiles_from_too_few_samples_are_marked(n, expected):
    s = stats.summarize(np.arange(1, n + 1, dtype=float))
    assert s["unreliable"] == expected
    notes = stats.warnings_for(s)
    assert bool(expected) == any("unreliable" in w for w in notes)


def _brute_force_median_ci(n, confidence=0.95):
    """Widest symmetric order-statistic pair whose coverage is still >= confidence."""
    best = None
    for k in range(1, n // 2 + 1):
        coverage = sps.binom.cdf(n - k, n, 0.5) - sps.binom.cdf(k - 1, n, 0.5)
        if coverage >= confidence:
            best = k
    return best


@pytest.mark.parametrize("n", [6, 10, 25, 100, 1001])
def test_median_ci_is_the_order_statistic_interval(n):
    x = np.arange(1, n + 1, dtype=float)  # x_(k) == k
    lo, hi = stats.median_ci(x)
    k = _brute_force_median_ci(n)
    assert (lo, hi) == (k, n - k + 1)
    assert lo <= np.median(x) <= hi


def test_median_ci_undefined_for_tiny_samples():
    assert stats.median_ci([1.0, 2.0, 3.0]) is None
    assert stats.summarize([1.0, 2.0, 3.0])["median_ci95"] is None


def test_high_cv_warns():
    s = stats.summarize([1.0] * 50 + [5.0] * 50)
    assert any("CV" in w for w in stats.warnings_for(s))
    quiet = stats.summarize(np.full(100, 2.0) + np.linspace(0, 0.01, 100))
    assert not any("CV" in w for w in stats.warnings_for(quiet))


def test_throughput_counts_items_per_batch():
    ips, items = stats.throughput([10.0] * 100, batch_size=4)  # 100 inferences in 1 s
    assert ips == pytest.approx(100.0)
    assert items == pytest.approx(400.0)


def test_empty_samples_is_an_error():
    with pytest.raises(ValueError, match="zero iterations"):
        stats.summarize([])
