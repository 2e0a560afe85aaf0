"""Recommendation rules on constructed records."""

from __future__ import annotations

from reports.recommend import (
    DEFAULT_SQNR_FLOOR_DB,
    FEASIBLE,
    NOT_RECOMMENDED,
    RECOMMENDED,
    latest_per_config,
    recommend,
)
from tests.reports.conftest import make_record


def _verdicts(records):
    groups = recommend(records)
    assert len(groups) == 1
    return groups[0], {(v.backend, v.precision): v for v in groups[0].verdicts}


def _gate(value, spec=">= 25"):
    return {"sqnr_db": {"spec": spec, "value": value, "passed": value >= float(spec.split()[-1])}}


def test_the_fastest_config_that_passes_every_rule_is_recommended_with_figures_in_words():
    group, v = _verdicts([
        make_record(precision="fp32", p50_ms=12.0, artifact_bytes=16_000_000),
        make_record(precision="int8-dynamic", p50_ms=5.0, artifact_bytes=4_000_000, sqnr_db=31.0,
                    gates=_gate(31.0)),
    ])
    best = v[("onnxruntime", "int8-dynamic")]
    assert best.rank == RECOMMENDED
    assert group.recommended is best
    assert "faster than fp32" in best.reason and "75% smaller" in best.reason
    assert "SQNR 31 dB" in best.reason and "passes" in best.reason
    assert v[("onnxruntime", "fp32")].rank == FEASIBLE
    assert "slower than the recommended" in v[("onnxruntime", "fp32")].reason


def test_a_quantized_variant_slower_than_fp32_is_said_plainly_and_not_recommended():
    fp32, int8 = make_record(precision="fp32", p50_ms=10.0), make_record(precision="int8", p50_ms=15.0, sqnr_db=30.0)
    _, v = _verdicts([fp32, int8])
    slow = v[("onnxruntime", "int8")]
    assert slow.rank == NOT_RECOMMENDED
    ratio = int8.latency_ms["p50"] / fp32.latency_ms["p50"]
    assert f"{ratio:.2f}× slower than fp32 on the same backend" in slow.reason


def test_a_failed_gate_is_not_recommended_however_fast():
    _, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0),
        make_record(precision="int8", p50_ms=2.0, sqnr_db=22.0, gates=_gate(22.0)),
    ])
    assert v[("onnxruntime", "int8")].rank == NOT_RECOMMENDED
    assert "fails gate sqnr_db" in v[("onnxruntime", "int8")].reason
    assert v[("onnxruntime", "fp32")].rank == RECOMMENDED


def test_without_a_gate_the_default_sqnr_floor_applies_and_is_stated():
    below = DEFAULT_SQNR_FLOOR_DB - 5
    group, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0),
        make_record(precision="int8", p50_ms=4.0, sqnr_db=below),
    ])
    assert v[("onnxruntime", "int8")].rank == NOT_RECOMMENDED
    assert "below the" in v[("onnxruntime", "int8")].reason
    assert group.sqnr_floor_db == DEFAULT_SQNR_FLOOR_DB
    assert any("default" in rule and f"{DEFAULT_SQNR_FLOOR_DB:g} dB" in rule for rule in group.rules)


def test_the_floor_comes_from_the_suites_gate_when_present():
    group, _ = _verdicts([
        make_record(precision="fp32", p50_ms=10.0),
        make_record(precision="int8", p50_ms=4.0, sqnr_db=40.0, gates=_gate(40.0, spec=">= 35")),
    ])
    assert group.sqnr_floor_db == 35
    assert any("gate sqnr_db >= 35" in rule for rule in group.rules)


def test_unscored_or_throttled_variants_are_at_most_feasible():
    throttled = {"start_c": 60.0, "end_c": 91.0, "throttled": True, "evidence": "cpu freq dropped", "reason": None}
    _, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0),
        make_record(precision="int8", p50_ms=3.0),  # fast, but quality not scored
        make_record(backend="openvino", precision="fp32", p50_ms=2.0, thermal=throttled),
    ])
    assert v[("onnxruntime", "int8")].rank == FEASIBLE
    assert "quality not scored" in v[("onnxruntime", "int8")].reason
    assert v[("openvino", "fp32")].rank == FEASIBLE
    assert "throttled" in v[("openvino", "fp32")].reason
    assert v[("onnxruntime", "fp32")].rank == RECOMMENDED


