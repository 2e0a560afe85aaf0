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

Precisions: fp32, fp16 (float16 weights and compute where the provider has fp16 kernels; the CPU
provider inserts casts around the ops it lacks, so much of an fp16 model computes in fp32 on x86),
the int8 labels (``backends._onnx_variants``). bf16 is skipped with the reason: the CPU provider has no
bfloat16 Conv/MatMul/Gemm kernels. ``executed_precision()`` reads the element types of the graph ORT
optimised for this provider (casts and fused kernels included), so it says what ran, not what the
file holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    ProfileLoop,
    RawProfile,
    TensorSpec,
    UnsupportedVariant,
    Variant,
    artifact_bytes,
    plain_loop,
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
    precisions = ("fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed")
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

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        native = set(cpu.get("native") or ["fp32"])
        int8 = "native" if "int8" in native else "int8 kernels without a fast 8-bit dot product (no VNNI/dotprod)"
        fp16 = ("partly native (MLAS fp16 kernels; other ops cast to fp32)" if cpu.get("arch") == "arm"
                and "fp16" in native else "runs fp32 (the CPU provider casts fp16 ops to fp32)")
        return {"fp32": "native", "fp16": fp16, "bf16": "skipped: the CPU provider has no bf16 kernels",
                "int8": int8, "int8-dynamic": int8, "int8-mixed": int8}

    # -- prepare ------------------------------------------------------------------------------
    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format != "onnx":
            raise UnsupportedVariant(
                f"onnxruntime runs ONNX models; {model.path.name} is {model.format}: use the matching backend"
            )
        if variant.precision == "bf16" and not variant.settings.get("prebuilt"):
            raise UnsupportedVariant(
                "ONNX Runtime's CPU execution provider has no bfloat16 kernels for Conv, MatMul or Gemm, so a bf16 "
                "model would not run in bf16; run bf16 on openvino (CPUs with AVX512_BF16/AMX) or tensorrt (GPUs "
                "of compute capability 8.0+)")
        if variant.settings.get("prebuilt") or (variant.precision == "fp32" and not variant.settings):
            return Artifact(model.path, "onnx", variant.precision, model.sha256, artifact_bytes(model.path),
                            {"prebuilt": bool(variant.settings.get("prebuilt"))})
        from backends._onnx_variants import prepare_onnx_variant

        return prepare_onnx_variant(model, variant, calibration, cache_dir, isa=self.cpu_isa)

    # -- load / infer ---------------------------------------------------------------------------
    def _session_options(self):
        import onnxruntime as ort

        unknown = set(self.options) - _KNOWN_OPTIONS
        if unknown:
            raise BackendError(
                f"unknown onnxruntime option(s) {sorted(unknown)}: expected some of {sorted(_KNOWN_OPTIONS)}"
            )
        so = ort.SessionOptions()
        # Pinned off (its default today): on Arm64 with bf16 this would run fp32 MatMul/Gemm in bf16 under an fp32
        # label. A config key this build does not know is ignored.
        so.add_session_config_entry("mlas.enable_gemm_fastmath_arm64_bfloat16", "0")
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
        self._artifact = artifact
        self._output_names = [o.name for o in self._outputs]
        self._artifact_path = Path(artifact.path)

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

    def executed_precision(self) -> dict[str, Any]:
        """Element types of the compute nodes in the graph ORT optimised for this session's providers.

        ORT does not expose the optimised graph of a live session, so a second session with the same options
        writes it (``optimized_model_filepath``); called after the timed phases, it costs only time.
        """
        artifact = getattr(self, "_artifact", None)
        if artifact is None:
            return super().executed_precision()
        import tempfile

        import onnx
        import onnxruntime as ort

        from backends.base import executed_summary

        with tempfile.TemporaryDirectory() as tmp:
            so = self._session_options()
            so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
            so.log_severity_level = 3  # the "hardware specific optimizations" notice is expected here
            ort.InferenceSession(str(artifact.path), so, providers=self._providers())
            graph = onnx.load(so.optimized_model_filepath, load_external_data=False).graph
        counts = onnx_compute_types(graph)
        source = "onnxruntime optimised graph (element types of compute nodes)"
        providers = self._session.get_providers()
        if providers and providers[0] != "CPUExecutionProvider":
            # Nodes an accelerator provider takes are one opaque node here: its own precision choice is not visible.
            source += f"; nodes placed on {providers[0]} are counted by their ONNX types"
        return executed_summary(counts, "nodes", source)

    def profile(self, feeds: Feeds, iterations: int, loop: ProfileLoop | None = None) -> RawProfile:
        """ONNX Runtime's own profiler, in a second session with ``enable_profiling`` (the timed session
        stays untouched); the first run of that session is dropped."""
        import tempfile

        import onnxruntime as ort

        from backends._profiles import load_ort_trace, parse_ort_trace

        if getattr(self, "_session", None) is None:
            return RawProfile.unavailable("onnxruntime", "the model is not loaded: profile() follows load()")
        with tempfile.TemporaryDirectory(prefix="edgebench-ort-profile-") as tmp:
            options = self._session_options()
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(tmp) / "ort")
            session = ort.InferenceSession(str(self._artifact_path), options, providers=self._providers())
            cast = {k: np.asarray(v).astype(self._dtypes[k], copy=False) for k, v in feeds.items()}
            session.run(self._output_names, cast)  # allocation and tuning: dropped by the parser
            (loop or plain_loop)(lambda: session.run(self._output_names, cast), None, iterations)
            events = load_ort_trace(session.end_profiling())
        return parse_ort_trace(events, skip_runs=1)

    def run_info(self) -> dict[str, Any]:
        session = getattr(self, "_session", None)
        return {"providers": session.get_providers() if session else None,
                "options": {k: v for k, v in self.options.items() if k != "provider_options"}}


