"""The ONNX Runtime recipe: "auto" settings per CPU (ISA lists given, never read from this machine),
pre-processing and its fallback, opset conversion, and the count of quantized compute nodes."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
onnx = pytest.importorskip("onnx", reason="onnx is not installed")

from onnx import helper, numpy_helper  # noqa: E402

from backends import _ort_recipe  # noqa: E402
from backends._onnx_variants import prepare_onnx_variant  # noqa: E402
from backends.base import BackendError, ModelSource, UnsupportedVariant, Variant  # noqa: E402
from tests.backends.small_onnx import conv_model, feeds  # noqa: E402
from tests.backends.test_onnx_variants import small_calib, small_model  # noqa: E402

STATIC = {"format": "QDQ", "activation_type": "auto", "weight_type": "auto", "reduce_range": "auto",
          "op_types": "auto", "symmetric": False}


@pytest.mark.parametrize("isa, machine, expect", [
    (("avx2", "avx512f", "avx512_vnni"), "x86_64", ("QUInt8", "QInt8", False)),
    (("avx2", "fma"), "x86_64", ("QUInt8", "QInt8", True)),  # no VNNI: 7-bit weights
    (("asimd", "asimddp", "dotprod"), "aarch64", ("QInt8", "QInt8", False)),
    ((), "x86_64", ("QUInt8", "QInt8", False)),  # features unknown: full range, said so
])
def test_auto_types_follow_the_cpu(isa, machine, expect):
    recipe = _ort_recipe.resolve("int8", dict(STATIC), isa, {"MatMul", "Softmax"}, machine=machine)
    assert (recipe["activation_type"], recipe["weight_type"], recipe["reduce_range"]) == expect
    assert recipe["basis"]["reduce_range"]
    assert "LayerNormalization" not in recipe["op_types"] and "MatMul" in recipe["op_types"]


def test_symmetric_is_s8s8_whatever_the_cpu():
    recipe = _ort_recipe.resolve("int8", {**STATIC, "symmetric": True}, ("avx2",), {"Conv"}, machine="x86_64")
    assert (recipe["activation_type"], recipe["weight_type"], recipe["reduce_range"]) == ("QInt8", "QInt8", False)


def test_dynamic_quantizes_gemm_like_ops_and_convs_only_when_nothing_else():
    dyn = {"reduce_range": "auto", "op_types": "auto"}
    assert _ort_recipe.resolve("int8-dynamic", dict(dyn), (), {"MatMul", "Conv", "Gemm"})["op_types"] == [
        "MatMul", "Gemm"]
    conv_only = _ort_recipe.resolve("int8-dynamic", dict(dyn), (), {"Conv", "Relu"})
    assert conv_only["op_types"] == ["Conv"] and "no GEMM-like op" in conv_only["basis"]["op_types"]


def test_recipe_and_counts_are_recorded(tmp_path):
    src = small_model(tmp_path / "small.onnx")
    art = prepare_onnx_variant(src, Variant("int8"), small_calib(), tmp_path / "c", isa=("avx2",))
    recipe = art.metadata["recipe"]
    assert recipe["tool"] == "onnxruntime.quantization" and recipe["per_channel"] is True
    assert (recipe["activation_type"], recipe["reduce_range"]) == ("QUInt8", True)
    assert recipe["preprocess"]["done"] is True
    assert "only 3 calibration samples" in recipe["warnings"][0]
    counts = art.metadata["compute_nodes"]
    assert counts["source_total"] == 5 and 0 < counts["quantized"] <= counts["total"]
    assert all(k in _ort_recipe.INT8_COMPUTE or k in _ort_recipe.FLOAT_COMPUTE for k in counts["by_op"])
    # another CPU is another recipe: another cache entry
    vnni = prepare_onnx_variant(src, Variant("int8"), small_calib(), tmp_path / "c", isa=("avx512_vnni",))
    assert vnni.path != art.path and vnni.metadata["recipe"]["reduce_range"] is False


def test_preprocessing_failure_falls_back_with_the_reason(tmp_path, monkeypatch):
    from onnxruntime.quantization import shape_inference

    calls = []

    def failing(*args, **kwargs):  # stands in for a model the pre-processor cannot handle
        calls.append(kwargs)
        raise RuntimeError("symbolic shape inference cannot handle this graph")

    monkeypatch.setattr(shape_inference, "quant_pre_process", failing)
    src = small_model(tmp_path / "small.onnx")
    art = prepare_onnx_variant(src, Variant("int8-dynamic"), None, tmp_path / "c")
    pre = art.metadata["recipe"]["preprocess"]
    assert pre["done"] is False and "cannot handle this graph" in pre["fallback_reason"]
    assert len(calls) == 3  # every fallback step was tried
    assert art.metadata["compute_nodes"]["quantized"] > 0  # quantized anyway, from the model as given


def test_opset_12_model_is_converted_before_per_channel_quantization(tmp_path):
    path = conv_model(tmp_path / "conv.onnx")
    m = onnx.load(str(path))
    m.opset_import[0].version = 12
    m.ir_version = 7
    onnx.save(m, str(path))
    src = ModelSource.from_path(path)
    art = prepare_onnx_variant(src, Variant("int8"), feeds(4, seed=0), tmp_path / "c")
    assert art.metadata["recipe"]["opset_converted_from"] == 12
    out = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"]).run(None, feeds(1, seed=3)[0])
    assert np.isfinite(out[0]).all()
    assert art.metadata["compute_nodes"]["quantized"] == 2  # both convolutions, QLinearConv


def test_dynamic_int8_of_a_conv_only_model_quantizes_its_convs(tmp_path):
    src = ModelSource.from_path(conv_model(tmp_path / "conv.onnx"))
    art = prepare_onnx_variant(src, Variant("int8-dynamic"), None, tmp_path / "c")
    assert art.metadata["recipe"]["op_types"] == ["Conv"]
    assert art.metadata["compute_nodes"]["by_op"].get("ConvInteger") == 2


def test_a_recipe_quantizing_nothing_is_skipped_with_the_reason(tmp_path):
    src = ModelSource.from_path(conv_model(tmp_path / "conv.onnx"))
    with pytest.raises(UnsupportedVariant, match="none of the op types"):
        prepare_onnx_variant(src, Variant("int8-dynamic", {"op_types": []}), None, tmp_path / "c")
    # op types the model lacks: the quantizer runs, quantizes nothing, and the run is skipped
    with pytest.raises(UnsupportedVariant, match="runs 0 of 2 compute nodes quantized"):
        prepare_onnx_variant(src, Variant("int8-dynamic", {"op_types": ["MatMul"]}), None, tmp_path / "c")


def test_histogram_calibration_needs_two_samples(tmp_path):
    src = small_model(tmp_path / "small.onnx")
    with pytest.raises(BackendError, match="at least 2 samples"):
        prepare_onnx_variant(src, Variant("int8", {"calibrate_method": "Entropy"}), small_calib(1), tmp_path / "c")


def test_bad_recipe_settings_are_refused(tmp_path):
    src = small_model(tmp_path / "small.onnx")
    for settings, match in (({"reduce_range": "sometimes"}, "true, false or auto"),
                            ({"op_types": 3}, "list of op types"),
                            ({"symmetric": True, "activation_type": "QUInt8"}, "symmetric quantization")):
        with pytest.raises(BackendError, match=match):
            prepare_onnx_variant(src, Variant("int8", settings), small_calib(), tmp_path / "c")


def test_graph_compute_counts_subgraph_nodes():
    body = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "body", [], [])
    node = helper.make_node("If", ["cond"], ["o"], then_branch=body, else_branch=body)
    graph = helper.make_graph([node, helper.make_node("QLinearConv", [], [])], "g", [], [],
                              [numpy_helper.from_array(np.array(True), "cond")])
    counts = _ort_recipe.graph_compute(_ort_recipe._all_nodes(graph))
    assert counts == {"quantized": 1, "total": 3, "by_op": {"MatMul": 2, "QLinearConv": 1}}


def _detector_style_model(path):
    """What OCR detectors exported from other frameworks look like: opset 11, dynamic H/W, one conv weight from a
    Constant node and one that is an initializer also listed as a graph input (the quantizer alone fails on
    these with "Expected ... to be an initializer")."""
    rng = np.random.default_rng(5)
    w1 = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(8, 8, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["w1"], value=numpy_helper.from_array(w1, "w1v")),
             helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1], name="conv2d_1"),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Conv", ["hr", "conv2d_394.w_0"], ["y"], pads=[1, 1, 1, 1], name="conv2d_394")]
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("conv2d_394.w_0", onnx.TensorProto.FLOAT, [8, 8, 3, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 8, "H", "W"])],
        [numpy_helper.from_array(w2, "conv2d_394.w_0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, str(path))
    return ModelSource.from_path(path)


def test_dynamic_int8_runs_on_a_detector_style_conv_model(tmp_path):
    src = _detector_style_model(tmp_path / "det.onnx")
    art = prepare_onnx_variant(src, Variant("int8-dynamic"), None, tmp_path / "c")
    assert art.metadata["recipe"]["preprocess"]["done"]
    assert art.metadata["compute_nodes"]["quantized"] == 2  # both convs, the Constant-fed one included
    x = np.random.default_rng(1).normal(size=(1, 3, 40, 56)).astype(np.float32)  # any H/W
    session = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": x})[0].shape == (1, 8, 40, 56)
