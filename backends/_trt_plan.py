"""The parts of the TensorRT adapter that need neither TensorRT nor a GPU: plain functions and data.

They decide *what* to build (settings → builder plan, shapes → optimisation profiles), *where* an
engine is cached (the cache key), what the GPU can do (capability rules), how calibration samples
become calibration batches, and how parser errors read. ``backends/tensorrt.py`` only applies these
decisions to the real API, so everything here is tested on machines without TensorRT.

Capability rules, from NVIDIA's TensorRT support matrix ("Hardware and Precision" table, 8.x and
10.x) and the CUDA C Programming Guide's arithmetic-throughput table:

  cc          example               fp16 native   int8         int8 tensor cores   DLA
  5.0, 5.2    Maxwell (GTX 9xx)     no            no           no                  no
  5.3         Jetson Nano / TX1     yes           no           no                  no
  6.0         P100                  yes           no           no                  no
  6.1         P4, GTX 10xx          no (1/64)     yes (DP4A)   no                  no
  6.2         Jetson TX2            yes           no           no                  no
  7.0         V100                  yes (TC)      yes          no                  no
  7.2         Jetson Xavier         yes (TC)      yes          yes                 yes
  7.5         T4, RTX 20xx          yes (TC)      yes          yes                 no
  8.0 - 9.0   A100, A10, L4, H100   yes (TC)      yes          yes                 no
  8.7         Jetson Orin           yes (TC)      yes          yes                 yes
  >= 10.0     Blackwell, Thor       yes (TC)      yes          yes                 no
  (TC: with fp16 tensor cores)

So: int8 runs natively at cc 6.1 and >= 7.0 (not on 6.0/6.2/5.x); it is *fast* only with int8
tensor cores, i.e. cc 7.2 (Xavier's Volta GPU has them, unlike V100) and >= 7.5. fp16 is native at
5.3, 6.0, 6.2 and >= 7.0; cc 6.1 runs fp16 at 1/64 of the fp32 rate, and TensorRT's table lists no
fp16 there. DLA exists only on the Xavier (7.2) and Orin (8.7) SoCs, and not on every module of
them (Orin Nano has none): the builder's ``num_DLA_cores`` is the final word.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from backends.base import BackendError, Feeds, UnsupportedVariant

#: precisions this adapter builds; int8-mixed is explicit quantization of a partly quantized QDQ model
TRT_PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8", "int8-mixed")
INT8_MODES: tuple[str, ...] = ("explicit", "implicit")
#: variant settings this adapter reads; other keys belong to other adapters (e.g. the QDQ quantizer)
SETTING_KEYS: tuple[str, ...] = ("int8_mode", "workspace_bytes", "dla_core", "gpu_fallback", "profiles",
                                 "timing_cache", "tf32")
_QOPERATOR_OPS = {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
                  "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu",
                  "QLinearSoftmax", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QGemm", "QAttention"}


# -- capability rules ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuCapability:
    """What a CUDA compute capability offers TensorRT (see the module docstring for the sources)."""

    compute_capability: tuple[int, int]
    fp16_native: bool
    fp16_tensor_cores: bool
    int8_supported: bool
    int8_tensor_cores: bool
    dla_possible: bool
    tf32: bool

    @property
    def cc_text(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = self.cc_text
        return d


def parse_compute_capability(value: Any) -> tuple[int, int]:
    """Accept (7, 2), "7.2", "sm_72" or 72; return (major, minor)."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return int(value[0]), int(value[1])
    text = str(value).strip().lower().removeprefix("sm_").removeprefix("sm")
    if "." in text:
        major, minor = text.split(".", 1)
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    elif text.isdigit() and len(text) >= 2:
        return int(text[:-1]), int(text[-1])
    raise BackendError(f"cannot read compute capability {value!r}: expected e.g. (7, 2), '7.2' or 'sm_72'")


def capability_rules(compute_capability: Any) -> GpuCapability:
    cc = parse_compute_capability(compute_capability)
    return GpuCapability(
        compute_capability=cc,
        fp16_native=cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0),
        fp16_tensor_cores=cc >= (7, 0),
        int8_supported=cc == (6, 1) or cc >= (7, 0),
        int8_tensor_cores=cc == (7, 2) or cc >= (7, 5),
        dla_possible=cc in ((7, 2), (8, 7)),
        tf32=cc >= (8, 0),
    )


