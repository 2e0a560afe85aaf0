"""The fp32 reference outputs every variant is scored against.

The reference is the model's fp32 file run through the runtime that reads its format natively
(ONNX → onnxruntime, TFLite → litert, OpenVINO IR → openvino), on the same evaluation inputs.
Results are cached by the reference's sha256 and a hash of the inputs, written atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from backends.base import ModelSource, Variant, atomic_path

REFERENCE_BACKEND = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}


def reference_backend_name(model: ModelSource) -> str:
    if model.format not in REFERENCE_BACKEND:
        raise ValueError(f"no reference runtime for {model.format} models")
    return REFERENCE_BACKEND[model.format]


def _inputs_key(feeds: Sequence[Mapping[str, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for sample in feeds:
        for name in sorted(sample):
            array = np.ascontiguousarray(sample[name])
            h.update(name.encode())
            h.update(str(array.dtype).encode())
            h.update(str(array.shape).encode())
            h.update(array.tobytes())
    return h.hexdigest()[:16]


def reference_outputs(model: ModelSource, feeds: Sequence[Mapping[str, np.ndarray]],
                      cache_dir: Path) -> list[dict[str, np.ndarray]]:
    """Outputs of the fp32 reference on ``feeds``, one dict per sample."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{model.sha256[:16]}-{_inputs_key(feeds)}.npz"
    if path.exists():
        with np.load(path) as z:
            n = int(z["__n__"])
            return [{k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{i}/")} for i in range(n)]
    from backends import get_backend

    backend = get_backend(reference_backend_name(model))()
    artifact = backend.prepare(model, Variant("fp32", {"prebuilt": True}), None, cache_dir / "artifacts")
    backend.load(artifact)
    try:
        outputs = [backend.infer(f) for f in feeds]
    finally:
        backend.close()
    arrays = {f"{i}/{name}": np.asarray(value) for i, sample in enumerate(outputs) for name, value in sample.items()}
    with atomic_path(path, suffix=".npz") as tmp:  # np.savez adds .npz to a name without it
        np.savez(tmp, __n__=np.array(len(outputs)), **arrays)
    return outputs
