"""TensorRT adapter: engines built from the same ONNX model, fp32 / fp16 / int8 (TensorRT 8.6 to 10.x).

TensorRT and the CUDA bindings are imported inside methods, so this module imports anywhere.

Phases
  prepare()  needs no GPU: it validates the variant settings, fixes the ONNX the engine is built
             from (the float model; for explicit int8 the ONNX Runtime QDQ model made by
             ``backends._onnx_variants``), stores the calibration samples for implicit int8, and
             writes ``plan.json`` into a cached folder (the artifact).
  load()     builds the engine on this GPU, or loads it from the engine cache inside the artifact
             folder (key: plan hash, TensorRT version, GPU name, compute capability, DLA core).
             Engines are device-specific and slow to build, so the build is the load phase;
             ``run_info()["engine_build_s"]`` says how long it took (None when it came from the cache).
  infer()    copies feeds to device buffers, enqueues, copies outputs back, returns float arrays.

Two latency views, reported apart (as trtexec does): the runner's own clock around ``infer()`` is
end-to-end (host↔device copies included: what an application sees); ``device_time_ms()`` is the
compute-only time of the last ``infer()``, measured between CUDA events recorded around the
enqueue on the same stream. The runner should read it right after each ``infer()``.

Variant settings read here (others pass through to the QDQ quantizer):
  int8_mode        explicit (default: the ONNX Runtime QDQ model made with ``symmetric: true``, S8S8
                   with zero points 0, as TensorRT requires) | implicit (IInt8EntropyCalibrator2 +
                   calibration cache; deprecated by TensorRT 10.1). int8-mixed is always explicit.
  workspace_bytes  workspace memory-pool limit
  dla_core         DLA core index (Jetson Xavier / Orin), with gpu_fallback (default true there)
  profiles         {input: {min: [...], opt: [...], max: [...]}} for dynamic dims
  timing_cache     true (a per-device file beside the engines) or a file path
  tf32             false for strict fp32 on Ampere and newer
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends._trt_plan import (
    SETTING_KEYS,
    TRT_PRECISIONS,
    CalibrationBatcher,
    GpuCapability,
    Profile,
    TrtSettings,
    bind_inputs,
    builder_plan,
    calibration_shapes,
    capability_rules,
    engine_cache_key,
    feeds_sha256,
    format_parser_errors,
    parse_settings,
    precision_warnings,
    qdq_problems,
    resolve_profiles,
    to_float_outputs,
)
from backends.base import (
    Artifact,
    Availability,
    Backend,
    BackendError,
    Feeds,
    ModelSource,
    ProfileLoop,
    RawProfile,
    TensorSpec,
    UnsupportedVariant,
    Variant,
    artifact_bytes,
    atomic_path,
    file_sha256,
    onnx_io_specs,
    plain_loop,
)

log = logging.getLogger(__name__)

NOT_INSTALLED = "tensorrt is not installed: pip install tensorrt (x86) or use JetPack's python3-libnvinfer"
NO_CUDA_BINDING = ("no CUDA runtime binding for device buffers: pip install cuda-python "
                   "(or install PyTorch with CUDA)")
PLAN_FORMAT = 1


# -- CUDA runtime access: cuda-python first (what NVIDIA's samples use), PyTorch when present ----------
class _CudaPython:
    name = "cuda-python"

    def __init__(self) -> None:
        try:
            from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            from cuda import cudart  # older cuda-python
        self.rt = cudart

    def _ok(self, result: Any) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            _, text = self.rt.cudaGetErrorString(err)
            raise BackendError(f"CUDA runtime error {int(err)}: {text.decode() if isinstance(text, bytes) else text}")
        return rest[0] if len(rest) == 1 else (tuple(rest) or None)

    def device_count(self) -> int:
        return int(self._ok(self.rt.cudaGetDeviceCount()))

    def device_info(self, index: int = 0) -> tuple[str, tuple[int, int]]:
        props = self._ok(self.rt.cudaGetDeviceProperties(index))
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00").strip(), (int(props.major), int(props.minor))

    def alloc(self, nbytes: int) -> int:
        return int(self._ok(self.rt.cudaMalloc(max(nbytes, 1))))

    def free(self, ptr: int) -> None:
        self._ok(self.rt.cudaFree(ptr))

    def stream(self) -> Any:
        return self._ok(self.rt.cudaStreamCreate())

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def destroy_stream(self, stream: Any) -> None:
        self._ok(self.rt.cudaStreamDestroy(stream))

    def h2d(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._ok(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, stream))

    def d2h(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._ok(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, stream))

    def event(self) -> Any:
        return self._ok(self.rt.cudaEventCreate())

    def record(self, event: Any, stream: Any) -> None:
        self._ok(self.rt.cudaEventRecord(event, stream))

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self._ok(self.rt.cudaEventElapsedTime(start, end)))

    def destroy_event(self, event: Any) -> None:
        self._ok(self.rt.cudaEventDestroy(event))

    def synchronize(self, stream: Any) -> None:
        self._ok(self.rt.cudaStreamSynchronize(stream))

    def memory_used_bytes(self) -> int:
        free, total = self._ok(self.rt.cudaMemGetInfo())
        return int(total) - int(free)


class _TorchCuda:
    name = "torch"

    def __init__(self) -> None:
        import torch

        if not torch.cuda.is_available():
            raise ImportError("torch has no usable CUDA device")
        self.torch = torch
        self._buffers: dict[int, Any] = {}

    def device_count(self) -> int:
        return int(self.torch.cuda.device_count())

    def device_info(self, index: int = 0) -> tuple[str, tuple[int, int]]:
        return self.torch.cuda.get_device_name(index), tuple(self.torch.cuda.get_device_capability(index))

    def alloc(self, nbytes: int) -> int:
        t = self.torch.empty(max(nbytes, 1), dtype=self.torch.uint8, device="cuda")
        self._buffers[t.data_ptr()] = t  # keep the tensor alive while TensorRT holds its address
        return t.data_ptr()

    def free(self, ptr: int) -> None:
        self._buffers.pop(ptr, None)

    def stream(self) -> Any:
        return self.torch.cuda.Stream()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.cuda_stream)

    def destroy_stream(self, stream: Any) -> None:
        pass

    def _bytes(self, host: np.ndarray) -> Any:
        return self.torch.from_numpy(host.reshape(-1).view(np.uint8))

    def h2d(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        with self.torch.cuda.stream(stream):
            self._buffers[ptr][: host.nbytes].copy_(self._bytes(host), non_blocking=True)

    def d2h(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        with self.torch.cuda.stream(stream):
            self._bytes(host).copy_(self._buffers[ptr][: host.nbytes], non_blocking=True)

    def event(self) -> Any:
        return self.torch.cuda.Event(enable_timing=True)

    def record(self, event: Any, stream: Any) -> None:
        event.record(stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def destroy_event(self, event: Any) -> None:
        pass

    def synchronize(self, stream: Any) -> None:
        stream.synchronize()

    def memory_used_bytes(self) -> int:
        free, total = self.torch.cuda.mem_get_info()
        return int(total) - int(free)


def _open_cuda() -> tuple[Any | None, str | None]:
    """A CUDA runtime wrapper, or None and why not."""
    reasons = []
    for cls in (_CudaPython, _TorchCuda):
        try:
            return cls(), None
        except Exception as exc:  # ImportError, or a binding present without a driver
            reasons.append(f"{cls.name}: {exc}")
    return None, f"{NO_CUDA_BINDING} ({'; '.join(reasons)})"


# -- engine I/O: the name-based tensor API (TensorRT >= 8.5) or the binding API (older JetPacks) -------
class _TensorApi:
    """set_input_shape / set_tensor_address / execute_async_v3 (TensorRT 8.5 to 10.x)."""

    kind = "tensors"

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    def is_input(self, name: str) -> bool:
        return self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.engine.get_tensor_shape(name))

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_input_shape(name, shape))

    def output_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.context.get_tensor_shape(name))

    def set_address(self, name: str, ptr: int) -> None:
        self.context.set_tensor_address(name, ptr)

    def execute(self, stream_handle: int) -> bool:
        return bool(self.context.execute_async_v3(stream_handle))


class _BindingApi(_TensorApi):
    """get_binding_* / execute_async_v2 (TensorRT before 8.5, e.g. 8.2 on JetPack 4.6 for Nano/TX2)."""

    kind = "bindings"

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context
        self.names = [engine.get_binding_name(i) for i in range(engine.num_bindings)]
        self.addresses = [0] * len(self.names)

    def is_input(self, name: str) -> bool:
        return bool(self.engine.binding_is_input(self.names.index(name)))

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(self.trt.nptype(self.engine.get_binding_dtype(self.names.index(name))))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.engine.get_binding_shape(self.names.index(name)))

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_binding_shape(self.names.index(name), shape))

    def output_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.context.get_binding_shape(self.names.index(name)))

    def set_address(self, name: str, ptr: int) -> None:
        self.addresses[self.names.index(name)] = ptr

    def execute(self, stream_handle: int) -> bool:
        return bool(self.context.execute_async_v2(bindings=self.addresses, stream_handle=stream_handle))


def _make_logger(trt: Any) -> Any:
    """A TensorRT logger that keeps errors (to quote them in our own messages) and forwards the rest."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # the pybind trampoline must be initialised explicitly
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)
            if level <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("TensorRT: %s", msg)
            elif level == int(trt.ILogger.Severity.WARNING):
                log.warning("TensorRT: %s", msg)

    return _Logger()