def precision_warnings(precision: str, capability: GpuCapability, settings: TrtSettings | None = None,
                       trt_version: str | None = None) -> list[str]:
    """Warnings to record with a run whose precision will be emulated, slow or not what it says."""
    out: list[str] = []
    cc = capability.cc_text
    settings = settings or TrtSettings()
    if precision == "fp16":
        if capability.compute_capability == (6, 1):
            out.append(f"fp16 on compute capability {cc} runs at 1/64 of the fp32 rate: TensorRT keeps fp32 "
                       "kernels, so this fp16 engine measures fp32 speed")
        elif not capability.fp16_native:
            out.append(f"compute capability {cc} has no native fp16 arithmetic: TensorRT falls back to fp32 "
                       "kernels, so this fp16 engine measures fp32 speed")
    if precision in ("int8", "int8-mixed"):
        if not capability.int8_supported:
            out.append(f"int8 is not supported on compute capability {cc} (needs 6.1 or >= 7.0): TensorRT runs "
                       "float kernels, so the int8 figures do not measure int8 speed")
        elif not capability.int8_tensor_cores:
            out.append(f"compute capability {cc} has no int8 tensor cores (7.2 or >= 7.5): int8 runs on DP4A "
                       "instructions and is slow compared with GPUs that have them")
        if settings.int8_mode == "implicit" and _version_at_least(trt_version, (10, 1)):
            out.append(f"implicit int8 calibration is deprecated since TensorRT 10.1 (found {trt_version}): "
                       "prefer int8_mode: explicit (a QDQ model)")
    if precision == "fp32" and capability.tf32 and settings.tf32 is True:
        out.append(f"fp32 on compute capability {cc} uses TF32 tensor cores for convolutions and matrix "
                   "multiplies (tf32: true in the variant): this is not strict fp32")
    return out


def _version_at_least(version: str | None, wanted: tuple[int, int]) -> bool:
    if not version:
        return False
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts) >= wanted


# -- settings -----------------------------------------------------------------------------------
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """One optimisation-profile entry: the min/opt/max shapes of a dynamic input."""

    min: Shape
    opt: Shape
    max: Shape

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


@dataclass(frozen=True)
class TrtSettings:
    """The variant settings this adapter reads. ``None`` means "TensorRT's default"."""

    # explicit by default (TensorRT's recommended path; implicit calibration is deprecated since 10.1):
    # the adapter asks the ONNX Runtime quantizer for symmetric QDQ (zero points 0), which TensorRT takes.
    int8_mode: str = "explicit"
    workspace_bytes: int | None = None
    dla_core: int | None = None
    gpu_fallback: bool | None = None  # None: on when a DLA core is used (layers DLA lacks run on the GPU)
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    timing_cache: str | bool | None = None  # a file path, True for one beside the engines, None/False: off
    tf32: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["profiles"] = {k: p.to_dict() for k, p in self.profiles.items()}
        return d


def parse_settings(settings: Mapping[str, Any] | None) -> TrtSettings:
    """Validate the TensorRT keys of a variant's settings; keys for other adapters are left alone."""
    s = dict(settings or {})
    mode = s.get("int8_mode", "explicit")
    if mode not in INT8_MODES:
        raise BackendError(f"int8_mode must be one of {', '.join(INT8_MODES)}, found {mode!r}")
    workspace = s.get("workspace_bytes")
    if workspace is not None and (isinstance(workspace, bool) or not isinstance(workspace, int) or workspace <= 0):
        raise BackendError(f"workspace_bytes must be a positive integer number of bytes, found {workspace!r}")
    dla = s.get("dla_core")
    if dla is not None and (isinstance(dla, bool) or not isinstance(dla, int) or dla < 0):
        raise BackendError(f"dla_core must be a DLA core index (0, 1, ...), found {dla!r}")
    for key in ("gpu_fallback", "tf32"):
        if s.get(key) is not None and not isinstance(s[key], bool):
            raise BackendError(f"{key} must be true or false, found {s[key]!r}")
    cache = s.get("timing_cache")
    if cache is not None and not isinstance(cache, bool | str):
        raise BackendError(f"timing_cache must be a file path or true/false, found {cache!r}")
    return TrtSettings(int8_mode=mode, workspace_bytes=workspace, dla_core=dla, gpu_fallback=s.get("gpu_fallback"),
                       profiles=_parse_profiles(s.get("profiles")), timing_cache=cache, tf32=s.get("tf32"))


