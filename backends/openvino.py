"""OpenVINO adapter: ONNX run directly or as a cached IR, OpenVINO IR (.xml) and .tflite as given.

Devices: CPU / GPU / NPU as ``probe()`` finds them, plus AUTO. ``load()`` reads and compiles the
model, so the runner's load phase is OpenVINO's compile time.

Precisions from an ONNX source (``Variant.settings`` keys of this adapter; the others go to
``backends._onnx_variants``):
  fp32          ``format: ir`` (default: converted once with ov.convert_model, saved with
                ov.save_model, cached) or ``format: onnx`` (the .onnx read at load time).
  fp16          ``method: hint`` (default): the fp32 IR compiled with INFERENCE_PRECISION_HINT=f16.
                On a CPU without native fp16 (no AVX512-FP16 / AMX-FP16, or Arm without fp16
                arithmetic) OpenVINO quietly runs something else (bf16 where the CPU has
                AVX512_BF16/AMX, else f32): ``executed_precision()`` reads it back and the record
                says so. ``method: onnx``: the ONNX Runtime fp16 model (float16 weights, Cast ops at
                the I/O) converted to IR: OpenVINO folds the casts and computes in the hinted
                precision, so it is mostly a size change.
  bf16          the fp32 IR compiled with INFERENCE_PRECISION_HINT=bf16 (native on AVX512_BF16 and
                AMX; elsewhere OpenVINO runs f32 and the record says so).

Every precision pins INFERENCE_PRECISION_HINT (fp32 and the int8 labels: f32, fp16: f16, bf16: bf16):
left unset, OpenVINO's CPU plugin picks bf16 on a CPU with AVX512_BF16/AMX, so an "fp32" run would
compute in bf16 (and some graphs fail to compile on that path). The float layers of an int8 model are
kept in f32 for the same reason.
  int8          ``method: nncf`` (default when nncf is installed): NNCF post-training
                quantization (``nncf.quantize``) of the fp32 model with the same calibration feeds,
                OpenVINO's own recipe (backends/_ov_recipe.py): ``preset`` auto|performance|mixed
                (auto: performance), ``model_type`` auto|transformer|none (auto: transformer when
                the graph has attention), ``fast_bias_correction`` (true), ``subset_size``
                (default: all samples), ``kernel_check`` (true: layers the CPU plugin would run
                int8 on a float kernel are kept in float); settings meant for other backends are
                listed as ``ignored_settings``.
                ``method: qdq``: the ONNX Runtime static QDQ model run as is (OpenVINO turns Q/DQ
                pairs into FakeQuantize and runs int8 kernels).
                Either way ``metadata.compute_nodes`` counts the compute layers the CPU plugin
                runs in int8; an int8 artifact with none is a skipped run.
  int8-dynamic  the ONNX Runtime dynamic-quantized model (DynamicQuantizeLinear/MatMulInteger)
                converted to IR; skipped with the reason if OpenVINO cannot read it.
  int8-mixed    ``method: nncf`` (default): NNCF with ``keep_float`` patterns as an ignored
                scope; ``method: qdq``: the ONNX Runtime mixed model.
An .xml or .tflite source runs as given (``prebuilt`` or fp32); fp16 via the hint applies to them
too. int8/uint8 tensors of a .tflite file are quantized/dequantized with the file's scale/zero
point (read with the LiteRT interpreter), and named as the LiteRT adapter names them (less the
``_int8`` suffix of TFLite's quantized-I/O rewrite).

Options (``None`` = OpenVINO's default):
  device               CPU (default) | GPU | NPU | AUTO | any device string OpenVINO takes
  hint                 latency | throughput (PERFORMANCE_HINT; default latency)
  streams              NUM_STREAMS (int or "AUTO")
  threads              INFERENCE_NUM_THREADS
  inference_precision  f32 | f16 | bf16 (INFERENCE_PRECISION_HINT; overrides the variant's)
  requests             number of async infer requests used by ``infer_many`` (default: the
                       compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS)
  io                   convert (default) | invoke_only: like the LiteRT adapter, inputs are
                       wrapped in shared ov.Tensors and set only when the feed arrays change
                       (by identity), outputs converted lazily when read: a timed ``infer``
                       is then ``InferRequest.infer()`` alone, what benchmark_app times.

Throughput mode: ``infer_many(feeds, n)`` runs ``n`` inferences through an AsyncInferQueue of
``requests`` parallel requests (use with hint throughput) and returns how many completed; the
caller times the call and divides. ``infer_many(feeds, n, collect=True)`` returns the outputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends import _ov_recipe
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
    atomic_path,
    plain_loop,
)

OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "device": Option((str,), ("cpu", "gpu", "npu", "auto"), open_choices=True, doc="CPU, GPU, NPU, AUTO:..."),
    "hint": Option((str,), ("latency", "throughput", "cumulative_throughput")),
    "streams": Option((int, str), doc="NUM_STREAMS"),
    "inference_precision": Option((str,), ("f32", "fp32", "f16", "fp16", "bf16")),
    "requests": Option((int,), doc="parallel infer requests"),
    "io": Option((str,), ("convert", "invoke_only")),
}
_KNOWN_OPTIONS = set(OPTIONS)
_OWN_SETTINGS = {"method", "format", "subset_size", "prebuilt"}
_PRECISION_TYPES = {"f32": "f32", "fp32": "f32", "f16": "f16", "fp16": "f16", "bf16": "bf16"}
# The INFERENCE_PRECISION_HINT each label pins (see the module docstring).
LABEL_HINT = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32", "int8-dynamic": "f32",
              "int8-mixed": "f32", "prebuilt": "f32"}
# Runtime-model layers that move or reshape data rather than compute: not counted in executed_precision.
_NOT_COMPUTE = {"Input", "Output", "Parameter", "Result", "Const", "Constant", "Reorder", "Reshape", "Squeeze",
                "Unsqueeze", "ShapeOf", "Convert", "Transpose", "Concatenation", "Gather", "Split", "StridedSlice",
                "Broadcast"}


def _default_method(precision: str, source_format: str) -> str:
    """OpenVINO's own recipe where it has one: NNCF for static int8 of a model it can read."""
    if precision == "fp16":
        return "hint"
    if precision in ("int8", "int8-mixed") and source_format in ("onnx", "openvino"):
        import importlib.util

        return "nncf" if importlib.util.find_spec("nncf") is not None else "qdq"
    return "qdq"


