"""OpenVINO's NNCF recipe: the defaults it picks and why, the ignored scope it builds, and the check that
keeps in float the layers the CPU plugin would run int8 on a float kernel."""

from __future__ import annotations

import numpy as np
import pytest

from backends import _ov_recipe
from backends.base import ModelSource, Variant
from tests.backends.small_onnx import needs


@pytest.mark.parametrize("primitive, expect", [
    ("brgconv_avx512_I8", True),
    ("brgemm_avx512_i8", True),
    ("jit_avx2_u8", True),
    ("jit_avx512_f32", False),  # int8 precision on this kernel: weights decompressed, slower than float
    ("ref_any_i8", False),  # reference kernels are the plugin's slow path
    ("jit_uni_bf16", False),
    ("unknown", None),
    ("", None),
])
def test_int8_kernels_are_told_from_float_ones_by_the_primitive_name(primitive, expect):
    assert _ov_recipe.has_int8_kernel(primitive) is expect


def test_default_preset_is_performance_with_the_reason_and_nncf_defaults_stay_choosable():
    chosen = _ov_recipe.recipe({}, {"MatMul", "Softmax", "Add"})
    assert chosen["model_type"] == "transformer" and chosen["preset"] == "performance"
    assert "fastest" in chosen["basis"]["preset"] and chosen["kernel_check"] is True
    mixed = _ov_recipe.recipe({"preset": "mixed", "kernel_check": False, "per_channel": True}, {"Conv"})
    assert mixed["preset"] == "mixed" and mixed["model_type"] == "none" and mixed["kernel_check"] is False
    assert mixed["ignored_settings"] == ["per_channel"] and "preset" not in mixed["basis"]
    with pytest.raises(ValueError, match="kernel_check must be true or false"):
        _ov_recipe.recipe({"kernel_check": "yes"}, {"Conv"})


def test_ignored_scope_holds_module_patterns_and_layers_without_int8_kernel():
    pytest.importorskip("nncf")
    chosen = _ov_recipe.recipe({"keep_float": ["upsampler"]}, {"Conv"})
    chosen["no_int8_kernel"] = ["ConvolutionBackpropData_7"]
    scope = _ov_recipe.quantize_kwargs(chosen, 8)["ignored_scope"]
    assert scope.names == ["ConvolutionBackpropData_7"] and scope.patterns == ["upsampler(/.*)?"]
    assert "ignored_scope" not in _ov_recipe.quantize_kwargs(_ov_recipe.recipe({}, {"Conv"}), 8)


def _upsampler_model(path):
    """A 1-D stride-4 ConvTranspose between two convs, as in foley's waveform upsampler."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w_in = rng.normal(0, 0.2, (32, 16, 3)).astype(np.float32)
    w_up = rng.normal(0, 0.2, (32, 16, 8)).astype(np.float32)
    w_out = rng.normal(0, 0.2, (4, 16, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w_in"], ["h"], pads=[1, 1], name="up/conv_in"),
        helper.make_node("Relu", ["h"], ["hr"], name="up/relu"),
        helper.make_node("ConvTranspose", ["hr", "w_up"], ["u"], kernel_shape=[8], strides=[4], pads=[2, 2],
                         name="up/ConvTranspose"),
        helper.make_node("Relu", ["u"], ["ur"], name="up/relu2"),
        helper.make_node("Conv", ["ur", "w_out"], ["y"], pads=[1, 1], name="up/conv_out"),
    ]
    graph = helper.make_graph(
        nodes, "upsampler", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 256])],
        [numpy_helper.from_array(w, n) for w, n in ((w_in, "w_in"), (w_up, "w_up"), (w_out, "w_out"))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return ModelSource.from_path(path)


@needs("nncf", "NNCF quantizes for OpenVINO")
@needs("openvino", "the check reads the real CPU plugin's execution graph")
def test_layers_the_plugin_runs_int8_on_a_float_kernel_are_kept_in_float(tmp_path):
    """ISA-dependent by nature: which shapes have an int8 kernel depends on the CPU. Where this CPU's plugin
    has one for the upsampling ConvTranspose there is nothing to keep in float, and the test says so."""
    from backends.openvino import OpenVINOBackend

    source = _upsampler_model(tmp_path / "up.onnx")
    rng = np.random.default_rng(0)
    calibration = [{"x": rng.normal(size=(1, 16, 64)).astype(np.float32)} for _ in range(8)]
    unchecked = OpenVINOBackend({"threads": 1}).prepare(source, Variant("int8", {"kernel_check": False}),
                                                        calibration, tmp_path / "a")
    slow = unchecked.metadata["compute_nodes"].get("no_int8_kernel")
    checked = OpenVINOBackend({"threads": 1}).prepare(source, Variant("int8"), calibration, tmp_path / "b")
    recipe = checked.metadata["recipe"]
    assert "no_int8_kernel" not in checked.metadata["compute_nodes"]  # nothing left on a float kernel
    if not slow:
        assert "no_int8_kernel" not in recipe
        pytest.skip("this CPU's OpenVINO plugin has an int8 kernel for a stride-4 ConvTranspose: nothing to keep")
    # the unchecked artifact does not count the slow layer as int8 compute
    assert unchecked.metadata["compute_nodes"]["quantized"] < unchecked.metadata["compute_nodes"]["total"]
    assert recipe["no_int8_kernel"] and "up/ConvTranspose" in recipe["basis"]["no_int8_kernel"]
    assert checked.metadata["compute_nodes"]["quantized"] >= 2  # the two convs still run int8
    # a second prepare reuses the cached IR and still reports what was kept in float
    again = OpenVINOBackend({"threads": 1}).prepare(source, Variant("int8"), calibration, tmp_path / "b")
    assert again.path == checked.path and again.metadata["recipe"]["no_int8_kernel"] == recipe["no_int8_kernel"]
