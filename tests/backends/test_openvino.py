"""OpenVINO adapter on the real runtime: ONNX/IR/TFLite sources, precisions, options, async throughput mode."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import BackendError, ModelSource, UnsupportedVariant, Variant
from backends.openvino import OpenVINOBackend
from results.schema import precision_mismatch
from tests.backends.small_onnx import (
    MLPERF,
    conv_source,
    feeds,
    mlperf_inputs,
    needs,
    ort_outputs,
    sqnr_db,
)

pytestmark = needs("openvino", "the OpenVINO adapter's tests run the real runtime")


def _run(variant: Variant, tmp_path, source=None, calibration=None, **options) -> OpenVINOBackend:
    backend = OpenVINOBackend({"threads": 1, **options})
    artifact = backend.prepare(source or conv_source(), variant, calibration, tmp_path)
    backend.load(artifact)
    return backend


def test_probe_lists_cpu_and_says_why_gpu_npu_are_absent():
    found = OpenVINOBackend.probe()
    assert found.available and found.version
    assert "CPU" in found.devices and "AUTO" in found.devices
    for dev in ("GPU", "NPU"):
        if dev not in found.devices:
            assert f"{dev}:" in found.reason


def test_fp32_ir_matches_onnxruntime_and_is_cached(tmp_path, monkeypatch):
    feed = feeds(1, seed=4)[0]
    backend = _run(Variant("fp32"), tmp_path)
    assert backend._artifact.format == "openvino" and backend._artifact.path.suffix == ".xml"
    want = ort_outputs(conv_source().path, feed)
    got = backend.infer(feed)
    assert set(got) == {"y", "z"}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)
    # A second prepare reuses the saved IR: converting again would fail here.
    import openvino as ov

    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("reconverted")))
    again = OpenVINOBackend().prepare(conv_source(), Variant("fp32"), None, tmp_path)
    assert again.path == backend._artifact.path


def test_fp32_onnx_read_directly(tmp_path):
    backend = _run(Variant("fp32", {"format": "onnx"}), tmp_path)
    assert backend._artifact.path == conv_source().path
    feed = feeds(1, seed=5)[0]
    np.testing.assert_allclose(backend.infer(feed)["y"], ort_outputs(conv_source().path, feed)["y"], atol=1e-5)


def test_fp16_hint_is_applied_and_what_ran_is_read_back(tmp_path):
    backend = _run(Variant("fp16"), tmp_path)
    ran = backend.run_info()["compiled"]["inference_precision_hint"]
    executed = backend.executed_precision()
    assert executed["hint_requested"] == "f16" and executed["hint_compiled"] == ran
    if ran == "f16":  # a CPU with native fp16 (AVX512-FP16 / AMX-FP16, Arm fp16 arithmetic)
        assert backend.warnings() == [] and executed["precision"] == "fp16"
    else:  # elsewhere OpenVINO picks bf16 or f32: the record must say what ran
        assert any(f"chose {ran}" in w for w in backend.warnings())
        assert executed["precision"] in ("bf16", "fp32")
        assert precision_mismatch("fp16", executed)


def test_fp32_is_pinned_to_f32_on_every_cpu(tmp_path):
    """OpenVINO's CPU default is bf16 where the CPU has it: fp32 must pin f32, and the runtime graph agrees."""
    backend = _run(Variant("fp32"), tmp_path)
    assert backend.run_info()["compiled"]["inference_precision_hint"] == "f32"
    executed = backend.executed_precision()
    assert executed["precision"] == "fp32" and set(executed["by_type"]) == {"fp32"}
    assert executed["source"].startswith("OpenVINO runtime model")
    assert precision_mismatch("fp32", executed) is None


def _cpu_has_bf16() -> str | None:
    """None when this CPU computes bf16 natively for OpenVINO, else why not."""
    from devices.environment import cpu_info

    isa = set(cpu_info()["isa_features"])
    if isa & {"avx512_bf16", "amx_bf16"}:
        return None
    return f"this CPU has no AVX512_BF16/AMX-BF16 (found {', '.join(sorted(isa)) or 'no ISA flags'})"