# Nodes that move, cast or (de)quantize data rather than compute: not counted in executed_precision.
_NOT_COMPUTE = {"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ReorderInput",
                "ReorderOutput", "Shape", "Size", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
                "Transpose", "Concat", "Gather", "Slice", "Split", "Constant", "ConstantOfShape", "Expand", "Range"}
_INT_TYPES = {"int8", "uint8", "int4", "uint4"}


def onnx_compute_types(graph: Any) -> dict[str, int]:
    """Count an (optimised) ONNX graph's compute nodes by precision: int8 when a node takes 8-bit integer
    inputs (QLinearConv, ConvInteger, MatMulInteger...), else the float type of its first float input.
    Types are propagated through the graph, since ORT's contrib ops carry no value_info."""
    from onnx import helper

    from backends.base import precision_of_type

    def np_name(elem_type: int) -> str:
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
        except Exception:  # bfloat16 and the float8 types have no numpy dtype
            return helper.tensor_dtype_to_string(elem_type).removeprefix("TensorProto.").lower()

    types: dict[str, str] = {}
    for v in list(graph.input) + list(graph.value_info) + list(graph.output):
        if v.type.tensor_type.elem_type:
            types[v.name] = np_name(v.type.tensor_type.elem_type)
    for init in graph.initializer:
        types[init.name] = np_name(init.data_type)
    counts: dict[str, int] = {}
    for node in graph.node:
        known = [types[i] for i in node.input if i in types]
        if node.op_type == "Cast":
            to = next((a.i for a in node.attribute if a.name == "to"), 0)
            out_type = np_name(to) if to else None
        elif node.op_type in ("DynamicQuantizeLinear",):
            out_type = "uint8"
        elif node.op_type in ("ConvInteger", "MatMulInteger"):
            out_type = "int32"
        elif node.op_type == "DequantizeLinear":
            out_type = "float32"
        else:
            out_type = next((t for t in known if precision_of_type(t) in ("fp32", "fp16", "bf16")), None) or (
                known[0] if known else None)
        for o in node.output:
            if o and o not in types and out_type:
                types[o] = out_type
        if node.op_type in _NOT_COMPUTE or not known:
            continue
        if any(t in _INT_TYPES for t in known):
            precision = "int8"
        else:
            precision = next((precision_of_type(t) for t in known if precision_of_type(t) in ("fp32", "fp16", "bf16")),
                             None)
        if precision:
            counts[precision] = counts.get(precision, 0) + 1
    return counts