def test_not_clearly_faster_than_fp32_is_at_most_feasible():
    _, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0, seed=1),
        make_record(precision="int8", p50_ms=10.0, sqnr_db=35.0, seed=2),
    ])
    assert v[("onnxruntime", "int8")].rank == FEASIBLE
    assert "not clearly faster" in v[("onnxruntime", "int8")].reason


def test_on_a_tie_the_smaller_peak_memory_wins():
    group, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0, peak_rss_bytes=300_000_000, seed=1),
        # Same noise, 0.2% slower: inside the medians' CIs, so memory decides.
        make_record(backend="openvino", precision="fp32", p50_ms=10.02, peak_rss_bytes=200_000_000, seed=1),
    ])
    assert group.recommended.backend == "openvino"
    assert "within the noise" in group.recommended.reason
    # the faster one that lost on memory says so, instead of "passes every rule but faster"
    loser = v[("onnxruntime", "fp32")].reason
    assert "within the noise, and the recommended one uses less memory" in loser and "passes every rule" not in loser


def test_failed_and_skipped_runs_are_not_recommended_with_their_reason():
    _, v = _verdicts([
        make_record(precision="fp32", p50_ms=10.0),
        make_record(backend="litert", precision="int8", status="skipped", reason="ai-edge-litert is not installed"),
        make_record(backend="openvino", precision="fp16", status="failed", reason="compile: unsupported op"),
    ])
    assert v[("litert", "int8")].rank == NOT_RECOMMENDED
    assert "ai-edge-litert is not installed" in v[("litert", "int8")].reason
    assert "unsupported op" in v[("openvino", "fp16")].reason


def test_nothing_passes_gives_no_recommendation_and_says_so():
    group, _ = _verdicts([
        make_record(precision="fp32", status="failed", reason="load: bad model"),
    ])
    assert group.recommended is None
    assert "none ran and passed" in group.headline


def test_groups_are_per_device_and_model():
    groups = recommend([
        make_record(model="a", device="host", precision="fp32"),
        make_record(model="b", device="host", precision="fp32"),
        make_record(model="a", device="jetson", precision="fp32"),
    ])
    assert {(g.device, g.model) for g in groups} == {("host", "a"), ("host", "b"), ("jetson", "a")}
    assert all(g.recommended is not None for g in groups)


def test_repeated_runs_of_a_configuration_count_once_newest_ok_first():
    old = make_record(precision="fp32", created_at="2025-01-01T00:00:00+00:00")
    new = make_record(precision="fp32", created_at="2025-02-01T00:00:00+00:00")
    newer_failed = make_record(precision="fp32", status="failed", reason="x", created_at="2025-03-01T00:00:00+00:00")
    assert [r.run_id for r in latest_per_config([old, new, newer_failed])] == [new.run_id]


