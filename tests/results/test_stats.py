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


# -- rounds ----------------------------------------------------------------------------------------

def test_round_median_ci_is_the_student_t_interval_over_round_medians():
    medians = [1.02, 0.99, 1.10, 1.05, 1.01]
    lo, hi = stats.round_median_ci(medians)
    ref = sps.t.interval(0.95, len(medians) - 1, loc=np.mean(medians), scale=sps.sem(medians))
    assert (lo, hi) == pytest.approx(ref)


def test_round_median_ci_needs_three_rounds():
    assert stats.round_median_ci([1.0, 1.1]) is None


def test_summarize_rounds_keeps_within_window_figures_and_adds_round_figures():
    rng = np.random.default_rng(3)
    rounds = [rng.lognormal(0.0 + 0.1 * i, 0.05, size=200) for i in range(5)]
    s = stats.summarize_rounds(rounds)
    pooled = np.concatenate(rounds)
    medians = [np.median(r) for r in rounds]
    assert s["rounds"] == 5
    assert s["round_p50"] == pytest.approx(medians)
    assert s["p50"] == pytest.approx(np.median(medians))
    assert s["pooled_p50"] == pytest.approx(np.percentile(pooled, 50))
    assert s["p99"] == pytest.approx(np.percentile(pooled, 99))
    assert s["n"] == pooled.size
    assert s["median_ci95"] == pytest.approx(list(stats.median_ci(pooled)))
    assert s["p50_ci95"] == pytest.approx(list(sps.t.interval(0.95, 4, loc=np.mean(medians), scale=sps.sem(medians))))
    # Drifting rounds: the between-round interval is wider than the within-window one.
    assert s["p50_ci95"][1] - s["p50_ci95"][0] > s["median_ci95"][1] - s["median_ci95"][0]


def test_summarize_rounds_with_one_round_has_no_between_round_interval():
    s = stats.summarize_rounds([[1.0, 1.1, 1.2, 0.9, 1.0, 1.05, 1.0]])
    assert s["rounds"] == 1 and s["p50_ci95"] is None
    assert any("no between-round interval" in w for w in stats.round_warnings(s))


def test_paired_ratio_ci_matches_scipy_one_sample_t_on_log_ratios():
    base = np.array([10.0, 11.0, 12.5, 10.4, 11.8, 13.0])
    new = base / 1.3 * np.array([1.01, 0.98, 1.02, 1.0, 0.99, 1.03])
    ratio, lo, hi = stats.paired_ratio_ci(base, new)
    logs = np.log(new / base)
    ci = sps.ttest_1samp(logs, 0.0).confidence_interval(0.95)
    assert ratio == pytest.approx(np.exp(logs.mean()))
    assert (lo, hi) == pytest.approx((np.exp(ci.low), np.exp(ci.high)))
    assert hi < 1.0  # new is clearly faster


def test_unpaired_ratio_ci_matches_scipy_welch_on_logs():
    base = np.array([10.0, 11.0, 12.5, 10.4, 11.8])
    new = np.array([7.9, 8.3, 9.9, 8.1, 8.8, 9.0])
    ratio, lo, hi = stats.unpaired_ratio_ci(base, new)
    ci = sps.ttest_ind(np.log(new), np.log(base), equal_var=False).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((np.exp(ci.low), np.exp(ci.high)))
    assert ratio == pytest.approx(np.exp(np.log(new).mean() - np.log(base).mean()))


def test_pairing_removes_shared_drift():
    # Both configurations drift together by round; new is 20% faster in every round. Unpaired, the
    # drift swamps the difference; paired, the interval is tight around 0.8.
    drift = np.array([1.0, 1.5, 0.9, 1.4, 1.1])
    base, new = 10 * drift, 8 * drift
    _, plo, phi = stats.paired_ratio_ci(base, new)
    _, ulo, uhi = stats.unpaired_ratio_ci(base, new)
    assert plo == pytest.approx(0.8) and phi == pytest.approx(0.8)
    assert ulo < 0.8 < uhi and uhi > 1.0


def test_rounds_ratio_uses_pairing_only_when_asked_and_needs_rounds():
    a = {"round_p50": [10.0, 15.0, 9.0]}
    b = {"round_p50": [8.0, 12.0, 7.2]}
    assert stats.rounds_ratio(a, b, paired=True)[1] == pytest.approx(0.8)
    assert stats.rounds_ratio(a, b, paired=False)[1] < 0.8
    assert stats.rounds_ratio({"p50": 1.0}, b, paired=True) is None
