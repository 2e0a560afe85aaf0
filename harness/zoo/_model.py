"""ZooModel: one reference model of the zoo, its graph builder and its input generator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from backends.base import TensorSpec, atomic_path
from harness.errors import UsageError

SPLITS = {"calibration": 0, "evaluation": 1}


@dataclass(frozen=True)
class ZooModel:
    """A deterministic ONNX proxy of a real workload.

    ``module_outputs`` names, per module, the tensor at the module's output boundary, so a test or
    a sensitivity analysis can expose it (``build(expose_modules=True)``) and see where error enters.
    """

    name: str
    description: str
    output_kinds: Mapping[str, str]
    modules: list[str]
    inputs: list[TensorSpec]
    module_outputs: Mapping[str, str]
    _builder: Callable[[], onnx.ModelProto] = field(repr=False)
    _sampler: Callable[[np.random.Generator], dict[str, np.ndarray]] = field(repr=False)

    def build(self, expose_modules: bool = False) -> onnx.ModelProto:
        """The ONNX model; with ``expose_modules`` each module's output tensor is also a graph
        output named ``<module>:out`` (for per-module error, never for benchmarking)."""
        model = self._builder()
        if expose_modules:
            inferred = onnx.shape_inference.infer_shapes(model)
            shapes = {
                vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in inferred.graph.value_info
            }
            for module, tensor in self.module_outputs.items():
                out = f"{module}:out"
                model.graph.node.append(helper.make_node("Identity", [tensor], [out], name=f"{module}/output/expose"))
                model.graph.output.append(helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, shapes[tensor]))
        return model

    def export(self, directory: str | Path) -> Path:
        """Write ``<name>.onnx`` under ``directory``; the bytes are identical on every call, and an
        identical existing file is left untouched (its mtime too)."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create export folder {directory}: {exc.strerror or exc}; pass a writable folder"
            ) from exc
        path = directory / f"{self.name}.onnx"
        blob = self.build().SerializeToString(deterministic=True)
        if path.is_file() and path.stat().st_size == len(blob) and path.read_bytes() == blob:
            return path
        with atomic_path(path, suffix=".onnx.tmp") as tmp:
            tmp.write_bytes(blob)
        return path

    def samples(self, split: str, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """``n`` representative input feeds. Sample i of a split comes from its own random stream,
        keyed by (seed, split, i): calibration and evaluation never share a stream, and a larger n
        extends a smaller one."""
        if split not in SPLITS:
            raise UsageError(f"unknown sample split {split!r}: expected one of {', '.join(SPLITS)}")
        if not isinstance(n, int) or n < 0:
            raise UsageError(f"sample count must be a non-negative integer, found {n!r}")
        out = []
        for i in range(n):
            rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(SPLITS[split], i)))
            out.append(self._sampler(rng))
        return out