@pytest.mark.skipif(_cpu_has_bf16() is not None, reason=f"ISA-dependent: {_cpu_has_bf16()}")
def test_bf16_runs_bf16_where_the_cpu_has_it(tmp_path):
    backend = _run(Variant("bf16"), tmp_path)
    executed = backend.executed_precision()
    assert executed["precision"] == "bf16" and executed["hint_compiled"] == "bf16"
    assert precision_mismatch("bf16", executed) is None
    feed = feeds(1, seed=6)[0]
    want, got = ort_outputs(conv_source().path, feed)["y"], backend.infer(feed)["y"]
    # bf16 keeps 8 mantissa bits: close to fp32, and measurably not identical (else fp32 ran)
    assert 25 < sqnr_db(want, got) < 80


def test_bf16_elsewhere_is_recorded_as_what_ran(tmp_path):
    """On every CPU: a bf16 label either ran bf16 or the read-back and the mismatch say what ran instead."""
    backend = _run(Variant("bf16"), tmp_path)
    executed = backend.executed_precision()
    if _cpu_has_bf16() is None:
        assert executed["precision"] == "bf16"
    else:
        assert executed["precision"] != "bf16" and "labelled bf16" in precision_mismatch("bf16", executed)


def test_int8_qdq_and_nncf_stay_close_to_fp32(tmp_path):
    pytest.importorskip("nncf")
    calibration = feeds(16, seed=0)
    evaluation = feeds(4, seed=11)
    qdq = _run(Variant("int8", {"method": "qdq"}), tmp_path, calibration=calibration)
    nncf = _run(Variant("int8"), tmp_path, calibration=calibration)  # OpenVINO's own recipe is the default
    assert qdq._artifact.metadata["method"] == "qdq" and "onnx_variant" in qdq._artifact.metadata
    assert nncf._artifact.metadata["method"] == "nncf"
    recipe = nncf._artifact.metadata["recipe"]
    assert recipe["tool"] == "nncf.quantize" and recipe["model_type"] == "none" and recipe["preset"] == "performance"
    assert recipe["kernel_check"]
    for backend in (qdq, nncf):  # both convolutions run int8 in the CPU plugin's execution graph
        counts = backend._artifact.metadata["compute_nodes"]
        assert counts["quantized"] >= 1 and counts["total"] >= counts["quantized"]
    for feed in evaluation:
        want = ort_outputs(conv_source().path, feed)["y"]
        for backend in (qdq, nncf):
            got = backend.infer(feed)["y"]
            assert 15.0 < sqnr_db(want, got) < 80.0  # quantized: close, but not bit-exact


def test_nncf_without_calibration_is_a_clear_error(tmp_path):
    pytest.importorskip("nncf")
    with pytest.raises(BackendError, match="calibration"):
        OpenVINOBackend().prepare(conv_source(), Variant("int8", {"method": "nncf"}), None, tmp_path)


def test_mlperf_tflite_pairs_read_directly_with_quantized_io(tmp_path):
    pytest.importorskip("ai_edge_litert")
    for kind in ("kws", "resnet8_cifar"):
        f32_file, i8_file = MLPERF / f"{kind}_float32.tflite", MLPERF / f"{kind}_int8.tflite"
        f32 = _run(Variant("fp32", {"prebuilt": True}), tmp_path, ModelSource.from_path(f32_file))
        i8 = _run(Variant("int8", {"prebuilt": True}), tmp_path, ModelSource.from_path(i8_file))
        assert i8.inputs()[0].dtype == "int8" and i8.run_info()["quantized_io"]
        assert [t.name for t in i8.inputs() + i8.outputs()] == [t.name for t in f32.inputs() + f32.outputs()]
        assert f32.inputs()[0].shape[0] == 1  # the dynamic batch dim of a .tflite is fixed to 1
        agree = 0
        xs = mlperf_inputs(kind.split("_")[0], 12, seed=7)
        for x in xs:
            a = next(iter(f32.infer({f32.inputs()[0].name: x}).values()))
            b = next(iter(i8.infer({f32.inputs()[0].name: x}).values()))
            agree += int(np.argmax(a) == np.argmax(b))
        assert agree >= 0.75 * len(xs)


