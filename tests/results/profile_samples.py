"""Raw profiles as an adapter's ``profile()`` hook returns them (``RawProfile.to_dict()``), constructed with
known node names, op types, precisions and times, for the normaliser, the diff, the store and reports."""

from __future__ import annotations

from typing import Any

NODES = ["enc/conv/Conv", "enc/act/Relu", "dec/attn/MatMul", "dec/attn/Softmax", "dec/out/Transpose",
         "dec/out/Reshape"]


def _node(name: str, op: str, ms: float, precision: str | None, iterations: int, sources=()) -> dict[str, Any]:
    return {"name": name, "op_type": op, "time_ms": ms * iterations, "source_nodes": list(sources),
            "executed_precision": precision, "calls": iterations, "details": {}}


def raw_fp32(iterations: int = 4) -> dict[str, Any]:
    """enc 3 ms (Conv 2.5 + Relu 0.5), dec 5 ms (MatMul 3, Softmax 1, Transpose 0.5, Reshape 0.5): 8 ms."""
    n = [_node("enc/conv/Conv", "Conv", 2.5, "fp32", iterations),
         _node("enc/act/Relu", "Relu", 0.5, "fp32", iterations),
         _node("dec/attn/MatMul", "MatMul", 3.0, "fp32", iterations),
         _node("dec/attn/Softmax", "Softmax", 1.0, "fp32", iterations),
         _node("dec/out/Transpose", "Transpose", 0.5, "fp32", iterations),
         _node("dec/out/Reshape", "Reshape", 0.5, "fp32", iterations)]
    return {"source": "test profiler", "iterations": iterations, "nodes": n, "reason": None, "notes": [],
            "total_ms": 8.5 * iterations}


def raw_int8(iterations: int = 4, qdq_pairs: int = 10) -> dict[str, Any]:
    """The int8 recipe: Conv in int8 (1 ms), attention MatMul still fp32 (3 ms), and 2 × qdq_pairs Q/DQ nodes
    of 0.3 ms each in dec: 6 ms of conversions in a 12 ms total when qdq_pairs = 10."""
    n = [_node("enc/conv/Conv_quant", "QLinearConv", 1.0, "int8", iterations, ["enc/conv/Conv"]),
         _node("enc/act/Relu", "Relu", 0.5, "fp32", iterations),
         _node("dec/attn/MatMul", "MatMul", 3.0, "fp32", iterations),
         _node("dec/attn/Softmax", "Softmax", 1.0, "fp32", iterations),
         _node("dec/out/Transpose", "Transpose", 0.5, "fp32", iterations)]
    for i in range(qdq_pairs):
        n.append(_node(f"dec/attn/q{i}/QuantizeLinear", "QuantizeLinear", 0.3, "fp32", iterations))
        n.append(_node(f"dec/attn/q{i}/DequantizeLinear", "DequantizeLinear", 0.3, "int8", iterations))
    return {"source": "test profiler", "iterations": iterations, "nodes": n, "reason": None, "notes": [],
            "total_ms": None}
