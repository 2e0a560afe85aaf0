"""Comparisons on synthetic sample sets with known outcomes, and the regression grammar."""

from __future__ import annotations

import numpy as np
import pytest

from results.compare import (
    METRICS,
    CompareError,
    Threshold,
    bootstrap_ratio_ci,
    compare,
    mann_whitney_p,
    parse_fail_on,
)
from results.schema import RunRecord
from results.stats import summarize, throughput


def _record(samples: list[float] | None, *, run_id: str, precision: str = "fp32", device: str = "host",
            status: str = "ok", reason: str | None = None, energy_j: float | None = None,
            latency: list[float] | None = None, created_at: str = "2025-01-01T00:00:00+00:00") -> RunRecord:
    lat = latency if latency is not None else samples
    kwargs = {}
    if status == "ok" and lat is not None:
        kwargs = {"latency_ms": summarize(lat), "throughput_ips": throughput(lat)[0]}
    return RunRecord(
        run_id=run_id, status=status, reason=reason, precision=precision,
        model={"name": "m"}, backend={"name": "onnxruntime"}, device={"name": device},
        created_at=created_at,
        power={"energy_j": energy_j, "reason": None if energy_j is not None else "no sensor"},
        samples={"latency_ms": list(samples)} if samples is not None else {},
        **kwargs,
    )


def _draw(seed: int, n: int = 300, scale: float = 10.0, spread: float = 0.08) -> list[float]:
    rng = np.random.default_rng(seed)
    return (scale * np.exp(rng.normal(0.0, spread, size=n))).tolist()


# -- the grammar ---------------------------------------------------------------------------------

def test_grammar_reads_relative_and_absolute_limits_in_the_fields_unit():
    rules = {t.metric: t for t in parse_fail_on("p50:5%,energy_j:10%,mean:0.5ms,load_s:200ms,peak_rss_bytes:2MiB")}
    assert rules["p50"].relative and rules["p50"].limit == 5
    assert not rules["mean"].relative and rules["mean"].limit == pytest.approx(0.5)
    assert rules["load_s"].limit == pytest.approx(0.2)  # 200 ms in the field's own unit (s)
    assert rules["peak_rss_bytes"].limit == 2 * 1024 * 1024
    assert rules["energy_j"].relative and rules["energy_j"].limit == 10


def test_grammar_accepts_aliases_and_dotted_names():
    assert [t.metric for t in parse_fail_on("median:3%,latency_ms.p99:10%,throughput:5%")] == [
        "p50", "p99", "throughput_ips"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("p50", "expected FIELD:LIMIT"),
        ("p50:", "expected FIELD:LIMIT"),
        ("p50:-5%", "non-negative"),
        ("p50:5%,", "stray comma"),
        ("latency:5%", "unknown field 'latency'"),
        ("p50:5J", "measures energy"),
        ("energy_j:3furlongs", "unknown unit"),
        ("p50:5%,median:2%", "appears twice"),
    ],
)
def test_grammar_errors_say_what_was_expected(spec, message):
    with pytest.raises(CompareError, match=message):
        parse_fail_on(spec)


def test_threshold_direction_depends_on_the_field():
    rule = Threshold("p50", 5.0, True, "p50:5%")
    assert rule.exceeded(10.0, 10.6, METRICS["p50"].higher_is_worse)
    assert not rule.exceeded(10.0, 10.4, METRICS["p50"].higher_is_worse)
    assert not rule.exceeded(10.0, 8.0, METRICS["p50"].higher_is_worse)  # faster is never a regression
    sq = Threshold("sqnr_db", 1.0, False, "sqnr_db:1dB")
    assert sq.exceeded(30.0, 28.5, METRICS["sqnr_db"].higher_is_worse)  # lower SQNR is worse
    assert not sq.exceeded(30.0, 35.0, METRICS["sqnr_db"].higher_is_worse)


# -- statistics ----------------------------------------------------------------------------------

def test_bootstrap_ci_covers_a_known_ratio_and_excludes_one():
    base, new = _draw(1), (np.array(_draw(2)) * 1.10).tolist()
    lo, hi = bootstrap_ratio_ci(base, new, "p50")
    assert lo < 1.10 < hi
    assert lo > 1.0


