"""The contract every runtime adapter fulfils, and the plain types adapters share.

An adapter prepares (converts/quantizes) a model for one precision, loads it, and answers
inference calls with float numpy arrays whatever the artifact's own dtypes and layout. It never
times itself: the harness owns the clock. Its runtime is imported lazily inside methods, so
``import backends.<name>`` works on a machine where the runtime is not installed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

# int8-auto is run by the harness as int8 or int8-mixed (the modules kept in float found by a search)
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8", "int8-dynamic", "int8-mixed", "int8-auto")

# Runtime spellings of element types -> the precision names above. Types that are not compute
# precisions (int32 indices, int64 shapes, bool masks) map to nothing and are not counted.
_TYPE_PRECISION = {
    "f32": "fp32", "float32": "fp32", "float": "fp32", "fp32": "fp32",
    "f16": "fp16", "float16": "fp16", "half": "fp16", "fp16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "i8": "int8", "u8": "int8", "int8": "int8", "uint8": "int8",
    "i4": "int4", "u4": "int4", "int4": "int4", "uint4": "int4",
    "f8e4m3": "fp8", "f8e5m2": "fp8", "fp8": "fp8",
}

Feeds = Mapping[str, np.ndarray]


class BackendError(RuntimeError):
    """An adapter could not do what was asked; the message says what, why and what to do."""


class UnsupportedVariant(BackendError):
    """This backend cannot produce or run the requested precision/format: the run is skipped."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output. ``shape`` holds ints, or strings/None for dynamic dims."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str  # numpy dtype name as the artifact stores it: "float32", "int8", "int64", ...
    layout: str | None = None  # e.g. "NCHW" / "NHWC" when known

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) and d >= 0 for d in self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout}


@dataclass(frozen=True)
class Availability:
    """What ``probe()`` found: whether the runtime can run here and, if not, why in words."""

    available: bool
    version: str | None = None
    devices: tuple[str, ...] = ()  # execution providers / device names this install offers
    reason: str | None = None  # filled when not available (or partly available)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["devices"] = list(self.devices)
        d["details"] = dict(self.details)
        return d


@dataclass(frozen=True)
class Variant:
    """A precision of a model plus the settings that produce it (quantization options, ...)."""

    precision: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        blob = json.dumps({"precision": self.precision, "settings": dict(self.settings)}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "settings": dict(self.settings)}


@dataclass(frozen=True)
class ModelSource:
    """The model as the user gave it: a file (onnx, tflite, OpenVINO xml, ...)."""

    path: Path
    name: str
    sha256: str
    format: str  # "onnx" | "tflite" | "openvino" | ...
    # Inputs whose dims the user fixed, e.g. {"mel": (1, 80, 200)}; dynamic dims are resolved here.
    input_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # Per-output kind for quality scoring ("tensor" | "image" | "video" | "audio").
    output_kinds: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def from_path(path: str | Path, name: str | None = None, **kwargs: Any) -> ModelSource:
        p = Path(path)
        return ModelSource(path=p, name=name or p.stem, sha256=file_sha256(p), format=format_of(p), **kwargs)


@dataclass(frozen=True)
class Artifact:
    """What ``prepare`` produced: a file the backend can load, cached by content hash."""

    path: Path
    format: str
    precision: str
    source_sha256: str
    bytes: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "precision": self.precision,
            "source_sha256": self.source_sha256,
            "bytes": self.bytes,
            "metadata": dict(self.metadata),
        }


@dataclass
class ProfileNode:
    """One runtime node as the runtime's own profiler saw it, summed over the profiled iterations.

    ``name`` is the runtime's node (a fused kernel, a reorder it inserted, a TensorRT layer); ``source_nodes``
    are the model's nodes it came from, when the runtime says (OpenVINO's originalLayersNames, TensorRT's
    layer metadata), else empty and the normaliser matches ``name`` against the model's node names."""

    name: str
    op_type: str
    time_ms: float  # total over all profiled iterations
    source_nodes: tuple[str, ...] = ()
    executed_precision: str | None = None  # fp32 | fp16 | bf16 | int8 | ... as the runtime reports it
    calls: int = 0  # how many times it ran over the profiled iterations (0: the profiler does not count)
    details: Mapping[str, Any] = field(default_factory=dict)  # provider, kernel / tactic, ...

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op_type": self.op_type, "time_ms": self.time_ms,
                "source_nodes": list(self.source_nodes), "executed_precision": self.executed_precision,
                "calls": self.calls, "details": dict(self.details)}


