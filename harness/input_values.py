"""Inputs that mean something: values the user fixes, ranges for generated data, and where each
input's data came from.

A model input can be fixed (``--input NAME=VALUE`` on the command line, ``inputs:`` in a suite) to

- a constant (``--input sr=16000``; ``sr: {value: 16000}``), broadcast to the input's shape,
- a ``.npy`` file (``--input mask=mask.npy``; ``mask: {file: mask.npy}``), used as is,
- a range for generated data (``ids: {range: [0, 32000]}``): integers uniform in [lo, hi] (both
  ends included), floats uniform in [lo, hi).

A fixed input holds for timing, evaluation and calibration alike. Every run records each input's
provenance (``provenance``); an integer input generated with no range gets a warning, because the
default [0, 100) is a guess that can time a branch no user takes (a sample-rate input of 8000/16000
chosen by an ``If`` node, say).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import TensorSpec
from harness.errors import UsageError

DEFAULT_INT_RANGE = (0, 100)  # what random_feeds draws integers from when no range is given
KINDS = ("constant", "file", "range")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class InputValue:
    """How one input's data is fixed. ``origin`` says where the user said so (for messages)."""

    name: str
    kind: str  # constant | file | range
    value: float | int | bool | None = None
    path: str | None = None
    low: float | None = None
    high: float | None = None
    origin: str = "--input"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_cli_input(item: str) -> InputValue:
    """``NAME=VALUE`` where VALUE is a number, ``true``/``false``, or a path to a ``.npy`` file."""
    name, sep, text = item.partition("=")
    name, text = name.strip(), text.strip()
    if not sep or not name or not text:
        raise UsageError(f"--input {item!r}: expected NAME=VALUE, where VALUE is a number (16000, 0.5), "
                         "true/false, or a .npy file (e.g. --input sr=16000 or --input mask=mask.npy)")
    if text.lower().endswith(".npy"):
        if not Path(text).is_file():
            raise UsageError(f"--input {item!r}: file {text} does not exist; save the array with numpy.save")
        return InputValue(name, "file", path=str(Path(text).resolve()), origin=f"--input {item}")
    return InputValue(name, "constant", value=_scalar(text, f"--input {item!r}"), origin=f"--input {item}")


def _scalar(text: str, where: str) -> float | int | bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if not _NUMBER.match(text):
        raise UsageError(f"{where}: {text!r} is neither a number, true/false nor a .npy file; give e.g. 16000, "
                         "0.5, true, or path/to/array.npy")
    number = float(text)
    return int(number) if re.fullmatch(r"[-+]?\d+", text) else number


def check_values(values: Mapping[str, InputValue], specs: Sequence[TensorSpec]) -> None:
    """Raise UsageError when a fixed input does not fit the model (unknown name, dtype, shape)."""
    by_name = {s.name: s for s in specs}
    for name, v in values.items():
        spec = by_name.get(name)
        if spec is None:
            raise UsageError(f"{v.origin}: the model has no input {name!r}; its inputs are "
                             f"{', '.join(repr(n) for n in by_name)}")
        if v.kind != "file" and not spec.is_static:
            # Before shapes are fixed (the command-line check): dtype checks need only some shape.
            spec = TensorSpec(spec.name, tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape),
                              spec.dtype, spec.layout)
        materialize(v, spec, np.random.default_rng(0))