def _ov_dtype(element_type: Any) -> str:
    try:
        return np.dtype(element_type.to_dtype()).name
    except Exception:
        return str(element_type)


def _tflite_qparams(path: Path) -> dict[str, tuple[float, int, str]]:
    """name -> (scale, zero_point, dtype) of a .tflite file's quantized inputs/outputs."""
    try:
        from backends.litert import _runtime
    except ImportError as exc:  # pragma: no cover - same package
        raise BackendError(str(exc)) from exc
    try:
        mod, _, _ = _runtime()
    except ImportError as exc:
        raise UnsupportedVariant(
            f"{path.name} has quantized inputs/outputs; reading their scale/zero point needs ai-edge-litert "
            f"({exc}); pip install ai-edge-litert"
        ) from exc
    interp = mod.Interpreter(model_path=str(path))
    found = {}
    for d in interp.get_input_details() + interp.get_output_details():
        scale, zero = d["quantization"]
        if np.dtype(d["dtype"]).kind in "iu" and scale:
            found[d["name"]] = (float(scale), int(zero), np.dtype(d["dtype"]).name)
    return found


def _read_model(core: Any, artifact: Artifact) -> Any:
    try:
        model = core.read_model(str(artifact.path))
    except Exception as exc:
        raise BackendError(f"OpenVINO could not read {artifact.path.name}: {str(exc)[:600]}") from exc
    # A dynamic batch dim (as .tflite files read) is fixed to 1 so the CPU plugin can plan memory.
    new_shapes = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_static and len(shape) > 0 and shape[0].is_dynamic and all(
                d.is_static for d in list(shape)[1:]):
            new_shapes[port.get_any_name()] = [1] + [d.get_length() for d in list(shape)[1:]]
    if new_shapes:
        model.reshape(new_shapes)
    return model


