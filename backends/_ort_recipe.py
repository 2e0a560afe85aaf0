"""How ONNX Runtime wants a model quantized on this CPU, and whether the result computes in int8.

Three parts, used by ``backends._onnx_variants``:

- ``resolve(precision, settings, isa, machine, op_types_present)``: the "auto" settings made concrete
  for the CPU the run is on. ONNX Runtime's quantization guide (onnxruntime.ai, "Quantize ONNX
  models", data type selection): on x86-64 its int8 GEMM/conv kernels are u8 activations × s8
  weights (VPMADDUBSW, or VPDPBUSD with VNNI), so QDQ S8 activations are converted to U8 inside the
  CPU provider anyway: U8S8 is asked for directly. Without VNNI, VPMADDUBSW can saturate its 16-bit
  sums: ``reduce_range`` (7-bit weights) avoids that. Arm's dot-product kernels take S8S8. ISA
  facts come in as a list of /proc/cpuinfo flag names (the harness passes them as the
  ``cpu_isa`` option); nothing here reads the machine.
- ``preprocess(src, dst)``: ``onnxruntime.quantization.shape_inference.quant_pre_process``
  (symbolic shape inference, ORT basic graph optimisation, ONNX shape inference) as ORT's guide
  asks before quantizing, with fallbacks that drop the step that failed, and the reason recorded.
- ``count_compute(path)``: how many compute nodes (Conv, MatMul, Gemm, ...) run quantized in the
  graph ONNX Runtime actually executes (the CPU provider's ORT_ENABLE_ALL optimised graph, where
  Q/DQ groups have become QLinearConv/QGemm/... or stayed float).
"""

from __future__ import annotations

import logging
import platform
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: float compute op types, as they appear in a source graph or ORT's optimised one
FLOAT_COMPUTE = ("Conv", "ConvTranspose", "MatMul", "Gemm", "FusedConv", "FusedMatMul", "FusedGemm", "Attention",
                 "MultiHeadAttention", "LSTM", "GRU", "Einsum", "NhwcFusedConv")
#: the same compute running on int8 data (static QDQ/QOperator and dynamic forms)
INT8_COMPUTE = ("QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul",
                "MatMulIntegerToFloat", "QAttention", "DynamicQuantizeLSTM", "QLinearConvTranspose", "NhwcQLinearConv")
#: dynamic quantization pays where weights dominate: GEMM-like ops. ConvInteger has no fast CPU kernel
#: in ONNX Runtime (it is slower than float Conv), so convolutions are quantized dynamically only
#: when a model has nothing else to quantize.
DYNAMIC_OPS = ("MatMul", "Gemm", "Attention", "LSTM")
DYNAMIC_FALLBACK_OPS = ("Conv",)
#: op types kept out of static QDQ by default: numerically sensitive normalisations and ops whose
#: int8 form buys nothing on CPU (ORT's default quantizes all of its QDQ registry).
STATIC_SKIP = ("LayerNormalization", "InstanceNormalization", "BatchNormalization", "CumSum", "TopK")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def is_x86(isa: Iterable[str], machine: str | None = None) -> bool:
    machine = (machine or platform.machine()).lower()
    flags = set(isa)
    if flags:
        return any(f.startswith(("sse", "avx")) for f in flags)
    return machine in ("x86_64", "amd64", "i386", "i686")


def resolve(precision: str, settings: dict[str, Any], isa: Sequence[str] | None,
            op_types_present: Iterable[str], machine: str | None = None) -> dict[str, Any]:
    """The concrete recipe for ``settings`` (whose values may be "auto") on a CPU with ``isa``.

    Returns the settings with every "auto" replaced, plus ``basis``: why each auto value was chosen."""
    flags = tuple(isa or ())
    x86 = is_x86(flags, machine)
    vnni = any(f in flags for f in VNNI_FLAGS)
    recipe = dict(settings)
    basis: dict[str, str] = {}
    arch = "x86-64" if x86 else "arm/other"
    if settings.get("symmetric"):
        # TensorRT-style explicit quantization: s8 both sides, zero points 0, full 8-bit range.
        recipe.update(activation_type="QInt8", weight_type="QInt8", reduce_range=False)
        basis["types"] = "symmetric: S8S8 with zero points 0 (what TensorRT's explicit quantization builds)"
    else:
        if recipe.get("activation_type") == "auto":
            recipe["activation_type"] = "QUInt8" if x86 else "QInt8"
            basis["activation_type"] = f"{arch}: {'U8S8 kernels' if x86 else 'S8S8 dot-product kernels'}"
        if recipe.get("weight_type") == "auto":
            recipe["weight_type"] = "QInt8"
            basis["weight_type"] = "s8 weights (ORT's recommended default)"
        if recipe.get("reduce_range") == "auto":
            if not flags:
                recipe["reduce_range"] = False
                basis["reduce_range"] = "CPU features unknown (no cpu_isa given): full range"
            else:
                recipe["reduce_range"] = bool(x86 and not vnni)
                basis["reduce_range"] = ("x86 without VNNI: 7-bit weights avoid VPMADDUBSW saturation"
                                         if recipe["reduce_range"] else
                                         ("VNNI present: full 8-bit range" if x86 else f"{arch}: full 8-bit range"))
    present = set(op_types_present)
    if recipe.get("op_types") == "auto":
        if precision == "int8-dynamic":
            ops = [o for o in DYNAMIC_OPS if o in present]
            if not ops:
                ops = [o for o in DYNAMIC_FALLBACK_OPS if o in present]
                basis["op_types"] = "no GEMM-like op: convolutions quantized dynamically (ConvInteger)"
            else:
                basis["op_types"] = "GEMM-like ops only: dynamic ConvInteger is slower than float Conv on CPU"
        else:
            from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

            registry = QDQRegistry if recipe.get("format", "QDQ") == "QDQ" else QLinearOpsRegistry
            ops = sorted(o for o in registry if o not in STATIC_SKIP)
            basis["op_types"] = f"ONNX Runtime's {recipe.get('format', 'QDQ')} op types less {', '.join(STATIC_SKIP)}"
        recipe["op_types"] = ops
    recipe["basis"] = basis
    recipe["cpu"] = {"arch": arch, "vnni": vnni if flags else None, "isa_known": bool(flags)}
    return recipe


