"""LiteRT adapter on real ai-edge-litert: MLPerf Tiny float/int8 pairs, quantized I/O, layout, probe reasons."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from backends.base import Artifact, BackendError, ModelSource, UnsupportedVariant, Variant
from backends.litert import EDGETPU_LIBRARY, LiteRTBackend, dequantize, quantize
from tests.backends.small_onnx import MLPERF, SESSION_CACHE, mlperf_inputs, needs

pytestmark = needs("ai_edge_litert", "the LiteRT adapter's tests run the real interpreter")


def _edgetpu_present() -> bool:
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)
    except OSError:
        return False
    return True


def _load(path: Path, precision: str, **options) -> LiteRTBackend:
    backend = LiteRTBackend({"threads": 1, **options})
    source = ModelSource.from_path(path)
    backend.load(backend.prepare(source, Variant(precision, {"prebuilt": True}), None, SESSION_CACHE))
    return backend


# -- probe -------------------------------------------------------------------------------------


def test_probe_reports_cpu_and_why_edgetpu_and_gpu_are_absent():
    found = LiteRTBackend.probe()
    assert found.available and found.version
    assert "cpu" in found.devices
    delegates = found.details["delegates"]
    assert delegates["xnnpack"] == "available"
    if not _edgetpu_present():
        assert "edgetpu" not in found.devices
        assert EDGETPU_LIBRARY in delegates["edgetpu"] and "Edge TPU" in found.reason
    assert delegates["gpu"] == "available" or "GPU delegate" in delegates["gpu"]


@pytest.mark.skipif(_edgetpu_present(), reason="an Edge TPU library is installed here")
def test_edgetpu_delegate_absent_is_an_unsupported_variant_with_the_reason():
    with pytest.raises(UnsupportedVariant, match=r"libedgetpu\.so\.1"):
        _load(MLPERF / "kws_int8.tflite", "int8", delegate="edgetpu")


def test_bad_option_values_are_clear_errors():
    with pytest.raises(BackendError, match="delegate must be one of"):
        _load(MLPERF / "kws_float32.tflite", "fp32", delegate="npu-please")
    with pytest.raises(BackendError, match=r"unknown litert option\(s\) \['treads'\]"):
        _load(MLPERF / "kws_float32.tflite", "fp32", treads=2)


def test_an_openvino_ir_is_skipped_not_crashed(tmp_path):
    xml = tmp_path / "m.xml"
    xml.write_text("<net/>")
    with pytest.raises(UnsupportedVariant, match="openvino"):
        LiteRTBackend().prepare(ModelSource.from_path(xml), Variant("fp32"), None, tmp_path)


def test_tflite_source_is_not_requantized(tmp_path):
    with pytest.raises(UnsupportedVariant, match="declare it as a variant"):
        LiteRTBackend().prepare(ModelSource.from_path(MLPERF / "kws_float32.tflite"), Variant("int8"), None, tmp_path)


# -- quantized I/O -------------------------------------------------------------------------------


def test_quantize_dequantize_round_trip_within_half_a_step_and_clips_outside():
    detail = {"dtype": np.int8, "quantization": (0.5847, 83),
              "quantization_parameters": {"scales": np.array([0.5847], np.float32),
                                          "zero_points": np.array([83]), "quantized_dimension": 0}}
    x = np.linspace(-120, 25, 1001, dtype=np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.int8
    back = dequantize(q, detail)
    assert np.max(np.abs(back - x)) <= 0.5847 / 2 + 1e-5
    # Out of range values saturate at the int8 limits rather than wrapping around.
    assert quantize(np.array([1e4, -1e4], np.float32), detail).tolist() == [127, -128]


def test_uint8_and_per_channel_parameters():
    detail = {"dtype": np.uint8, "quantization": (0.0, 0),
              "quantization_parameters": {"scales": np.array([0.1, 1.0], np.float32),
                                          "zero_points": np.array([10, 0]), "quantized_dimension": 1}}
    x = np.array([[0.0, 5.0], [1.0, 200.0]], np.float32)
    q = quantize(x, detail)
    assert q.dtype == np.uint8 and q.tolist() == [[10, 5], [20, 200]]
    np.testing.assert_allclose(dequantize(q, detail), x, atol=1e-6)


def test_float_tensor_passes_through():
    detail = {"dtype": np.float32, "quantization": (0.0, 0), "quantization_parameters": {"scales": np.array([])}}
    x = np.arange(4, dtype=np.float32)
    assert quantize(x, detail) is not None and np.array_equal(dequantize(quantize(x, detail), detail), x)


# -- MLPerf Tiny pairs -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["kws", "resnet8_cifar"])
def test_mlperf_int8_agrees_with_float(kind):
    floating = _load(MLPERF / f"{kind}_float32.tflite", "fp32")
    integer = _load(MLPERF / f"{kind}_int8.tflite", "int8")
    assert integer.inputs()[0].dtype == "int8" and floating.inputs()[0].dtype == "float32"
    assert integer.inputs()[0].shape == floating.inputs()[0].shape
    # resnet8's int8 file calls its tensors input_1_int8 / Identity_int8: named as the float ones here.
    assert [t.name for t in integer.inputs() + integer.outputs()] == [t.name for t in floating.inputs() +
                                                                        floating.outputs()]
    assert integer.run_info()["inputs"][0]["tflite_name"].startswith(integer.inputs()[0].name)
    agree, n, diffs = 0, 24, []
    for x in mlperf_inputs(kind.split("_")[0], n, seed=3):
        # Keyed by the float model's input name: the int8 file's own name may differ (input_1_int8).
        feed = {floating.inputs()[0].name: x}
        f_out = next(iter(floating.infer(feed).values()))
        i_out = next(iter(integer.infer(feed).values()))
        assert i_out.dtype == np.float32 and i_out.shape == f_out.shape
        diffs.append(float(np.mean(np.abs(i_out - f_out))))
        agree += int(np.argmax(i_out) == np.argmax(f_out))
    # Both end in softmax: dequantized int8 probabilities stay close on average (raw int8 would be ~100 off).
    assert np.mean(diffs) < 0.1
    assert agree >= 0.75 * n, f"int8 and float agree on the top class for {agree}/{n} inputs"


def test_int8_model_without_dequantization_would_differ():
    """Guard the test above: the raw int8 outputs are far from the float ones, so dequantizing matters."""
    integer = _load(MLPERF / "kws_int8.tflite", "int8")
    floating = _load(MLPERF / "kws_float32.tflite", "fp32")
    x = mlperf_inputs("kws", 1, seed=5)[0]
    integer._set_inputs({"input_1": x})
    integer.invoke()
    raw = integer._interp.get_tensor(integer._out[0].index)
    assert raw.dtype == np.int8
    f_out = floating.infer({"input_1": x})["Identity"]
    assert np.max(np.abs(raw.astype(np.float32) - f_out)) > 1.0
    assert np.max(np.abs(integer.infer({"input_1": x})["Identity"] - f_out)) < 0.5


def test_run_info_carries_quantization_and_layout():
    info = _load(MLPERF / "kws_int8.tflite", "int8").run_info()
    assert info["inputs"][0]["scale"] == pytest.approx(0.5847, abs=1e-3)
    assert info["inputs"][0]["zero_point"] == 83
    assert info["reference_layout"] == "tflite" and info["delegate"] == "xnnpack"


# -- invoke_only mode ---------------------------------------------------------------------------------


def test_invoke_only_gives_the_same_outputs_and_sees_new_arrays():
    full = _load(MLPERF / "kws_int8.tflite", "int8")
    lean = _load(MLPERF / "kws_int8.tflite", "int8", io="invoke_only")
    a, b = mlperf_inputs("kws", 2, seed=9)
    for x in (a, b, a):
        want = full.infer({"input_1": x})["Identity"]
        got = lean.infer({"input_1": x})
        np.testing.assert_array_equal(got["Identity"], want)


def test_invoke_only_outputs_must_be_read_before_the_next_call():
    lean = _load(MLPERF / "kws_float32.tflite", "fp32", io="invoke_only")
    x = {"input_1": mlperf_inputs("kws", 1, seed=1)[0]}
    first = lean.infer(x)
    lean.infer(x)
    with pytest.raises(BackendError, match="before the next infer"):
        first["Identity"]


def test_missing_input_is_a_clear_error():
    backend = _load(MLPERF / "kws_float32.tflite", "fp32")
    with pytest.raises(BackendError, match="expected shape"):
        backend.infer({"input_1": np.zeros((1, 10, 49, 2), np.float32)})


def test_converted_artifact_layout_is_applied(tmp_path):
    """A .tflite whose metadata says 'reference onnx, channels last' takes NCHW feeds and returns NCHW."""
    # resnet8's float file is NHWC; declare its input as the NCHW reference [1,3,32,32].
    artifact = Artifact(MLPERF / "resnet8_cifar_float32.tflite", "tflite", "fp32", "x", 1,
                        {"reference": "onnx", "inputs": {"img": {"index": 0, "perm": [0, 2, 3, 1]}},
                         "outputs": {"logits": {"index": _output_index(), "perm": [0, 1]}}})
    backend = LiteRTBackend({"threads": 1})
    backend.load(artifact)
    assert backend.inputs()[0].shape == (1, 3, 32, 32) and backend.inputs()[0].layout == "NCHW"
    nhwc = mlperf_inputs("resnet8", 1, seed=2)[0]
    plain = _load(MLPERF / "resnet8_cifar_float32.tflite", "fp32")
    want = plain.infer({"input_1": nhwc})["Identity"]
    got = backend.infer({"img": np.transpose(nhwc, (0, 3, 1, 2))})["logits"]
    np.testing.assert_allclose(got, want, atol=1e-6)


def _output_index() -> int:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(MLPERF / "resnet8_cifar_float32.tflite"))
    return int(interp.get_output_details()[0]["index"])


def test_executed_precision_from_the_interpreter_ops(tmp_path):
    """fp16 files hold float16 weights that DEQUANTIZE widens: the compute is fp32, and the record says so."""
    import importlib.util

    if importlib.util.find_spec("onnx2tf") is None:  # not importorskip: importing it would load TensorFlow here
        pytest.skip("conversion needs onnx2tf ('convert' extra)")
    from results.schema import precision_mismatch
    from tests.backends.small_onnx import converted

    ran = {}
    for precision in ("fp32", "fp16", "int8"):
        backend = LiteRTBackend({"threads": 1})
        backend.load(converted(precision))
        ran[precision] = backend.executed_precision()
    assert ran["fp32"]["precision"] == "fp32" and ran["int8"]["precision"] == "int8"
    assert ran["fp16"]["precision"] == "fp32" and ran["fp16"]["dequantized_weights"]["fp16"] > 0
    assert "executed fp32" in precision_mismatch("fp16", ran["fp16"])


def test_bf16_is_skipped_with_the_runtime_reason(tmp_path):
    from tests.backends.small_onnx import conv_source

    with pytest.raises(UnsupportedVariant, match="no bfloat16 kernels"):
        LiteRTBackend().prepare(conv_source(), Variant("bf16"), None, tmp_path)
