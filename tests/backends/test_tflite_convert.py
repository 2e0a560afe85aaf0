"""ONNX → TFLite conversion (onnx2tf + TensorFlow in a child process): offline, layouts, precisions, failures."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends import _tflite_convert as tc
from backends.base import BackendError, ModelSource, UnsupportedVariant, Variant
from tests.backends.small_onnx import SESSION_CACHE, conv_source, converted, feeds, needs, ort_outputs, sqnr_db

converter = pytest.mark.skipif(tc.converter_available() is not None, reason=str(tc.converter_available()))


# -- layout helpers (pure) ---------------------------------------------------------------------------


def test_channels_last_and_inverse():
    assert tc.channels_last_perm(4) == (0, 2, 3, 1)
    assert tc.channels_last_perm(3) == (0, 2, 1)
    assert tc.channels_last_perm(2) == (0, 1)
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    perm = tc.channels_last_perm(4)
    assert tc.to_artifact_layout(x, perm).shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(tc.to_reference_layout(tc.to_artifact_layout(x, perm), perm), x)


def test_perm_between_prefers_identity_unless_told_and_refuses_strangers():
    assert tc.perm_between((1, 3, 16, 16), (1, 16, 16, 3)) == (0, 2, 3, 1)
    assert tc.perm_between((1, 8, 8, 8), (1, 8, 8, 8)) == (0, 1, 2, 3)
    assert tc.perm_between((1, 8, 8, 8), (1, 8, 8, 8), prefer_channels_last=True) == (0, 2, 3, 1)
    assert tc.perm_between((1, 3, 16, 16), (1, 16, 3, 16)) is None
    assert tc.candidate_perms((1, 3, 4), (1, 3, 4, 1)) == []


# -- offline ----------------------------------------------------------------------------------------


def test_block_network_refuses_connections_in_that_process():
    code = ("import socket, sys; from backends._tflite_convert import block_network; block_network()\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError as e:\n"
            "    print('refused:', e); sys.exit(0)\nsys.exit(1)")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "converts offline" in proc.stdout


@needs("onnx2tf", "conversion tests need the 'convert' extra")
def test_onnx2tf_still_has_the_sample_fetch_we_neutralise():
    """The conv model has a 3-channel image input: exactly the case where onnx2tf fetches a sample
    file from GitHub. With the fetch left in place, the offline conversion below would fail on the
    refused connection; it passes because the child replaces the fetch with local data."""
    import importlib.util

    # Read, not imported: importing onnx2tf would load TensorFlow into the test process.
    main = Path(importlib.util.find_spec("onnx2tf").submodule_search_locations[0]) / "onnx2tf.py"
    text = main.read_text()
    assert "download_test_image_data()" in text and "input.shape[-1] == 3" in text


@converter
@pytest.mark.slow
def test_conversion_runs_offline_and_keeps_tensorflow_out_of_this_process(monkeypatch):
    attempts: list[object] = []

    def refuse(*args, **_kwargs):
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    artifact = converted("fp32")  # the child process blocks its own sockets; this one blocks ours
    assert artifact.path.exists() and artifact.format == "tflite"
    assert attempts == []
    assert "tensorflow" not in sys.modules and "onnx2tf" not in sys.modules


# -- precisions and layout ------------------------------------------------------------------------------


@converter
@pytest.mark.slow
@pytest.mark.parametrize("precision, min_sqnr_db", [("fp32", 60.0), ("fp16", 35.0), ("int8", 15.0)])
def test_converted_precisions_take_nchw_feeds_and_match_onnxruntime(precision, min_sqnr_db):
    from backends.litert import LiteRTBackend

    artifact = converted(precision)
    meta = artifact.metadata
    assert meta["reference"] == "onnx"
    assert meta["inputs"]["x"]["perm"] == [0, 2, 3, 1]  # onnx2tf moved channels last
    assert meta["outputs"]["y"]["perm"] == [0, 2, 3, 1] and meta["outputs"]["z"]["perm"] == [0, 1]
    backend = LiteRTBackend({"threads": 1})
    backend.load(artifact)
    assert [s.shape for s in backend.inputs()] == [(1, 3, 16, 16)]
    for feed in feeds(3, seed=21):
        want = ort_outputs(conv_source().path, feed)
        got = backend.infer(feed)
        for name in ("y", "z"):
            assert got[name].shape == want[name].shape and got[name].dtype == np.float32
            assert sqnr_db(want[name], got[name]) > min_sqnr_db, (precision, name)


@converter
@pytest.mark.slow
def test_an_int8_file_computing_in_float_is_skipped_and_a_real_one_is_counted():
    from backends.base import UnsupportedVariant

    # TFLite's dynamic-range quantizer leaves weights under 1024 elements in float: this small conv
    # net's "int8-dynamic" file is a float model, so it is a skipped run with the reason, not an int8 result.
    with pytest.raises(UnsupportedVariant, match=r"runs 0 of 2 compute ops in int8"):
        converted("int8-dynamic")
    full = converted("int8").metadata
    assert full["compute_nodes"]["quantized"] == full["compute_nodes"]["total"] == 2
    assert full["recipe"]["mode"].startswith("full-integer") and full["recipe"]["quant_type"] == "per-channel"


@converter
@pytest.mark.slow
def test_full_integer_file_has_int8_io_and_the_adapter_hides_it():
    from backends.litert import LiteRTBackend

    backend = LiteRTBackend({"threads": 1})
    backend.load(converted("int8"))
    assert backend.inputs()[0].dtype == "int8" and all(o.dtype == "int8" for o in backend.outputs())
    info = backend.run_info()["inputs"][0]
    assert info["scale"] and info["tflite_shape"] == [1, 16, 16, 3]


@converter
@pytest.mark.slow
def test_cached_conversion_is_reused_without_running_onnx2tf(monkeypatch):
    first = converted("fp32")
    monkeypatch.setattr(tc, "_run_child", lambda *a, **k: pytest.fail("converted again"))
    again = tc.convert(conv_source(), Variant("fp32"), None, SESSION_CACHE / "artifacts")
    assert again.path == first.path and again.metadata == first.metadata


# -- failures ---------------------------------------------------------------------------------------


@converter
def test_int8_without_calibration_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="needs calibration data"):
        tc.convert(conv_source(), Variant("int8"), None, tmp_path)


def test_edgetpu_without_compiler_is_unsupported_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "converter_available", lambda: None)
    monkeypatch.setattr(tc, "edgetpu_compiler_path", lambda: None)
    with pytest.raises(UnsupportedVariant, match="edgetpu_compiler on PATH"):
        tc.convert(conv_source(), Variant("int8", {"edgetpu": True}), feeds(2, 0), tmp_path)
    with pytest.raises(UnsupportedVariant, match="full-integer int8 models only"):
        tc.convert(conv_source(), Variant("fp32", {"edgetpu": True}), None, tmp_path)


def test_int8_mixed_is_not_convertible(tmp_path):
    with pytest.raises(UnsupportedVariant, match="int8-mixed is not one of them"):
        tc.convert(conv_source(), Variant("int8-mixed", {"keep_float": ["stem/*"]}), None, tmp_path)


def test_missing_converter_is_unsupported_with_install_hint(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx2tf" else real(name, *a))
    with pytest.raises(UnsupportedVariant, match=r"onnx2tf \(not installed\).*convert"):
        tc.convert(conv_source(), Variant("fp32"), None, tmp_path)


@converter
@pytest.mark.slow
def test_an_op_onnx2tf_lacks_is_unsupported_naming_it(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    like = numpy_helper.from_array(np.zeros(1, np.float16), "like")
    graph = helper.make_graph(
        [helper.make_node("CastLike", ["x", "like"], ["c"]), helper.make_node("Cast", ["c"], ["y"], to=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [like])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "castlike.onnx"))
    with pytest.raises(UnsupportedVariant, match="CastLike"):
        tc.convert(ModelSource.from_path(tmp_path / "castlike.onnx"), Variant("fp32"), None, tmp_path)


def test_dynamic_non_batch_dim_needs_a_fixed_shape(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "T"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "dyn.onnx"))
    if tc.converter_available() is not None:
        pytest.skip(str(tc.converter_available()))
    with pytest.raises(UnsupportedVariant, match="dynamic dim 1"):
        tc.convert(ModelSource.from_path(tmp_path / "dyn.onnx"), Variant("fp32"), None, tmp_path)


def test_converter_and_adapter_quantize_inputs_the_same_way():
    """One definition: the converter's output matching and the adapter feed a tensor the same integers,
    per-channel parameters included (the two copies used to disagree there)."""
    from backends import _tflite_convert, litert

    detail = {"dtype": np.int8, "quantization": (0.0, 0),
              "quantization_parameters": {"scales": np.array([0.1, 0.5], np.float32),
                                          "zero_points": np.array([0, 3]), "quantized_dimension": 1}}
    x = np.array([[0.25, 1.25], [-0.35, 100.0]], np.float32)
    expected = [[2, 5], [-4, 127]]  # channel 1: 1.25 / 0.5 = 2.5 -> 2 (half to even) + 3; 203 saturates
    assert _tflite_convert._quantize(x, detail).tolist() == litert.quantize(x, detail).tolist() == expected
    np.testing.assert_array_equal(_tflite_convert._dequantize(litert.quantize(x, detail), detail),
                                  litert.dequantize(litert.quantize(x, detail), detail))
