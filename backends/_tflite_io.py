"""Float <-> a TFLite tensor's stored integers, from the interpreter's tensor details: one definition
for the adapter (litert.py) and for the converter's output matching (_tflite_convert.py).

Per-channel parameters (``quantization_parameters``) are used when present, else the per-tensor
``quantization`` pair (the two copies this replaces disagreed on per-channel tensors); rounding is
half-to-even (``np.rint``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _qparams(detail: Mapping[str, Any], rank: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, zero_point) broadcastable to the tensor, or None for a float tensor."""
    if np.dtype(detail["dtype"]).kind not in "iu":
        return None
    qp = detail.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []), dtype=np.float32)
    zeros = np.asarray(qp.get("zero_points", []), dtype=np.float32)
    if scales.size == 0:
        scale, zero = detail.get("quantization", (0.0, 0))
        if not scale:
            return None  # an integer tensor that is not quantized (ids, indices)
        return np.float32(scale), np.float32(zero)
    if scales.size == 1:
        return scales.reshape(()), zeros.reshape(())
    shape = [1] * rank
    shape[int(qp.get("quantized_dimension", 0))] = scales.size
    return scales.reshape(shape), zeros.reshape(shape)


def quantize(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """Float → the tensor's stored dtype: q = clip(round(x / scale) + zero_point)."""
    dtype = np.dtype(detail["dtype"])
    params = _qparams(detail, x.ndim)
    if params is None:
        return np.asarray(x).astype(dtype, copy=False)
    scale, zero = params
    info = np.iinfo(dtype)
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) / scale) + zero, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """Stored dtype → float32: x = (q - zero_point) * scale."""
    params = _qparams(detail, q.ndim)
    if params is None:
        return np.asarray(q, dtype=np.float32)
    scale, zero = params
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)