def _parse_profiles(raw: Any) -> dict[str, Profile]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BackendError("profiles must map input names to {min: [...], opt: [...], max: [...]}, "
                           f"found {type(raw).__name__}")
    out: dict[str, Profile] = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping) or set(entry) != {"min", "opt", "max"}:
            raise BackendError(f"profile for input {name!r} must have exactly min, opt and max shapes, "
                               f"found {entry!r}")
        try:
            shapes = {k: tuple(int(d) for d in entry[k]) for k in ("min", "opt", "max")}
        except (TypeError, ValueError) as exc:
            raise BackendError(f"profile for input {name!r} must hold lists of integers, found {entry!r}") from exc
        lo, mid, hi = shapes["min"], shapes["opt"], shapes["max"]
        if not (len(lo) == len(mid) == len(hi)):
            raise BackendError(f"profile for input {name!r}: min, opt and max must have the same rank, "
                               f"found {lo}, {mid}, {hi}")
        if any(d <= 0 for d in lo) or not all(a <= b <= c for a, b, c in zip(lo, mid, hi)):
            raise BackendError(f"profile for input {name!r}: need 0 < min <= opt <= max in every dimension, "
                               f"found min {lo}, opt {mid}, max {hi}")
        out[str(name)] = Profile(lo, mid, hi)
    return out


# -- shapes and profiles --------------------------------------------------------------------------
def _dims(shape: Sequence[Any]) -> tuple[int, ...]:
    """ONNX/TensorRT dims to ints, every unknown (None, a symbol, -1) as -1."""
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


def resolve_profiles(network_inputs: Mapping[str, Sequence[Any]], profiles: Mapping[str, Profile],
                     fixed_shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, Profile]:
    """The optimisation profile for every input with a dynamic dim.

    A profile from the variant settings wins; otherwise a shape the user fixed on the model
    (``ModelSource.input_shapes``) becomes min = opt = max. An input with dynamic dims and neither is
    an error, as is a profile that names an unknown input or contradicts a static dim.
    """
    fixed = {k: tuple(int(d) for d in v) for k, v in (fixed_shapes or {}).items()}
    unknown = sorted(set(profiles) - set(network_inputs))
    if unknown:
        raise BackendError(f"profiles name input(s) {unknown} that the model does not have: "
                           f"its inputs are {sorted(network_inputs)}")
    out: dict[str, Profile] = {}
    for name, raw_shape in network_inputs.items():
        dims = _dims(raw_shape)
        if name in profiles:
            prof = profiles[name]
        elif -1 in dims and name in fixed:
            prof = Profile(fixed[name], fixed[name], fixed[name])
        elif -1 in dims:
            raise BackendError(
                f"input {name!r} has dynamic dims {tuple(raw_shape)}: TensorRT needs their range. Give a profile "
                f"in the variant settings (profiles: {{{name}: {{min: [...], opt: [...], max: [...]}}}}) or fix "
                "the input's shape on the model (input_shapes)")
        else:
            continue
        if len(prof.min) != len(dims):
            raise BackendError(f"profile for input {name!r} has rank {len(prof.min)}, the model's input has "
                               f"rank {len(dims)} {tuple(raw_shape)}")
        for axis, d in enumerate(dims):
            if d != -1 and not (prof.min[axis] == prof.opt[axis] == prof.max[axis] == d):
                raise BackendError(f"profile for input {name!r} gives dim {axis} a range, but the model fixes "
                                   f"it to {d}: keep min = opt = max = {d} there")
        out[name] = prof
    return out


def calibration_shapes(network_inputs: Mapping[str, Sequence[Any]],
                       profiles: Mapping[str, Profile]) -> dict[str, Shape]:
    """Shapes of the calibration batches: static inputs as they are, dynamic ones at the profile's opt
    shape (TensorRT calibrates at the calibration profile's opt dims)."""
    out: dict[str, Shape] = {}
    for name, shape in network_inputs.items():
        dims = _dims(shape)
        if -1 in dims:
            if name not in profiles:
                raise BackendError(f"input {name!r} has dynamic dims {tuple(shape)} and no profile to calibrate at")
            out[name] = profiles[name].opt
        else:
            out[name] = dims
    return out


