"""Calibration and evaluation inputs: from a folder, from a zoo model's generator, or random.

Functions (all return ``list[dict[str, np.ndarray]]``, one feed dict per sample):

``load_folder(dir, specs)``
    One sample per ``.npy``/``.npz`` file, files in sorted name order. A ``.npz`` holds one array
    per input, keyed by input name; a ``.npy`` holds the single input of a single-input model.
    Names, shapes (static dims must match, dynamic dims take anything) and dtypes (same kind:
    float64 → float32 and int32 → int64 are cast; float for an integer input is an error) are checked
    against the model's ``TensorSpec``s. An empty folder is an error.
``random_feeds(specs, n, seed)``
    For models with no generator: float inputs ~ N(0, 1); integer inputs uniform in [0, 100)
    (token ids and indices of most models accept that range); bool inputs uniform. Dynamic dims are
    an error here: fix them (``inputs:`` in the suite, ``--input-shape``) first.
``calibration_set(model, specs, calib_dir=None, n=100, seed=0)`` and
``evaluation_set(model, specs, calib_dir=None, n=8, seed=0)``
    ``model`` is a zoo name, a ``ZooModel``, anything with a ``.name`` (``ModelSource``) or None.
    Source, in order: ``calib_dir`` if given; else the zoo model's generator when ``model`` names a
    zoo model whose inputs match ``specs``; else ``random_feeds``. Evaluation is always disjoint
    from calibration: from a folder, the last quarter of the sorted files (at least one file once
    the folder has 2) is held out for evaluation and never used to calibrate (a 1-file folder
    calibrates with its file and evaluates on generated/random inputs); zoo and random samples
    come from separate random streams per split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import TensorSpec
from harness.errors import UsageError
from harness.input_values import InputValue

Feeds = dict[str, np.ndarray]

_SPLIT_STREAM = {"calibration": 0, "evaluation": 1}


def load_folder(directory: str | Path, specs: Sequence[TensorSpec]) -> list[Feeds]:
    """Every ``.npy``/``.npz`` sample of ``directory``, validated against ``specs``."""
    return [_load_file(f, specs) for f in sample_files(directory)]


def sample_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(
            f"calibration folder {d} does not exist or is not a folder; pass a folder of .npy/.npz files "
            "(one sample per file, keyed by input name)"
        )
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in (".npy", ".npz"))
    if not files:
        others = sorted(p.name for p in d.iterdir())[:5]
        raise UsageError(
            f"calibration folder {d} holds no .npy/.npz files"
            + (f" (found: {', '.join(others)})" if others else " (it is empty)")
            + "; save one sample per file with numpy.save / numpy.savez(file, <input name>=array)"
        )
    return files


def _load_file(path: Path, specs: Sequence[TensorSpec], fixed: set[str] | frozenset[str] = frozenset()) -> Feeds:
    # Inputs the user fixed (--input) may be absent from the files: their data comes from the fixed value.
    by_name = {s.name: s for s in specs if s.name not in fixed}
    try:
        if path.suffix.lower() == ".npy":
            if len(by_name) != 1:
                raise UsageError(
                    f"{path}: a .npy file holds one array, but the model has {len(by_name)} inputs to fill "
                    f"({', '.join(by_name)}); save each sample as .npz with one array per input name"
                )
            raw = {next(iter(by_name)): np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
    except UsageError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read it as a numpy file ({exc}); re-save it with numpy.save/savez") from exc
    missing = [n for n in by_name if n not in raw]
    extra = [n for n in raw if n not in by_name and n not in fixed]
    if missing or extra:
        raise UsageError(
            f"{path}: input names do not match the model: expected {sorted(by_name)}, found {sorted(raw)}"
            + (f" (missing {missing}" + (f", unexpected {extra})" if extra else ")") if missing else "")
            + (f" (unexpected {extra})" if extra and not missing else "")
            + "; name the arrays after the model's inputs (numpy.savez(file, name=array))"
        )
    return {name: _conform(path, spec, raw[name]) for name, spec in by_name.items()}


def _conform(path: Path | str, spec: TensorSpec, arr: np.ndarray) -> np.ndarray:
    want = np.dtype(spec.dtype)
    if arr.dtype != want:
        same_kind = (arr.dtype.kind == want.kind) or (arr.dtype.kind in "iu" and want.kind in "iu")
        if not same_kind:
            raise UsageError(
                f"{path}: input {spec.name!r}: expected dtype {want}, found {arr.dtype}; "
                f"save it as {want} (e.g. array.astype('{want}'))"
            )
        arr = arr.astype(want)
    shape_ok = len(spec.shape) == arr.ndim and all(
        not (isinstance(d, int) and d >= 0) or d == s for d, s in zip(spec.shape, arr.shape)
    )
    if not shape_ok:
        raise UsageError(
            f"{path}: input {spec.name!r}: expected shape {list(spec.shape)}, found {list(arr.shape)}; "
            "save samples with the model's input shape (batch dimension included)"
        )
    return np.ascontiguousarray(arr)


def random_feeds(specs: Sequence[TensorSpec], n: int, seed: int = 0, split: str = "calibration") -> list[Feeds]:
    """``n`` random samples: floats ~ N(0, 1), integers uniform in [0, 100), bools uniform."""
    _check_n(n)
    for s in specs:
        if not s.is_static:
            raise UsageError(
                f"input {s.name!r} has dynamic shape {list(s.shape)}: random inputs need every dimension fixed; "
                "give the shape (suite `inputs:` or the run's input-shape flag)"
            )
    check_fits(feeds_bytes(specs) * n, f"{n} {split} sample(s) of random inputs")
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(_SPLIT_STREAM[split], i)))
        out.append({s.name: _random_array(rng, s) for s in specs})
    return out


def _random_array(rng: np.random.Generator, s: TensorSpec) -> np.ndarray:
    """Drawn in the input's own dtype (float16 via float32): never a float64 copy twice the size."""
    dt = np.dtype(s.dtype)
    shape = tuple(int(d) for d in s.shape)  # type: ignore[arg-type]
    if dt.kind == "f":
        draw = np.float64 if dt == np.float64 else np.float32
        return rng.standard_normal(shape, dtype=draw).astype(dt, copy=False)
    if dt.kind in "iu":
        return rng.integers(0, 100, shape, dtype=dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape, dtype=np.uint8).astype(bool)
    raise UsageError(f"input {s.name!r}: cannot generate random data of dtype {dt}; pass --calib DIR")


