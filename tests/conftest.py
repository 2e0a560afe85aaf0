"""Fixtures shared by every test folder: small real ONNX models built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def build_tiny_onnx(path: Path, batch: int | str = 1, features: int = 16, hidden: int = 32, seed: int = 0) -> Path:
    """x[batch, features] -> Gemm -> Relu -> Gemm -> y[batch, 4]. Real weights, real runtime."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.standard_normal((features, hidden)).astype(np.float32) * 0.3, "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32) * 0.1, "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((hidden, 4)).astype(np.float32) * 0.3, "w2")
    b2 = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32) * 0.1, "b2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="enc/matmul"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="enc/add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="enc/relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"], name="head/matmul"),
        helper.make_node("Add", ["h3", "b2"], ["y"], name="head/add"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
        initializer=[w1, b1, w2, b2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    return build_tiny_onnx(tmp_path / "tiny.onnx")