def _onnx_io_names(path: Path) -> list[str]:
    """The ONNX graph's input and output names: the names feeds and outputs go by."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [v.name for v in graph.input] + [v.name for v in graph.output]


def _type_name(value: Any) -> Any:
    """An ov.Type (or a list of them) as its short name ('f32'); other values unchanged."""
    if hasattr(value, "to_string"):
        return value.to_string()
    return value


def _samples_digest(samples: list[dict[str, Any]]) -> str:
    """Content hash of calibration feeds: a different calibration set is a different artifact."""
    import hashlib

    h = hashlib.sha256()
    for sample in samples:
        for k in sorted(sample):
            a = np.ascontiguousarray(sample[k])
            h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


class _Port:
    def __init__(self, name: str, dtype: str, shape: tuple[Any, ...], qparams: tuple[float, int, str] | None,
                 ov_name: str | None = None) -> None:
        self.name = name  # what feeds and outputs are keyed by
        self.ov_name = ov_name or name  # what the compiled model calls it
        self.dtype = np.dtype(dtype) if dtype in np.sctypeDict else np.dtype(np.float32)
        self.shape = shape
        self.qparams = qparams

    def to_model(self, x: np.ndarray) -> np.ndarray:
        if self.qparams is not None:
            scale, zero, _ = self.qparams
            info = np.iinfo(self.dtype)
            return np.clip(np.rint(np.asarray(x, np.float32) / scale) + zero, info.min, info.max).astype(self.dtype)
        return np.ascontiguousarray(np.asarray(x).astype(self.dtype, copy=False))

    def to_float(self, y: np.ndarray) -> np.ndarray:
        if self.qparams is not None:
            scale, zero, _ = self.qparams
            return ((y.astype(np.float32) - zero) * np.float32(scale)).astype(np.float32)
        return np.array(y, dtype=np.float32)  # copies: the request's buffer is reused by the next call


class OpenVINOBackend(Backend):
    name = "openvino"
    source_formats = ("onnx", "openvino", "tflite")
    precisions = ("fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed")
    options_schema = OPTIONS
    recipe_version = _ov_recipe.RECIPE_VERSION

    @classmethod
    def probe(cls) -> Availability:
        try:
            import openvino as ov
        except ImportError as exc:
            return Availability(False, reason=f"openvino is not installed ({exc}); pip install openvino")
        try:
            core = ov.Core()
            found = list(core.available_devices)
        except Exception as exc:
            return Availability(False, version=ov.__version__, reason=f"OpenVINO could not start: {exc}")
        names = {}
        for dev in found:
            try:
                names[dev] = core.get_property(dev, "FULL_DEVICE_NAME")
            except Exception:
                names[dev] = dev
        absent = []
        for dev, why in (("GPU", "no Intel GPU with a working OpenCL/Level Zero driver was found"),
                         ("NPU", "no Intel NPU (Core Ultra) with its driver was found")):
            if not any(d.split(".")[0] == dev for d in found):
                absent.append(f"{dev}: {why}")
        devices = tuple(found + (["AUTO"] if found else []))
        try:
            import nncf

            nncf_version = nncf.__version__
        except ImportError:
            nncf_version = None
        details = {"device_names": names, "nncf": nncf_version or "not installed: int8 method nncf unavailable"}
        if not found:
            return Availability(False, version=ov.__version__, reason="OpenVINO found no device", details=details)
        return Availability(True, version=ov.__version__, devices=devices, reason="; ".join(absent) or None,
                            details=details)

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        native = set(cpu.get("native") or ["fp32"])
        int8 = "native" if "int8" in native else "int8 kernels without a fast 8-bit dot product (no VNNI/dotprod)"
        fp16 = ("native" if "fp16" in native else
                "runs bf16 (no fp16 arithmetic; OpenVINO picks bf16)" if "bf16" in native else
                "runs fp32 (no fp16 arithmetic)")
        return {"fp32": "native", "fp16": fp16,
                "bf16": "native" if "bf16" in native else "runs fp32 (no bf16 arithmetic)",
                "int8": int8, "int8-mixed": int8,
                "int8-dynamic": "partly: the dynamic-quantized ops OpenVINO recognises run int8, the rest fp32"}

    # -- prepare --------------------------------------------------------------------------------
    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format not in self.source_formats:
            raise UnsupportedVariant(f"OpenVINO reads ONNX, OpenVINO IR and .tflite; {model.path.name} is "
                                     f"{model.format}: use the matching backend")
        settings = dict(variant.settings)
        method = str(settings.get("method") or _default_method(variant.precision, model.format))
        meta: dict[str, Any] = {"source_format": model.format, "method": method,
                                "inference_precision": LABEL_HINT.get(variant.precision, "f32")}
        float_ir = variant.precision in ("fp32", "bf16") or (variant.precision == "fp16" and method == "hint")
        if settings.get("prebuilt"):
            return self._as_given(model, variant, meta)
        if model.format != "onnx":
            if float_ir:
                return self._as_given(model, variant, meta)
            if variant.precision == "int8" and method == "nncf" and model.format == "openvino":
                return self._nncf(model, variant, calibration, cache_dir, meta)
            raise UnsupportedVariant(
                f"OpenVINO makes {variant.precision} (method {method}) from ONNX sources; {model.path.name} is "
                f"{model.format}: give the ONNX model, or declare the {variant.precision} file as a variant"
            )
        if float_ir:
            if settings.get("format") == "onnx":
                return self._as_given(model, variant, {**meta, "format": "onnx"})
            return self._to_ir(model.path, model, variant, cache_dir, meta)
        if method == "nncf":
            if variant.precision not in ("int8", "int8-mixed"):
                raise UnsupportedVariant(f"method nncf makes int8 and int8-mixed; {variant.precision} asked")
            return self._nncf(model, variant, calibration, cache_dir, meta)
        if method not in ("qdq", "onnx"):
            raise BackendError(f"openvino: settings.method for {variant.precision} must be "
                               f"{'hint or onnx' if variant.precision == 'fp16' else 'qdq or nncf'}; found {method!r}")
        try:
            from backends._onnx_variants import prepare_onnx_variant
        except ImportError as exc:
            raise UnsupportedVariant(f"the ONNX precision variants module is missing ({exc})") from exc
        ort_variant = Variant(variant.precision, {k: v for k, v in settings.items() if k not in _OWN_SETTINGS})
        onnx_artifact = prepare_onnx_variant(model, ort_variant, calibration, Path(cache_dir) / "onnx",
                                             isa=self.cpu_isa)
        return self._to_ir(Path(onnx_artifact.path), model, variant, cache_dir,
                           {**meta, "onnx_variant": str(onnx_artifact.path),
                            "recipe": onnx_artifact.metadata.get("recipe")})

    def _as_given(self, model: ModelSource, variant: Variant, meta: dict[str, Any]) -> Artifact:
        return Artifact(model.path, model.format, variant.precision, model.sha256, artifact_bytes(model.path),
                        {**meta, "prebuilt": bool(variant.settings.get("prebuilt"))})

    def _cache_path(self, model: ModelSource, variant: Variant, cache_dir: Path) -> Path:
        import openvino as ov

        key = Variant(variant.precision, {**variant.settings, "_ov": ov.__version__}).key()
        return Path(cache_dir) / "openvino" / f"{model.sha256[:16]}-{key}" / f"{model.path.stem}.xml"

    def _to_ir(self, onnx_path: Path, model: ModelSource, variant: Variant, cache_dir: Path,
               meta: dict[str, Any]) -> Artifact:
        import openvino as ov

        xml = self._cache_path(model, variant, cache_dir)
        if not xml.exists():
            try:
                ov_model = ov.convert_model(str(onnx_path))
            except Exception as exc:
                raise UnsupportedVariant(f"OpenVINO cannot convert {onnx_path.name} ({variant.precision}): "
                                         f"{str(exc)[:600]}") from exc
            xml.parent.mkdir(parents=True, exist_ok=True)
            tmp = xml.with_name(xml.stem + ".tmp.xml")
            # compress_to_fp16=False: keep the weights as the source has them; fp16 is a compile hint.
            ov.save_model(ov_model, str(tmp), compress_to_fp16=False)
            tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
            tmp.replace(xml)
        artifact = Artifact(xml, "openvino", variant.precision, model.sha256, artifact_bytes(xml),
                            {**meta, "format": "ir", "io_names": _onnx_io_names(model.path)})
        if variant.precision.startswith("int8"):
            source_names = _ov_recipe.model_compute_names(ov.Core().read_model(str(xml)))
            artifact = self._with_compute_count(artifact, source_names)
        return artifact

    def _nncf(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None, cache_dir: Path,
              meta: dict[str, Any]) -> Artifact:
        import openvino as ov


        if calibration is None:
            raise BackendError("int8 method nncf needs calibration data; none was given: set data.calibration "
                               "in the suite or pass --calib DIR")
        samples = [dict(f) for f in calibration]
        if not samples:
            raise BackendError("the calibration set is empty: NNCF needs at least one sample (300 is its default)")
        fp32 = ov.Core().read_model(str(model.path))
        try:
            chosen = _ov_recipe.recipe(variant.settings, {op.get_type_name() for op in fp32.get_ops()})
        except ValueError as exc:
            raise BackendError(f"openvino {variant.precision} (method nncf): {exc}") from exc
        xml = self._cache_path(model, Variant(variant.precision, {
            **variant.settings, "_calibration": _samples_digest(samples), "_recipe": _ov_recipe.RECIPE_VERSION}),
            cache_dir)
        found = xml.with_suffix(".recipe.json")
        if xml.exists() and found.is_file():
            chosen = {**chosen, **self._read_json(found)}
        else:
            try:  # imported only to quantize: on a cache hit its ~40 MiB would count as the run's memory
                import nncf
            except ImportError as exc:
                raise UnsupportedVariant(f"int8 method nncf needs nncf ({exc}); pip install nncf") from exc
            names = [p.get_any_name() for p in fp32.inputs]
            missing = [n for n in names if n not in samples[0]]
            if missing:
                raise BackendError(f"calibration feeds lack inputs {missing}: found {sorted(samples[0])}")
            dtypes = {p.get_any_name(): _ov_dtype(p.get_element_type()) for p in fp32.inputs}
            dataset = nncf.Dataset(samples, lambda f: {n: np.asarray(f[n]).astype(
                dtypes[n] if dtypes[n] in np.sctypeDict else np.float32, copy=False) for n in names})
            quantized = self._quantize(nncf, fp32, dataset, chosen, len(samples), model.path.name)
            if chosen["kernel_check"]:
                slow = self._layers_without_int8_kernel(quantized, fp32)
                if slow:
                    chosen["no_int8_kernel"] = sorted(slow)
                    chosen["basis"]["no_int8_kernel"] = (
                        f"kept in float: {', '.join(sorted(set(slow.values())))} would run int8 on a float kernel in "
                        "the CPU plugin (slower than float)")
                    quantized = self._quantize(nncf, fp32, dataset, chosen, len(samples), model.path.name)
            xml.parent.mkdir(parents=True, exist_ok=True)
            ov.save_model(quantized, str(xml), compress_to_fp16=False)
            with atomic_path(found) as tmp:
                tmp.write_text(json.dumps({k: chosen[k] for k in ("no_int8_kernel", "basis") if k in chosen}))
        chosen["calibration_samples"] = len(samples)
        if len(samples) < 16:
            chosen["warnings"] = [f"only {len(samples)} calibration samples: NNCF's statistics are noisy below a "
                                  "few dozen (its default subset is 300)"]
        io_names = _onnx_io_names(model.path) if model.format == "onnx" else []
        return self._with_compute_count(
            Artifact(xml, "openvino", variant.precision, model.sha256, artifact_bytes(xml),
                     {**meta, "format": "ir", "method": "nncf", "io_names": io_names, "recipe": chosen}),
            _ov_recipe.model_compute_names(fp32))

    @staticmethod
    def _quantize(nncf: Any, fp32: Any, dataset: Any, chosen: dict[str, Any], n_samples: int, name: str) -> Any:

        # NNCF logs each step at INFO and draws progress bars on stdout: kept out of the run's output.
        nncf.set_log_level(logging.WARNING)
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter):
                return nncf.quantize(fp32, dataset, **_ov_recipe.quantize_kwargs(chosen, n_samples))
        except Exception as exc:
            raise BackendError(f"nncf.quantize failed on {name} with {chosen}: {str(exc)[:600]}"
                               f"{'; it printed: ' + chatter.getvalue()[-400:] if chatter.getvalue() else ''}") from exc

    @staticmethod
    def _layers_without_int8_kernel(quantized: Any, fp32: Any) -> dict[str, str]:
        import openvino as ov


        core = ov.Core()
        if "CPU" not in core.available_devices:
            return {}
        try:
            compiled = core.compile_model(quantized, "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                             "INFERENCE_PRECISION_HINT": "f32"})
        except Exception:  # the run's own load reports a compile error in full
            return {}
        return _ov_recipe.layers_without_int8_kernel(compiled, fp32)

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _with_compute_count(self, artifact: Artifact, source_names: list[str]) -> Artifact:
        """Compile once on the CPU and count the compute layers that run int8 (cached beside the IR); an
        int8 artifact with none is a skipped run: its figures would be fp32's."""
        import openvino as ov


        if not artifact.precision.startswith("int8"):
            return artifact
        sidecar = artifact.path.with_suffix(".compute.json")
        counts = None
        if sidecar.is_file():
            try:
                counts = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                counts = None
        if not isinstance(counts, dict):
            core = ov.Core()
            if "CPU" not in core.available_devices:
                return artifact
            try:
                # f32 for the float remainder: only which layers run int8 is read here.
                compiled = core.compile_model(str(artifact.path), "CPU",
                                              {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
            except Exception as exc:  # the run's own load reports the compile error in full
                return Artifact(artifact.path, artifact.format, artifact.precision, artifact.source_sha256,
                                artifact.bytes, {**artifact.metadata, "compute_nodes": {
                                    "quantized": None, "total": None,
                                    "reason": f"could not compile to count: {str(exc).strip()[:200]}"}})
            counts = _ov_recipe.compute_nodes(compiled, source_names)
            sidecar.write_text(json.dumps(counts))
        if not counts.get("quantized"):
            raise UnsupportedVariant(
                f"the {artifact.precision} OpenVINO artifact {artifact.path.name} runs 0 of {counts.get('total')} "
                f"compute layers in int8 ({counts.get('by_op')}): it would measure float, not int8. Try another "
                "method (nncf/qdq) or recipe")
        return Artifact(artifact.path, artifact.format, artifact.precision, artifact.source_sha256, artifact.bytes,
                        {**artifact.metadata, "compute_nodes": counts})

    # -- load -----------------------------------------------------------------------------------
    def _config(self, artifact: Artifact) -> dict[str, Any]:
        unknown = set(self.options) - _KNOWN_OPTIONS
        if unknown:
            raise BackendError(f"unknown openvino option(s) {sorted(unknown)}: expected some of "
                               f"{sorted(_KNOWN_OPTIONS)}")
        config: dict[str, Any] = {}
        hint = str(self.options.get("hint") or "latency").lower()
        if hint not in ("latency", "throughput", "cumulative_throughput"):
            raise BackendError(f"openvino option hint must be latency or throughput; found {hint!r}")
        config["PERFORMANCE_HINT"] = hint.upper()
        if self.options.get("streams") is not None:
            config["NUM_STREAMS"] = str(self.options["streams"])
        if self.options.get("threads") is not None:
            config["INFERENCE_NUM_THREADS"] = int(self.options["threads"])
        # Pinned for every label: OpenVINO's own default is bf16 on CPUs that have it.
        precision = (self.options.get("inference_precision") or artifact.metadata.get("inference_precision")
                     or LABEL_HINT.get(artifact.precision, "f32"))
        if precision is not None:
            if str(precision).lower() not in _PRECISION_TYPES:
                raise BackendError(f"openvino option inference_precision must be f32, f16 or bf16; found {precision!r}")
            config["INFERENCE_PRECISION_HINT"] = _PRECISION_TYPES[str(precision).lower()]
        return config

    def load(self, artifact: Artifact) -> None:
        import openvino as ov

        io_mode = str(self.options.get("io") or "convert")
        if io_mode not in ("convert", "invoke_only"):
            raise BackendError(f"openvino option io must be convert or invoke_only; found {io_mode!r}")
        self._invoke_only = io_mode == "invoke_only"
        core = ov.Core()
        device = str(self.options.get("device") or "CPU")
        base = device.split(":")[0].split(".")[0].upper()
        available = list(core.available_devices)
        if base not in ("AUTO", "MULTI", "HETERO", "BATCH") and not any(d.split(".")[0] == base for d in available):
            raise UnsupportedVariant(f"OpenVINO device {device} is not present here (found {', '.join(available)})")
        config = self._config(artifact)
        self._requested_precision = config.get("INFERENCE_PRECISION_HINT")
        model = _read_model(core, artifact)
        qparams = _tflite_qparams(artifact.path) if artifact.format == "tflite" else {}
        try:
            self._compiled = core.compile_model(model, device, config)
        except Exception as exc:
            raise self._compile_error(core, model, device, config, artifact, exc) from exc
        self._request = self._compiled.create_infer_request()
        self._artifact = artifact
        self._device = device

        known = set(artifact.metadata.get("io_names") or [])

        def port(p: Any) -> _Port:
            # A converted port can carry several names (an ORT cast's and the graph's): the graph's wins.
            names = sorted(p.get_names())
            ov_name = next((n for n in names if n in known), None) or p.get_any_name()
            shape = tuple(d.get_length() if d.is_static else None for d in p.get_partial_shape())
            dtype = _ov_dtype(p.get_element_type())
            name = ov_name
            if artifact.format == "tflite":
                from backends._tflite_convert import reference_name

                name = reference_name(ov_name, dtype) if dtype in ("int8", "uint8") else ov_name
            return _Port(name, dtype, shape, qparams.get(ov_name), ov_name)

        self._in = [port(p) for p in self._compiled.inputs]
        self._out = [port(p) for p in self._compiled.outputs]
        self._out_by_name = {p.name: p for p in self._out}
        self._generation = 0
        self._last_key: tuple[int, ...] | None = None

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec(p.name, p.shape, p.dtype.name) for p in self._in]

    @staticmethod
    def _compile_error(core: Any, model: Any, device: str, config: dict[str, Any], artifact: Artifact,
                       exc: Exception) -> BackendError:
        """A failed compile with a reduced-precision hint is the plugin's limit when the f32 compile succeeds
        (e.g. "bad combination" on the CPU plugin's bf16 path): then the run is skipped with that reason."""
        text = f"OpenVINO could not compile {artifact.path.name} for {device} with {config}: {str(exc)[:600]}"
        if config.get("INFERENCE_PRECISION_HINT") in (None, "f32"):
            return BackendError(text)
        try:
            core.compile_model(model, device, {**config, "INFERENCE_PRECISION_HINT": "f32"})
        except Exception:
            return BackendError(text)  # f32 fails too: not a precision limit, a real failure
        hint = config["INFERENCE_PRECISION_HINT"]
        substitute = "; without fp16 arithmetic the CPU plugin takes its bf16 path for f16" if hint == "f16" else ""
        return UnsupportedVariant(f"{text} (the same model compiles with f32: OpenVINO's {hint} path on {device} "
                                  f"cannot take this model{substitute})")

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec(p.name, p.shape, p.dtype.name) for p in self._out]

    # -- infer ----------------------------------------------------------------------------------
    def _model_inputs(self, feeds: Feeds) -> dict[str, np.ndarray]:
        out = {}
        for p in self._in:
            if p.name in feeds:
                x = feeds[p.name]
            elif len(self._in) == 1 and len(feeds) == 1:
                x = next(iter(feeds.values()))  # float/int8 pairs name their one input differently
            else:
                raise BackendError(f"feeds lack input {p.name!r}: expected {[i.name for i in self._in]}, "
                                   f"found {sorted(feeds)}")
            out[p.ov_name] = p.to_model(np.asarray(x))
        return out

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        if self._invoke_only:
            import openvino as ov

            key = (id(feeds), *(id(v) for v in feeds.values()))
            if key != self._last_key:
                self._held = self._model_inputs(feeds)  # kept alive: the tensors share their memory
                for name, array in self._held.items():
                    self._request.set_tensor(name, ov.Tensor(array, shared_memory=True))
                self._last_key = key
            self._request.infer()
            self._generation += 1
            return LazyOutputs(self._out_by_name, self._read_output, self._generation,
                               lambda: self._generation)  # type: ignore[return-value]
        result = self._request.infer(self._model_inputs(feeds), share_inputs=True)
        self._generation += 1
        return {p.name: p.to_float(result[i]) for i, p in enumerate(self._out)}

    def _read_output(self, name: str) -> np.ndarray:
        port = self._out_by_name[name]
        return port.to_float(self._request.get_tensor(port.ov_name).data)

    def infer_many(self, feeds: Feeds, n: int, collect: bool = False) -> int | list[dict[str, np.ndarray]]:
        """Run ``n`` inferences of ``feeds`` through an AsyncInferQueue (throughput mode).

        Returns the number completed, or with ``collect=True`` the outputs of each (float, the
        reference layout). Time the call from outside and divide by ``n`` for throughput.
        """
        import openvino as ov

        if n < 1:
            raise BackendError(f"infer_many needs n >= 1; found {n}")
        jobs = self.options.get("requests")
        if jobs is None:
            jobs = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queue = ov.AsyncInferQueue(self._compiled, int(jobs))
        inputs = self._model_inputs(feeds)
        results: list[dict[str, np.ndarray] | None] = [None] * n
        errors: list[str] = []

        def done(request: Any, index: int) -> None:
            try:
                if collect:
                    results[index] = {p.name: p.to_float(request.get_tensor(p.ov_name).data) for p in self._out}
            except Exception as exc:  # the callback runs on OpenVINO's thread: report, don't raise there
                errors.append(str(exc))

        queue.set_callback(done)
        for i in range(n):
            queue.start_async(inputs, i, share_inputs=True)
        queue.wait_all()
        if errors:
            raise BackendError(f"async inference failed: {errors[0]}")
        return [r for r in results if r is not None] if collect else n

    def close(self) -> None:
        self._request = None
        self._compiled = None

    def profile(self, feeds: Feeds, iterations: int, loop: ProfileLoop | None = None) -> RawProfile:
        """OpenVINO's performance counters: the model compiled a second time with ``PERF_COUNT`` (the timed
        compilation stays without it), ``get_profiling_info()`` summed over the iterations, and the runtime
        model's per-node original names and ``runtimePrecision``."""
        import openvino as ov

        from backends._profiles import OpenVINOAccumulator, ov_runtime_facts

        if getattr(self, "_compiled", None) is None:
            return RawProfile.unavailable("openvino", "the model is not loaded: profile() follows load()")
        core = ov.Core()
        config = {**self._config(self._artifact), "PERF_COUNT": True}
        compiled = core.compile_model(_read_model(core, self._artifact), self._device, config)
        request = compiled.create_infer_request()
        inputs = self._model_inputs(feeds)
        request.infer(inputs, share_inputs=True)  # first inference: allocation, not counted
        counters = OpenVINOAccumulator()
        (loop or plain_loop)(lambda: request.infer(inputs, share_inputs=True),
                             lambda: counters.add(request.get_profiling_info()), iterations)
        notes = []
        if self._device.split(":")[0].upper() in ("AUTO", "MULTI", "HETERO"):
            notes.append(f"device {self._device}: counters are those of the devices it chose")
        return counters.finish(ov_runtime_facts(compiled), notes)

    def _compiled_property(self, name: str) -> Any:
        try:
            value = _type_name(self._compiled.get_property(name))
        except Exception:
            return None
        return value if isinstance(value, (int, float, bool, type(None))) else str(value)

    def run_info(self) -> dict[str, Any]:
        if getattr(self, "_compiled", None) is None:
            return {"device": self.options.get("device") or "CPU"}
        props = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
                 "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_DEVICES")
        return {
            "device": self._device,
            "compiled": {p.lower(): self._compiled_property(p) for p in props},
            "artifact_format": self._artifact.format,
            "method": self._artifact.metadata.get("method"),
            "io": "invoke_only" if self._invoke_only else "convert",
            "quantized_io": {p.ov_name: {"scale": p.qparams[0], "zero_point": p.qparams[1]}
                             for p in self._in + self._out if p.qparams},
        }

    def executed_precision(self) -> dict[str, Any]:
        """Each layer's ``runtimePrecision`` in the compiled model's runtime graph (what the plugin chose)."""
        if getattr(self, "_compiled", None) is None:
            return super().executed_precision()
        from backends.base import executed_summary, precision_of_type

        counts: dict[str, int] = {}
        for op in self._compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
            if layer in _NOT_COMPUTE or "runtimePrecision" not in info:
                continue
            precision = precision_of_type(info["runtimePrecision"].astype(str))
            if precision:
                counts[precision] = counts.get(precision, 0) + 1
        return executed_summary(counts, "layers", "OpenVINO runtime model (rt_info runtimePrecision)",
                                hint_requested=getattr(self, "_requested_precision", None),
                                hint_compiled=self._compiled_property("INFERENCE_PRECISION_HINT"),
                                device=self._device)

    def warnings(self) -> list[str]:
        notes = []
        if getattr(self, "_compiled", None) is None:
            return notes
        wanted = getattr(self, "_requested_precision", None)
        got = self._compiled_property("INFERENCE_PRECISION_HINT")
        if wanted and got and _PRECISION_TYPES.get(str(wanted)) != _PRECISION_TYPES.get(str(got), str(got)):
            notes.append(f"OpenVINO was asked for inference precision {wanted} but chose {got} on {self._device}: "
                         "this device has no native support for it")
        return notes