def _make_profiler(trt: Any) -> Any:
    """An IProfiler that keeps every layer's time of every inference (TensorRT calls it per layer after each
    profiled enqueue)."""

    class _LayerTimes(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)  # the pybind trampoline must be initialised explicitly
            self.times_ms: dict[str, list[float]] = {}

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.times_ms.setdefault(str(layer_name), []).append(float(ms))

    return _LayerTimes()


def _make_calibrator(trt: Any, cuda: Any, batcher: CalibrationBatcher, cache_path: Path) -> Any:
    """IInt8EntropyCalibrator2 fed by the batcher, reading/writing a calibration cache file."""

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # the pybind trampoline must be initialised explicitly
            self.device: dict[str, int] = {}
            self.stream = cuda.stream()

        def get_batch_size(self) -> int:
            return 1  # explicit-batch networks: the batch dim is part of each input's shape

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = batcher.next_batch()
            if batch is None:
                return None
            for name in names:
                host = batch[name]
                if name not in self.device:
                    self.device[name] = cuda.alloc(host.nbytes)
                cuda.h2d(self.device[name], host, self.stream)
            cuda.synchronize(self.stream)  # TensorRT reads the buffers as soon as get_batch returns
            return [self.device[n] for n in names]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() and cache_path.stat().st_size else None

        def write_calibration_cache(self, cache: Any) -> None:
            _atomic_write(cache_path, bytes(cache))

        def free(self) -> None:
            for ptr in self.device.values():
                cuda.free(ptr)
            self.device.clear()
            cuda.destroy_stream(self.stream)

    return _EntropyCalibrator()


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _onnx_inputs(path: Path) -> dict[str, tuple[Any, ...]]:
    inputs, _ = onnx_io_specs(path)
    return {s.name: s.shape for s in inputs}


