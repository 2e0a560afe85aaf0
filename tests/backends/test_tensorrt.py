"""The TensorRT adapter.

This machine has no TensorRT and no GPU. What is tested here without them: the pure parts
(capability rules, engine cache key, builder plan, profiles, calibration batching, parser-error
wording, QDQ checks), prepare() (which needs no GPU) against real onnx/onnxruntime files, and the
adapter's unavailability through probe(), load() and the runner. The tests at the end build real
engines and skip with the reason where TensorRT or a GPU is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backends
from backends._trt_plan import (
    CalibrationBatcher,
    Profile,
    TrtSettings,
    bind_inputs,
    builder_plan,
    calibration_shapes,
    capability_rules,
    engine_cache_key,
    format_parser_error,
    format_parser_errors,
    parse_compute_capability,
    parse_settings,
    precision_warnings,
    qdq_problems,
    resolve_profiles,
    to_float_outputs,
)
from backends.base import BackendError, ModelSource, UnsupportedVariant, Variant
from backends.tensorrt import NOT_INSTALLED, TensorRTBackend, _load_samples
from tests.conftest import build_tiny_onnx

TRT_AVAILABLE = TensorRTBackend.probe()
needs_trt = pytest.mark.skipif(not TRT_AVAILABLE.available,
                               reason=f"TensorRT/GPU not available on this machine ({TRT_AVAILABLE.reason})")
only_without_trt = pytest.mark.skipif(TRT_AVAILABLE.available, reason="TensorRT and a GPU are available here")


# -- import, registry, unavailability ------------------------------------------------------------------
def test_import_does_not_import_tensorrt_or_cuda():
    code = ("import sys, backends, backends.tensorrt, backends._trt_plan; backends.registry(); "
            "heavy = {'tensorrt', 'cuda', 'torch', 'pycuda'} & set(sys.modules); "
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_probe_says_how_to_install_when_tensorrt_is_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    found = TensorRTBackend.probe()
    assert not found.available
    assert found.reason == NOT_INSTALLED
    assert "pip install tensorrt" in found.reason and "python3-libnvinfer" in found.reason


def test_adapter_is_registered():
    assert backends.registry()["tensorrt"] is TensorRTBackend
    assert backends.get_backend("tensorrt").precisions == ("fp32", "fp16", "bf16", "int8", "int8-mixed")


@only_without_trt
def test_a_run_here_is_skipped_with_the_reason(tiny_onnx, tmp_path):
    from harness.plan import RunPlan
    from harness.runner import RunContext, run_plan
    from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings

    plan = RunPlan(model=ModelSpec(name="tiny", path=str(tiny_onnx)), backend=BackendSpec("tensorrt"),
                   precision=PrecisionSpec("fp16"), runner=RunnerSettings(timeout_s=60.0, idle_s=0.0),
                   data=DataSettings(evaluation=0, calibration=2))
    record = run_plan(plan, RunContext(out_dir=tmp_path))
    assert record.status == "skipped"
    assert "tensorrt is not available here" in record.reason
    assert TRT_AVAILABLE.reason in record.reason


@only_without_trt
def test_load_here_raises_the_unavailability_reason(tiny_onnx, tmp_path):
    backend = TensorRTBackend()
    artifact = backend.prepare(ModelSource.from_path(tiny_onnx), Variant("fp16"), None, tmp_path)
    with pytest.raises(BackendError, match="cannot run here") as err:
        backend.load(artifact)
    assert TRT_AVAILABLE.reason in str(err.value)
    assert backend.run_info() == {} and backend.warnings() == [] and backend.device_time_ms() is None


# -- capability rules --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("device", "cc", "fp16_native", "int8", "int8_tc", "dla"),
    [
        ("Maxwell GTX 980", (5, 2), False, False, False, False),
        ("Jetson Nano", (5, 3), True, False, False, False),
        ("P100", (6, 0), True, False, False, False),
        ("P4 / GTX 1080", (6, 1), False, True, False, False),
        ("Jetson TX2", (6, 2), True, False, False, False),
        ("V100", (7, 0), True, True, False, False),
        ("Jetson Xavier", (7, 2), True, True, True, True),
        ("T4", (7, 5), True, True, True, False),
        ("A100", (8, 0), True, True, True, False),
        ("Jetson Orin", (8, 7), True, True, True, True),
        ("L4 (Ada)", (8, 9), True, True, True, False),
        ("H100", (9, 0), True, True, True, False),
        ("Blackwell", (10, 0), True, True, True, False),
    ],
)
def test_capability_table(device, cc, fp16_native, int8, int8_tc, dla):
    cap = capability_rules(cc)
    assert (cap.fp16_native, cap.int8_supported, cap.int8_tensor_cores, cap.dla_possible) == (
        fp16_native, int8, int8_tc, dla), device
    assert cap.fp16_tensor_cores == (cc >= (7, 0))
    assert cap.tf32 == (cc >= (8, 0))


@pytest.mark.parametrize("text", [(8, 7), [8, 7], "8.7", "sm_87", "87", 87])
def test_compute_capability_spellings(text):
    assert parse_compute_capability(text) == (8, 7)


def test_compute_capability_nonsense_is_a_clear_error():
    with pytest.raises(BackendError, match=r"expected e\.g\."):
        parse_compute_capability("ampere")


def test_warnings_for_emulated_or_slow_precisions():
    nano, p4, v100, t4, orin, a100 = (capability_rules(c) for c in ("5.3", "6.1", "7.0", "7.5", "8.7", "8.0"))
    explicit = TrtSettings(int8_mode="explicit")
    assert any("not supported on compute capability 5.3" in w for w in precision_warnings("int8", nano, explicit))
    assert any("no int8 tensor cores" in w for w in precision_warnings("int8", v100, explicit))
    assert any("1/64" in w for w in precision_warnings("fp16", p4))
    assert precision_warnings("fp16", nano) == []  # Nano's fp16 is native
    assert precision_warnings("int8", t4, explicit) == []
    assert precision_warnings("int8-mixed", orin, explicit, "10.3.0") == []
    implicit = precision_warnings("int8", orin, TrtSettings(int8_mode="implicit"), "10.3.0")
    assert len(implicit) == 1 and "deprecated since TensorRT 10.1" in implicit[0]
    assert precision_warnings("int8", orin, TrtSettings(int8_mode="implicit"), "8.6.2") == []
    # fp32 is strict by default (TF32 cleared); only an explicit tf32: true is warned about.
    assert precision_warnings("fp32", a100) == []
    assert any("TF32" in w for w in precision_warnings("fp32", a100, TrtSettings(tf32=True)))
    assert precision_warnings("fp32", a100, TrtSettings(tf32=False)) == []
    assert precision_warnings("fp32", t4) == []


# -- engine cache key ---------------------------------------------------------------------------------
KEY_PARTS = {"source_sha256": "ab" * 32, "trt_version": "10.3.0", "gpu_name": "Orin", "compute_capability": (8, 7),
             "dla_core": None}


def test_cache_key_is_stable_and_spelling_independent():
    key = engine_cache_key(**KEY_PARTS)
    assert key == engine_cache_key(**KEY_PARTS)
    assert key == engine_cache_key(**{**KEY_PARTS, "compute_capability": "8.7", "gpu_name": " Orin "})
    assert len(key) == 24 and int(key, 16) >= 0


@pytest.mark.parametrize(
    ("part", "value"),
    [("source_sha256", "cd" * 32), ("trt_version", "10.4.0"), ("gpu_name", "NVIDIA A100-SXM4-40GB"),
     ("compute_capability", (8, 6)), ("dla_core", 0)],
)
def test_cache_key_changes_with_each_component(part, value):
    assert engine_cache_key(**{**KEY_PARTS, part: value}) != engine_cache_key(**KEY_PARTS)


def test_cache_key_needs_every_component():
    with pytest.raises(BackendError, match="GPU name"):
        engine_cache_key(**{**KEY_PARTS, "gpu_name": ""})


# -- settings and builder plan ----------------------------------------------------------------------------
def test_builder_plan_per_precision():
    orin = capability_rules("8.7")
    assert builder_plan("fp32", TrtSettings(), orin)["flags"] == []
    fp16 = builder_plan("fp16", TrtSettings(), orin)
    assert fp16["flags"] == ["FP16"] and fp16["int8_calibrator"] is None and fp16["network_source"] == "float"
    default = builder_plan("int8", parse_settings({}), orin)  # explicit (symmetric QDQ) is the default
    assert (default["int8_mode"], default["int8_calibrator"], default["network_source"]) == (
        "explicit", None, "qdq")
    implicit = builder_plan("int8", parse_settings({"int8_mode": "implicit"}), orin)
    assert implicit["flags"] == ["INT8"]
    assert (implicit["int8_mode"], implicit["int8_calibrator"], implicit["network_source"]) == (
        "implicit", "entropy2", "float")
    explicit = builder_plan("int8", parse_settings({"int8_mode": "explicit"}), orin)
    assert (explicit["int8_calibrator"], explicit["network_source"]) == (None, "qdq")
    # int8-mixed is a partly quantized QDQ model: always explicit, whatever int8_mode says
    mixed = builder_plan("int8-mixed", parse_settings({"int8_mode": "implicit"}), orin)
    assert (mixed["int8_mode"], mixed["network_source"]) == ("explicit", "qdq")


def test_builder_plan_options():
    xavier, a100 = capability_rules("7.2"), capability_rules("8.0")
    plan = builder_plan("fp16", parse_settings({"workspace_bytes": 1 << 28, "dla_core": 1, "timing_cache": True}),
                        xavier)
    assert plan["memory_pool_limits"] == {"WORKSPACE": 1 << 28}
    assert (plan["default_device_type"], plan["dla_core"]) == ("DLA", 1)
    assert "GPU_FALLBACK" in plan["flags"] and plan["timing_cache"] is True
    no_fallback = builder_plan("int8", parse_settings({"dla_core": 0, "gpu_fallback": False}), xavier)
    assert "GPU_FALLBACK" not in no_fallback["flags"]
    assert builder_plan("fp32", parse_settings({"tf32": False}), a100)["clear_flags"] == ["TF32"]
    assert builder_plan("fp32", TrtSettings(), a100)["clear_flags"] == ["TF32"]  # fp32 pins full precision
    assert builder_plan("fp32", parse_settings({"tf32": True}), a100)["clear_flags"] == []
    assert builder_plan("bf16", TrtSettings(), a100)["flags"] == ["BF16"]
    assert "FP16" not in builder_plan("bf16", TrtSettings(), a100)["flags"]
    with pytest.raises(UnsupportedVariant, match=r"compute capability 8\.0"):
        builder_plan("bf16", TrtSettings(), capability_rules("7.5"))
    with pytest.raises(UnsupportedVariant, match=r"9\.0"):
        builder_plan("bf16", TrtSettings(), a100, trt_major=8)
    assert builder_plan("fp32", TrtSettings(), a100, trt_major=8)["network_flags"] == ["EXPLICIT_BATCH"]
    assert builder_plan("fp32", TrtSettings(), a100, trt_major=10)["network_flags"] == []
    assert json.loads(json.dumps(plan)) == plan  # plain data, recordable as is


def test_builder_plan_refuses_impossible_dla_and_precisions():
    with pytest.raises(BackendError, match="has no DLA"):
        builder_plan("fp16", parse_settings({"dla_core": 0}), capability_rules("8.0"))
    with pytest.raises(BackendError, match="DLA runs fp16 and int8 only"):
        builder_plan("fp32", parse_settings({"dla_core": 0}), capability_rules("8.7"))
    with pytest.raises(BackendError, match="not 'int8-dynamic'"):
        builder_plan("int8-dynamic", TrtSettings())
    # before a GPU is known (prepare), device checks wait; device-independent ones do not
    assert builder_plan("fp16", parse_settings({"dla_core": 0}))["default_device_type"] == "DLA"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"int8_mode": "qat"}, "int8_mode must be one of explicit, implicit"),
        ({"workspace_bytes": -1}, "workspace_bytes must be a positive integer"),
        ({"dla_core": True}, "dla_core must be a DLA core index"),
        ({"gpu_fallback": "yes"}, "gpu_fallback must be true or false"),
        ({"timing_cache": 3}, "timing_cache must be a file path"),
        ({"profiles": {"x": {"min": [1, 16], "opt": [8, 16]}}}, "exactly min, opt and max"),
        ({"profiles": {"x": {"min": [1, 16], "opt": [8, 16], "max": [4, 16]}}}, "min <= opt <= max"),
        ({"profiles": {"x": {"min": [1], "opt": [1, 16], "max": [1, 16]}}}, "same rank"),
        ({"profiles": [1, 2]}, "profiles must map input names"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(BackendError, match=message):
        parse_settings(settings)


def test_settings_of_other_adapters_are_left_alone():
    s = parse_settings({"per_channel": True, "calibrate_method": "Entropy", "int8_mode": "explicit"})
    assert s.int8_mode == "explicit" and s.dla_core is None


# -- profiles ------------------------------------------------------------------------------------------------
def test_profiles_from_settings_or_fixed_shapes():
    net = {"x": (-1, 16), "mask": (1, 16)}
    given = {"x": Profile((1, 16), (4, 16), (8, 16))}
    assert resolve_profiles(net, given) == given  # static inputs need none
    fixed = resolve_profiles(net, {}, {"x": (2, 16)})
    assert fixed == {"x": Profile((2, 16), (2, 16), (2, 16))}
    assert resolve_profiles(net, given, {"x": (2, 16)}) == given  # an explicit profile wins
    assert calibration_shapes(net, given) == {"x": (4, 16), "mask": (1, 16)}
    # ONNX spellings of a dynamic dim (a symbol, None) count as dynamic too
    assert resolve_profiles({"x": ("batch", 16)}, {}, {"x": (3, 16)})["x"].opt == (3, 16)


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        ({}, "input 'x' has dynamic dims .* Give a profile"),
        ({"y": Profile((1, 16), (1, 16), (1, 16))}, r"does not have: its inputs are \['x'\]"),
        ({"x": Profile((1, 8), (1, 16), (1, 16))}, "the model fixes it to 16"),
        ({"x": Profile((1,), (1,), (1,))}, "rank 1, the model's input has rank 2"),
    ],
)
def test_profile_errors_say_what_to_do(profiles, message):
    with pytest.raises(BackendError, match=message):
        resolve_profiles({"x": (-1, 16)}, profiles)


# -- calibration batching ---------------------------------------------------------------------------------------
def samples(n, rows=1, features=4):
    return [{"x": np.full((rows, features), i, dtype=np.float64)} for i in range(n)]


def drain(batcher):
    out = []
    while (b := batcher.next_batch()) is not None:
        out.append(b)
    return out


def test_batches_stack_samples_in_order_and_pad_the_last():
    batcher = CalibrationBatcher(samples(5), {"x": (2, 4)})
    batches = drain(batcher)
    assert [b["x"][:, 0].tolist() for b in batches] == [[0, 1], [2, 3], [4, 4]]
    assert all(b["x"].shape == (2, 4) and b["x"].dtype == np.float32 and b["x"].flags.c_contiguous
               for b in batches)
    assert (batcher.batches, batcher.samples, batcher.rows_padded) == (3, 5, 1)


def test_drop_mode_drops_the_short_last_batch():
    batcher = CalibrationBatcher(samples(5), {"x": (2, 4)}, partial="drop")
    assert [b["x"][:, 0].tolist() for b in drain(batcher)] == [[0, 1], [2, 3]]
    assert batcher.rows_dropped == 1


def test_exhaustion_returns_none_and_stays_exhausted():
    batcher = CalibrationBatcher(samples(2), {"x": (1, 4)})
    assert len(drain(batcher)) == 2
    assert batcher.next_batch() is None and batcher.next_batch() is None
    assert CalibrationBatcher([], {"x": (1, 4)}).next_batch() is None


def test_padding_cycles_rows_when_the_short_batch_is_tiny():
    batch = CalibrationBatcher(samples(1), {"x": (3, 4)}).next_batch()
    assert batch["x"][:, 0].tolist() == [0, 0, 0]


def test_big_samples_split_and_missing_batch_axis_is_added():
    batcher = CalibrationBatcher([{"x": np.arange(12.0).reshape(3, 4)}, {"x": np.full(4, 9.0)}], {"x": (2, 4)})
    batches = drain(batcher)
    assert [b["x"][:, 0].tolist() for b in batches] == [[0, 4], [8, 9]]


def test_inputs_stay_aligned_row_by_row():
    data = [{"a": np.full((1, 2), i), "b": np.full((1, 3), 10 * i)} for i in range(4)]
    for batch in drain(CalibrationBatcher(data, {"a": (2, 2), "b": (2, 3)})):
        assert (batch["b"][:, 0] == 10 * batch["a"][:, 0]).all()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"x": np.zeros((1, 5))}, r"expected shape \(n, 4\), found \(1, 5\)"),
        ({"y": np.zeros((1, 4))}, r"lacks input\(s\) \['x'\]"),
    ],
)
def test_bad_calibration_samples_are_clear_errors(bad, message):
    batcher = CalibrationBatcher([*samples(1), bad], {"x": (2, 4)})
    with pytest.raises(BackendError, match=message):
        batcher.next_batch()


# -- inference helpers ---------------------------------------------------------------------------------------------
def test_bind_inputs_casts_and_checks_shapes():
    specs = {"x": ((-1, 4), np.float32), "ids": ((1, 3), np.int32)}
    bound = bind_inputs(specs, {"x": np.ones((2, 4)), "ids": np.array([[1, 2, 3]])})
    assert bound["x"].dtype == np.float32 and bound["ids"].dtype == np.int32
    with pytest.raises(BackendError, match=r"expects shape \(1, 3\)"):
        bind_inputs(specs, {"x": np.ones((2, 4)), "ids": np.zeros((2, 3))})
    with pytest.raises(BackendError, match=r"missing \['ids'\]"):
        bind_inputs(specs, {"x": np.ones((2, 4))})


def test_outputs_come_back_as_float():
    out = to_float_outputs({"a": np.ones(2, np.float16), "b": np.ones(2, np.int32), "c": np.ones(2, np.float32)})
    assert {k: v.dtype for k, v in out.items()} == {"a": np.float32, "b": np.float32, "c": np.float32}


# -- parser errors -------------------------------------------------------------------------------------------------
class FakeErrorCode:
    """Stands in for tensorrt.ErrorCode (an enum with a .name)."""

    name = "UNSUPPORTED_NODE"


class FakeParserError10:
    """A fake of tensorrt.ParserError as TensorRT 10 has it (node_name and node_operator exist)."""

    def code(self):
        return FakeErrorCode()

    def desc(self):
        return "No importer registered for op: GridSample3D"

    def node(self):
        return 7

    def node_name(self):
        return "decoder/warp"

    def node_operator(self):
        return "GridSample3D"


class FakeParserError86:
    """A fake of tensorrt.ParserError as TensorRT 8.6 has it (node index only)."""

    def code(self):
        return "INVALID_NODE"

    def desc(self):
        return "Assertion failed: zero point must be 0"

    def node(self):
        return 1


class FakeGraphError86(FakeParserError86):
    """A fake graph-level error: node() is -1."""

    def node(self):
        return -1


def test_parser_error_names_node_and_reason():
    text = format_parser_error(FakeParserError10())
    assert text == ("node 7 (name 'decoder/warp', op GridSample3D): UNSUPPORTED_NODE: "
                    "No importer registered for op: GridSample3D")


def test_parser_error_looks_up_the_node_in_older_tensorrt():
    nodes = [("enc/matmul", "MatMul"), ("enc/q", "QuantizeLinear")]
    text = format_parser_error(FakeParserError86(), nodes)
    assert text == "node 1 (name 'enc/q', op QuantizeLinear): INVALID_NODE: Assertion failed: zero point must be 0"
    assert format_parser_error(FakeGraphError86(), nodes).startswith("the graph: INVALID_NODE")


def test_parser_errors_list_every_error_and_what_to_do():
    text = format_parser_errors([FakeParserError10(), FakeGraphError86()], "talking_head.onnx")
    assert "talking_head.onnx (2 error(s))" in text
    assert "1. node 7" in text and "2. the graph" in text and "What to do" in text


# -- QDQ checks on real onnxruntime output ------------------------------------------------------------------------
def quantize(src: Path, dst: Path, **kwargs) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(1)
            self.feeds = iter([{"x": rng.standard_normal((1, 16)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.feeds, None)

    quantize_static(str(src), str(dst), Reader(), activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    **kwargs)
    return dst


def test_qdq_check_on_real_quantized_models(tiny_onnx, tmp_path):
    import onnx
    from onnxruntime.quantization import QuantFormat

    assert any("no QuantizeLinear" in p for p in qdq_problems(onnx.load(str(tiny_onnx))))
    asymmetric = onnx.load(str(quantize(tiny_onnx, tmp_path / "asym.onnx")))
    assert any("zero point" in p for p in qdq_problems(asymmetric))
    symmetric = onnx.load(str(quantize(tiny_onnx, tmp_path / "sym.onnx",
                                       extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})))
    assert qdq_problems(symmetric) == []
    qop = onnx.load(str(quantize(tiny_onnx, tmp_path / "qop.onnx", quant_format=QuantFormat.QOperator)))
    assert any("QOperator" in p for p in qdq_problems(qop))


def test_qdq_check_names_each_kind_of_zero_point():
    from onnx import TensorProto, helper

    def qdq(name, zp_type, zp):
        return ([helper.make_node("QuantizeLinear", ["x", "s", name], [f"{name}_q"], name=f"{name}_node")],
                helper.make_tensor(name, zp_type, [], [zp]))

    nodes, inits = [], [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])]
    for args in (("ok", TensorProto.INT8, 0), ("u8", TensorProto.UINT8, 128), ("bias", TensorProto.INT32, 0)):
        n, t = qdq(*args)
        nodes += n
        inits.append(t)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("ok_q", TensorProto.INT8, [1])], initializer=inits)
    problems = qdq_problems(helper.make_model(graph))
    assert len(problems) == 2
    assert "'u8_node') are uint8" in problems[0]
    assert "bias_node (int32)" in problems[1] and "quantized bias" in problems[1]


# -- prepare (no GPU needed) ------------------------------------------------------------------------------------------
def test_prepare_writes_a_cached_plan(tiny_onnx, tmp_path):
    backend, model = TensorRTBackend(), ModelSource.from_path(tiny_onnx)
    artifact = backend.prepare(model, Variant("fp16", {"workspace_bytes": 1 << 26}), None, tmp_path)
    record = json.loads((artifact.path / "plan.json").read_text())
    assert artifact.format == "tensorrt-plan" and artifact.source_sha256 == model.sha256
    assert record["network_onnx"] == str(tiny_onnx.resolve()) and record["network_sha256"] == model.sha256
    assert record["settings"]["workspace_bytes"] == 1 << 26
    assert backend.prepare(model, Variant("fp16", {"workspace_bytes": 1 << 26}), None, tmp_path).path == artifact.path
    assert backend.prepare(model, Variant("fp16"), None, tmp_path).path != artifact.path
    assert backend.prepare(model, Variant("fp32"), None, tmp_path).path != artifact.path
    assert not list((tmp_path / "tensorrt").glob(".staging-*"))


def test_prepare_implicit_int8_stores_the_calibration_set(tiny_onnx, tmp_path):
    rng = np.random.default_rng(0)
    calib = [{"x": rng.standard_normal((1, 16)).astype(np.float32)} for _ in range(3)]
    implicit = Variant("int8", {"int8_mode": "implicit"})
    artifact = TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx), implicit, iter(calib), tmp_path)
    record = json.loads((artifact.path / "plan.json").read_text())
    assert record["calibration_samples"] == 3 and artifact.metadata["int8_mode"] == "implicit"
    stored = list(_load_samples(artifact.path / "calibration"))
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(stored, calib)) and len(stored) == 3
    # what load() would feed TensorRT: the stored samples, batched at the network's input shape
    assert len(drain(CalibrationBatcher(stored, {"x": (1, 16)}))) == 3
    other = [{"x": c["x"] + 1} for c in calib]
    assert TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx), implicit, other,
                                     tmp_path).path != artifact.path


def test_prepare_refuses_what_tensorrt_cannot_build(tiny_onnx, tmp_path):
    backend, model = TensorRTBackend(), ModelSource.from_path(tiny_onnx)
    with pytest.raises(UnsupportedVariant, match="no dynamic int8"):
        backend.prepare(model, Variant("int8-dynamic"), None, tmp_path)
    with pytest.raises(BackendError, match="needs calibration data"):
        backend.prepare(model, Variant("int8"), None, tmp_path)
    with pytest.raises(BackendError, match="int8_mode must be"):
        backend.prepare(model, Variant("int8", {"int8_mode": "auto"}), None, tmp_path)
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"\0")
    with pytest.raises(UnsupportedVariant, match="builds engines from ONNX"):
        backend.prepare(ModelSource.from_path(tflite), Variant("fp16"), None, tmp_path)


def test_prepare_needs_a_range_for_dynamic_dims(tmp_path):
    dynamic = build_tiny_onnx(tmp_path / "dyn.onnx", batch="batch")
    backend = TensorRTBackend()
    with pytest.raises(BackendError, match="input 'x' has dynamic dims"):
        backend.prepare(ModelSource.from_path(dynamic), Variant("fp16"), None, tmp_path)
    fixed = backend.prepare(ModelSource.from_path(dynamic, input_shapes={"x": (4, 16)}), Variant("fp16"), None,
                            tmp_path)
    assert json.loads((fixed.path / "plan.json").read_text())["profiles"] == {
        "x": {"min": [4, 16], "opt": [4, 16], "max": [4, 16]}}
    ranged = backend.prepare(ModelSource.from_path(dynamic),
                             Variant("fp16", {"profiles": {"x": {"min": [1, 16], "opt": [4, 16], "max": [8, 16]}}}),
                             None, tmp_path)
    assert json.loads((ranged.path / "plan.json").read_text())["profiles"]["x"]["max"] == [8, 16]


def test_explicit_int8_checks_the_qdq_model_from_onnxruntime(tiny_onnx, tmp_path):
    # By default the adapter asks the real QDQ quantizer (backends/_onnx_variants.py) for symmetric
    # int8, which TensorRT builds; asked for asymmetric activations, it refuses with what to do instead.
    calib = [{"x": np.random.default_rng(i).standard_normal((1, 16)).astype(np.float32)} for i in range(4)]
    artifact = TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx), Variant("int8"), calib, tmp_path)
    record = json.loads((artifact.path / "plan.json").read_text())
    import onnx
    from onnx import numpy_helper

    qdq = onnx.load(record["network_onnx"])
    zero_points = [numpy_helper.to_array(i) for i in qdq.graph.initializer if i.name.endswith("_zero_point")]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    assert artifact.metadata["recipe"]["symmetric"] is True and artifact.metadata["compute_nodes"]["quantized"] >= 1
    variant = Variant("int8", {"int8_mode": "explicit", "workspace_bytes": 1 << 26, "symmetric": False,
                               "activation_type": "QUInt8"})
    with pytest.raises(BackendError, match="are uint8; TensorRT's Q/DQ are int8") as err:
        TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx), variant, calib, tmp_path)
    assert "int8_mode: implicit" in str(err.value)


# -- real TensorRT (skipped here) ---------------------------------------------------------------------------------
@needs_trt
@pytest.mark.slow
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("fp16", 3e-2), ("int8", 0.25)])
def test_real_engine_matches_onnxruntime_fp32(tmp_path, precision, tolerance):
    import onnxruntime as ort

    model_path = build_tiny_onnx(tmp_path / "tiny.onnx", batch=4)
    rng = np.random.default_rng(0)
    calib = [{"x": rng.standard_normal((4, 16)).astype(np.float32)} for _ in range(8)]
    x = rng.standard_normal((4, 16)).astype(np.float32)
    expected = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    backend = TensorRTBackend()
    artifact = backend.prepare(ModelSource.from_path(model_path), Variant(precision, {"tf32": False}),
                               calib if precision == "int8" else None, tmp_path)
    backend.load(artifact)
    try:
        got = backend.infer({"x": x})["y"]
        assert got.dtype == np.float32 and got.shape == expected.shape
        scale = float(np.abs(expected).max())
        assert float(np.abs(got - expected).max()) <= tolerance * scale
        assert backend.device_time_ms() is not None and backend.device_time_ms() > 0
        info = backend.run_info()
        assert info["engine_bytes"] > 0 and info["engine_cached"] is False and info["engine_build_s"] > 0
        assert info["activation_bytes"] is not None
    finally:
        backend.close()
    again = TensorRTBackend()
    again.load(artifact)
    try:
        assert again.run_info()["engine_cached"] is True and again.run_info()["engine_build_s"] is None
        assert np.allclose(again.infer({"x": x})["y"], got)
    finally:
        again.close()


# -- the adapter's flow against a FAKE TensorRT and a FAKE CUDA runtime --------------------------------------------
@pytest.fixture
def fake_trt(monkeypatch):
    """Installs tests/backends/fake_tensorrt.py as `tensorrt` and its FakeCuda as the CUDA binding."""
    from tests.backends import fake_tensorrt

    fake = fake_tensorrt.module()
    cuda = fake_tensorrt.FakeCuda()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr("backends.tensorrt._open_cuda", lambda: (cuda, None))
    return fake, cuda


def test_fake_build_infer_and_engine_cache(fake_trt, tiny_onnx, tmp_path):
    import onnxruntime as ort

    fake, cuda = fake_trt
    found = TensorRTBackend.probe()
    assert found.available and found.devices == ("Fake Orin (sm_87)",) and found.details["int8_tensor_cores"]
    x = np.random.default_rng(3).standard_normal((1, 16)).astype(np.float32)
    expected = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    backend = TensorRTBackend()
    artifact = backend.prepare(ModelSource.from_path(tiny_onnx), Variant("fp16", {"workspace_bytes": 1 << 20}),
                               None, tmp_path)
    backend.load(artifact)
    assert fake.state().builds == [{"flags": ["FP16"], "pools": {"WORKSPACE": 1 << 20}, "device": "GPU"}]
    assert [s.name for s in backend.inputs()] == ["x"] and backend.outputs()[0].shape == (1, 4)
    before = fake.state().clock_ms
    got = backend.infer({"x": x.astype(np.float64)})["y"]  # the adapter casts to the engine's dtype
    np.testing.assert_array_equal(got, expected)
    assert backend.device_time_ms() == fake.state().clock_ms - before  # events sit around the enqueue
    info = backend.run_info()
    assert (info["engine_cached"], info["io_api"], info["cuda_binding"]) == (False, "tensors", "fake-cuda")
    assert info["engine_build_s"] > 0 and info["engine_bytes"] == len((
        artifact.path / "engines" / f"{info['engine_cache_key']}.engine").read_bytes())
    assert info["activation_bytes"] == 4096 and info["gpu_memory_used_bytes"] > 0
    backend.close()
    assert cuda.memory == {}  # every device buffer freed

    again = TensorRTBackend()
    again.load(artifact)
    assert len(fake.state().builds) == 1  # the cached engine was reused, not rebuilt
    assert again.run_info()["engine_cached"] is True and again.run_info()["engine_build_s"] is None
    np.testing.assert_array_equal(again.infer({"x": x})["y"], expected)
    again.close()
    cuda.gpu = "Fake Xavier"  # another GPU: another engine
    third = TensorRTBackend()
    third.load(artifact)
    assert len(fake.state().builds) == 2
    third.close()


def test_fake_implicit_int8_calibrates_once_then_reuses_the_cache(fake_trt, tiny_onnx, tmp_path):
    fake, cuda = fake_trt
    calib = [{"x": np.random.default_rng(i).standard_normal((1, 16)).astype(np.float32)} for i in range(5)]
    artifact = TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx),
                                         Variant("int8", {"timing_cache": True, "int8_mode": "implicit"}), calib,
                                         tmp_path)
    backend = TensorRTBackend()
    backend.load(artifact)
    assert fake.state().calibration_batches == 5 and fake.state().builds[0]["flags"] == ["INT8"]
    assert backend.run_info()["calibration"] == {"batches": 5, "samples": 5, "rows_padded": 0}
    assert any("deprecated since TensorRT 10.1" in w for w in backend.warnings())
    assert len(list(artifact.path.glob("engines/calibration-*.cache"))) == 1
    assert len(list(artifact.path.parent.glob("timing-*.cache"))) == 1
    backend.close()
    cuda.gpu = "Fake Xavier"  # a rebuild on another GPU reads the calibration cache instead of calibrating
    TensorRTBackend().load(artifact)
    assert fake.state().calibration_batches == 5 and len(fake.state().builds) == 2


def test_fake_parser_error_reaches_the_user(fake_trt, tmp_path):
    import onnx

    from tests.backends.fake_tensorrt import UNSUPPORTED_OP

    model = onnx.load(str(build_tiny_onnx(tmp_path / "m.onnx")))
    model.graph.node[2].op_type = UNSUPPORTED_OP  # enc/relu
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    backend = TensorRTBackend()
    artifact = backend.prepare(ModelSource.from_path(bad), Variant("fp16"), None, tmp_path)
    with pytest.raises(BackendError) as err:
        backend.load(artifact)
    assert f"node 2 (name 'enc/relu', op {UNSUPPORTED_OP}): UNSUPPORTED_NODE" in str(err.value)
    assert "What to do" in str(err.value)


def test_fake_dla_request_on_a_gpu_without_dla_fails_at_load(fake_trt, tiny_onnx, tmp_path):
    _, cuda = fake_trt
    cuda.gpu, cuda.cc = "Fake A100", (8, 0)
    artifact = TensorRTBackend().prepare(ModelSource.from_path(tiny_onnx), Variant("fp16", {"dla_core": 0}), None,
                                         tmp_path)
    with pytest.raises(BackendError, match="this GPU has no DLA"):
        TensorRTBackend().load(artifact)


def test_fake_executed_precision_reads_the_engine_inspector(fake_trt, tiny_onnx, tmp_path):
    """The FAKE engine reports layer types as TensorRT's inspector does (JSON, "Format/Datatype")."""
    from results.schema import precision_mismatch

    fake, _ = fake_trt
    source = ModelSource.from_path(tiny_onnx)
    ran = {}
    for precision in ("fp32", "fp16", "bf16"):
        backend = TensorRTBackend()
        backend.load(backend.prepare(source, Variant(precision), None, tmp_path))
        ran[precision] = backend.executed_precision()
        backend.close()
    assert {p: e["precision"] for p, e in ran.items()} == {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}
    assert ran["fp16"]["source"].startswith("TensorRT engine inspector") and ran["fp16"]["by_type"]["fp16"] > 0
    flags = [b["flags"] for b in fake.state().builds]
    assert "BF16" in flags[2] and "FP16" not in flags[2] and flags[0] == []  # fp32: no reduced-precision flag
    assert all(precision_mismatch(p, e) is None for p, e in ran.items())

    # A GPU whose tactics keep fp32 although FP16 was allowed: the read-back says so, and the label is flagged.
    fake.state().layer_datatype = "Row major linear FP32"
    backend = TensorRTBackend()
    backend.load(backend.prepare(source, Variant("fp16"), None, tmp_path))
    executed = backend.executed_precision()
    backend.close()
    assert executed["precision"] == "fp32"
    assert "executed fp32" in precision_mismatch("fp16", executed)


