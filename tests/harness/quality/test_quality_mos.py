"""MOS per condition, CI against scipy.stats.t, paired ΔMOS, labels and bad ratings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.quality import QualityError
from harness.quality.mos import analyze_file, condition_figures, read_ratings, summarize


def _write(path: Path, rows: list[tuple], header=("rater", "stimulus", "condition", "score")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _test_rows(seed: int = 3) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for rater in range(6):
        for stim in range(5):
            for cond, bias in (("fp32", 4.2), ("int8", 3.7), ("fp16", 4.1)):
                score = int(np.clip(np.round(bias + rng.normal(0, 0.7)), 1, 5))
                rows.append((f"r{rater}", f"s{stim}", cond, score))
    return rows


def test_mos_and_ci_match_scipy_t(tmp_path):
    rows = _test_rows()
    res = analyze_file(_write(tmp_path / "r.csv", rows))
    assert res["label"] == "MOS-LQS" and res["method"] == "ACR" and res["quantity"] == "MOS"
    for cond in ("fp32", "int8", "fp16"):
        votes = np.array([r[3] for r in rows if r[2] == cond], dtype=float)
        lo, hi = stats.t.interval(0.95, len(votes) - 1, loc=votes.mean(), scale=stats.sem(votes))
        c = res["conditions"][cond]
        assert c["mos"] == pytest.approx(votes.mean())
        assert c["ci95_low"] == pytest.approx(lo) and c["ci95_high"] == pytest.approx(hi)
        assert c["n_votes"] == 30 and c["n_listeners"] == 6 and c["n_stimuli"] == 5
    assert res["n_votes"] == 90 and res["n_listeners"] == 6


def test_paired_delta_per_stimulus_matches_scipy(tmp_path):
    rows = _test_rows()
    res = summarize(read_ratings(_write(tmp_path / "r.csv", rows)))
    def stim_means(cond):
        return np.array([np.mean([r[3] for r in rows if r[2] == cond and r[1] == f"s{s}"]) for s in range(5)])
    diffs = stim_means("int8") - stim_means("fp32")
    lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=stats.sem(diffs))
    d = res["deltas"]["int8"]
    assert d["delta"] == pytest.approx(diffs.mean())
    assert (d["ci95_low"], d["ci95_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert d["p_value"] == pytest.approx(stats.ttest_rel(stim_means("int8"), stim_means("fp32")).pvalue)
    assert d["n_pairs"] == 5 and "fp32" not in res["deltas"]
    figures = condition_figures(res, "int8")
    assert figures["mos_delta"] == d["delta"] and figures["mos_label"] == "MOS-LQS"
    assert figures["mos"] == res["conditions"]["int8"]["mos"]


def test_per_listener_means(tmp_path):
    rows = _test_rows()
    res = summarize(read_ratings(_write(tmp_path / "r.csv", rows)), per_listener=True)
    means = np.array([np.mean([r[3] for r in rows if r[2] == "int8" and r[0] == f"r{k}"]) for k in range(6)])
    c = res["conditions"]["int8"]
    assert c["ci_basis"] == "listener means" and c["mos"] == pytest.approx(means.mean())
    assert c["ci95"] == pytest.approx(stats.t.ppf(0.975, 5) * means.std(ddof=1) / np.sqrt(6))


def test_dcr_and_ccr_scales(tmp_path):
    ccr = _write(tmp_path / "c.csv", [("a", "s1", "int8", -3), ("b", "s1", "int8", 2), ("a", "s2", "int8", 0)])
    res = analyze_file(ccr, scale="ccr", reference=None)
    assert res["quantity"] == "CMOS" and res["conditions"]["int8"]["mos"] == pytest.approx(-1 / 3)
    assert res["deltas"] == {}
    dcr = analyze_file(_write(tmp_path / "d.csv", [("a", "s1", "fp32", 5), ("a", "s1", "int8", 4)]), scale="dcr")
    assert dcr["quantity"] == "DMOS" and dcr["deltas"]["int8"]["delta"] == -1.0
    assert dcr["deltas"]["int8"]["ci95"] is None  # one pair: no interval, said so
    assert "ci_reason" in dcr["deltas"]["int8"]


@pytest.mark.parametrize(("score", "scale"), [(6, "acr"), (0, "acr"), (3.5, "acr"), (-4, "ccr"), ("good", "acr")])
def test_out_of_scale_votes_are_refused(tmp_path, score, scale):
    path = _write(tmp_path / "r.csv", [("a", "s1", "fp32", 2), ("a", "s1", "int8", score)])
    with pytest.raises(QualityError, match="line 3"):
        read_ratings(path, scale)


def test_missing_reference_condition_and_columns(tmp_path):
    path = _write(tmp_path / "r.csv", [("a", "s1", "float", 4), ("a", "s1", "int8", 3)])
    with pytest.raises(QualityError, match=r"reference condition 'fp32' not in the ratings \(conditions: float, int8"):
        analyze_file(path)
    assert analyze_file(path, reference="float")["deltas"]["int8"]["delta"] == -1.0
    bad = _write(tmp_path / "b.csv", [("a", "s1", "4")], header=("listener", "stimulus", "score"))
    with pytest.raises(QualityError, match="missing column"):
        read_ratings(bad)
    apart = _write(tmp_path / "n.csv", [("a", "s1", "fp32", 4), ("a", "s2", "int8", 3)])
    with pytest.raises(QualityError, match="shares no stimulus"):
        analyze_file(apart)
