"""Per-operator profiles from the runtimes' own profilers (real ONNX Runtime and OpenVINO), the LiteRT
benchmark_model parser, and the profile() default.

The models are built here with known node names, so the module each row lands in can be checked:
``enc/*`` nodes belong to module ``enc``, ``dec/*`` to ``dec``. The Q/DQ model has explicit
QuantizeLinear/DequantizeLinear nodes in ``dec``, which must come out as category ``quantize``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from backends._profiles import parse_benchmark_model_output, parse_ort_trace
from backends.base import Backend, ModelSource, RawProfile, Variant
from harness.profiling import ClockedLoop
from results.profile import normalise

FEATURES, HIDDEN = 32, 64


def build_enc_dec(path: Path, qdq: bool = False) -> Path:
    """x[1, FEATURES] -> enc (MatMul, Add, Relu, Transpose x2) -> dec (MatMul, Add[, Q/DQ around the MatMul]) -> y."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((FEATURES, HIDDEN)).astype(np.float32) * 0.2, "w1"),
             numpy_helper.from_array(rng.standard_normal(HIDDEN).astype(np.float32) * 0.1, "b1"),
             numpy_helper.from_array(rng.standard_normal((HIDDEN, 8)).astype(np.float32) * 0.2, "w2"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32) * 0.1, "b2"),
             numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
             numpy_helper.from_array(np.array(0, np.int8), "zero")]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="enc/fc/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="enc/fc/Add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="enc/act/Relu"),
        helper.make_node("Transpose", ["h2"], ["h2t"], name="enc/layout/Transpose", perm=[1, 0]),
        helper.make_node("Transpose", ["h2t"], ["h3"], name="enc/layout/Transpose_back", perm=[1, 0]),
    ]
    feed = "h3"
    if qdq:
        nodes += [helper.make_node("QuantizeLinear", ["h3", "scale", "zero"], ["h3q"], name="dec/in/QuantizeLinear"),
                  helper.make_node("DequantizeLinear", ["h3q", "scale", "zero"], ["h3dq"],
                                   name="dec/in/DequantizeLinear")]
        feed = "h3dq"
    nodes += [helper.make_node("MatMul", [feed, "w2"], ["h4"], name="dec/fc/MatMul"),
              helper.make_node("Add", ["h4", "b2"], ["y"], name="dec/fc/Add")]
    graph = helper.make_graph(nodes, "enc_dec", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


NODE_NAMES = ["enc/fc/MatMul", "enc/fc/Add", "enc/act/Relu", "enc/layout/Transpose", "enc/layout/Transpose_back",
              "dec/in/QuantizeLinear", "dec/in/DequantizeLinear", "dec/fc/MatMul", "dec/fc/Add"]


def _feeds() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(0).standard_normal((1, FEATURES)).astype(np.float32)}


def _loaded(backend_name: str, model: Path, tmp_path: Path, **options):
    from backends import get_backend

    backend = get_backend(backend_name)(options)
    if not backend.probe().available:
        pytest.skip(f"{backend_name} is not available here: {backend.probe().reason}")
    source = ModelSource.from_path(model)
    backend.load(backend.prepare(source, Variant("fp32"), None, tmp_path / "cache"))
    return backend


def _shares_sum_to_100(profile: dict) -> None:
    assert profile["reason"] is None and profile["rows"]
    assert sum(r["share_pct"] for r in profile["rows"]) == pytest.approx(100.0, abs=1e-6)
    assert sum(m["share_pct"] for m in profile["by_module"].values()) == pytest.approx(100.0, abs=1e-6)
    assert all(r["time_ms"] >= 0 for r in profile["rows"])


# -- the default hook ----------------------------------------------------------------------------------

def test_a_backend_without_a_profiler_says_so():
    class Bare(Backend):
        name = "bare"

        @classmethod
        def probe(cls):  # pragma: no cover - not called
            raise AssertionError

        def prepare(self, *a):  # pragma: no cover
            raise AssertionError

        def load(self, artifact):  # pragma: no cover
            raise AssertionError

        def inputs(self):  # pragma: no cover
            return []

        def outputs(self):  # pragma: no cover
            return []

        def infer(self, feeds):  # pragma: no cover
            return {}

    raw = Bare().profile({}, 3)
    assert isinstance(raw, RawProfile) and raw.nodes == []
    assert "bare" in raw.reason and "no per-operator profiler" in raw.reason


# -- ONNX Runtime, real ------------------------------------------------------------------------------

