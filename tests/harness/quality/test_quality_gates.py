"""Gate grammar and evaluation."""

from __future__ import annotations

import math

import pytest

from harness.quality.gates import GRAMMAR, NOT_SCORED, evaluate_gates, failed, gate_figures, parse_gate


@pytest.mark.parametrize(
    ("spec", "op", "threshold"),
    [(">= 25", ">=", 25.0), ("<=0.3", "<=", 0.3), (">= -0.2", ">=", -0.2), (" > 1e-3 ", ">", 1e-3),
     ("< .5", "<", 0.5), ("== 3", "==", 3.0)],
)
def test_parse_gate(spec, op, threshold):
    gate = parse_gate(spec)
    assert gate.op == op and gate.threshold == pytest.approx(threshold)


@pytest.mark.parametrize("spec", ["25", ">= ", "=> 25", ">= 25 dB", "between 1 and 2", "", ">= nan", ">=25%"])
def test_bad_spec_names_the_grammar(spec):
    with pytest.raises(ValueError) as info:
        parse_gate(spec)
    assert GRAMMAR in str(info.value) and repr(spec) in str(info.value)


def test_evaluate_gates_pass_fail_missing():
    gates = {"sqnr_db": ">= 25", "lse_d_delta": "<= 0.3", "mos_delta": ">= -0.2", "psnr_db": "> 30"}
    figures = {"sqnr_db": 31.5, "lse_d_delta": 0.45, "mos_delta": None}
    res = evaluate_gates(gates, figures)
    assert res["sqnr_db"] == {"spec": ">= 25", "value": 31.5, "passed": True}
    assert res["lse_d_delta"]["passed"] is False and res["lse_d_delta"]["value"] == 0.45
    assert res["mos_delta"] == {"spec": ">= -0.2", "value": None, "passed": None, "reason": NOT_SCORED}
    assert res["psnr_db"]["passed"] is None and res["psnr_db"]["reason"] == NOT_SCORED
    assert failed(res) == ["lse_d_delta"]


def test_evaluate_gates_boundaries_nan_and_nested():
    assert evaluate_gates({"x": ">= 25"}, {"x": 25})["x"]["passed"] is True
    assert evaluate_gates({"x": "> 25"}, {"x": 25})["x"]["passed"] is False
    nan = evaluate_gates({"x": ">= 1"}, {"x": math.nan})["x"]
    assert nan["passed"] is None and "NaN" in nan["reason"]
    text = evaluate_gates({"x": ">= 1"}, {"x": "high"})["x"]
    assert text["passed"] is None and "not a number" in text["reason"]
    nested = evaluate_gates({"quality.sqnr_db": ">= 20"}, {"quality": {"sqnr_db": 19.0}})
    assert nested["quality.sqnr_db"]["passed"] is False


def test_bad_spec_fails_before_any_gate_is_evaluated():
    with pytest.raises(ValueError, match="bad gate spec"):
        evaluate_gates({"sqnr_db": ">= 25", "mos_delta": "at least -0.2"}, {"sqnr_db": 30})


def test_gate_figures_keeps_numbers_only():
    figures = gate_figures({"sqnr_db": 30.0, "mos_label": "MOS-LQS", "nonfinite": 0, "per_output": {}, "ok": True})
    assert figures == {"sqnr_db": 30.0, "nonfinite": 0}
