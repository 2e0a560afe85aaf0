"""The null backend: answers every call instantly with arrays of the declared output shapes.

It exists to measure the harness's own per-iteration overhead (as MLPerf's null SUT does): a
run through it times only the runner's loop, feeding and result handling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import (
    Artifact,
    Availability,
    Backend,
    Feeds,
    ModelSource,
    TensorSpec,
    UnsupportedVariant,
    Variant,
    artifact_bytes,
    onnx_io_specs,
)


class NullBackend(Backend):
    name = "null"
    source_formats = ("onnx",)
    precisions = ("fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed")

    @classmethod
    def probe(cls) -> Availability:
        return Availability(available=True, version="n/a", devices=("none",))

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        return dict.fromkeys(cls.precisions, "computes nothing (measures the harness's own overhead)")

    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format != "onnx":
            raise UnsupportedVariant(f"the null backend reads shapes from ONNX models only, found {model.format}")
        return Artifact(model.path, "onnx", variant.precision, model.sha256, artifact_bytes(model.path))

    def load(self, artifact: Artifact) -> None:
        self._inputs, self._outputs = onnx_io_specs(artifact.path)
        # Allocated once so the loop measures the harness, not numpy allocation.
        self._results = {
            o.name: np.zeros([d if isinstance(d, int) and d > 0 else 1 for d in o.shape], dtype=np.float32)
            for o in self._outputs
        }

    def inputs(self) -> list[TensorSpec]:
        return list(self._inputs)

    def outputs(self) -> list[TensorSpec]:
        return list(self._outputs)

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        return self._results