def test_onnxruntime_profile_names_modules_and_qdq(tmp_path):
    model = build_enc_dec(tmp_path / "qdq.onnx", qdq=True)
    # Optimisations off: ORT would otherwise fold the Q/DQ pair away, and this test is about the categories.
    backend = _loaded("onnxruntime", model, tmp_path, graph_optimization="disable", threads=1)
    loop = ClockedLoop()
    raw = backend.profile(_feeds(), 4, loop)
    assert raw.reason is None and raw.iterations == 4
    assert len(loop.latencies_ns) == 4  # the harness's clock saw every profiled inference
    names = {n.name for n in raw.nodes}
    assert names == set(NODE_NAMES)
    assert all(n.calls == 4 for n in raw.nodes)  # the warm-up run is not counted
    p = normalise(raw.to_dict(), model_nodes=NODE_NAMES, requested_precision="int8")
    _shares_sum_to_100(p)
    rows = {r["node"]: r for r in p["rows"]}
    assert {r["module"] for r in p["rows"]} == {"enc", "dec"}
    assert rows["dec/in/QuantizeLinear"]["category"] == "quantize"
    assert rows["dec/in/DequantizeLinear"]["category"] == "quantize"
    assert rows["enc/layout/Transpose"]["category"] == "layout"
    assert rows["enc/fc/MatMul"]["category"] == "compute"
    assert rows["dec/in/DequantizeLinear"]["executed_precision"] == "int8"  # its input is int8
    assert rows["dec/fc/MatMul"]["executed_precision"] == "fp32"
    assert p["by_category"]["quantize"]["count"] == 2
    # The float MatMuls of an int8 run are named as not at the requested precision.
    off = {o["op_type"]: o for o in p["off_precision"]}
    assert off["MatMul"]["count"] == 2 and set(off["MatMul"]["modules"]) == {"enc", "dec"}
    assert rows["enc/fc/MatMul"]["source_nodes"] == ["enc/fc/MatMul"]


def test_onnxruntime_fused_nodes_keep_their_module(tmp_path):
    model = build_enc_dec(tmp_path / "f.onnx")
    backend = _loaded("onnxruntime", model, tmp_path, threads=1)  # all optimisations: MatMul+Add fuse
    raw = backend.profile(_feeds(), 3)
    p = normalise(raw.to_dict(), model_nodes=[n for n in NODE_NAMES if "Quantize" not in n])
    _shares_sum_to_100(p)
    assert set(p["by_module"]) <= {"enc", "dec"}


def test_user_module_mapping_wins_over_the_prefix(tmp_path):
    model = build_enc_dec(tmp_path / "m.onnx")
    backend = _loaded("onnxruntime", model, tmp_path, graph_optimization="disable", threads=1)
    raw = backend.profile(_feeds(), 2)
    p = normalise(raw.to_dict(), model_nodes=NODE_NAMES, modules={"projections": ["*/fc/*"]})
    modules = {r["node"]: r["module"] for r in p["rows"]}
    assert modules["enc/fc/MatMul"] == modules["dec/fc/Add"] == "projections"
    assert modules["enc/act/Relu"] == "enc"  # unmatched: the prefix rule


def test_ort_trace_parser_drops_the_first_run_and_notes_collapsed_providers():
    def node(name, op, ts, dur, provider="CPUExecutionProvider"):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
                "args": {"op_name": op, "provider": provider, "input_type_shape": [{"float": [1, 4]}]}}

    events = [{"cat": "Session", "name": "model_run", "ts": 0, "dur": 100},
              node("a/x", "Relu", 10, 90),
              {"cat": "Session", "name": "model_run", "ts": 200, "dur": 50},
              node("a/x", "Relu", 210, 20),
              node("TRTKernel_graph_0", "TRTKernel", 230, 10, "TensorrtExecutionProvider")]
    raw = parse_ort_trace(events, skip_runs=1)
    assert raw.iterations == 1 and raw.total_ms == pytest.approx(0.05)
    times = {n.name: n.time_ms for n in raw.nodes}
    assert times == {"a/x": pytest.approx(0.02), "TRTKernel_graph_0": pytest.approx(0.01)}
    assert any("TensorrtExecutionProvider" in n and "cannot split" in n for n in raw.notes)


# -- OpenVINO, real -----------------------------------------------------------------------------------

def test_openvino_profile_has_original_names_and_runtime_precision(tmp_path):
    model = build_enc_dec(tmp_path / "ov.onnx")
    backend = _loaded("openvino", model, tmp_path, threads=1)
    loop = ClockedLoop()
    raw = backend.profile(_feeds(), 3, loop)
    assert raw.reason is None and raw.iterations == 3 and len(loop.latencies_ns) == 3
    assert raw.nodes, "OpenVINO reported no executed node"
    originals = {s for n in raw.nodes for s in n.source_nodes}
    assert originals & set(NODE_NAMES), f"no original ONNX name among {sorted(originals)}"
    assert all(n.executed_precision for n in raw.nodes)
    p = normalise(raw.to_dict(), model_nodes=NODE_NAMES, requested_precision="fp32")
    _shares_sum_to_100(p)
    assert set(p["by_module"]) <= {"enc", "dec", "(unattributed)"}
    assert {"enc", "dec"} & set(p["by_module"])


def test_openvino_int8_qdq_nodes_are_attributed(tmp_path):
    model = build_enc_dec(tmp_path / "ovq.onnx", qdq=True)
    backend = _loaded("openvino", model, tmp_path, threads=1)
    raw = backend.profile(_feeds(), 2)
    p = normalise(raw.to_dict(), model_nodes=NODE_NAMES, requested_precision="int8")
    _shares_sum_to_100(p)
    # OpenVINO folds the Q/DQ pair into a FakeQuantize or into its neighbour; either way the source names survive.
    sources = {s for r in p["rows"] for s in r["source_nodes"]}
    assert sources & {"dec/in/QuantizeLinear", "dec/in/DequantizeLinear", "dec/fc/MatMul"}