@dataclass
class RawProfile:
    """What ``Backend.profile()`` collected: per-node time from the runtime's own profiler, not normalised.

    ``reason`` is set (and ``nodes`` empty) when this backend or configuration cannot be profiled.
    ``notes`` say what the profile cannot split (e.g. one delegate node that holds most of the graph)."""

    source: str
    iterations: int = 0
    nodes: list[ProfileNode] = field(default_factory=list)
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    # The runtime's own time of a whole inference over the iterations, when it reports one (to see how much
    # of it the per-node rows cover); None when it has no such figure.
    total_ms: float | None = None

    @staticmethod
    def unavailable(source: str, reason: str) -> RawProfile:
        return RawProfile(source=source, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "iterations": self.iterations, "nodes": [n.to_dict() for n in self.nodes],
                "reason": self.reason, "notes": list(self.notes), "total_ms": self.total_ms}


#: How the harness runs a profiled pass: ``loop(step, after, iterations)`` calls ``step()`` ``iterations``
#: times under its own clock and ``after()`` (untimed) after each; adapters never time themselves.
ProfileLoop = Callable[[Callable[[], Any], Callable[[], Any] | None, int], Any]


def plain_loop(step: Callable[[], Any], after: Callable[[], Any] | None, iterations: int) -> None:
    """The loop used when the caller passes none: no clock, just the calls."""
    for _ in range(iterations):
        step()
        if after is not None:
            after()