def _onnx_nodes(path: Path) -> list[tuple[str, str]]:
    import onnx

    return [(n.name, n.op_type) for n in onnx.load(str(path), load_external_data=False).graph.node]


class TensorRTBackend(Backend):
    name = "tensorrt"
    source_formats = ("onnx",)
    precisions = TRT_PRECISIONS

    # -- probe -------------------------------------------------------------------------------------
    @classmethod
    def probe(cls) -> Availability:
        try:
            import tensorrt as trt
        except ImportError:
            return Availability(False, reason=NOT_INSTALLED)
        except Exception as exc:  # e.g. libnvinfer present but a CUDA library missing
            return Availability(False, reason=f"tensorrt is installed but does not import: {exc}")
        version = getattr(trt, "__version__", None)
        try:
            cuda, why = _open_cuda()
            if cuda is None:
                return Availability(False, version=version, reason=f"tensorrt {version} is installed but {why}")
            if cuda.device_count() < 1:
                return Availability(False, version=version, reason="no CUDA device is visible (check the driver "
                                                                   "and CUDA_VISIBLE_DEVICES)")
            gpu, cc = cuda.device_info(0)
            cap = capability_rules(cc)
            dla_cores = 0
            if cap.dla_possible:  # creating a builder costs a CUDA context: only where DLA can exist
                dla_cores = int(trt.Builder(_make_logger(trt)).num_DLA_cores)
        except Exception as exc:
            return Availability(False, version=version, reason=f"tensorrt {version} is installed but the GPU "
                                                               f"could not be queried: {exc}")
        devices = (f"{gpu} (sm_{cc[0]}{cc[1]})", *(f"DLA:{i}" for i in range(dla_cores)))
        return Availability(True, version=version, devices=devices,
                            details={**cap.to_dict(), "gpu_name": gpu, "dla_cores": dla_cores,
                                     "cuda_binding": cuda.name})

    # -- prepare (no GPU needed) ------------------------------------------------------------------------
    def prepare(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                cache_dir: Path) -> Artifact:
        if model.format != "onnx":
            raise UnsupportedVariant(f"the tensorrt backend builds engines from ONNX; {model.path.name} is "
                                     f"{model.format}: export it to ONNX or use the matching backend")
        if variant.precision == "int8-dynamic":
            raise UnsupportedVariant("TensorRT has no dynamic int8 quantization of activations: use int8 "
                                     "(calibrated) here, or run int8-dynamic on the onnxruntime backend")
        if variant.precision not in TRT_PRECISIONS:
            raise UnsupportedVariant(f"the tensorrt backend builds {', '.join(TRT_PRECISIONS)}, "
                                     f"not {variant.precision!r}")
        settings = parse_settings(variant.settings)
        plan = builder_plan(variant.precision, settings)  # device-specific checks happen again at load
        network_onnx, network_sha = model.path, model.sha256
        if plan["network_source"] == "qdq":
            network_onnx, network_sha = self._qdq_model(model, variant, calibration, cache_dir)
        network_inputs = _onnx_inputs(network_onnx)
        profiles = resolve_profiles(network_inputs, settings.profiles, model.input_shapes)

        cache_root = Path(cache_dir) / "tensorrt"
        cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=".staging-"))
        try:
            calib_sha, calib_count = None, 0
            if plan["int8_calibrator"]:
                if calibration is None:
                    raise BackendError("implicit int8 calibration needs calibration data, none was given: pass "
                                       "--calib DIR (or the suite's calibration set), or use int8_mode: explicit")
                calib_sha, calib_count = _store_samples(calibration, staging / "calibration")
                if calib_count == 0:
                    raise BackendError("the calibration set is empty: implicit int8 needs at least one sample")
            record = {
                "format": PLAN_FORMAT,
                "model": model.name,
                "precision": variant.precision,
                "settings": settings.to_dict(),
                "network_onnx": str(Path(network_onnx).resolve()),
                "network_sha256": network_sha,
                "network_inputs": {k: [d if isinstance(d, int) else -1 for d in v] for k, v in network_inputs.items()},
                "profiles": {k: p.to_dict() for k, p in profiles.items()},
                "calibration_sha256": calib_sha,
                "calibration_samples": calib_count,
            }
            blob = json.dumps(record, sort_keys=True, indent=1)
            plan_sha = _sha(blob)
            safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", model.name)
            final = cache_root / f"{safe_name}-{variant.precision}-{plan_sha[:16]}"
            if not (final / "plan.json").is_file():
                (staging / "plan.json").write_text(blob)
                shutil.rmtree(final, ignore_errors=True)
                try:
                    os.replace(staging, final)
                except OSError:
                    if not (final / "plan.json").is_file():  # else another process prepared it meanwhile
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        meta: dict[str, Any] = {"plan_sha256": plan_sha, "network_onnx": str(network_onnx),
                                "int8_mode": plan["int8_mode"]}
        if plan["network_source"] == "qdq":
            from backends._ort_recipe import qdq_graph_compute

            meta["recipe"] = {**(getattr(self, "_qdq_recipe", None) or {}),
                              "consumer": "TensorRT explicit quantization (Q/DQ fused into int8 layers)"}
            meta["compute_nodes"] = qdq_graph_compute(Path(network_onnx))
        elif plan["int8_calibrator"]:
            meta["recipe"] = {"tool": "TensorRT implicit calibration", "calibrator": "IInt8EntropyCalibrator2",
                              "calibration_samples": calib_count}
        return Artifact(final, "tensorrt-plan", variant.precision, model.sha256, artifact_bytes(network_onnx), meta)

    def _qdq_model(self, model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
                   cache_dir: Path) -> tuple[Path, str]:
        try:
            from backends._onnx_variants import prepare_onnx_variant
        except ImportError as exc:
            raise BackendError(f"explicit int8 builds from the ONNX Runtime QDQ model, but its quantizer "
                               f"(backends/_onnx_variants.py) cannot be imported ({exc}); set int8_mode: "
                               "implicit to calibrate inside TensorRT instead") from exc
        import onnx

        # The quantizer sees only its own settings: the TensorRT keys mean nothing to it.
        own = {k: v for k, v in variant.settings.items() if k not in SETTING_KEYS}
        own.setdefault("symmetric", True)  # TensorRT builds only symmetric int8 Q/DQ
        qdq = prepare_onnx_variant(model, Variant(variant.precision, own), calibration, cache_dir)
        self._qdq_recipe = qdq.metadata.get("recipe")
        problems = qdq_problems(onnx.load(str(qdq.path), load_external_data=False))
        if problems:
            raise BackendError(f"the quantized model {qdq.path.name} cannot be built by TensorRT: "
                               + "; ".join(problems)
                               + ". Quantize to QDQ with symmetric int8 activations and weights, or set "
                               "int8_mode: implicit to calibrate inside TensorRT")
        return Path(qdq.path), file_sha256(qdq.path)

    # -- load: build or reuse the engine --------------------------------------------------------------------
    def load(self, artifact: Artifact) -> None:
        found = self.probe()
        if not found.available:
            raise BackendError(f"the tensorrt backend cannot run here: {found.reason}")
        import tensorrt as trt

        folder = Path(artifact.path)
        try:
            blob = (folder / "plan.json").read_text()
            record = json.loads(blob)
        except (OSError, ValueError) as exc:
            raise BackendError(f"{folder} is not a prepared TensorRT plan ({exc}): run prepare again") from exc
        self._trt, self._record = trt, record
        self._settings = parse_settings(record["settings"])
        self._precision = record["precision"]
        cuda, why = _open_cuda()
        if cuda is None:
            raise BackendError(why)
        self._cuda = cuda
        self._gpu, cc = cuda.device_info(0)
        self._capability = capability_rules(cc)
        self._plan = builder_plan(self._precision, self._settings, self._capability,
                                  trt_major=int(trt.__version__.split(".")[0]))
        self._logger = _make_logger(trt)
        self._notes: list[str] = []
        self._plan_sha = plan_sha = _sha(blob)  # the same hash prepare() named the folder with
        self._key = engine_cache_key(plan_sha, trt.__version__, self._gpu, cc, self._settings.dla_core)
        engine_path = folder / "engines" / f"{self._key}.engine"
        self._build_s: float | None = None
        if engine_path.is_file():
            data = engine_path.read_bytes()
        else:
            started = time.perf_counter()
            data = self._build(folder, record)
            self._build_s = time.perf_counter() - started
            _atomic_write(engine_path, data)
        self._engine_bytes = len(data)
        self._runtime = trt.Runtime(self._logger)
        if self._settings.dla_core is not None:
            self._runtime.DLA_core = self._settings.dla_core
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise BackendError(f"TensorRT could not deserialize {engine_path.name}: "
                               f"{'; '.join(self._logger.errors) or 'see the log'}; delete it to rebuild")
        self._context = self._engine.create_execution_context()
        api = _TensorApi if hasattr(self._engine, "num_io_tensors") else _BindingApi
        self._io = api(trt, self._engine, self._context)
        self._in = {n: (self._io.shape(n), self._io.dtype(n)) for n in self._io.names if self._io.is_input(n)}
        self._out = {n: self._io.dtype(n) for n in self._io.names if not self._io.is_input(n)}
        self._stream = cuda.stream()
        self._events = (cuda.event(), cuda.event())
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)
        self._last_device_ms: float | None = None

    def _build(self, folder: Path, record: dict[str, Any]) -> bytes:
        trt, plan, settings = self._trt, self._plan, self._settings
        onnx_path = Path(record["network_onnx"])
        if not onnx_path.is_file():
            raise BackendError(f"the ONNX model {onnx_path} this plan builds from is gone: prepare again")
        builder = trt.Builder(self._logger)
        flags = 0
        for name in plan["network_flags"]:
            flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = [parser.get_error(i) for i in range(parser.num_errors)]
            raise BackendError(format_parser_errors(errors, onnx_path.name, _onnx_nodes(onnx_path)))

        config = builder.create_builder_config()
        if hasattr(trt, "ProfilingVerbosity"):
            # Each layer's chosen precision (executed_precision()), tactic and ONNX origin (the inspector in
            # profile()); no effect on speed.
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        for name in plan["flags"]:
            config.set_flag(getattr(trt.BuilderFlag, name))
        for name in plan["clear_flags"]:
            config.clear_flag(getattr(trt.BuilderFlag, name))
        for pool, limit in plan["memory_pool_limits"].items():
            if hasattr(config, "set_memory_pool_limit"):
                config.set_memory_pool_limit(getattr(trt.MemoryPoolType, pool), int(limit))
            else:  # TensorRT before 8.4 (JetPack 4.6) has only the workspace limit
                config.max_workspace_size = int(limit)
        if plan["default_device_type"] == "DLA":
            if settings.dla_core >= builder.num_DLA_cores:
                raise BackendError(f"dla_core={settings.dla_core} asked for, this device has "
                                   f"{builder.num_DLA_cores} DLA core(s): choose one below that")
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = settings.dla_core

        network_inputs = {network.get_input(i).name: tuple(network.get_input(i).shape)
                          for i in range(network.num_inputs)}
        profiles = {k: Profile(tuple(v["min"]), tuple(v["opt"]), tuple(v["max"]))
                    for k, v in record["profiles"].items()}
        profiles = resolve_profiles(network_inputs, profiles)
        trt_profile = None
        if profiles:
            trt_profile = builder.create_optimization_profile()
            for name, p in profiles.items():
                trt_profile.set_shape(name, p.min, p.opt, p.max)
            if config.add_optimization_profile(trt_profile) < 0:
                raise BackendError(f"TensorRT rejected the optimisation profile {record['profiles']}: "
                                   f"{'; '.join(self._logger.errors) or 'see the log'}")

        calibrator = None
        if plan["int8_calibrator"]:
            shapes = calibration_shapes(network_inputs, profiles)
            dtypes = {network.get_input(i).name: trt.nptype(network.get_input(i).dtype)
                      for i in range(network.num_inputs)}
            batcher = CalibrationBatcher(_load_samples(folder / "calibration"), shapes, dtypes)
            # The calibration cache depends on the network and TensorRT version, not on the GPU.
            cache_path = folder / "engines" / f"calibration-{_sha(trt.__version__ + self._plan_sha)[:16]}.cache"
            calibrator = _make_calibrator(trt, self._cuda, batcher, cache_path)
            config.int8_calibrator = calibrator
            if trt_profile is not None:
                config.set_calibration_profile(trt_profile)
            self._batcher = batcher

        timing_path = self._timing_cache_path(folder)
        if timing_path is not None:
            cache = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
            if not config.set_timing_cache(cache, ignore_mismatch=False):
                self._notes.append(f"timing cache {timing_path} was made on another device: started a new one")
                config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)

        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.free()
        if serialized is None:
            raise BackendError(f"TensorRT could not build a {self._precision} engine from {onnx_path.name}: "
                               f"{'; '.join(self._logger.errors) or 'see the log above'}")
        if timing_path is not None:
            _atomic_write(timing_path, bytes(config.get_timing_cache().serialize()))
        return bytes(serialized)

    def _timing_cache_path(self, folder: Path) -> Path | None:
        setting = self._settings.timing_cache
        if not setting:
            return None
        if setting is True:
            key = engine_cache_key("timing-cache", self._trt.__version__, self._gpu,
                                   self._capability.compute_capability)
            return folder.parent / f"timing-{key}.cache"  # shared by every plan on this device
        return Path(setting)

    # -- inference ------------------------------------------------------------------------------------------
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec(n, tuple(d if d >= 0 else None for d in shape), dtype.name)
                for n, (shape, dtype) in self._in.items()]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec(n, tuple(d if d >= 0 else None for d in self._io.shape(n)), dtype.name)
                for n, dtype in self._out.items()]

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, -1))
        if size < nbytes:  # grow only: shapes rarely change between iterations
            if size >= 0:
                self._cuda.free(ptr)
            ptr = self._cuda.alloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        cuda, io, stream = self._cuda, self._io, self._stream
        host_in = bind_inputs(self._in, feeds)
        for name, arr in host_in.items():
            if -1 in self._in[name][0] and not io.set_input_shape(name, arr.shape):
                raise BackendError(f"input {name!r} shape {arr.shape} is outside the engine's optimisation "
                                   f"profile {self._record['profiles'].get(name)}: rebuild with a wider profile")
            io.set_address(name, self._device_buffer(name, arr.nbytes))
        host_out: dict[str, np.ndarray] = {}
        for name, dtype in self._out.items():
            shape = io.output_shape(name)
            if any(d < 0 for d in shape):
                raise BackendError(f"output {name!r} has a data-dependent shape {shape}: the tensorrt backend "
                                   "does not support such outputs; run this model on onnxruntime")
            host_out[name] = np.empty(shape, dtype=dtype)
            io.set_address(name, self._device_buffer(name, host_out[name].nbytes))
        for name, arr in host_in.items():
            cuda.h2d(self._buffers[name][0], arr, stream)
        start, end = self._events
        cuda.record(start, stream)
        if not io.execute(cuda.stream_handle(stream)):
            raise BackendError(f"TensorRT failed to enqueue: {'; '.join(self._logger.errors[-3:]) or 'see the log'}")
        cuda.record(end, stream)
        for name, arr in host_out.items():
            cuda.d2h(arr, self._buffers[name][0], stream)
        cuda.synchronize(stream)
        self._last_device_ms = cuda.elapsed_ms(start, end)
        return to_float_outputs(host_out)

    def profile(self, feeds: Feeds, iterations: int, loop: ProfileLoop | None = None) -> RawProfile:
        """Per-layer time from an ``IProfiler`` on the execution context (as trtexec --dumpProfile) and each
        layer's precision, tactic and ONNX origin from the engine inspector (as --exportLayerInfo)."""
        from backends._profiles import trt_layer_facts, trt_profile

        trt, context = getattr(self, "_trt", None), getattr(self, "_context", None)
        if context is None:
            return RawProfile.unavailable("tensorrt", "the engine is not loaded: profile() follows load()")
        notes = []
        try:
            inspector = self._engine.create_engine_inspector()
            info = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
        except Exception as exc:  # older TensorRT: no inspector
            info = None
            notes.append(f"no engine inspector ({exc}): layer precision and origin unknown")
        facts = trt_layer_facts(info)
        if info and not any(facts.values()):
            notes.append("the engine was built without detailed profiling verbosity: layer names only")
        profiler = _make_profiler(trt)
        self.infer(feeds)  # settle shapes and buffers before profiling
        context.profiler = profiler
        try:
            (loop or plain_loop)(lambda: self.infer(feeds), None, iterations)
        finally:
            context.profiler = None
        return trt_profile(profiler.times_ms, facts, iterations, notes)

    def device_time_ms(self) -> float | None:
        """Compute-only time of the last ``infer()`` (CUDA events around the enqueue), or None before one."""
        return getattr(self, "_last_device_ms", None)

    def deployed_bytes(self, artifact: Artifact) -> int:
        """What ships is the engine built at load, not its ONNX source."""
        return int(getattr(self, "_engine_bytes", None) or artifact.bytes)

    def close(self) -> None:
        cuda = getattr(self, "_cuda", None)
        if cuda is not None and getattr(self, "_buffers", None) is not None:
            cuda.synchronize(self._stream)
            for ptr, _ in self._buffers.values():
                cuda.free(ptr)
            for event in self._events:
                cuda.destroy_event(event)
            cuda.destroy_stream(self._stream)
            self._buffers = None
        self._context = self._engine = self._runtime = None

    # -- facts and warnings ---------------------------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        engine = getattr(self, "_engine", None)
        if engine is None:
            return {}
        activation = getattr(engine, "device_memory_size_v2", None)
        if activation is None:
            activation = getattr(engine, "device_memory_size", None)
        try:
            used = self._cuda.memory_used_bytes()
        except Exception:  # an unavailable figure is None, never 0
            used = None
        batcher = getattr(self, "_batcher", None)
        return {
            "tensorrt_version": self._trt.__version__,
            "gpu_name": self._gpu,
            "compute_capability": self._capability.cc_text,
            "cuda_binding": self._cuda.name,
            "io_api": self._io.kind,
            "engine_cache_key": self._key,
            "engine_cached": self._build_s is None,
            "engine_build_s": self._build_s,
            "engine_bytes": self._engine_bytes,
            "activation_bytes": int(activation) if activation is not None else None,
            # device-wide (total - free), not this process alone; on Jetson it is shared system memory
            "gpu_memory_used_bytes": used,
            "builder_plan": self._plan,
            "calibration": None if batcher is None else {
                "batches": batcher.batches, "samples": batcher.samples, "rows_padded": batcher.rows_padded},
        }

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        # TensorRT computes on the GPU: its compute capability decides (see `edgebench backends` details).
        return {p: "decided by the GPU's compute capability, not the CPU" for p in cls.precisions}

    def executed_precision(self) -> dict[str, Any]:
        """Each layer's output type from TensorRT's engine inspector (the precision its tactic chose)."""
        engine = getattr(self, "_engine", None)
        if engine is None or not hasattr(engine, "create_engine_inspector"):
            return {**super().executed_precision(),
                    "reason": "this TensorRT has no engine inspector (8.2+ has one): the layer precisions are unknown"}
        from backends.base import executed_summary

        inspector = engine.create_engine_inspector()
        info = json.loads(inspector.get_engine_information(self._trt.LayerInformationFormat.JSON))
        layers = [layer for layer in info.get("Layers", []) if isinstance(layer, dict)]
        if not layers:
            return {**super().executed_precision(),
                    "reason": "the engine was built without detailed profiling verbosity: delete its cached "
                              ".engine to rebuild it with layer information"}
        counts: dict[str, int] = {}
        for layer in layers:
            if str(layer.get("LayerType", "")) in ("Reformat", "Shuffle", "NoOp") or not layer.get("Outputs"):
                continue
            precision = trt_type_precision(str(layer["Outputs"][0].get("Format/Datatype", "")))
            if precision:
                counts[precision] = counts.get(precision, 0) + 1
        return executed_summary(counts, "layers", "TensorRT engine inspector (layer output types)")

    def warnings(self) -> list[str]:
        capability: GpuCapability | None = getattr(self, "_capability", None)
        if capability is None:
            return []
        settings: TrtSettings = self._settings
        return precision_warnings(self._precision, capability, settings, self._trt.__version__) + list(self._notes)


def trt_type_precision(text: str) -> str | None:
    """A TensorRT "Format/Datatype" description ("Row major linear FP32", "Channel major FP16 format...",
    "Int8 ...", "BFloat16") as a precision name, or None."""
    up = text.upper()
    for tokens, precision in ((("INT8",), "int8"), (("BF16", "BFLOAT16"), "bf16"), (("FP8",), "fp8"),
                              (("FP16", "HALF"), "fp16"), (("FP32", "FLOAT"), "fp32")):
        if any(t in up for t in tokens):
            return precision
    return None


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _store_samples(samples: Iterable[Feeds], folder: Path) -> tuple[str, int]:
    """Write each calibration sample as one .npz (streamed: a calibration set may not fit in memory)."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    count = 0
    for count, sample in enumerate(samples, start=1):
        arrays = {k: np.ascontiguousarray(v) for k, v in sample.items()}
        h.update(feeds_sha256([arrays]).encode())
        np.savez(folder / f"{count - 1:06d}.npz", **arrays)
    return h.hexdigest(), count


def _load_samples(folder: Path) -> Iterable[dict[str, np.ndarray]]:
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as data:
            yield {k: data[k] for k in data.files}