# -- builder plan ---------------------------------------------------------------------------------
def builder_plan(precision: str, settings: TrtSettings, capability: GpuCapability | None = None,
                 trt_major: int = 10) -> dict[str, Any]:
    """What to set on the builder, network and config, as plain data (names of TensorRT enum members).

    Without ``capability`` (prepare, before any GPU is known) the checks that depend on the device
    are left to the call made at load time.

    Keys: network_flags (NetworkDefinitionCreationFlag), flags / clear_flags (BuilderFlag),
    memory_pool_limits (MemoryPoolType -> bytes), default_device_type (DeviceType), dla_core,
    int8_calibrator ("entropy2" or None), network_source ("float" ONNX or "qdq" ONNX), timing_cache.
    """
    if precision not in TRT_PRECISIONS:
        raise BackendError(f"TensorRT builds {', '.join(TRT_PRECISIONS)}, not {precision!r}")
    flags: list[str] = []
    clear: list[str] = []
    int8_mode = settings.int8_mode if precision == "int8" else "explicit" if precision == "int8-mixed" else None
    if precision == "fp16":
        flags.append("FP16")
    elif precision == "bf16":
        if trt_major < 9:
            raise UnsupportedVariant(f"TensorRT {trt_major}.x has no BF16 builder flag (added in 9.0): bf16 is skipped")
        if capability is not None and capability.compute_capability < (8, 0):
            raise UnsupportedVariant(f"bf16 needs a GPU of compute capability 8.0 or newer; this one is "
                                     f"{capability.cc_text}: run fp16 instead")
        flags.append("BF16")
    elif int8_mode is not None:
        # Explicit (QDQ) networks still need the INT8 flag in TensorRT's weakly typed mode (8.x and 10.x).
        flags.append("INT8")
    if precision == "fp32" and settings.tf32 is not True:
        # fp32 means full precision: TensorRT's default (TF32 on for Ampere+) is opted out of unless asked.
        clear.append("TF32")
    device = "GPU"
    if settings.dla_core is not None:
        if capability is not None and not capability.dla_possible:
            raise BackendError(f"dla_core={settings.dla_core} asked for, but compute capability "
                               f"{capability.cc_text} is not a Jetson Xavier (7.2) or Orin (8.7): this GPU has no "
                               "DLA; remove dla_core from the variant")
        if precision == "fp32":
            raise BackendError("DLA runs fp16 and int8 only, the variant asks for fp32 on dla_core="
                               f"{settings.dla_core}: choose fp16 or int8, or remove dla_core")
        device = "DLA"
        if settings.gpu_fallback is not False:
            flags.append("GPU_FALLBACK")
    pools = {"WORKSPACE": settings.workspace_bytes} if settings.workspace_bytes else {}
    return {
        "precision": precision,
        "network_flags": ["EXPLICIT_BATCH"] if trt_major < 10 else [],  # explicit batch is the only mode in 10
        "flags": flags,
        "clear_flags": clear,
        "memory_pool_limits": pools,
        "default_device_type": device,
        "dla_core": settings.dla_core,
        "int8_mode": int8_mode,
        "int8_calibrator": "entropy2" if int8_mode == "implicit" else None,
        "network_source": "qdq" if int8_mode == "explicit" else "float",
        "timing_cache": settings.timing_cache or None,
    }