def materialize(v: InputValue, spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """The array for input ``spec`` (static shape) as ``v`` fixes it; UsageError if it does not fit."""
    dt = np.dtype(spec.dtype)
    if v.kind == "file":
        return _from_file(v, spec, dt)
    shape = tuple(int(d) for d in spec.shape)  # type: ignore[arg-type]
    if v.kind == "constant":
        return np.full(shape, _fit_scalar(v.value, dt, v, spec), dtype=dt)
    lo, hi = float(v.low), float(v.high)  # type: ignore[arg-type]
    if dt.kind in "iu":
        if lo != int(lo) or hi != int(hi):
            raise UsageError(f"{v.origin}: input {spec.name!r} is {dt}: its range needs integer ends, found "
                             f"[{v.low}, {v.high}]")
        info = np.iinfo(dt)
        if lo < info.min or hi > info.max:
            raise UsageError(f"{v.origin}: range [{v.low}, {v.high}] does not fit input {spec.name!r} ({dt}, "
                             f"{info.min}..{info.max})")
        return rng.integers(int(lo), int(hi), shape, endpoint=True).astype(dt)
    if dt.kind == "f":
        return rng.uniform(lo, hi, shape).astype(dt)
    raise UsageError(f"{v.origin}: input {spec.name!r} is {dt}: a range applies to integer or float inputs only")


def _fit_scalar(value: Any, dt: np.dtype, v: InputValue, spec: TensorSpec) -> Any:
    if dt.kind == "b":
        if not isinstance(value, bool):
            raise UsageError(f"{v.origin}: input {spec.name!r} is bool: give true or false, found {value!r}")
        return value
    if isinstance(value, bool):
        raise UsageError(f"{v.origin}: input {spec.name!r} is {dt}: give a number, found {value!r}")
    if dt.kind in "iu":
        if float(value) != int(value):
            raise UsageError(f"{v.origin}: input {spec.name!r} is {dt}: give an integer, found {value!r}")
        info = np.iinfo(dt)
        if not info.min <= int(value) <= info.max:
            raise UsageError(f"{v.origin}: {value} does not fit input {spec.name!r} ({dt}, {info.min}..{info.max})")
        return int(value)
    if dt.kind == "f":
        return float(value)
    raise UsageError(f"{v.origin}: input {spec.name!r} has dtype {dt}, which cannot be set from a scalar; "
                     "give a .npy file")


def _from_file(v: InputValue, spec: TensorSpec, dt: np.dtype) -> np.ndarray:
    try:
        arr = np.load(v.path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{v.origin}: cannot read {v.path} as a .npy array ({exc}); re-save it with numpy.save") \
            from exc
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{v.origin}: {v.path} holds several arrays; give a .npy file with one array")
    same_kind = arr.dtype.kind == dt.kind or (arr.dtype.kind in "iu" and dt.kind in "iu")
    if not same_kind:
        raise UsageError(f"{v.origin}: input {spec.name!r} expects {dt}, {v.path} holds {arr.dtype}; save it as "
                         f"{dt} (array.astype('{dt}'))")
    fits = arr.ndim == len(spec.shape) and all(
        not (isinstance(d, int) and d >= 0) or d == s for d, s in zip(spec.shape, arr.shape))
    if not fits:
        raise UsageError(f"{v.origin}: input {spec.name!r} has shape {list(spec.shape)}, {v.path} holds "
                         f"{list(arr.shape)}; save an array of the input's shape (batch dimension included)")
    return np.ascontiguousarray(arr.astype(dt, copy=False))


def apply(feeds: list[dict[str, np.ndarray]], specs: Sequence[TensorSpec], values: Mapping[str, InputValue],
          seed: int, split: str) -> list[dict[str, np.ndarray]]:
    """``feeds`` with every fixed input replaced as ``values`` says (ranges drawn per sample)."""
    if not values:
        return feeds
    by_name = {s.name: s for s in specs}
    stream = {"calibration": 0, "evaluation": 1}.get(split, 2)
    out = []
    for i, f in enumerate(feeds):
        f = dict(f)
        for k, (name, v) in enumerate(sorted(values.items())):
            if name not in by_name:
                continue  # checked up front by check_values
            rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(7, stream, i, k)))
            f[name] = materialize(v, by_name[name], rng)
        out.append(f)
    return out


def provenance(specs: Sequence[TensorSpec], values: Mapping[str, InputValue], source: str) -> dict[str, Any]:
    """Where each input's data came from, for the record: ``source`` is ``data.source_of``'s answer
    (``folder:DIR``, ``zoo:NAME`` or ``random``) for the inputs the user did not fix."""
    out: dict[str, Any] = {}
    for s in specs:
        v = values.get(s.name)
        if v is not None and v.kind == "constant":
            out[s.name] = {"source": "constant", "value": v.value, "given_by": v.origin}
        elif v is not None and v.kind == "file":
            out[s.name] = {"source": "file", "path": v.path, "given_by": v.origin}
        elif v is not None:
            kind = "integers" if np.dtype(s.dtype).kind in "iu" else "floats"
            out[s.name] = {"source": "generated", "distribution": f"uniform {kind} in [{v.low:g}, {v.high:g}"
                           + ("]" if kind == "integers" else ")"), "given_by": v.origin}
        elif source.startswith("folder:"):
            out[s.name] = {"source": "folder", "path": source.partition(":")[2]}
        elif source.startswith("zoo:"):
            out[s.name] = {"source": "generated", "distribution": f"the zoo model's generator ({source[4:]})"}
        else:
            out[s.name] = {"source": "generated", "distribution": _default_distribution(s), "default": True}
    return out


def _default_distribution(spec: TensorSpec) -> str:
    dt = np.dtype(spec.dtype)
    if dt.kind in "iu":
        return f"uniform integers in [{DEFAULT_INT_RANGE[0]}, {DEFAULT_INT_RANGE[1]}) (no range given)"
    if dt.kind == "b":
        return "uniform true/false"
    return "normal(0, 1)"


def provenance_warnings(prov: Mapping[str, Any], specs: Sequence[TensorSpec]) -> list[str]:
    """An integer input generated from the default range is a guess: say so, with the fix."""
    dtypes = {s.name: np.dtype(s.dtype) for s in specs}
    notes = []
    for name, p in prov.items():
        if p.get("default") and dtypes[name].kind in "iu":
            notes.append(f"integer input {name!r} ({dtypes[name]}) was generated uniform in "
                         f"[{DEFAULT_INT_RANGE[0]}, {DEFAULT_INT_RANGE[1]}) because no value or range was given: "
                         f"if it is a control input (a sample rate, a length, an id) the run may time a path no "
                         f"user takes; fix it with --input {name}=VALUE or a suite entry "
                         f"'{name}: {{range: [lo, hi]}}'")
    return notes


def generated_inputs(prov: Mapping[str, Any]) -> set[str]:
    """Inputs whose data the harness made up (defaults or a zoo generator), not the user's own."""
    return {n for n, p in prov.items() if p.get("source") == "generated" and not p.get("given_by")}