def test_infer_many_async_matches_infer(tmp_path):
    backend = _run(Variant("fp32"), tmp_path, hint="throughput", streams=2, threads=2, requests=3)
    compiled = backend.run_info()["compiled"]
    assert compiled["performance_hint"] == "THROUGHPUT" and compiled["num_streams"] == 2
    feed = feeds(1, seed=6)[0]
    outs = backend.infer_many(feed, 5, collect=True)
    assert len(outs) == 5
    want = backend.infer(feed)
    for out in outs:
        np.testing.assert_allclose(out["y"], want["y"], atol=1e-6)
    assert backend.infer_many(feed, 7) == 7
    with pytest.raises(BackendError, match="n >= 1"):
        backend.infer_many(feed, 0)


def test_invoke_only_mode_matches_and_guards_stale_outputs(tmp_path):
    full = _run(Variant("fp32"), tmp_path)
    lean = _run(Variant("fp32"), tmp_path, io="invoke_only")
    a, b = feeds(2, seed=8)
    for feed in (a, b, a):
        np.testing.assert_array_equal(lean.infer(feed)["z"], full.infer(feed)["z"])
    first = lean.infer(a)
    lean.infer(a)
    with pytest.raises(BackendError, match="before the next infer"):
        first["y"]


def test_bad_options_and_absent_devices(tmp_path):
    with pytest.raises(BackendError, match="hint must be latency or throughput"):
        _run(Variant("fp32"), tmp_path, hint="fastest")
    with pytest.raises(BackendError, match=r"unknown openvino option\(s\) \['stream'\]"):
        _run(Variant("fp32"), tmp_path, stream=2)
    if "NPU" not in OpenVINOBackend.probe().devices:
        with pytest.raises(UnsupportedVariant, match="NPU is not present"):
            _run(Variant("fp32"), tmp_path, device="NPU")


def test_non_onnx_source_cannot_be_requantized(tmp_path):
    with pytest.raises(UnsupportedVariant, match="from ONNX sources"):
        OpenVINOBackend().prepare(ModelSource.from_path(MLPERF / "kws_float32.tflite"), Variant("int8-dynamic"),
                                  None, tmp_path)


def test_prebuilt_ir_runs_as_given_and_litert_skips_it(tmp_path):
    made = OpenVINOBackend().prepare(conv_source(), Variant("fp32"), None, tmp_path / "made")
    source = ModelSource.from_path(made.path)  # an .xml made elsewhere
    assert source.format == "openvino"
    backend = _run(Variant("int8", {"prebuilt": True}), tmp_path, source)
    assert backend._artifact.path == made.path  # not converted, not quantized: as given
    feed = feeds(1, seed=12)[0]
    np.testing.assert_allclose(backend.infer(feed)["z"], ort_outputs(conv_source().path, feed)["z"], atol=1e-5)
    from backends.litert import LiteRTBackend

    with pytest.raises(UnsupportedVariant, match="openvino"):
        LiteRTBackend().prepare(source, Variant("int8", {"prebuilt": True}), None, tmp_path)


def test_a_compile_failure_only_in_reduced_precision_is_a_skip_with_the_reason(tmp_path):
    """A FAKE core that fails like the CPU plugin's bf16 path on foley ("bad combination") and compiles in f32."""
    from backends.base import Artifact

    class FakeCore:
        def compile_model(self, model, device, config):
            if config.get("INFERENCE_PRECISION_HINT") != "f32":
                raise RuntimeError("bad combination")
            return object()

    class BrokenCore:
        def compile_model(self, model, device, config):
            raise RuntimeError("broken model")

    artifact = Artifact(tmp_path / "m.xml", "openvino", "fp16", "0" * 64, 1)
    asked = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f16"}
    err = OpenVINOBackend._compile_error(FakeCore(), None, "CPU", asked, artifact, RuntimeError("bad combination"))
    assert isinstance(err, UnsupportedVariant) and "compiles with f32" in str(err) and "bad combination" in str(err)
    err = OpenVINOBackend._compile_error(BrokenCore(), None, "CPU", asked, artifact, RuntimeError("broken model"))
    assert type(err) is BackendError  # fails in f32 too: a real failure, not a precision limit
    f32 = {**asked, "INFERENCE_PRECISION_HINT": "f32"}
    plain = OpenVINOBackend._compile_error(FakeCore(), None, "CPU", f32, artifact, RuntimeError("x"))
    assert type(plain) is BackendError