# -- engine cache key ------------------------------------------------------------------------------
def engine_cache_key(source_sha256: str, trt_version: str, gpu_name: str, compute_capability: Any,
                     dla_core: int | None = None) -> str:
    """Key of a built engine: engines are specific to the model/variant, the TensorRT version, the GPU
    (name and compute capability) and the DLA core they were built for."""
    for what, value in (("source hash", source_sha256), ("TensorRT version", trt_version), ("GPU name", gpu_name)):
        if not value or not str(value).strip():
            raise BackendError(f"engine cache key needs the {what}, found {value!r}")
    major, minor = parse_compute_capability(compute_capability)
    blob = json.dumps({"source": source_sha256, "trt": str(trt_version), "gpu": str(gpu_name).strip(),
                       "cc": f"{major}.{minor}", "dla": dla_core}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# -- calibration batching ---------------------------------------------------------------------------
class CalibrationBatcher:
    """Turns calibration samples (feed dicts) into batches of exactly the calibration shapes.

    Samples are concatenated along axis 0 (a sample without the batch axis gets one) until a batch
    holds ``shape[0]`` rows; a sample bigger than what the batch still needs is split across batches.
    TensorRT needs every batch at full size, so a short last batch is padded by repeating its own
    rows (``partial="pad"``: no sample is lost) or dropped (``partial="drop"``). ``next_batch()``
    returns ``None`` once the samples are exhausted, and keeps returning ``None``.
    """

    def __init__(self, samples: Iterable[Feeds], shapes: Mapping[str, Sequence[int]],
                 dtypes: Mapping[str, Any] | None = None, partial: str = "pad") -> None:
        if partial not in ("pad", "drop"):
            raise BackendError(f"partial must be 'pad' or 'drop', found {partial!r}")
        if not shapes:
            raise BackendError("calibration needs at least one input shape")
        self.shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        self.dtypes = {k: np.dtype((dtypes or {}).get(k, np.float32)) for k in self.shapes}
        self.partial = partial
        rows = {s[0] if s else 1 for s in self.shapes.values()}
        if len(rows) != 1:
            raise BackendError(f"calibration inputs must share their batch size (dim 0), found {self.shapes}")
        self.rows = rows.pop()
        self._samples: Iterator[Feeds] = iter(samples)
        self._pending: dict[str, list[np.ndarray]] = {k: [] for k in self.shapes}
        self._pending_rows = 0
        self._done = False
        self.batches = 0
        self.samples = 0
        self.rows_padded = 0
        self.rows_dropped = 0

    def _rows_of(self, sample: Feeds) -> dict[str, np.ndarray]:
        missing = sorted(set(self.shapes) - set(sample))
        if missing:
            raise BackendError(f"calibration sample {self.samples} lacks input(s) {missing}: "
                               f"expected {sorted(self.shapes)}, found {sorted(sample)}")
        arrays: dict[str, np.ndarray] = {}
        for name, shape in self.shapes.items():
            a = np.asarray(sample[name])
            if a.ndim == len(shape) - 1:
                a = a[np.newaxis]
            if a.ndim != len(shape) or a.shape[1:] != shape[1:]:
                raise BackendError(f"calibration sample {self.samples}, input {name!r}: expected shape "
                                   f"(n, {', '.join(map(str, shape[1:]))}), found {a.shape}")
            arrays[name] = a
        counts = {a.shape[0] for a in arrays.values()}
        if len(counts) != 1:
            raise BackendError(f"calibration sample {self.samples}: inputs disagree on the number of rows "
                               f"({ {k: a.shape[0] for k, a in arrays.items()} })")
        return arrays

    def _take(self, n: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, parts in self._pending.items():
            joined = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            out[name] = np.ascontiguousarray(joined[:n], dtype=self.dtypes[name])
            rest = joined[n:]
            self._pending[name] = [rest] if len(rest) else []
        self._pending_rows -= n
        return out

    def next_batch(self) -> dict[str, np.ndarray] | None:
        while not self._done and self._pending_rows < self.rows:
            try:
                sample = next(self._samples)
            except StopIteration:
                self._done = True
                break
            arrays = self._rows_of(sample)
            self.samples += 1
            for name, a in arrays.items():
                self._pending[name].append(a)
            self._pending_rows += next(iter(arrays.values())).shape[0]
        if self._pending_rows >= self.rows:
            self.batches += 1
            return self._take(self.rows)
        if self._pending_rows == 0:
            return None
        short = self._pending_rows
        if self.partial == "drop":
            self.rows_dropped += short
            self._pending = {k: [] for k in self.shapes}
            self._pending_rows = 0
            return None
        # Pad by cycling the short batch's own rows: real data, only slightly re-weighted.
        batch = self._take(short)
        reps = -(-self.rows // short)
        self.rows_padded += self.rows - short
        self.batches += 1
        return {k: np.ascontiguousarray(np.concatenate([a] * reps, axis=0)[: self.rows]) for k, a in batch.items()}


def feeds_sha256(samples: Iterable[Feeds]) -> str:
    """Content hash of a sequence of feed dicts (names, dtypes, shapes and bytes, in order)."""
    h = hashlib.sha256()
    for sample in samples:
        for name in sorted(sample):
            a = np.ascontiguousarray(sample[name])
            h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
        h.update(b"\x00")
    return h.hexdigest()


# -- inference helpers ----------------------------------------------------------------------------------
def bind_inputs(specs: Mapping[str, tuple[Sequence[int], Any]], feeds: Feeds) -> dict[str, np.ndarray]:
    """Feeds as contiguous arrays in each engine input's dtype, checked against its shape (-1: any)."""
    missing = sorted(set(specs) - set(feeds))
    extra = sorted(set(feeds) - set(specs))
    if missing or extra:
        raise BackendError(f"feeds do not match the engine's inputs: expected {sorted(specs)}, "
                           f"missing {missing}, unexpected {extra}")
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in specs.items():
        a = np.ascontiguousarray(feeds[name], dtype=np.dtype(dtype))
        dims = _dims(shape)
        if a.ndim != len(dims) or any(d != -1 and d != n for d, n in zip(dims, a.shape)):
            raise BackendError(f"input {name!r}: the engine expects shape {dims} (-1: any), found {a.shape}")
        out[name] = a
    return out


def to_float_outputs(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The adapter contract: float arrays out, whatever the engine's own output dtypes."""
    return {k: v if v.dtype in (np.float32, np.float64) else v.astype(np.float32) for k, v in outputs.items()}


# -- parser errors and QDQ checks --------------------------------------------------------------------------
def _call(obj: Any, name: str) -> Any:
    method = getattr(obj, name, None)
    if method is None:
        return None
    try:
        return method() if callable(method) else method
    except Exception:  # a binding that exists but cannot answer is as good as absent here
        return None


def format_parser_error(error: Any, nodes: Sequence[tuple[str, str]] | None = None) -> str:
    """One ONNX parser error in words: node index, name and operator, error code, reason.

    ``error`` is a ``tensorrt.ParserError`` (``node_name``/``node_operator`` exist from TensorRT 10;
    for older versions the name and operator are looked up by index in ``nodes``, the ONNX graph's
    (name, op_type) list).
    """
    index = _call(error, "node")
    name = _call(error, "node_name") or None
    op = _call(error, "node_operator") or None
    if isinstance(index, int) and index >= 0 and nodes is not None and index < len(nodes):
        name = name or nodes[index][0] or None
        op = op or nodes[index][1] or None
    where = f"node {index}" if isinstance(index, int) and index >= 0 else "the graph"
    label = ", ".join(p for p in (f"name {name!r}" if name else "", f"op {op}" if op else "") if p)
    code = _call(error, "code")
    code_text = getattr(code, "name", None) or (str(code) if code is not None else "error")
    desc = _call(error, "desc") or "no description"
    return f"{where}{f' ({label})' if label else ''}: {code_text}: {desc}"


def format_parser_errors(errors: Sequence[Any], model_name: str,
                         nodes: Sequence[tuple[str, str]] | None = None) -> str:
    lines = [f"TensorRT's ONNX parser rejected {model_name} ({len(errors)} error(s)):"]
    lines += [f"  {i + 1}. {format_parser_error(e, nodes)}" for i, e in enumerate(errors)]
    lines.append("What to do: check the operator against TensorRT's ONNX operator support list "
                 "(onnx-tensorrt operators.md) for this TensorRT version, simplify or constant-fold the "
                 "graph, or run this model on the onnxruntime backend instead.")
    return "\n".join(lines)


def qdq_problems(model: Any) -> list[str]:
    """Why an ONNX model (onnx.ModelProto) is not a QDQ model TensorRT can quantize explicitly."""
    graph = model.graph
    ops = {n.op_type for n in graph.node}
    problems: list[str] = []
    if not ops & {"QuantizeLinear", "DequantizeLinear"}:
        problems.append("it has no QuantizeLinear/DequantizeLinear nodes (not an explicitly quantized model)")
    qop = sorted(ops & _QOPERATOR_OPS)
    if qop:
        problems.append(f"it uses QOperator-format ops {qop}; TensorRT reads only the QDQ format")
    from onnx import TensorProto, numpy_helper

    consts = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.attribute:
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    bad: dict[str, list[str]] = {"nonzero": [], "uint8": [], "other": []}
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        zp = consts.get(node.input[2])
        if zp is None:
            continue
        label = node.name or node.output[0]
        if zp.data_type == TensorProto.UINT8:
            bad["uint8"].append(label)
        elif zp.data_type != TensorProto.INT8:
            bad["other"].append(f"{label} ({TensorProto.DataType.Name(zp.data_type).lower()})")
        elif np.any(numpy_helper.to_array(zp) != 0):
            bad["nonzero"].append(label)
    if bad["nonzero"]:
        problems.append(f"{len(bad['nonzero'])} Q/DQ node(s) (e.g. {bad['nonzero'][0]!r}) have a non-zero zero point "
                        "(asymmetric quantization); TensorRT needs symmetric int8 (zero point 0)")
    if bad["uint8"]:
        problems.append(f"{len(bad['uint8'])} Q/DQ node(s) (e.g. {bad['uint8'][0]!r}) are uint8; TensorRT's Q/DQ "
                        "are int8")
    if bad["other"]:
        problems.append(f"{len(bad['other'])} Q/DQ node(s) (e.g. {bad['other'][0]}) use a type TensorRT's int8 "
                        "Q/DQ do not take (an int32 one is a quantized bias: keep biases in float)")
    return problems
