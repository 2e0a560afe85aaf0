"""int8-auto: floors, modules, the search's order and stop rule (on a scripted evaluator), and real
searches through onnxruntime and OpenVINO on a small two-module model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import UsageError
from harness.quant.auto import (
    BackendEvaluator,
    Floor,
    Pass,
    modules_of,
    parse_floor,
    search,
)


def test_floors_from_a_number_a_spec_or_a_gate():
    assert parse_floor(None) == Floor("sqnr_db", ">=", 25.0)
    assert parse_floor(30) == Floor("sqnr_db", ">=", 30.0)
    assert parse_floor("top1_agreement >= 0.97") == Floor("top1_agreement", ">=", 0.97)
    assert parse_floor("gate:cosine", {"cosine": ">= 0.999"}) == Floor("cosine", ">=", 0.999)
    assert parse_floor(25).met({"sqnr_db": 26.0}) is True and parse_floor(25).met({"sqnr_db": None}) is None
    with pytest.raises(UsageError, match="names gate 'lse'"):
        parse_floor("gate:lse", {})
    with pytest.raises(UsageError, match="expected a number"):
        parse_floor("good enough")


def scripted(figures: dict[frozenset[str], float], floor: Floor):
    """An evaluator whose figure per keep-float set is given: the search logic without any runtime."""
    calls = []

    def evaluate(keep: list[str]) -> Pass:
        calls.append(list(keep))
        value = figures[frozenset(keep)]
        return Pass("", None, list(keep), value, floor.met({floor.metric: value}), 0.01)

    return evaluate, calls


MODULES = {"enc": ["enc/*"], "dec": ["dec/*"], "up": ["up/*"]}


def test_search_keeps_the_most_harmful_module_first_and_stops_at_the_floor():
    floor = Floor("sqnr_db", ">=", 25.0)
    f = {frozenset(): 18.0,
         # only one module quantized (the others in float)
         frozenset({"dec", "up"}): 27.0, frozenset({"enc", "up"}): 30.0, frozenset({"enc", "dec"}): 19.0,
         # only one module in float
         frozenset({"enc"}): 18.2, frozenset({"dec"}): 21.0, frozenset({"up"}): 23.0}
    evaluate, calls = scripted(f, floor)
    result = search(evaluate, MODULES, floor)
    assert result.met and result.keep_float == ["up", "dec"]
    greedy = [p.keep_float for p in result.passes if p.kind == "greedy"]
    assert greedy == [["up"], ["up", "dec"]]  # largest gain first, then re-measured
    table = {r["module"]: r for r in result.sensitivity()}
    assert table["up"]["gain_if_float"] == pytest.approx(5.0) and table["enc"]["only_quantized"] == 27.0
    assert result.suite_snippet() == '- {name: int8-mixed, keep_float: ["up/*", "dec/*"]}'
    # a plan already measured is not built again (keeping {up, dec} = only enc quantized)
    assert len(calls) == 1 + 2 * 3 and result.passes[-1].reason == "same plan as an earlier pass"


def test_refine_keeps_the_fewest_parts_of_a_kept_module_that_still_meet_the_floor():
    floor = Floor("sqnr_db", ">=", 25.0)
    f = {frozenset(): 18.0,
         frozenset({"dec", "up"}): 27.0, frozenset({"enc", "up"}): 30.0, frozenset({"enc", "dec"}): 19.0,
         frozenset({"enc"}): 18.2, frozenset({"dec"}): 21.0, frozenset({"up"}): 23.0,
         # the rest of the plan (dec) in float, plus one part of up
         frozenset({"dec", "up/a"}): 24.0, frozenset({"dec", "up/b"}): 26.0, frozenset({"dec", "up/c"}): 20.0}
    evaluate, _ = scripted(f, floor)
    parts = {"up": {"up/a": ["up/a/*"], "up/b": ["up/b/*"], "up/c": ["up/c/*"]}, "dec": {"dec/x": ["dec/x/*"]}}
    asked = []

    def split(module):
        asked.append(module)
        return parts.get(module, {})

    result = search(evaluate, MODULES, floor, split=split)
    assert result.met and result.keep_float == ["dec", "up/b"]  # up/b alone wins back enough
    assert asked == ["up", "dec"]  # dec has one part: kept whole
    refine = [p for p in result.passes if p.kind.startswith("refine")]
    assert [p.keep_float for p in refine] == [["dec", "up/a"], ["dec", "up/b"], ["dec", "up/c"], ["dec", "up/b"]]
    assert refine[-1].reason == "same plan as an earlier pass"  # measured once, reused
    assert result.suite_snippet() == '- {name: int8-mixed, keep_float: ["dec/*", "up/b/*"]}'
    assert {r["module"] for r in result.sensitivity()} == {"enc", "dec", "up"}  # the modules' table stays


def test_refine_keeps_the_module_whole_when_no_subset_of_parts_is_enough():
    floor = Floor("sqnr_db", ">=", 25.0)
    f = {frozenset(): 18.0, frozenset({"dec", "up"}): 27.0, frozenset({"enc", "up"}): 30.0,
         frozenset({"enc", "dec"}): 19.0, frozenset({"enc"}): 18.2, frozenset({"dec"}): 21.0, frozenset({"up"}): 23.0,
         frozenset({"dec", "up/a"}): 24.0, frozenset({"dec", "up/b"}): 22.0}
    evaluate, _ = scripted(f, floor)
    result = search(evaluate, MODULES, floor, split=lambda m: {"up/a": ["up/a/*"], "up/b": ["up/b/*"]}
                    if m == "up" else {})
    assert result.met and result.keep_float == ["up", "dec"]


def test_an_unreachable_floor_is_said_with_the_best_plan():
    floor = Floor("sqnr_db", ">=", 60.0)
    f = {frozenset(): 18.0, frozenset({"dec", "up"}): 50.0, frozenset({"enc", "up"}): 30.0,
         frozenset({"enc", "dec"}): 19.0, frozenset({"enc"}): 18.2, frozenset({"dec"}): 21.0,
         frozenset({"up"}): 23.0, frozenset({"up", "dec", "enc"}): 55.0}
    evaluate, _ = scripted(f, floor)
    result = search(evaluate, MODULES, floor)
    assert not result.met and result.keep_float is None
    assert result.best["keep_float"] == ["enc", "dec", "up"] and result.best["figure"] == 55.0
    assert "not reached" in result.note and "best plan found" in result.note
    assert result.suite_snippet().startswith("# does not meet sqnr_db >= 60")


def test_all_int8_meeting_the_floor_keeps_nothing_in_float():
    floor = Floor("sqnr_db", ">=", 10.0)
    evaluate, calls = scripted({frozenset(): 18.0}, floor)
    result = search(evaluate, MODULES, floor, sensitivity=False)
    assert result.met and result.keep_float == [] and calls == [[]] and result.suite_snippet() == "- int8"


# -- real runtimes ---------------------------------------------------------------------------------------------


def two_module_model(path: Path) -> Path:
    """enc/* (benign matmuls) then head/* (a matmul whose weights have an outlier: int8 hurts it most)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((32, 32)) / 6).astype(np.float32)
    w2 = (rng.standard_normal((32, 32)) / 6).astype(np.float32)
    w3 = (rng.standard_normal((32, 16)) / 6).astype(np.float32)
    w3[0, 0] = 40.0  # one outlier weight: per-tensor int8 loses the rest of this matmul
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["a"], name="enc/fc1/MatMul"),
        helper.make_node("Relu", ["a"], ["b"], name="enc/relu"),
        helper.make_node("MatMul", ["b", "w2"], ["c"], name="enc/fc2/MatMul"),
        helper.make_node("Tanh", ["c"], ["d"], name="enc/tanh"),
        helper.make_node("MatMul", ["d", "w3"], ["e"], name="head/fc/MatMul"),
        helper.make_node("Sigmoid", ["e"], ["y"], name="head/sigmoid"),
    ]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16])],
                              [numpy_helper.from_array(w, n) for w, n in ((w1, "w1"), (w2, "w2"), (w3, "w3"))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    return path


def test_modules_are_node_name_prefixes_with_compute(tmp_path):
    path = two_module_model(tmp_path / "two.onnx")
    assert modules_of(path) == {"enc": ["enc/*"], "head": ["head/*"]}
    assert modules_of(path, {"all": ["*"]}) == {"all": ["*"]}
    assert modules_of(path, depth=2) == {"enc/fc1": ["enc/fc1/*"], "enc/fc2": ["enc/fc2/*"], "head/fc": ["head/fc/*"]}


def test_a_modules_parts_are_one_level_deeper(tmp_path):
    from harness.quant.auto import submodules_of

    path = two_module_model(tmp_path / "two.onnx")
    assert submodules_of(path, "enc") == {"enc/fc1": ["enc/fc1/*"], "enc/fc2": ["enc/fc2/*"]}
    assert submodules_of(path, "head") == {"head/fc": ["head/fc/*"]}
    assert submodules_of(path, "head/fc") == {"head/fc/MatMul": ["head/fc/MatMul"]}  # a node is its own part
    assert submodules_of(path, "nothing") == {}


def _feeds(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 8, 32)).astype(np.float32)} for _ in range(n)]


@pytest.mark.parametrize("backend_name, base", [("onnxruntime", {"per_channel": False}),
                                                ("openvino", {"method": "qdq", "per_channel": False}),
                                                ("openvino", {"method": "nncf"})])
def test_real_search_finds_the_module_to_keep(tmp_path, backend_name, base):
    pytest.importorskip(backend_name)
    pytest.importorskip("onnxruntime")
    from backends import get_backend
    from backends.base import ModelSource
    from harness import reference

    source = ModelSource.from_path(two_module_model(tmp_path / "two.onnx"))
    evaluation = _feeds(3, seed=5)
    expected = reference.reference_outputs(source, evaluation, tmp_path / "ref")
    modules = modules_of(source.path)
    cls = get_backend(backend_name)
    options = {"threads": 1} if backend_name == "onnxruntime" else {"threads": 1, "inference_precision": "f32"}
    full_evaluator = BackendEvaluator(lambda: cls(options), source, base, _feeds(16, seed=1), evaluation, expected,
                                      modules, Floor("sqnr_db", ">=", 0.0), tmp_path / "cache")
    full = full_evaluator([])
    assert full.status == "ok" and full.compute_nodes["quantized"] >= 1
    floor = Floor("sqnr_db", ">=", full.figure + 3.0)  # a floor all-int8 misses: something must stay float
    evaluator = BackendEvaluator(lambda: cls(options), source, base, _feeds(16, seed=1), evaluation, expected,
                                 modules, floor, tmp_path / "cache")
    result = search(evaluator, modules, floor)
    table = {r["module"]: r for r in result.sensitivity()}
    most_sensitive = max(table, key=lambda m: table[m]["gain_if_float"])
    assert result.met and result.keep_float[0] == most_sensitive  # kept in float first
    if base.get("per_channel") is False:  # per-tensor weights: the outlier matmul is what int8 hurts
        assert most_sensitive == "head" and result.keep_float == ["head"]
    assert all(p.seconds >= 0 for p in result.passes)


def test_int8_auto_run_records_the_plan_and_runs_it(tmp_path):
    pytest.importorskip("onnxruntime")
    from harness.plan import RunPlan
    from harness.runner import RunContext, run_plan
    from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings

    model = two_module_model(tmp_path / "two.onnx")
    runner = RunnerSettings(warmup=1, min_iterations=3, min_duration_s=0.0, max_duration_s=2.0, timeout_s=300.0,
                            idle_s=0.0)

    def plan(floor: str) -> RunPlan:
        return RunPlan(model=ModelSpec(name="two", path=str(model)), backend=BackendSpec("onnxruntime"),
                       precision=PrecisionSpec("int8-auto", {"floor": floor, "per_channel": False}), runner=runner,
                       data=DataSettings(evaluation=2, calibration=8))

    record = run_plan(plan("sqnr_db >= 200"), RunContext(out_dir=tmp_path / "out"))  # beyond the 100 dB cap
    assert record.status == "ok", record.reason
    auto = record.extra["int8_auto"]
    assert auto["met"] is False and auto["best"]["keep_float"] and "not reached" in auto["note"]
    assert any(w.startswith("int8-auto: floor sqnr_db >= 200 not reached") for w in record.warnings)
    assert {r["module"] for r in auto["sensitivity"]} == {"enc", "head"}
    assert record.artifact["metadata"]["nodes_kept_float"]  # the best plan ran, as int8-mixed
    assert record.variant["keep_float"] == auto["best"]["keep_float"] and record.variant["recipe"]["tool"]
    assert record.variant["compute_nodes"]["quantized"] >= 1
    easy = run_plan(plan("sqnr_db >= -100"), RunContext(out_dir=tmp_path / "out"))
    assert easy.extra["int8_auto"]["keep_float"] == [] and easy.artifact["precision"] == "int8"