def _with_rounds(record, round_p50, session="s1"):
    from results.stats import round_median_ci

    record.latency_ms = {**record.latency_ms, "rounds": len(round_p50), "round_p50": list(round_p50),
                         "p50": sorted(round_p50)[len(round_p50) // 2],
                         "p50_ci95": list(round_median_ci(round_p50))}
    record.extra["rounds"] = {"session": session}
    return record


def test_clearly_faster_is_decided_by_the_ratio_interval_of_paired_rounds():
    drift = [1.0, 1.3, 0.9, 1.25, 1.1]
    fp32 = _with_rounds(make_record(precision="fp32", p50_ms=10.0), [10 * d for d in drift])
    int8 = _with_rounds(make_record(precision="int8", p50_ms=7.6, sqnr_db=30.0), [7.6 * d for d in drift])
    _, v = _verdicts([fp32, int8])
    best = v[("onnxruntime", "int8")]
    assert best.rank == RECOMMENDED
    assert "1.32× faster [1.32–1.32] than fp32" in best.reason


def test_a_speed_up_inside_the_noise_of_separate_sessions_is_only_feasible():
    fp32 = _with_rounds(make_record(precision="fp32", p50_ms=10.0), [10.0, 13.0, 9.0, 12.5, 11.0], "a")
    int8 = _with_rounds(make_record(precision="int8", p50_ms=9.5, sqnr_db=30.0), [12.0, 9.0, 11.5, 9.5, 10.0], "b")
    _, v = _verdicts([fp32, int8])
    assert v[("onnxruntime", "int8")].rank == FEASIBLE
    assert "interval of the speed-up includes 1" in v[("onnxruntime", "int8")].reason


def test_report_shows_the_speed_up_with_its_interval():
    from reports.model import build

    drift = [1.0, 1.3, 0.9, 1.25, 1.1]
    fp32 = _with_rounds(make_record(precision="fp32", p50_ms=10.0), [10 * d for d in drift])
    int8 = _with_rounds(make_record(precision="int8", p50_ms=8.0, sqnr_db=30.0),
                        [8 * d * f for d, f in zip(drift, [1.0, 1.02, 0.98, 1.01, 0.99])])
    model = build([fp32, int8])
    row = next(r for r in model.groups[0].rows if r.precision == "int8")
    text = row.cells["speedup"].text
    assert text.startswith("1.26× faster [1.2") and row.cells["speedup"].cls == "good"


def test_control_flow_on_generated_inputs_is_a_caveat_in_the_ranking_and_the_table():
    from reports.table import summary_table

    flow = {"nodes": [{"node": "pick_rate", "op": "If", "depends_on": ["sr"]}], "on_generated": ["sr"]}
    fp32 = make_record(precision="fp32", p50_ms=10.0)
    fp32.extra["control_flow"] = flow
    fixed = make_record(precision="fp32", p50_ms=10.0, model="other")
    fixed.extra["control_flow"] = {**flow, "on_generated": []}  # sr given with --input: no caveat
    _, v = _verdicts([fp32])
    assert v[("onnxruntime", "fp32")].rank == FEASIBLE
    assert "If node 'pick_rate' on sr" in v[("onnxruntime", "fp32")].reason
    table = summary_table([fp32, fixed], width=200)
    assert "ok ‡" in table and "‡ timed on generated inputs" in table
    assert table.count("‡") == 2  # one row marked, one footnote


def _ran(precision, **counts):
    from backends.base import executed_summary

    return executed_summary(counts or {precision: 4}, "layers", "constructed for the test")


def test_a_run_that_computed_another_precision_is_named_by_what_ran_and_never_recommended():
    """OpenVINO's old default: "fp32" on an AVX512_BF16 CPU ran bf16, and was recommended as fp32."""
    ort = make_record(backend="onnxruntime", precision="fp32", p50_ms=10.0)
    ort.executed_precision = _ran("fp32")
    ov = make_record(backend="openvino", precision="fp32", p50_ms=4.0)
    ov.executed_precision = _ran("bf16", bf16=9, fp32=1)
    ov_int8 = make_record(backend="openvino", precision="int8", p50_ms=3.0, sqnr_db=30.0)
    ov_int8.executed_precision = _ran("int8", int8=5, fp32=2)
    group, v = _verdicts([ort, ov, ov_int8])
    assert ("openvino", "fp32") not in v  # never presented under the label it did not run
    wrong = v[("openvino", "fp32 (ran bf16)")]
    assert wrong.rank == NOT_RECOMMENDED
    assert "labelled fp32 but the runtime executed bf16" in wrong.reason and "ask for bf16" in wrong.reason
    # it is not the fp32 baseline either: openvino int8 is compared with ONNX Runtime's fp32
    assert "than fp32 on onnxruntime" in v[("openvino", "int8")].reason
    assert group.recommended is not None and group.recommended.precision != "fp32 (ran bf16)"
    assert any("ran Y" in rule for rule in group.rules)


def test_fp32_with_some_reduced_precision_layers_is_a_mismatch_too():
    from results.schema import executed_label, precision_mismatch

    r = make_record(precision="fp32")
    r.executed_precision = _ran("fp32", fp32=9, bf16=2)
    assert "reduced precision" in precision_mismatch("fp32", r.executed_precision)
    assert executed_label(r) == "fp32 (ran mixed bf16+fp32)"
    r.executed_precision = {"precision": None, "reason": "unknown"}
    assert precision_mismatch("fp32", r.executed_precision) is None and executed_label(r) == "fp32"
    assert precision_mismatch("int8-mixed", _ran("int8", int8=3, fp32=8)) is None  # float layers by design