def convert_opset(model: Any, minimum: int = 13) -> tuple[Any, int | None]:
    """``model`` converted to opset ``minimum`` when older (per-channel QDQ needs the axis attribute
    of opset 13's QuantizeLinear); returns (model, the original opset when converted, else None)."""
    from onnx import version_converter

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset >= minimum:
        return model, None
    return version_converter.convert_version(model, minimum), opset


def preprocess(src: Path, dst: Path) -> dict[str, Any]:
    """Run ORT's quantization pre-processing on ``src`` into ``dst``; fall back step by step.

    Returns ``{"done": bool, "steps": [...], "fallback_reason": str|None}``. When every attempt fails
    ``dst`` is not written and the caller quantizes the model as it is."""
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:  # sympy missing, or an old onnxruntime
        return {"done": False, "steps": [], "fallback_reason": f"quant_pre_process unavailable ({exc})"}
    attempts = (
        ("symbolic shapes + optimisation + onnx shapes", {}),
        ("optimisation + onnx shapes (symbolic shape inference failed)", {"skip_symbolic_shape": True}),
        ("onnx shapes only", {"skip_symbolic_shape": True, "skip_optimization": True}),
    )
    reasons = []
    root = logging.getLogger()
    level = root.level
    for label, kwargs in attempts:
        try:
            root.setLevel(logging.ERROR)  # the pre-processor logs advice on every call
            quant_pre_process(str(src), str(dst), **kwargs)
            return {"done": True, "steps": label, "fallback_reason": "; ".join(reasons) or None}
        except Exception as exc:  # symbolic shape inference raises plain Exceptions on odd graphs
            reasons.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            root.setLevel(level)
    dst.unlink(missing_ok=True)
    return {"done": False, "steps": None, "fallback_reason": "; ".join(reasons)}


def graph_compute(nodes: Iterable[Any]) -> dict[str, Any]:
    """Compute-node counts of a list of ONNX nodes: quantized, float and by op type."""
    by_op = Counter(n.op_type for n in nodes if n.op_type in FLOAT_COMPUTE or n.op_type in INT8_COMPUTE)
    quantized = sum(v for k, v in by_op.items() if k in INT8_COMPUTE)
    total = sum(by_op.values())
    return {"quantized": quantized, "total": total, "by_op": dict(sorted(by_op.items()))}


def count_compute(path: Path, threads: int = 1) -> dict[str, Any]:
    """Compute nodes of the graph ONNX Runtime's CPU provider executes for ``path`` (ORT_ENABLE_ALL)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgebench-count-") as td:
        optimized = Path(td) / "optimized.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(optimized)
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3  # ORT warns that the saved graph is CPU-specific: it is only counted
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(optimized), load_external_data=False).graph
        counts = graph_compute(_all_nodes(graph))
    counts["counted_in"] = "onnxruntime CPU optimised graph (ORT_ENABLE_ALL)"
    return counts


def _all_nodes(graph: Any) -> list[Any]:
    """Nodes of a graph and of its subgraphs (If/Loop bodies)."""
    out = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                out.extend(_all_nodes(attr.g))
            for g in attr.graphs:
                out.extend(_all_nodes(g))
    return out


def qdq_graph_compute(path: Path) -> dict[str, Any]:
    """Compute nodes of a QDQ graph fed by DequantizeLinear (weights or activations): what a runtime that
    fuses Q/DQ into int8 layers (TensorRT) can run quantized, counted in the file itself."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    nodes = _all_nodes(graph)
    dq_outputs = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    by_op: Counter[str] = Counter()
    quantized = 0
    for n in nodes:
        if n.op_type not in FLOAT_COMPUTE:
            continue
        q = any(i in dq_outputs for i in n.input[:2])
        quantized += q
        by_op[f"{n.op_type}:{'qdq' if q else 'float'}"] += 1
    return {"quantized": quantized, "total": sum(by_op.values()), "by_op": dict(sorted(by_op.items())),
            "counted_in": "the QDQ graph (compute nodes fed by DequantizeLinear)"}
