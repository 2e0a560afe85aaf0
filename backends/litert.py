"""LiteRT (TFLite) adapter: the ``ai-edge-litert`` Interpreter, or ``tflite-runtime`` where only that
exists (older Raspberry Pi / Coral images).

Sources: a ``.tflite`` file run as given, or an ONNX model converted by onnx2tf
(``backends/_tflite_convert.py``, the optional 'convert' extra) to fp32, fp16, int8-dynamic
(dynamic-range) or int8 (full-integer, calibrated). An OpenVINO ``.xml`` is not something LiteRT
reads: that run is skipped with the reason.

Feeds and outputs are float arrays in the *reference* layout: the ONNX layout for a model
converted from ONNX (onnx2tf moves channels last; the artifact metadata says how, and ``infer``
transposes), the file's own layout for a ``.tflite`` given as is. int8/uint8 inputs are quantized
with the tensor's scale/zero point, int8/uint8 outputs dequantized. Names: the ONNX names for a
converted model; a ``.tflite``'s own names, less the ``_int8``/``_uint8`` suffix TFLite's
quantized-I/O rewrite adds, so a float/int8 pair agrees (``input_1_int8`` is fed as ``input_1``).

Precision: the interpreter computes in the types the file holds. fp32 is strict float32 (the Python
Interpreter never turns on XNNPACK's fp16 mode, the equivalent of ``allow_fp16``); an fp16 file holds
float16 weights that DEQUANTIZE ops widen to float32, so it computes in fp32 and ``executed_precision()``
says so; bf16 is skipped with the reason (TFLite has no bfloat16 kernels and onnx2tf writes no bf16 file).

Options (``None`` = the runtime's default):
  threads            XNNPACK / kernel threads (Interpreter num_threads)
  delegate           xnnpack (default: the CPU path with XNNPACK) | none (builtin kernels, no
                     default delegate) | edgetpu (libedgetpu.so.1) | gpu (the TFLite GPU delegate
                     library, which the pip wheels do not ship)
  delegate_library   path of the delegate's shared library, to override the default name
  io                 convert (default) | invoke_only. ``invoke_only`` measures what the vendor
                     benchmark measures: inputs are converted and copied into the interpreter only
                     when the feed arrays change (by identity: treat feeds as immutable), and
                     outputs are dequantized lazily, when read, so a timed ``infer`` call is
                     little more than ``interpreter.invoke()``. Outputs of one call must be read
                     before the next call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends._tflite_convert import (
    CONVERTIBLE,
    converter_available,
    edgetpu_compiler_path,
    reference_name,
    to_artifact_layout,
    to_reference_layout,
)
from backends._tflite_io import dequantize, quantize
from backends.base import (
    COMMON_OPTIONS,
    Artifact,
    Availability,
    Backend,
    BackendError,
    Feeds,
    LazyOutputs,
    ModelSource,
    Option,
    ProfileLoop,
    RawProfile,
    TensorSpec,
    UnsupportedVariant,
    Variant,
    artifact_bytes,
)

EDGETPU_LIBRARY = "libedgetpu.so.1"
GPU_LIBRARY = "libtensorflowlite_gpu_delegate.so"
_DELEGATES = ("xnnpack", "none", "edgetpu", "gpu")
OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "delegate": Option((str,), _DELEGATES),
    "delegate_library": Option((str,), doc="path of the delegate's shared library"),
    "io": Option((str,), ("convert", "invoke_only")),
    "benchmark_model": Option((str,), doc="path of TFLite's benchmark_model binary, for the profile pass"),
}
_KNOWN_OPTIONS = set(OPTIONS)
# Ops that move, widen or (de)quantize data, and the delegate's stand-in nodes: not counted as compute.
_NOT_COMPUTE = {"DELEGATE", "DEQUANTIZE", "QUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION",
                "GATHER", "SLICE", "STRIDED_SLICE", "SPLIT", "PACK", "UNPACK", "SHAPE", "CAST"}
NO_OP_PROFILER = ("LiteRT's Python Interpreter exposes no per-operator profiler, and the ai-edge-litert wheel ships "
                  "no benchmark_model binary (its litert-benchmark script times whole inferences only); put "
                  "TFLite's benchmark_model on PATH, or set options.benchmark_model to its path, to profile")


def _runtime() -> tuple[Any, str, str]:
    """(interpreter module, distribution name, version); ImportError when neither is installed."""
    try:
        from ai_edge_litert import interpreter as mod

        try:
            from importlib.metadata import version

            ver = version("ai-edge-litert")
        except Exception:
            ver = "unknown"
        return mod, "ai-edge-litert", ver
    except ImportError:
        from tflite_runtime import interpreter as mod  # type: ignore[import-not-found]

        return mod, "tflite-runtime", getattr(__import__("tflite_runtime"), "__version__", "unknown")


def _library_reason(library: str, what: str, install: str) -> str | None:
    """None when the shared library loads; else why not, in words."""
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        return f"{what}: {library} cannot be loaded ({exc}); {install}"
    return None


def delegate_reasons(mod: Any | None = None) -> dict[str, str | None]:
    """delegate -> None when usable here, else the reason. Cheap: loads libraries, no model."""
    reasons: dict[str, str | None] = {"xnnpack": None, "none": None}
    edgetpu = _library_reason(EDGETPU_LIBRARY, "Edge TPU delegate",
                              "install libedgetpu1-std from Coral's apt repository and attach a Coral device")
    if edgetpu is None and mod is not None:
        try:
            mod.load_delegate(EDGETPU_LIBRARY)
        except Exception as exc:  # the library is there but no Edge TPU answers
            edgetpu = f"Edge TPU delegate: {EDGETPU_LIBRARY} loads but no Edge TPU device was found ({exc})"
    reasons["edgetpu"] = edgetpu
    reasons["gpu"] = _library_reason(GPU_LIBRARY, "GPU delegate",
                                     "the ai-edge-litert wheel has no GPU delegate for the Interpreter; build "
                                     "it from the LiteRT sources (OpenCL/OpenGL ES device needed) and pass "
                                     "options.delegate_library")
    return reasons


# ---------------------------------------------------------------------------------------------
# Quantized I/O
# ---------------------------------------------------------------------------------------------


class _IO:
    """One model input/output: reference name, interpreter detail, reference↔artifact permutation."""

    def __init__(self, name: str, detail: Mapping[str, Any], perm: list[int] | None) -> None:
        self.name = name
        self.detail = detail
        self.index = int(detail["index"])
        self.perm = perm
        art_shape = [int(d) for d in detail["shape"]]
        self.shape = tuple(art_shape[perm.index(i)] for i in range(len(perm))) if perm else tuple(art_shape)

    def spec(self, reference: str) -> TensorSpec:
        layout = None
        if len(self.shape) == 4:
            channels_last = self.perm is not None and self.perm == [0, 2, 3, 1]
            layout = "NCHW" if (reference == "onnx" and channels_last) else ("NHWC" if reference == "tflite" else None)
        return TensorSpec(self.name, self.shape, np.dtype(self.detail["dtype"]).name, layout)


class LiteRTBackend(Backend):
    name = "litert"
    source_formats = ("tflite", "onnx")
    precisions = (*CONVERTIBLE, "bf16")
    options_schema = OPTIONS

    @classmethod
    def probe(cls) -> Availability:
        try:
            mod, dist, ver = _runtime()
        except ImportError as exc:
            return Availability(False, reason=f"neither ai-edge-litert nor tflite-runtime is installed ({exc}); "
                                              "pip install ai-edge-litert")
        reasons = delegate_reasons(mod)
        devices = tuple(["cpu"] + [d for d in ("edgetpu", "gpu") if reasons[d] is None])
        absent = "; ".join(r for r in reasons.values() if r)
        converter = converter_available()
        details = {
            "runtime": dist,
            "delegates": {k: ("available" if v is None else v) for k, v in reasons.items()},
            "onnx_conversion": "available" if converter is None else converter,
            "edgetpu_compiler": edgetpu_compiler_path() or "edgetpu_compiler is not on PATH",
        }
        return Availability(True, version=ver, devices=devices, reason=absent or None, details=details)

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        native = set(cpu.get("native") or ["fp32"])
        int8 = "native" if "int8" in native else "int8 kernels without a fast 8-bit dot product (no VNNI/dotprod)"
        out = {"fp32": "native", "fp16": "runs fp32 (float16 weights are dequantized at load)",
               "int8": int8, "int8-dynamic": "hybrid: int8 weights, fp32 activations",
               "bf16": "skipped: TFLite has no bf16 kernels"}
        return {p: out.get(p, "not described by this adapter") for p in cls.precisions}

    # -- prepare --------------------------------------------------------------------------------
    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format not in self.source_formats:
            raise UnsupportedVariant(
                f"LiteRT runs .tflite files (or converts ONNX); {model.path.name} is {model.format}: "
                "use the matching backend (openvino for an .xml IR)"
            )
        if variant.precision == "bf16" and not variant.settings.get("prebuilt"):
            raise UnsupportedVariant("LiteRT (TFLite) has no bfloat16 kernels and onnx2tf writes no bf16 model; "
                                     "run bf16 on openvino (CPUs with AVX512_BF16/AMX)")
        if model.format == "tflite":
            if variant.settings.get("prebuilt") or variant.precision == "fp32":
                if variant.settings.get("edgetpu"):
                    return self._edgetpu_file(model, variant, cache_dir)
                return Artifact(model.path, "tflite", variant.precision, model.sha256, artifact_bytes(model.path),
                                {"reference": "tflite", "prebuilt": bool(variant.settings.get("prebuilt"))})
            raise UnsupportedVariant(
                f"LiteRT does not re-quantize a .tflite file to {variant.precision}; make that file elsewhere and "
                "declare it as a variant of the model (variants: {fp32: a.tflite, int8: b.tflite})"
            )
        if variant.settings.get("prebuilt"):
            raise UnsupportedVariant(f"a prebuilt {variant.precision} ONNX file is not something LiteRT runs; "
                                     "give the .tflite made from it")
        if variant.precision not in CONVERTIBLE:
            raise UnsupportedVariant(
                f"LiteRT precisions from ONNX are {', '.join(CONVERTIBLE)}; {variant.precision} is not one "
                "(onnx2tf has no per-layer float fallback for int8-mixed)"
            )
        from backends._tflite_convert import convert

        return convert(model, variant, calibration, cache_dir)

    def _edgetpu_file(self, model: ModelSource, variant: Variant, cache_dir: Path) -> Artifact:
        from backends._tflite_convert import _edgetpu_compile

        if edgetpu_compiler_path() is None:
            raise UnsupportedVariant("Edge TPU compilation needs edgetpu_compiler on PATH (Coral's Debian package "
                                     "'edgetpu-compiler', x86-64 only); it is not installed here")
        out = Path(cache_dir) / "litert" / f"{model.sha256[:16]}-{variant.key()}"
        made = _edgetpu_compile(model.path, out)
        return Artifact(made, "tflite", variant.precision, model.sha256, artifact_bytes(made),
                        {"reference": "tflite", "edgetpu": True})

    # -- load -----------------------------------------------------------------------------------
    def _delegates(self, mod: Any) -> tuple[list[Any], Any]:
        delegate = str(self.options.get("delegate") or "xnnpack").lower()
        if delegate not in _DELEGATES:
            raise BackendError(f"litert option delegate must be one of {', '.join(_DELEGATES)}; found {delegate!r}")
        resolver = mod.OpResolverType.AUTO
        if delegate == "none":
            resolver = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if delegate in ("edgetpu", "gpu"):
            library = self.options.get("delegate_library") or (EDGETPU_LIBRARY if delegate == "edgetpu"
                                                                 else GPU_LIBRARY)
            install = ("install libedgetpu1-std from Coral's apt repository and attach a Coral device"
                       if delegate == "edgetpu" else "build the TFLite GPU delegate and pass options.delegate_library")
            reason = _library_reason(library, f"{delegate} delegate", install)
            if reason:
                raise UnsupportedVariant(reason)
            try:
                return [mod.load_delegate(library)], resolver
            except Exception as exc:
                raise UnsupportedVariant(f"{delegate} delegate: {library} loads but the delegate could not start "
                                         f"({exc}); is the device attached?") from exc
        return [], resolver

    def load(self, artifact: Artifact) -> None:
        unknown = set(self.options) - _KNOWN_OPTIONS
        if unknown:
            raise BackendError(f"unknown litert option(s) {sorted(unknown)}: expected some of {sorted(_KNOWN_OPTIONS)}")
        io_mode = str(self.options.get("io") or "convert")
        if io_mode not in ("convert", "invoke_only"):
            raise BackendError(f"litert option io must be convert or invoke_only; found {io_mode!r}")
        self._invoke_only = io_mode == "invoke_only"
        if artifact.format != "tflite":
            raise UnsupportedVariant(f"LiteRT loads .tflite artifacts; got {artifact.format} ({artifact.path.name})")
        try:
            mod, self._dist, self._version = _runtime()
        except ImportError as exc:
            raise UnsupportedVariant(f"LiteRT is not installed ({exc}); pip install ai-edge-litert") from exc
        delegates, resolver = self._delegates(mod)
        threads = self.options.get("threads")
        try:
            self._interp = mod.Interpreter(
                model_path=str(artifact.path),
                num_threads=int(threads) if threads is not None else None,
                experimental_delegates=delegates or None,
                experimental_op_resolver_type=resolver,
            )
            self._interp.allocate_tensors()
        except ValueError as exc:
            raise BackendError(f"LiteRT could not load {artifact.path.name}: {exc}") from exc
        except RuntimeError as exc:
            raise BackendError(f"LiteRT could not prepare {artifact.path.name}: {exc}") from exc
        self._artifact = artifact
        self._reference = str(artifact.metadata.get("reference", "tflite"))
        in_details = {d["index"]: d for d in self._interp.get_input_details()}
        out_details = {d["index"]: d for d in self._interp.get_output_details()}
        if self._reference == "onnx":
            self._in = [_IO(n, in_details[m["index"]], list(m["perm"])) for n, m in artifact.metadata["inputs"].items()]
            self._out = [_IO(n, out_details[m["index"]], list(m["perm"]))
                         for n, m in artifact.metadata["outputs"].items()]
        else:
            self._in = [_IO(reference_name(d["name"], d["dtype"]), d, None) for d in in_details.values()]
            self._out = [_IO(reference_name(d["name"], d["dtype"]), d, None) for d in out_details.values()]
        self._out_by_name = {o.name: o for o in self._out}
        self._last_key: tuple[int, ...] | None = None
        self._generation = 0

    def inputs(self) -> list[TensorSpec]:
        return [io.spec(self._reference) for io in self._in]

    def outputs(self) -> list[TensorSpec]:
        return [io.spec(self._reference) for io in self._out]

    # -- infer ----------------------------------------------------------------------------------
    def _feed_for(self, io: _IO, feeds: Feeds) -> np.ndarray:
        if io.name in feeds:
            return np.asarray(feeds[io.name])
        if len(self._in) == 1 and len(feeds) == 1:
            # A float/int8 pair often names its one input differently (input_1 vs input_1_int8).
            return np.asarray(next(iter(feeds.values())))
        raise BackendError(f"feeds lack input {io.name!r}: expected {[i.name for i in self._in]}, "
                           f"found {sorted(feeds)}")

    def _set_inputs(self, feeds: Feeds) -> None:
        for io in self._in:
            x = to_artifact_layout(self._feed_for(io, feeds), io.perm)
            q = quantize(x, io.detail)
            if q.shape != tuple(io.detail["shape"]):
                if q.size != int(np.prod(io.detail["shape"])):
                    raise BackendError(f"input {io.name!r}: expected shape {list(io.shape)} (reference layout), "
                                       f"found {list(np.shape(self._feed_for(io, feeds)))}")
                q = q.reshape(io.detail["shape"])
            self._interp.set_tensor(io.index, np.ascontiguousarray(q))

    def _read_output(self, io: _IO) -> np.ndarray:
        return np.ascontiguousarray(to_reference_layout(dequantize(self._interp.get_tensor(io.index), io.detail),
                                                        io.perm))

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        if self._invoke_only:
            key = (id(feeds), *(id(v) for v in feeds.values()))
            if key != self._last_key:
                self._set_inputs(feeds)
                self._last_key = key
            self._run()
            self._generation += 1
            by_name = self._out_by_name
            return LazyOutputs(by_name, lambda name: self._read_output(by_name[name]), self._generation,
                               lambda: self._generation)  # type: ignore[return-value]
        self._set_inputs(feeds)
        self._run()
        self._generation += 1
        return {io.name: self._read_output(io) for io in self._out}

    def _run(self) -> None:
        try:
            self._interp.invoke()
        except RuntimeError as exc:  # a kernel refused (e.g. a quantized division by zero)
            raise BackendError(f"LiteRT inference failed on {self._artifact.path.name}: "
                               f"{' '.join(str(exc).split())[:600]}") from exc

    def invoke(self) -> None:
        """Run the interpreter on whatever inputs it holds: the bare call a vendor benchmark times."""
        self._interp.invoke()

    def close(self) -> None:
        self._interp = None

    def profile(self, feeds: Feeds, iterations: int, loop: ProfileLoop | None = None) -> RawProfile:
        """Per-operator time from TFLite's ``benchmark_model --enable_op_profiling=true`` on the same artifact,
        parsed (the Python API has no op profiler). The tool times itself, so ``loop`` is not used and the
        pass's overhead is not known; the tool's own inputs are random, which op timing does not depend on
        for dense models."""
        import shutil
        import subprocess

        from backends._profiles import parse_benchmark_model_output

        tool = self.options.get("benchmark_model") or shutil.which("benchmark_model")
        if not tool:
            return RawProfile.unavailable("litert benchmark_model --enable_op_profiling", NO_OP_PROFILER)
        artifact = getattr(self, "_artifact", None)
        if artifact is None:
            return RawProfile.unavailable("litert", "the model is not loaded: profile() follows load()")
        delegate = str(self.options.get("delegate") or "xnnpack").lower()
        command = [str(tool), f"--graph={artifact.path}", "--enable_op_profiling=true",
                   f"--num_runs={max(1, iterations)}", f"--use_xnnpack={'true' if delegate == 'xnnpack' else 'false'}"]
        if self.options.get("threads") is not None:
            command.append(f"--num_threads={int(self.options['threads'])}")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return RawProfile.unavailable("litert benchmark_model --enable_op_profiling",
                                          f"{tool} could not run: {exc}")
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).split())[-400:]
            return RawProfile.unavailable("litert benchmark_model --enable_op_profiling",
                                          f"{tool} exited with {done.returncode}: {tail}")
        return parse_benchmark_model_output(done.stdout + "\n" + done.stderr)

    def run_info(self) -> dict[str, Any]:
        def describe(io: _IO) -> dict[str, Any]:
            scale, zero = io.detail.get("quantization", (0.0, 0))
            return {"name": io.name, "tflite_name": io.detail["name"], "dtype": np.dtype(io.detail["dtype"]).name,
                    "tflite_shape": [int(d) for d in io.detail["shape"]], "perm": io.perm,
                    "scale": float(scale) if scale else None, "zero_point": int(zero) if scale else None}

        return {
            "runtime": getattr(self, "_dist", None),
            "delegate": str(self.options.get("delegate") or "xnnpack"),
            "threads": self.options.get("threads"),
            "io": "invoke_only" if getattr(self, "_invoke_only", False) else "convert",
            "reference_layout": getattr(self, "_reference", None),
            "inputs": [describe(i) for i in getattr(self, "_in", [])],
            "outputs": [describe(o) for o in getattr(self, "_out", [])],
        }

    def executed_precision(self) -> dict[str, Any]:
        """The tensor types of the interpreter's compute ops (a hybrid op with int8 weights counts as int8)."""
        interp = getattr(self, "_interp", None)
        if interp is None:
            return super().executed_precision()
        from backends.base import executed_summary, precision_of_type

        try:
            ops = interp._get_ops_details()  # the op list with tensor indices; no public API gives it
        except AttributeError:
            return {**super().executed_precision(), "reason": "this LiteRT build does not list its ops"}
        types = {t["index"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
        counts: dict[str, int] = {}
        weights: dict[str, int] = {}
        for op in ops:
            if op["op_name"] in _NOT_COMPUTE:
                if op["op_name"] == "DEQUANTIZE":
                    for i in op["inputs"]:
                        if i >= 0 and precision_of_type(types.get(i)):
                            p = precision_of_type(types[i])
                            weights[p] = weights.get(p, 0) + 1
                continue
            found = [precision_of_type(types.get(i)) for i in [*op["inputs"], *op["outputs"]] if i >= 0]
            precision = "int8" if "int8" in found else next((p for p in found if p), None)
            if precision:
                counts[precision] = counts.get(precision, 0) + 1
        extra = {"dequantized_weights": weights} if weights else {}
        return executed_summary(counts, "ops", "LiteRT interpreter op tensor types", **extra)

    def warnings(self) -> list[str]:
        notes = []
        artifact = getattr(self, "_artifact", None)
        if artifact is not None and artifact.precision == "fp16":
            notes.append("LiteRT fp16: weights are stored in float16 and dequantized to float32 at load on CPUs "
                         "without fp16 arithmetic; compute runs in float32 (size shrinks, speed rarely changes)")
        return notes
