"""`edgebench tune` end to end on a small model built here: recipes stored as runs, the front and the
pick, resuming from the store, a rejected recipe, the budget, and the suite's tune: section."""

from __future__ import annotations

import json

import pytest

from harness.errors import UsageError
from harness.quant.tune import recipes_for, tune_settings
from harness.suite import parse_suite
from tests.harness.quant.test_auto import two_module_model
from tests.harness.test_cli import edgebench

pytest.importorskip("onnxruntime")
TINY = ["--calibration", "4", "--evaluation", "2", "--threads", "1", "--min-iterations", "3", "--max-duration", "1",
        "--rounds", "2"]


def test_tune_stores_each_recipe_marks_the_pick_and_resumes(tmp_path):
    model = two_module_model(tmp_path / "two.onnx")
    out = tmp_path / "out"
    args = ["tune", str(model), "--backend", "onnxruntime", "--recipe", "qdq-per-channel", "--recipe",
            "dynamic-gemm", "--floor", "sqnr_db >= 0", "--json", *TINY]
    done = edgebench(*args, out=out, check=True)
    summary = json.loads(done.stdout)[0]
    assert [r["recipe"] for r in summary["recipes"] if r["status"] == "ok"]
    labels = {r["recipe"] for r in summary["recipes"]}
    assert labels == {"onnxruntime · fp32", "onnxruntime · qdq-per-channel", "onnxruntime · dynamic-gemm"}
    picks = [r for r in summary["recipes"] if r["fastest_meeting_floor"]]
    assert len(picks) == 1 and picks[0]["recipe"] != "onnxruntime · fp32"  # fp32 is the baseline, never the pick
    assert any(r["pareto"] for r in summary["recipes"])
    stored = json.loads(edgebench("list", "--json", out=out, check=True).stdout)
    assert len(stored) == 3 and all(r["extra"]["tune"]["key"] for r in stored)
    # fp32 and the recipes ran with their rounds interleaved, so the ratios share conditions
    assert all(len(r["extra"]["rounds"]["interleaved_with"]) == 2 for r in stored if r["status"] == "ok")
    again = json.loads(edgebench(*args, out=out, check=True).stdout)[0]
    assert again["reused_runs"] == 3
    assert len(json.loads(edgebench("list", "--json", out=out, check=True).stdout)) == 3  # nothing ran again
    # a resumed search judges the stored tries against its own floor, not the one they first ran under
    strict_args = [a if a != "sqnr_db >= 0" else "sqnr_db >= 1000" for a in args]
    strict = json.loads(edgebench(*strict_args, out=out, check=True).stdout)[0]
    assert strict["reused_runs"] == 3
    assert not any(r["fastest_meeting_floor"] for r in strict["recipes"])


def test_int8_auto_in_the_search_aims_at_the_search_floor(tmp_path):
    model = two_module_model(tmp_path / "two.onnx")
    out = tmp_path / "out"
    edgebench("tune", str(model), "--backend", "onnxruntime", "--recipe", "int8-auto", "--floor", "sqnr_db >= 3",
              "--json", *TINY, out=out, check=True)
    stored = {r["precision"]: r for r in json.loads(edgebench("list", "--json", out=out, check=True).stdout)}
    auto = stored["int8-auto"]
    assert auto["status"] == "ok", auto.get("reason")
    assert auto["extra"]["int8_auto"]["floor"] == "sqnr_db >= 3" and auto["extra"]["tune"]["label"] == "int8-auto"


def test_a_rejected_recipe_is_a_failed_run_and_the_search_goes_on(tmp_path):
    model = two_module_model(tmp_path / "two.onnx")
    args = ["tune", str(model), "--backend", "onnxruntime", "--recipe", "qdq-per-channel-percentile", "--recipe",
            "qdq-per-tensor", "--json", *TINY, "--calibration", "1"]
    summary = json.loads(edgebench(*args, out=tmp_path / "out", check=True).stdout)[0]
    status = {r["recipe"]: (r["status"], r["reason"]) for r in summary["recipes"]}
    assert status["onnxruntime · qdq-per-channel-percentile"][0] == "failed"
    assert "at least 2 samples" in status["onnxruntime · qdq-per-channel-percentile"][1]
    assert status["onnxruntime · qdq-per-tensor"][0] == "ok"


def test_budget_stops_new_recipes_and_says_which(tmp_path):
    model = two_module_model(tmp_path / "two.onnx")
    done = edgebench("tune", str(model), "--backend", "onnxruntime", "--budget-s", "0.001", *TINY,
                     out=tmp_path / "out", check=True)
    assert "budget spent: not tried qdq-per-channel" in done.stdout


def test_suite_tune_section_is_validated(tmp_path):
    suite = parse_suite({"models": [{"zoo": "foley"}], "tune": {"budget_s": 600, "floor": "sqnr_db >= 25",
                                                                "recipes": {"openvino": ["nncf"]}}})
    assert suite.tune["budget_s"] == 600
    with pytest.raises(UsageError, match="unknown tune key"):
        parse_suite({"models": [{"zoo": "foley"}], "tune": {"budget": 1}})
    with pytest.raises(UsageError, match="positive number"):
        tune_settings({"budget_s": -1}, "x")
    with pytest.raises(UsageError, match="unknown recipe"):
        recipes_for("onnxruntime", ["nncf"])
    with pytest.raises(UsageError, match=r"precisions\[0\].floor.*names gate 'lse'"):
        parse_suite({"models": [{"zoo": "foley"}], "precisions": [{"name": "int8-auto", "floor": "gate:lse"}]})


def test_bad_target_is_a_usage_error(tmp_path):
    done = edgebench("tune", str(tmp_path / "nothing.onnx"), out=tmp_path / "out")
    assert done.returncode == 2 and "not a model file" in done.stderr and "Traceback" not in done.stderr


def test_a_changed_default_recipe_is_not_reused_from_the_store(monkeypatch):
    from backends.openvino import OpenVINOBackend
    from harness.plan import RunPlan
    from harness.quant.tune import recipe_key
    from harness.suite import BackendSpec, ModelSpec, PrecisionSpec, RunnerSettings

    plan = RunPlan(ModelSpec(name="foley", zoo="foley"), BackendSpec("openvino"), PrecisionSpec("int8"),
                   RunnerSettings())
    before = recipe_key(plan, "nncf")
    assert recipe_key(plan, "nncf") == before  # stable for the same code and settings
    monkeypatch.setattr(OpenVINOBackend, "recipe_version", OpenVINOBackend.recipe_version + 1)
    assert recipe_key(plan, "nncf") != before