def test_bootstrap_is_reproducible_with_a_seed():
    base, new = _draw(3), _draw(4)
    assert bootstrap_ratio_ci(base, new, seed=7) == bootstrap_ratio_ci(base, new, seed=7)


def test_too_few_samples_give_no_test():
    assert mann_whitney_p([1.0, 2.0], [1.0, 2.0, 3.0]) is None
    assert bootstrap_ratio_ci([1.0, 2.0], [1.0, 2.0, 3.0]) is None


# -- comparisons with known outcomes -------------------------------------------------------------

def test_a_ten_percent_shift_is_flagged():
    base = _record(_draw(11), run_id="b1")
    new = _record((np.array(_draw(12)) * 1.10).tolist(), run_id="n1")
    result = compare([base], [new], thresholds="p50:5%")
    row = result.rows[0]
    assert row.state == "matched"
    assert row.mwu_p is not None and row.mwu_p < 0.05
    assert row.median_ratio_ci95[0] > 1.0
    assert result.has_regression and row.verdict == "regression"
    p50 = next(m for m in row.metrics if m.metric == "p50")
    assert p50.regression and p50.significant and p50.delta_pct > 5
    assert any("p50" in line for line in result.regressions)


def test_noise_of_the_same_distribution_is_not_flagged():
    base = _record(_draw(21), run_id="b1")
    new = _record(_draw(22), run_id="n1")
    result = compare([base], [new], thresholds="p50:1%,mean:1%,p99:1%")
    row = result.rows[0]
    assert row.mwu_p > 0.05
    assert row.median_ratio_ci95[0] <= 1.0 <= row.median_ratio_ci95[1]
    assert not result.has_regression
    assert row.verdict == "no significant change"
    p99 = next(m for m in row.metrics if m.metric == "p99")
    assert p99.significant is False and "too few samples" in p99.note  # 300 < 662 samples for a p99


def test_noise_with_enough_samples_for_the_tail_is_not_flagged_either():
    base = _record(_draw(23, n=800), run_id="b1")
    new = _record(_draw(24, n=800), run_id="n1")
    result = compare([base], [new], thresholds="p50:2%,p99:5%")
    assert not result.has_regression


def test_a_shift_within_the_rule_is_not_a_regression_but_is_reported():
    base = _record(_draw(31), run_id="b1")
    new = _record((np.array(_draw(32)) * 1.10).tolist(), run_id="n1")
    result = compare([base], [new], thresholds="p50:20%")
    assert not result.has_regression
    p50 = next(m for m in result.rows[0].metrics if m.metric == "p50")
    assert p50.significant and not p50.regression


def test_a_speed_up_is_an_improvement_not_a_regression():
    base = _record(_draw(41), run_id="b1")
    new = _record((np.array(_draw(42)) * 0.85).tolist(), run_id="n1")
    result = compare([base], [new], thresholds="p50:5%")
    assert not result.has_regression
    assert result.rows[0].verdict == "improvement"


def test_a_run_that_fails_in_new_is_a_regression_even_without_rules():
    base = _record(_draw(51), run_id="b1")
    new = _record(None, run_id="n1", status="failed", reason="load: out of memory")
    result = compare([base], [new])
    assert result.has_regression
    assert result.rows[0].state == "new_failed"
    assert "out of memory" in result.rows[0].reasons[0]


def test_configurations_on_one_side_only_are_listed_not_flagged():
    base = [_record(_draw(61), run_id="b1"), _record(_draw(62), run_id="b2", precision="int8")]
    new = [_record(_draw(63), run_id="n1"), _record(_draw(64), run_id="n2", precision="fp16")]
    result = compare(base, new, thresholds="p50:50%")
    states = {r.precision: r.state for r in result.rows}
    assert states == {"fp32": "matched", "int8": "only_base", "fp16": "only_new"}
    assert not result.has_regression


def test_two_devices_are_matched_across_devices_and_say_so():
    base = _record(_draw(71), run_id="b1", device="jetson-orin")
    new = _record(_draw(72), run_id="n1", device="rpi5")
    result = compare([base], [new])
    assert result.matched_on == ("model", "backend", "precision")
    assert result.rows[0].state == "matched"
    assert any("no device in common" in n for n in result.notes)