def feeds_bytes(specs: Sequence[TensorSpec]) -> int:
    """Bytes of one sample of ``specs`` (static shapes; a dynamic dim counts as 1)."""
    total = 0
    for s in specs:
        count = 1
        for d in s.shape:
            count *= int(d) if isinstance(d, int) and d > 0 else 1
        total += count * np.dtype(s.dtype).itemsize
    return total


def available_memory_bytes() -> int | None:
    """What the machine can still give this process (MemAvailable), or None where unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no psutil, or a platform it cannot read: the guard steps aside
        return None


def check_fits(needed_bytes: int, what: str, share: float = 0.8) -> None:
    """Refuse, before allocating, what would not fit in ``share`` of the available memory."""
    available = available_memory_bytes()
    if available is not None and needed_bytes > share * available:
        raise UsageError(f"{what} need {_gib(needed_bytes)} but this machine has {_gib(available)} available; "
                         "use smaller input shapes (suite `inputs:` or --shape) or fewer samples "
                         "(data.calibration / data.evaluation)")


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def calibration_set(
    model: Any, specs: Sequence[TensorSpec], calib_dir: str | Path | None = None, n: int = 100, seed: int = 0,
    values: Mapping[str, InputValue] | None = None,
) -> list[Feeds]:
    """Up to ``n`` calibration samples (see the module docstring for the source chosen); inputs the
    user fixed (``values``: ``harness.input_values``) take their fixed data in every sample."""
    return _with_values(_split(model, specs, calib_dir, n, seed, "calibration", values), specs, values, seed,
                        "calibration")


def evaluation_set(
    model: Any, specs: Sequence[TensorSpec], calib_dir: str | Path | None = None, n: int = 8, seed: int = 0,
    values: Mapping[str, InputValue] | None = None,
) -> list[Feeds]:
    """Up to ``n`` evaluation samples, disjoint from ``calibration_set`` with the same arguments."""
    return _with_values(_split(model, specs, calib_dir, n, seed, "evaluation", values), specs, values, seed,
                        "evaluation")


def _with_values(feeds: list[Feeds], specs: Sequence[TensorSpec], values: Mapping[str, InputValue] | None,
                 seed: int, split: str) -> list[Feeds]:
    if not values:
        return feeds
    from harness import input_values as inputs

    inputs.check_values(values, specs)
    return inputs.apply(feeds, specs, values, seed, split)


def source_of(model: Any, specs: Sequence[TensorSpec], calib_dir: str | Path | None = None) -> str:
    """Where the samples come from, in words, for the run record: ``folder:DIR``, ``zoo:NAME``,
    or ``random``."""
    if calib_dir is not None:
        return f"folder:{calib_dir}"
    z = _zoo_model(model, specs)
    return f"zoo:{z.name}" if z is not None else "random"


def _split(model: Any, specs: Sequence[TensorSpec], calib_dir: Any, n: int, seed: int, split: str,
           values: Mapping[str, InputValue] | None = None) -> list[Feeds]:
    _check_n(n)
    fixed = set(values or {})
    if calib_dir is not None:
        files = sample_files(calib_dir)
        held_out = len(files) // 4 if len(files) >= 4 else (1 if len(files) >= 2 else 0)
        cut = len(files) - held_out
        chosen = files[:cut] if split == "calibration" else files[cut:]
        if chosen or split == "calibration":
            return [_load_file(f, specs, fixed) for f in chosen[:n]]
        # a 1-file folder: nothing to hold out, evaluate on generated inputs instead
    z = _zoo_model(model, specs)
    if z is not None:
        return z.samples(split, n, seed)
    # Fixed inputs are filled in afterwards; generating them first would still need their shapes fixed.
    return random_feeds(specs, n, seed, split)


def _zoo_model(model: Any, specs: Sequence[TensorSpec]) -> Any:
    """The zoo model ``model`` names, if its inputs match ``specs`` (a user model that happens to
    share a zoo name gets random inputs, not another model's)."""
    from harness import zoo

    if model is None:
        return None
    name = model if isinstance(model, str) else getattr(model, "name", None)
    if name not in zoo.names():
        return None
    z = zoo.get(name)
    mine = {s.name: (tuple(s.shape), np.dtype(s.dtype)) for s in z.inputs}
    theirs = {s.name: (tuple(s.shape), np.dtype(s.dtype)) for s in specs}
    return z if mine == theirs else None


def _check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UsageError(f"sample count must be a non-negative integer, found {n!r}")
