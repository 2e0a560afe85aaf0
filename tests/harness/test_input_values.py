"""Fixed inputs (--input, suite inputs:), their provenance, and the control-flow warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backends.base import TensorSpec
from harness import controlflow, data
from harness import input_values as inputs
from harness.errors import UsageError
from harness.input_values import InputValue, parse_cli_input
from harness.suite import parse_suite
from tests.harness.control_flow_models import if_on_sample_rate, loop_on_count

SPECS = [TensorSpec("x", (1, 4), "float32"), TensorSpec("sr", (), "int64")]


# -- parsing -----------------------------------------------------------------------------------------

def test_cli_values_are_typed():
    assert parse_cli_input("sr=16000") == InputValue("sr", "constant", value=16000, origin="--input sr=16000")
    assert parse_cli_input("gain=0.5").value == 0.5
    assert parse_cli_input("flag=true").value is True
    assert isinstance(parse_cli_input("sr=16000").value, int)


def test_cli_file_value(tmp_path: Path):
    np.save(tmp_path / "x.npy", np.ones((1, 4), np.float32))
    v = parse_cli_input(f"x={tmp_path / 'x.npy'}")
    assert v.kind == "file" and Path(v.path).is_file()


@pytest.mark.parametrize(("item", "message"), [
    ("sr", "expected NAME=VALUE"),
    ("=5", "expected NAME=VALUE"),
    ("sr=sixteen", "neither a number"),
    ("x=missing.npy", "does not exist"),
])
def test_cli_parse_errors_say_what_was_expected(item: str, message: str):
    with pytest.raises(UsageError, match=message):
        parse_cli_input(item)


@pytest.mark.parametrize(("value", "message"), [
    (InputValue("rate", "constant", value=1), "has no input 'rate'; its inputs are 'x', 'sr'"),
    (InputValue("sr", "constant", value=0.5), "int64: give an integer, found 0.5"),
    (InputValue("sr", "constant", value=True), "give a number"),
    (InputValue("x", "range", low=0, high=2**70), None),  # floats take any range
    (InputValue("sr", "range", low=0.5, high=3), "integer ends"),
])
def test_values_that_do_not_fit_the_model_are_usage_errors(value: InputValue, message: str | None):
    if message is None:
        inputs.check_values({value.name: value}, SPECS)
        return
    with pytest.raises(UsageError, match=message):
        inputs.check_values({value.name: value}, SPECS)


def test_file_with_wrong_dtype_or_shape_is_a_usage_error(tmp_path: Path):
    np.save(tmp_path / "ints.npy", np.ones((1, 4), np.int32))
    np.save(tmp_path / "wide.npy", np.ones((1, 5), np.float32))
    with pytest.raises(UsageError, match=r"expects float32, .* holds int32"):
        inputs.check_values({"x": InputValue("x", "file", path=str(tmp_path / "ints.npy"))}, SPECS)
    with pytest.raises(UsageError, match=r"has shape \[1, 4\], .* holds \[1, 5\]"):
        inputs.check_values({"x": InputValue("x", "file", path=str(tmp_path / "wide.npy"))}, SPECS)


def test_suite_inputs_take_shape_value_file_and_range(tmp_path: Path):
    np.save(tmp_path / "mask.npy", np.ones((1, 4), np.float32))
    suite = parse_suite({"models": [{"path": "m.onnx", "inputs": {
        "x": [1, 4], "sr": {"value": 16000}, "mask": {"file": "mask.npy", "shape": "1x4"},
        "ids": {"range": [0, 31999]}}}]}, "s.yaml", tmp_path)
    m = suite.models[0]
    assert m.input_shapes == {"x": (1, 4), "mask": (1, 4)}
    assert m.input_values["sr"].kind == "constant" and m.input_values["sr"].value == 16000
    assert m.input_values["mask"].path == str(tmp_path / "mask.npy")
    assert (m.input_values["ids"].low, m.input_values["ids"].high) == (0, 31999)


@pytest.mark.parametrize(("entry", "message"), [
    ({"value": "16k"}, "expected a number or true/false"),
    ({"range": [5, 1]}, r"expected \[lo, hi\]"),
    ({"value": 1, "range": [0, 1]}, "at most one of"),
    ({"file": "absent.npy"}, "an existing .npy file"),
    ({"values": 1}, "one of the keys"),
])
def test_suite_input_errors_name_the_key(tmp_path: Path, entry: dict, message: str):
    with pytest.raises(UsageError, match=message) as info:
        parse_suite({"models": [{"path": "m.onnx", "inputs": {"sr": entry}}]}, "s.yaml", tmp_path)
    assert "models[0].inputs.sr" in str(info.value)


# -- data and provenance ------------------------------------------------------------------------------

def test_fixed_inputs_hold_in_calibration_and_evaluation():
    values = {"sr": InputValue("sr", "constant", value=16000)}
    for feeds in (data.calibration_set(None, SPECS, n=5, values=values),
                  data.evaluation_set(None, SPECS, n=3, values=values)):
        assert all(f["sr"].dtype == np.int64 and f["sr"].shape == () and int(f["sr"]) == 16000 for f in feeds)
        assert all(f["x"].shape == (1, 4) for f in feeds)


def test_a_range_draws_integers_within_both_ends():
    values = {"sr": InputValue("sr", "range", low=8000, high=8001)}
    feeds = data.evaluation_set(None, SPECS, n=40, values=values)
    drawn = {int(f["sr"]) for f in feeds}
    assert drawn == {8000, 8001}


def test_fixed_inputs_may_be_absent_from_a_calibration_folder(tmp_path: Path):
    for i in range(4):
        np.savez(tmp_path / f"s{i}.npz", x=np.full((1, 4), i, np.float32))
    values = {"sr": InputValue("sr", "constant", value=8000)}
    feeds = data.calibration_set(None, SPECS, calib_dir=tmp_path, n=10, values=values)
    assert len(feeds) == 3 and all(int(f["sr"]) == 8000 for f in feeds)


def test_provenance_lists_every_input_and_warns_on_integers_without_a_range():
    prov = inputs.provenance(SPECS, {}, "random")
    assert prov["x"] == {"source": "generated", "distribution": "normal(0, 1)", "default": True}
    assert "no range given" in prov["sr"]["distribution"]
    (note,) = inputs.provenance_warnings(prov, SPECS)
    assert "'sr'" in note and "--input sr=VALUE" in note
    fixed = inputs.provenance(SPECS, {"sr": parse_cli_input("sr=16000")}, "random")
    assert fixed["sr"] == {"source": "constant", "value": 16000, "given_by": "--input sr=16000"}
    assert inputs.provenance_warnings(fixed, SPECS) == []
    ranged = inputs.provenance(SPECS, {"sr": InputValue("sr", "range", low=8000, high=16000)}, "zoo:foo")
    assert ranged["sr"]["distribution"] == "uniform integers in [8000, 16000]"
    assert ranged["x"]["source"] == "generated" and "zoo" in ranged["x"]["distribution"]
    assert inputs.generated_inputs(ranged) == {"x"}


# -- control flow ---------------------------------------------------------------------------------------

def test_if_node_and_the_input_it_depends_on_are_found(tmp_path: Path):
    found = controlflow.find(if_on_sample_rate(tmp_path / "if.onnx"), "onnx")
    assert found == [{"node": "pick_rate", "op": "If", "depends_on": ["sr"]}]
    note = controlflow.warning(found, {"sr"})
    assert "If node 'pick_rate' (on sr)" in note and "--input sr=VALUE" in note
    assert controlflow.warning(found, set()) is None


def test_loop_trip_count_input_is_found(tmp_path: Path):
    found = controlflow.find(loop_on_count(tmp_path / "loop.onnx"), "onnx")
    assert found == [{"node": "repeat", "op": "Loop", "depends_on": ["n"]}]


def test_a_model_without_control_flow_has_none(tmp_path: Path):
    from tests.backends.small_onnx import conv_model

    assert controlflow.find(conv_model(tmp_path / "conv.onnx"), "onnx") == []


# -- end to end ------------------------------------------------------------------------------------------

def test_a_control_input_runs_with_input_and_warns_without(tmp_path: Path):
    from tests.harness.test_cli import FAST, edgebench

    model = if_on_sample_rate(tmp_path / "vad.onnx")
    out = tmp_path / "out"
    args = ["run", "--model", str(model), *FAST, "--rounds", "2", "--evaluation", "0", "--json"]
    import json

    (plain,) = json.loads(edgebench(*args, out=out, check=True).stdout)
    (fixed,) = json.loads(edgebench(*args, "--input", "sr=16000", out=out, check=True).stdout)
    assert any("If node 'pick_rate' (on sr)" in w for w in plain["warnings"])
    assert plain["extra"]["control_flow"]["on_generated"] == ["sr", "x"]
    assert "no range given" in plain["extra"]["input_provenance"]["sr"]["distribution"]
    assert not any("control flow" in w for w in fixed["warnings"])
    assert fixed["extra"]["input_provenance"]["sr"] == {"source": "constant", "value": 16000,
                                                        "given_by": "--input sr=16000"}
    assert fixed["latency_ms"]["rounds"] == 2 and len(fixed["latency_ms"]["round_p50"]) == 2


@pytest.mark.parametrize(("item", "message"), [
    ("rate=16000", "the model has no input 'rate'; its inputs are 'x', 'sr'"),
    ("sr=0.5", "input 'sr' is int64: give an integer, found 0.5"),
    ("sr=loud", "neither a number"),
])
def test_input_errors_exit_2_with_the_reason_and_run_nothing(tmp_path: Path, item: str, message: str):
    from tests.harness.test_cli import edgebench

    model = if_on_sample_rate(tmp_path / "vad.onnx")
    done = edgebench("run", "--model", str(model), "--input", item, out=tmp_path / "out")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    store = tmp_path / "out" / "edgebench.sqlite"
    if store.exists():
        import sqlite3

        with sqlite3.connect(store) as db:
            assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_tflite_while_is_found_with_its_inputs():
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed: it reads the TFLite ops")
    from tests.harness.control_flow_models import WHILE_TFLITE

    found = controlflow.find(WHILE_TFLITE, "tflite")
    assert [(f["op"], f["node"]) for f in found] == [("WHILE", "WHILE#0")]
    assert "n" in found[0]["depends_on"]
