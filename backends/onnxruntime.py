"""ONNX Runtime adapter: CPU by default; CUDA / TensorRT / other execution providers when the
installed build has them (``options["provider"]``), so the ORT route can be compared with others.

Options (all optional; ``None`` means the runtime's default):
  threads            intra-op threads
  inter_op_threads   inter-op threads (used with execution_mode=parallel)
  graph_optimization disable | basic | extended | all
  execution_mode     sequential | parallel
  provider           cpu | cuda | tensorrt | openvino | dml | coreml | <full EP name>, or a list of
                     those in order of preference (the first this build has is used)
  provider_options   dict passed to that execution provider
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import (
    COMMON_OPTIONS,
    Artifact,
    Availability,
    Backend,
    BackendError,
    Feeds,
    ModelSource,
    Option,
    TensorSpec,
    UnsupportedVariant,
    Variant,
    artifact_bytes,
)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}

_OPT_LEVELS = ("disable", "basic", "extended", "all")
OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "inter_op_threads": Option((int,), doc="inter-op threads (used with execution_mode=parallel)"),
    "graph_optimization": Option((str,), _OPT_LEVELS, doc="graph optimization level"),
    "execution_mode": Option((str,), ("sequential", "parallel")),
    # A full EP name (e.g. MIGraphXExecutionProvider) is accepted beside the aliases.
    # A list is an order of preference: the first this build has is used.
    "provider": Option((str, list), ("cpu", "cuda", "tensorrt", "openvino", "dml", "coreml"), open_choices=True),
    "provider_options": Option((dict,), doc="passed to the execution provider"),
}
_KNOWN_OPTIONS = set(OPTIONS)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    source_formats = ("onnx",)
    precisions = ("fp32", "fp16", "int8", "int8-dynamic", "int8-mixed")
    options_schema = OPTIONS

    @classmethod
    def probe(cls) -> Availability:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return Availability(False, reason=f"onnxruntime is not installed ({exc}); pip install onnxruntime")
        providers = tuple(ort.get_available_providers())
        return Availability(True, version=ort.__version__, devices=providers,
                            details={"device": ort.get_device()})

    # -- prepare ------------------------------------------------------------------------------
    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format != "onnx":
            raise UnsupportedVariant(
                f"onnxruntime runs ONNX models; {model.path.name} is {model.format}: use the matching backend"
            )
        if variant.settings.get("prebuilt") or (variant.precision == "fp32" and not variant.settings):
            return Artifact(model.path, "onnx", variant.precision, model.sha256, artifact_bytes(model.path),
                            {"prebuilt": bool(variant.settings.get("prebuilt"))})
        from backends._onnx_variants import prepare_onnx_variant

        return prepare_onnx_variant(model, variant, calibration, cache_dir)

    # -- load / infer ---------------------------------------------------------------------------
    def _session_options(self):
        import onnxruntime as ort

        unknown = set(self.options) - _KNOWN_OPTIONS
        if unknown:
            raise BackendError(
                f"unknown onnxruntime option(s) {sorted(unknown)}: expected some of {sorted(_KNOWN_OPTIONS)}"
            )
        so = ort.SessionOptions()
        if self.options.get("threads") is not None:
            so.intra_op_num_threads = int(self.options["threads"])
        if self.options.get("inter_op_threads") is not None:
            so.inter_op_num_threads = int(self.options["inter_op_threads"])
        level = self.options.get("graph_optimization")
        if level is not None:
            if level not in _OPT_LEVELS:
                raise BackendError(f"graph_optimization must be one of {_OPT_LEVELS}, found {level!r}")
            so.graph_optimization_level = {
                "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            }[level]
        mode = self.options.get("execution_mode")
        if mode is not None:
            if mode not in ("sequential", "parallel"):
                raise BackendError(f"execution_mode must be sequential or parallel, found {mode!r}")
            so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if mode == "parallel"
                                 else ort.ExecutionMode.ORT_SEQUENTIAL)
        return so

    def _providers(self) -> list[Any]:
        import onnxruntime as ort

        wanted = self.options.get("provider") or "cpu"
        # A list is an order of preference (a device profile's: the accelerator when this build has it).
        names = [PROVIDER_ALIASES.get(str(w).lower(), w) for w in (wanted if isinstance(wanted, list) else [wanted])]
        available = ort.get_available_providers()
        present = [n for n in names if n in available]
        if not present:
            raise UnsupportedVariant(
                f"execution provider {' / '.join(names)} is not in this onnxruntime build (it has "
                f"{', '.join(available)}); install the matching onnxruntime package (e.g. onnxruntime-gpu) or "
                "choose another provider"
            )
        name = present[0]
        options = self.options.get("provider_options") or {}
        chosen: list[Any] = [(name, options)] if options else [name]
        if name != "CPUExecutionProvider":
            chosen.append("CPUExecutionProvider")  # fallback for ops the accelerator lacks
        return chosen

    def load(self, artifact: Artifact) -> None:
        import onnxruntime as ort

        try:
            self._session = ort.InferenceSession(str(artifact.path), self._session_options(),
                                                 providers=self._providers())
        except (BackendError, UnsupportedVariant):
            raise
        except Exception as exc:
            raise BackendError(f"onnxruntime could not load {artifact.path.name}: {exc}") from exc
        self._inputs = [TensorSpec(i.name, tuple(i.shape), _ORT_TYPES.get(i.type, i.type))
                        for i in self._session.get_inputs()]
        self._outputs = [TensorSpec(o.name, tuple(o.shape), _ORT_TYPES.get(o.type, o.type))
                         for o in self._session.get_outputs()]
        self._dtypes = {i.name: np.dtype(i.dtype) for i in self._inputs}
        self._output_names = [o.name for o in self._outputs]

    def inputs(self) -> list[TensorSpec]:
        return list(self._inputs)

    def outputs(self) -> list[TensorSpec]:
        return list(self._outputs)

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        # astype(copy=False) is free when the runner already prepared feeds in the model's dtype.
        cast = {k: np.asarray(v).astype(self._dtypes[k], copy=False) for k, v in feeds.items()}
        results = self._session.run(self._output_names, cast)
        return {name: np.asarray(r, dtype=np.float32) for name, r in zip(self._output_names, results)}

    def close(self) -> None:
        self._session = None

    def run_info(self) -> dict[str, Any]:
        session = getattr(self, "_session", None)
        return {"providers": session.get_providers() if session else None,
                "options": {k: v for k, v in self.options.items() if k != "provider_options"}}