class LazyOutputs(Mapping[str, np.ndarray]):
    """Outputs of one call in an adapter's vendor-comparable ``io: invoke_only`` mode: each is converted to
    float only when read. The runtime reuses its output buffers, so an output must be read before the next
    call; ``current_call()`` tells which call the buffers hold now."""

    def __init__(self, names: Iterable[str], read: Callable[[str], np.ndarray], call: int,
                 current_call: Callable[[], int]) -> None:
        self._names = list(names)
        self._read, self._call, self._current_call = read, call, current_call
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(name)
            if self._current_call() != self._call:
                raise BackendError("in io=invoke_only mode an output must be read before the next infer() call; "
                                   "this one was overwritten")
            self._cache[name] = self._read(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@contextmanager
def atomic_path(target: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block ends without error, so a
    reader (another run, a crash) never sees a half-written file; the temporary is removed on error.
    The one atomic-write helper of backends/ (harness/ uses it too)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
def precision_of_type(type_name: Any) -> str | None:
    """A runtime's element type name (``f32``, ``bfloat16``, ``DataType.HALF``, ``int8``) as a precision name,
    or None for types that are not a compute precision (int32, int64, bool)."""
    text = str(type_name).strip().lower().rsplit(".", 1)[-1]
    return _TYPE_PRECISION.get(text)


def executed_summary(by_type: Mapping[str, int], unit: str, source: str, **extra: Any) -> dict[str, Any]:
    """The ``executed_precision`` of a run from counts of compute layers/ops per precision.

    Any integer compute makes it a quantized run (``int8``/``int4``); otherwise the float precision with the
    most layers wins (ties go to the narrower type: a run is only called fp32 when fp32 dominates).
    """
    counts = {k: int(v) for k, v in by_type.items() if v}
    if not counts:
        return {"precision": None, "by_type": {}, "unit": unit, "source": source,
                "reason": "the runtime reported no compute layers with a float or integer type", **extra}
    order = ("int4", "int8", "fp8", "fp16", "bf16", "fp32")
    integer = [p for p in ("int4", "int8") if counts.get(p)]
    floats = max(counts, key=lambda p: (counts[p], -order.index(p) if p in order else 0))
    precision = integer[-1] if integer else floats
    return {"precision": precision, "by_type": dict(sorted(counts.items())), "unit": unit, "source": source,
            "reason": None, **extra}


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def artifact_bytes(path: str | Path) -> int:
    """Size on disk; for a folder or an IR (.xml + .bin) the sum of its files."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    total = p.stat().st_size
    if p.suffix == ".xml" and p.with_suffix(".bin").exists():
        total += p.with_suffix(".bin").stat().st_size
    return total


_FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino", ".engine": "tensorrt", ".plan": "tensorrt"}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise BackendError(
            f"cannot tell the model format of {path}: expected one of "
            f"{', '.join(sorted(_FORMATS))}, found {suffix or 'no suffix'}; rename the file or convert it"
        )
    return _FORMATS[suffix]


def onnx_io_specs(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs read from an ONNX file's graph (no runtime needed)."""
    import onnx
    from onnx import helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise BackendError(f"{path} is not a readable ONNX model ({exc}); re-export it") from exc
    initializers = {i.name for i in model.graph.initializer}

    def spec(value) -> TensorSpec:
        t = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        return TensorSpec(value.name, dims, np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name)

    inputs = [spec(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [spec(v) for v in model.graph.output]


@dataclass(frozen=True)
class Option:
    """One backend option a suite may set: the Python types it takes and, for a closed set, its values.

    ``choices`` are compared case-insensitively; with ``open_choices`` a value outside them is still
    accepted (e.g. a full execution-provider name) and the choices are only the documented ones."""

    types: tuple[type, ...]
    choices: tuple[str, ...] = ()
    doc: str = ""
    open_choices: bool = False

    def check(self, value: Any) -> str | None:
        """Why ``value`` does not fit (what was expected, what was found), or None."""
        if value is None:
            return None  # None means the runtime's default
        if isinstance(value, bool) and bool not in self.types:
            return f"expected {self._type_names()}, found {value!r}"
        if not isinstance(value, self.types):
            return f"expected {self._type_names()}, found {type(value).__name__} {value!r}"
        if self.choices and not self.open_choices and str(value).lower() not in self.choices:
            hint = _close_match(str(value).lower(), self.choices)
            return f"expected one of {', '.join(self.choices)}, found {value!r}{hint}"
        return None

    def _type_names(self) -> str:
        names = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", bool: "true/false",
                 list: "a list"}
        return " or ".join(names.get(t, t.__name__) for t in self.types)


#: Options every adapter takes: ``threads`` (the runner's ``--threads`` lands here) and ``batch_size``.
COMMON_OPTIONS: dict[str, Option] = {
    "threads": Option((int,), doc="inference threads"),
    "batch_size": Option((int,), doc="batch size of the inputs (dynamic batch dims)"),
}


def _close_match(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_options(schema: Mapping[str, Option], options: Mapping[str, Any], backend: str) -> list[tuple[str, str]]:
    """(key, problem) for every option that ``schema`` does not accept, with the allowed keys/values and
    a close-match suggestion for a misspelt key."""
    problems = []
    for key, value in options.items():
        if key not in schema:
            problems.append((key, f"unknown {backend} option{_close_match(key, schema)}; "
                                  f"allowed: {', '.join(sorted(schema))}"))
            continue
        why = schema[key].check(value)
        if why:
            problems.append((key, why))
    return problems


class Backend(ABC):
    """One inference runtime. Public methods hold the policy; subclasses fill the hooks.

    Lifecycle: ``probe()`` (cheap, no model) → ``prepare()`` (may be slow; cached) →
    ``load()`` → ``inputs()/outputs()`` → ``infer()`` … → ``close()``.
    """

    #: registry name used on the command line (``--backend NAME``)
    name: ClassVar[str] = ""
    #: model formats ``prepare`` accepts as a source
    source_formats: ClassVar[tuple[str, ...]] = ("onnx",)
    #: precisions this backend can prepare from an fp32 source
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    #: the options a suite may set (``backends: [{name: ..., options: {...}}]``), checked before anything runs
    options_schema: ClassVar[Mapping[str, Option]] = COMMON_OPTIONS
    #: precisions whose ``prepare`` needs calibration data (static post-training quantization)
    calibrated_precisions: ClassVar[tuple[str, ...]] = ("int8", "int8-mixed")
    #: bumped when the adapter's default quantization recipe changes, so stored ``tune`` tries made under the
    #: old default are run again instead of reused
    recipe_version: ClassVar[int] = 1

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = dict(options or {})
        # The CPU's feature flags (/proc/cpuinfo names, e.g. avx512_vnni), passed in by the harness so
        # an adapter can pick the quantization recipe the CPU favours without reading the machine.
        self.cpu_isa: tuple[str, ...] = tuple(self.options.pop("cpu_isa", None) or ())

    @classmethod
    @abstractmethod
    def probe(cls) -> Availability:
        """Is the runtime installed and usable here? Never raises."""

    def version(self) -> str | None:
        return self.probe().version

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(key, problem) for each option this adapter does not take; empty when all fit."""
        return check_options(cls.options_schema, options, cls.name or cls.__name__)

    def needs_calibration(self, variant: Variant) -> bool:
        """Whether ``prepare`` needs calibration inputs for ``variant`` (a prebuilt file needs none)."""
        return variant.precision in self.calibrated_precisions and not variant.settings.get("prebuilt")

    @abstractmethod
    def prepare(
        self,
        model: ModelSource,
        variant: Variant,
        calibration: Iterable[Feeds] | None,
        cache_dir: Path,
    ) -> Artifact:
        """Turn the source model into a loadable artifact of ``variant`` (convert/quantize)."""

    @abstractmethod
    def load(self, artifact: Artifact) -> None:
        """Load/compile the artifact (timed by the runner as the load phase)."""

    @abstractmethod
    def inputs(self) -> list[TensorSpec]: ...

    @abstractmethod
    def outputs(self) -> list[TensorSpec]: ...

    @abstractmethod
    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run once. ``feeds`` are float (or integer-id) arrays by input name; returns float arrays."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the session; default does nothing."""

    def run_info(self) -> dict[str, Any]:
        """Backend facts worth recording with the run (providers, threads, device...)."""
        return {}

    def warnings(self) -> list[str]:
        """Warnings about this configuration (e.g. a precision emulated in software)."""
        return []

    def deployed_bytes(self, artifact: Artifact) -> int:
        """Bytes of what ships after ``load`` (e.g. a TensorRT engine built at load); default the artifact's."""
        return artifact.bytes

    def device_time_ms(self) -> float | None:
        """Compute-only time of the last ``infer()`` on the accelerator, or None (no such clock)."""
        return None

    def has_device_time(self) -> bool:
        """Whether ``device_time_ms`` is worth reading after each timed call (it is overridden)."""
        return type(self).device_time_ms is not Backend.device_time_ms

    @classmethod
    def native_precisions(cls, cpu: Mapping[str, Any]) -> dict[str, str]:
        """For each precision this backend offers: how it computes on a CPU with these precision features
        (``devices.environment.precision_features``: ``native`` lists fp32/int8/bf16/fp16). The default only
        knows fp32; adapters say more."""
        return {p: "native" if p == "fp32" else "not described by this adapter" for p in cls.precisions}

    def executed_precision(self) -> dict[str, Any]:
        """What the loaded model actually computes in, read back from the runtime after ``load``.

        Returns ``{"precision": name or None, "by_type": {precision: count}, "unit": what was counted,
        "source": where the runtime said so, "reason": why unknown (None when known)}``; adapters add
        runtime-specific keys. The label of a run is what was asked; this is what ran. The default knows
        nothing, and says so rather than echoing the label.
        """
        return {"precision": None, "by_type": {}, "unit": None, "source": None,
                "reason": f"the {self.name or type(self).__name__} adapter does not read back the precision it ran"}

    def profile(self, feeds: Feeds, iterations: int, loop: ProfileLoop | None = None) -> RawProfile:
        """Per-operator time from the runtime's own profiler over ``iterations`` inferences of ``feeds``.

        Called after the timed rounds, never inside them: profiling perturbs timing. ``loop`` is the
        harness's (it owns the clock, so the pass's overhead can be stated); the adapter hands it the call
        to repeat. The default says this backend has no profiler hook; an adapter that has one overrides it
        and returns ``RawProfile.unavailable(...)`` with the reason when this configuration cannot be profiled.
        """
        return RawProfile.unavailable(self.name or type(self).__name__,
                                      f"the {self.name or type(self).__name__} adapter has no per-operator "
                                      "profiler hook")
