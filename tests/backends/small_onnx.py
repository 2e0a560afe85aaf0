"""Small ONNX models built in the tests (onnx.helper) and shared helpers for the OpenVINO / LiteRT tests.

Conversions to TFLite are slow (seconds each), so ``converted()`` keeps one cache folder for the
whole test session: the converter's own content-hash cache then makes every later call free.
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import pytest

MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"
if not MLPERF.exists():  # the tree may be checked out elsewhere; the shared folder is fixed
    MLPERF = Path("/work/shared/models/mlperf-tiny")

SESSION_CACHE = Path(tempfile.mkdtemp(prefix="edgebench-ov-litert-"))


def needs(module: str, why: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} not installed: {why}")


def conv_model(path: Path, seed: int = 1) -> Path:
    """NCHW conv net with a 4D output (y: [1,4,16,16]) and a 2D one (z: [1,8]): exercises layout."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "W"),
        numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "B"),
        numpy_helper.from_array((rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="stem/conv"),
        helper.make_node("Relu", ["c"], ["r"], name="stem/relu"),
        helper.make_node("Conv", ["r", "W2"], ["y"], name="head/conv"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool/gap"),
        helper.make_node("Flatten", ["g"], ["z"], name="pool/flatten"),
    ]
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def feeds(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(n)]


@functools.cache
def conv_source():
    from backends.base import ModelSource

    return ModelSource.from_path(conv_model(SESSION_CACHE / "conv.onnx"))


@functools.cache
def converted(precision: str):
    """The conv model converted to a .tflite of ``precision`` (calibrated on ``feeds(16, 0)``)."""
    from backends._tflite_convert import convert
    from backends.base import Variant

    if precision != "int8":
        converted("int8")  # one onnx2tf pass with int8 writes every precision: the others are then cached
    return convert(conv_source(), Variant(precision), feeds(16, 0), SESSION_CACHE / "artifacts")


def ort_outputs(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed)))


def sqnr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    noise = float(np.mean((reference.astype(np.float64) - candidate) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.mean(reference.astype(np.float64) ** 2)) / noise)


def mlperf_inputs(kind: str, n: int, seed: int) -> list[np.ndarray]:
    """Inputs inside the int8 models' representable input range (so quantization does not clip).

    kws: MFCC-like values in [-120, 24] (int8 scale 0.5847, zero point 83); resnet8: blocky pixels
    in [0, 255] (scale 1, zero point -128), so they look less like pure noise.
    """
    rng = np.random.default_rng(seed)
    if kind == "kws":
        # Per-coefficient scales like MFCCs (c0 large and negative, higher ones smaller), drifting in time.
        scales = np.array([30, 15, 10, 8, 6, 5, 4, 3, 3, 2], np.float64)
        mean = np.array([-60, 5, 0, 0, 0, 0, 0, 0, 0, 0], np.float64)
        out = []
        for _ in range(n):
            coef = rng.normal(0, 1, (1, 10)) * scales
            drift = np.cumsum(rng.normal(0, 1, (49, 1)), axis=0) / 5
            x = mean + coef + drift * coef * 0.3 + rng.normal(0, 2, (49, 10))
            out.append(np.clip(x, -120, 24).astype(np.float32).reshape(1, 49, 10, 1))
        return out
    imgs = rng.uniform(0, 255, (n, 1, 8, 8, 3))
    up = imgs.repeat(4, axis=2).repeat(4, axis=3)
    return [np.clip(u + rng.normal(0, 10, u.shape), 0, 255).astype(np.float32) for u in up]