def test_fake_profile_per_layer_times_precision_and_origin(fake_trt, tiny_onnx, tmp_path):
    """IProfiler per layer + engine inspector facts, through the adapter, on the FAKE TensorRT."""
    from results.profile import normalise

    fake, _ = fake_trt
    backend = TensorRTBackend()
    backend.load(backend.prepare(ModelSource.from_path(tiny_onnx), Variant("fp16"), None, tmp_path))
    try:
        assert fake.state().profiling_verbosity == fake.ProfilingVerbosity.DETAILED
        x = np.random.default_rng(1).standard_normal((1, 16)).astype(np.float32)
        raw = backend.profile({"x": x}, 3)
        assert backend._context.profiler is None  # detached: later inferences are not profiled
    finally:
        backend.close()
    assert raw.reason is None and raw.iterations == 3
    by_name = {n.name: n for n in raw.nodes}
    assert set(by_name) >= {"enc/matmul", "enc/add", "enc/relu", "head/matmul", "head/add"}
    assert all(n.calls == 3 for n in raw.nodes)
    assert by_name["enc/matmul"].source_nodes == ("enc/matmul",) and by_name["enc/matmul"].executed_precision == "fp16"
    assert by_name["enc/matmul"].details["tactic"] == "fake_tactic_0x1"
    p = normalise(raw.to_dict(), model_nodes=[n for n in by_name if "/" in n and " " not in n],
                  requested_precision="fp16")
    rows = {r["node"]: r for r in p["rows"]}
    reformat = next(r for r in p["rows"] if r["op_type"] == "Reformat")
    assert reformat["category"] == "layout" and reformat["module"] == "enc"  # named after the layer it feeds
    assert rows["head/add"]["module"] == "head"
    assert sum(r["share_pct"] for r in p["rows"]) == pytest.approx(100.0)
    assert p["off_precision"] == []


def test_fake_profile_without_detailed_verbosity_keeps_names_only(fake_trt, tiny_onnx, tmp_path, monkeypatch):
    fake, _ = fake_trt
    del fake.ProfilingVerbosity  # an older TensorRT: the builder cannot be asked for layer details
    backend = TensorRTBackend()
    backend.load(backend.prepare(ModelSource.from_path(tiny_onnx), Variant("fp32"), None, tmp_path))
    try:
        raw = backend.profile({"x": np.zeros((1, 16), np.float32)}, 2)
    finally:
        backend.close()
    assert raw.nodes and all(n.executed_precision is None for n in raw.nodes)
    assert any("layer names only" in n for n in raw.notes)
