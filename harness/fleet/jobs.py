"""A suite expanded per board into jobs: one job = one model × backend, all its precisions, on one board.

A job carries the user's suite cut down to that model and backend (its precisions, runner, data and gates
kept), so the board's runner still interleaves the rounds of the precisions it compares, as a local
`edgebench run` does; and the local files it needs. Files go to the board once, into a
folder named by their content hash (``WORKDIR/data/HASH/``), and the suite the board reads names them
there. Zoo models are exported on the board itself: nothing to copy.
"""

from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.fleet.inventory import Device

_SUITE_KEYS_KEPT = ("name", "description", "runner", "data", "gates")


def expand_jobs(suite_path: str | Path, devices: list[Device]) -> list[tuple[str, str, dict[str, Any]]]:
    """(device name, label, spec) per job, board by board in suite order."""
    import yaml

    from harness.suite import load_suite

    suite = load_suite(suite_path)  # every error surfaces here, before any board is touched
    if suite.pipelines:
        raise UsageError(f"{suite_path}: at 'pipelines': fleet run expands single models into per-board jobs and "
                         "does not run pipelines yet; run a pipeline suite on the board itself (edgebench run), or "
                         "move the pipelines to another suite")
    raw = yaml.safe_load(Path(suite_path).read_text())
    raw_backends = raw.get("backends") or ["onnxruntime"]
    raw_precisions = raw.get("precisions") or ["fp32"]
    base = {k: copy.deepcopy(raw[k]) for k in _SUITE_KEYS_KEPT if k in raw}
    base["name"] = suite.name
    uploads_data = []
    if suite.data.calibration_dir:
        folder = Path(suite.data.calibration_dir)
        if not folder.is_absolute():
            folder = Path(suite_path).parent / folder if (Path(suite_path).parent / folder).is_dir() else folder
        if not folder.is_dir():
            raise UsageError(f"{suite_path}: at 'data.calibration_dir': expected a folder of samples, found "
                             f"'{suite.data.calibration_dir}' (not a folder)")
        uploads_data.append({"where": ["data", "calibration_dir"], "files": _folder_files(folder), "folder": True})
    out = []
    for device in devices:
        for i, model in enumerate(suite.models):
            entry, uploads = _model_entry(model, raw["models"][i])
            for j, backend in enumerate(suite.backends):
                job_suite = {**copy.deepcopy(base), "models": [entry], "backends": [raw_backends[j]],
                             "precisions": copy.deepcopy(raw_precisions)}
                names = [p.name for p in suite.precisions]
                spec = {"suite": job_suite, "uploads": uploads + uploads_data, "model": model.name,
                        "backend": backend.name, "precisions": names, "profile": device.profile}
                out.append((device.name, f"{model.name} · {backend.name} · {', '.join(names)}", spec))
    return out


def _folder_files(folder: Path) -> list[str]:
    files = sorted(str(p.resolve()) for p in folder.iterdir() if p.is_file())
    if not files:
        raise UsageError(f"calibration folder {folder} holds no files; put .npy/.npz samples in it")
    return files


def _model_entry(model, raw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The model as the board's suite names it, and the uploads that fill its paths."""
    raw = raw if isinstance(raw, dict) else {}
    entry: dict[str, Any] = {"name": model.name}
    for key in ("inputs", "outputs"):
        if key in raw:
            entry[key] = copy.deepcopy(raw[key])
    uploads = []
    if model.zoo:
        entry["zoo"] = model.zoo
    elif model.variants:
        entry["variants"] = {}
        for precision, path in model.variants.items():
            entry["variants"][precision] = path
            uploads.append({"where": ["models", 0, "variants", precision], "files": _with_companions(path)})
    else:
        entry["path"] = model.path
        uploads.append({"where": ["models", 0, "path"], "files": _with_companions(model.path or "")})
    return entry, uploads


def _with_companions(path: str) -> list[str]:
    """A model file and what must sit beside it: an OpenVINO IR's .bin, ONNX external data."""
    p = Path(path).resolve()
    files = [str(p)]
    for extra in (p.with_suffix(".bin") if p.suffix == ".xml" else None, Path(str(p) + ".data")):
        if extra is not None and extra.is_file():
            files.append(str(extra))
    return files


def content_hash(files: list[str]) -> str:
    """One hash over the names and bytes of a group of files: the board folder's name."""
    h = hashlib.sha256()
    for f in files:
        st = Path(f).stat()
        h.update(Path(f).name.encode() + b"\0" + _file_hash(f, st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()[:24]


@lru_cache(maxsize=256)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def place(suite: dict[str, Any], where: list[Any], value: str) -> None:
    """Set ``suite[where[0]][where[1]]…`` to the board's path."""
    node = suite
    for key in where[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[where[-1]] = value