def test_the_newest_ok_run_of_a_configuration_is_used():
    old = _record(_draw(81), run_id="n-old", created_at="2025-01-01T00:00:00+00:00")
    newest = _record(_draw(82), run_id="n-new", created_at="2025-02-01T00:00:00+00:00")
    failed_latest = _record(None, run_id="n-fail", status="failed", reason="x",
                            created_at="2025-03-01T00:00:00+00:00")
    result = compare([_record(_draw(83), run_id="b")], [old, newest, failed_latest])
    assert result.rows[0].new_run_id == "n-new"
    assert result.rows[0].set_aside == 2


def test_without_samples_the_rule_applies_to_the_recorded_figures_and_says_untested():
    base = _record(None, run_id="b1", latency=_draw(91), energy_j=1.0)
    new = _record(None, run_id="n1", latency=(np.array(_draw(92)) * 1.3).tolist(), energy_j=1.25)
    result = compare([base], [new], thresholds="p50:5%,energy_j:10%")
    row = result.rows[0]
    assert row.mwu_p is None
    by = {m.metric: m for m in row.metrics}
    assert by["p50"].significant is None and "not tested" in by["p50"].note
    assert by["energy_j"].regression  # +25% energy, one figure per run: the rule decides
    assert result.has_regression


def test_an_absolute_energy_rule_in_joules():
    base = _record(_draw(93), run_id="b1", energy_j=1.0)
    new = _record(_draw(94), run_id="n1", energy_j=1.05)
    assert not compare([base], [new], thresholds="energy_j:0.1J").has_regression
    assert compare([base], [new], thresholds="energy_j:20mJ").has_regression


def test_empty_sets_are_an_error_with_a_hint():
    with pytest.raises(CompareError, match="base"):
        compare([], [_record(_draw(1), run_id="n")])
    with pytest.raises(CompareError, match="both result sets are empty"):
        compare([], [])


def test_to_dict_is_json_ready():
    import json

    result = compare([_record(_draw(95), run_id="b")], [_record(_draw(96), run_id="n")], thresholds="p50:5%")
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["thresholds"] == ["p50:5%"] and d["configs"][0]["state"] == "matched"


# -- rounds ----------------------------------------------------------------------------------------

def _rounds_record(run_id: str, round_scales: list[float], session: str | None, seed: int) -> RunRecord:
    from results.stats import summarize_rounds

    rng = np.random.default_rng(seed)
    rounds = [(s * np.exp(rng.normal(0.0, 0.01, size=100))).tolist() for s in round_scales]
    rec = _record([v for r in rounds for v in r], run_id=run_id, created_at=f"2025-01-0{seed}T00:00:00+00:00")
    rec.latency_ms = summarize_rounds(rounds)
    if session:
        rec.extra["rounds"] = {"session": session}
    return rec


def test_interleaved_rounds_pair_and_cancel_drift_that_pooled_samples_miss():
    # The machine drifted by round (x1.0, x1.4, x0.9, x1.3, x1.1); NEW is 10% faster in each round.
    drift = [1.0, 1.4, 0.9, 1.3, 1.1]
    base = _rounds_record("b", [10 * d for d in drift], "s1", 1)
    new = _rounds_record("n", [9 * d for d in drift], "s1", 2)
    row = compare([base], [new], thresholds="p50:5%").rows[0]
    assert row.ratio_method == "paired rounds"
    assert row.median_ratio == pytest.approx(0.9, rel=0.01)
    assert row.median_ratio_ci95[1] < 1.0
    assert row.verdict == "improvement"


def test_separate_runs_with_drifting_rounds_are_not_called_different():
    drift = [1.0, 1.4, 0.9, 1.3, 1.1]
    base = _rounds_record("b", [10 * d for d in drift], "s1", 1)
    new = _rounds_record("n", [10.5 * d for d in drift[::-1]], "s2", 2)  # another session: unpaired
    row = compare([base], [new], thresholds="p50:3%").rows[0]
    assert row.ratio_method == "rounds"
    lo, hi = row.median_ratio_ci95
    assert lo < 1.0 < hi
    p50 = next(m for m in row.metrics if m.metric == "p50")
    assert p50.significant is False and not p50.regression