# -- LiteRT: benchmark_model output -------------------------------------------------------------------
# Neither the ai-edge-litert wheel nor this machine has TFLite's benchmark_model binary, so its output
# cannot be captured here. The texts in tests/backends/data/ follow the format that binary prints, as its documentation
# (tensorflow/lite/tools/benchmark/README.md, "Profiling model operators") and the stats calculator that
# writes the tables (columns "[node type] [first] [avg ms] [%] [cdf%] [mem KB] [times called] [Name]",
# tab-separated, one "Run Order" table per phase; older releases add a "[start]" column and bracket the
# name) show it, with the XNNPACK delegate's per-kernel names ("Convolution (NHWC, QU8) IGEMM").

DATA = Path(__file__).parent / "data"
NEW_FORMAT = (DATA / "benchmark_model_op_profiling.txt").read_text()

OLD_FORMAT = (DATA / "benchmark_model_op_profiling_old.txt").read_text()


def test_benchmark_model_parser_reads_the_regular_runs_table():
    raw = parse_benchmark_model_output(NEW_FORMAT)
    assert raw.reason is None and raw.iterations == 1
    assert [n.op_type for n in raw.nodes] == ["Convert (NC, F32, QD8)", "Convolution (NHWC, QU8) IGEMM",
                                              "Fully Connected (NC, F32)", "Transpose (ND, X32)", "SOFTMAX"]
    by_type = {n.op_type: n for n in raw.nodes}
    assert by_type["Convolution (NHWC, QU8) IGEMM"].time_ms == pytest.approx(2.0)
    assert by_type["Convolution (NHWC, QU8) IGEMM"].executed_precision == "int8"
    assert by_type["Fully Connected (NC, F32)"].executed_precision == "fp32"
    assert by_type["SOFTMAX"].name == "dec/attn/Softmax"
    assert raw.total_ms == pytest.approx(4.0)
    p = normalise(raw.to_dict(), requested_precision="int8")
    _shares_sum_to_100(p)
    cats = {r["op_type"]: r["category"] for r in p["rows"]}
    assert cats["Convert (NC, F32, QD8)"] == "quantize" and cats["Transpose (ND, X32)"] == "layout"
    assert [o["op_type"] for o in p["off_precision"]] == ["Fully Connected (NC, F32)"]


def test_benchmark_model_parser_states_an_unsplittable_delegate_share():
    raw = parse_benchmark_model_output(OLD_FORMAT)
    assert [n.name for n in raw.nodes] == ["enc/conv/Relu", "dec/fc/MatMul, dec/fc/Add"]
    assert len(raw.notes) == 1 and "TfLiteXNNPackDelegate" in raw.notes[0] and "40.0%" in raw.notes[0]


def test_benchmark_model_parser_without_op_profiling_says_why():
    raw = parse_benchmark_model_output("INFO: Inference timings in us: Init: 1, Inference (avg): 2\n")
    assert raw.nodes == [] and "--enable_op_profiling" in raw.reason


def test_litert_profile_without_the_tool_is_unavailable_with_the_reason(monkeypatch):
    from backends.litert import NO_OP_PROFILER, LiteRTBackend

    monkeypatch.setenv("PATH", "/nonexistent")
    raw = LiteRTBackend({}).profile({}, 3)
    assert raw.reason == NO_OP_PROFILER


def test_litert_profile_runs_benchmark_model_and_parses_it(tmp_path):
    """A FAKE benchmark_model (a script printing the documented format) stands in for the binary."""
    from backends.litert import LiteRTBackend

    tool = tmp_path / "benchmark_model"
    (tmp_path / "out.txt").write_text(NEW_FORMAT)
    tool.write_text(f"#!{sys.executable}\nimport sys\nassert '--enable_op_profiling=true' in sys.argv\n"
                    f"print(open({str(tmp_path / 'out.txt')!r}).read())\n")
    tool.chmod(0o755)
    backend = LiteRTBackend({"benchmark_model": str(tool)})
    backend._artifact = type("A", (), {"path": tmp_path / "m.tflite"})()
    raw = backend.profile({}, 5)
    assert raw.reason is None and len(raw.nodes) == 5


def test_tensorrt_inspector_datatypes_map_to_precisions():
    import json

    from backends._profiles import trt_layer_facts

    layers = [{"Name": n, "LayerType": "X", "Outputs": [{"Format/Datatype": d}]} for n, d in (
        ("a", "Channel major FP16 format where channel % 8 == 0"), ("b", "Int8 NC/32HW32"),
        ("c", "BFloat16 row major linear"), ("d", "Row major linear FP32"), ("e", "Row major linear Float"))]
    facts = trt_layer_facts(json.dumps({"Layers": layers}))
    assert {k: v["precision"] for k, v in facts.items()} == {"a": "fp16", "b": "int8", "c": "bf16", "d": "fp32",
                                                            "e": "fp32"}
