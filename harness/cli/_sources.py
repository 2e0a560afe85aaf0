"""Where ``report`` and ``compare`` read runs from: a store, an output folder, a JSON export, a selection.

A SOURCE is ``[PATH::]SELECTOR[+SELECTOR…]`` or just ``PATH``:

- PATH: an output folder (holding ``edgebench.sqlite``), a store file (``*.sqlite``), or a JSON
  export (``edgebench export --format json``: a list of runs; samples are used when present).
  Without PATH the store of ``--out`` / ``$EDGEBENCH_OUT`` / ``./out`` is read.
- SELECTOR: ``suite:NAME``, ``run:ID,ID`` (ids or unique prefixes), ``device:NAME``,
  ``model:NAME``, ``backend:NAME``, ``precision:NAME``, ``since:DATE``, ``until:DATE``,
  ``commit:SHA`` (prefix of the edgebench commit that ran), ``pkg:NAME=VERSION`` (a library version
  in the run's environment, e.g. ``pkg:onnxruntime=1.31.0``). Several selectors joined by ``+``
  must all hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError

SELECTOR_KEYS = ("suite", "run", "runs", "device", "model", "backend", "precision", "since", "until", "commit", "pkg")
SOURCE_HELP = (
    "a SOURCE is an output folder, a store file (.sqlite), a JSON export, or a selection in the store of --out: "
    "suite:NAME, run:ID,ID, device:NAME, model:NAME, backend:NAME, precision:NAME, since:DATE, until:DATE, "
    "commit:SHA, pkg:NAME=VERSION; join selectors with + (suite:nightly+device:jetson) and prefix a PATH:: "
    "to select inside another store (old-out::suite:nightly)"
)


@dataclass
class Loaded:
    label: str
    records: list[Any]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)


def _is_selector(text: str) -> bool:
    head = text.split("+", 1)[0]
    return ":" in head and head.split(":", 1)[0].lower() in SELECTOR_KEYS


def parse_selectors(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split("+"):
        if ":" not in part:
            raise UsageError(f"cannot read selector {part!r}: expected KEY:VALUE with KEY one of "
                             f"{', '.join(SELECTOR_KEYS)} (e.g. suite:nightly)")
        key, value = part.split(":", 1)
        key = key.strip().lower()
        if key == "runs":
            key = "run"
        if key not in SELECTOR_KEYS:
            raise UsageError(f"unknown selector {key!r} in {text!r}: use one of {', '.join(SELECTOR_KEYS)}")
        if not value.strip():
            raise UsageError(f"selector {key}: has no value in {text!r}: write e.g. {key}:NAME")
        if key == "pkg" and "=" not in value:
            raise UsageError(f"selector pkg:{value} needs NAME=VERSION, e.g. pkg:onnxruntime=1.31.0")
        if key in out:
            raise UsageError(f"selector {key}: given twice in {text!r}; keep one")
        out[key] = value.strip()
    return out


def _store_file(path: Path) -> Path | None:
    if path.is_dir():
        candidate = path / "edgebench.sqlite"
        return candidate if candidate.exists() else None
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(16) == b"SQLite format 3\x00":
                return path
    return None


def _post_filter(records: list[Any], sel: dict[str, str]) -> list[Any]:
    def keep(r: Any) -> bool:
        env = r.environment or {}
        if "suite" in sel and r.suite != sel["suite"]:
            return False
        for key, value in (("device", r.device.get("name")), ("model", r.model.get("name")),
                           ("backend", r.backend.get("name")), ("precision", r.precision)):
            if key in sel and value != sel[key]:
                return False
        if "since" in sel and (r.created_at or "") < sel["since"]:
            return False
        if "until" in sel and (r.created_at or "")[: len(sel["until"])] > sel["until"]:
            return False
        if "commit" in sel and not str((env.get("edgebench") or {}).get("commit") or "").startswith(sel["commit"]):
            return False
        if "pkg" in sel:
            name, version = sel["pkg"].split("=", 1)
            if str((env.get("packages") or {}).get(name)) != version:
                return False
        if "run" in sel:
            prefixes = [p.strip() for p in sel["run"].split(",") if p.strip()]
            if not any(r.run_id.startswith(p) for p in prefixes):
                return False
        return True

    return [r for r in records if keep(r)]


def _load_json(path: Path) -> list[Any]:
    from harness.textio import read_text
    from results.schema import RunRecord

    text = read_text(path, 512 * 1024 * 1024, what="JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:  # JSON lines
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is neither JSON nor JSON lines ({exc}); expected the output of "
                             "'edgebench export --format json'") from exc
    if isinstance(data, dict):
        data = data.get("runs", [data])
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise UsageError(f"{path}: expected a list of run objects (from 'edgebench export --format json'), "
                         f"found {type(data).__name__}")
    records = []
    for i, d in enumerate(data):
        try:
            records.append(RunRecord.from_dict(d))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{path}: run #{i} is not a run record ({exc}); expected objects from "
                             "'edgebench export --format json'") from exc
    return records


def load(spec: str, default_store: Path, *, with_samples: bool = True, extra: dict[str, str] | None = None) -> Loaded:
    """Runs named by ``spec`` (see the module doc), plus their per-iteration samples when stored."""
    path_part, selector_part = None, None
    if not spec:  # the store of --out
        if not default_store.exists():
            raise UsageError(f"no result store at {default_store}: run 'edgebench run --out DIR' first, "
                             "or pass --out DIR (or --from SOURCE) naming where the runs are")
    elif "::" in spec:
        path_part, selector_part = spec.split("::", 1)
    elif _is_selector(spec) and not Path(spec).exists():
        selector_part = spec
    else:
        path_part = spec
    sel = parse_selectors(selector_part) if selector_part else {}
    for k, v in (extra or {}).items():
        if v is not None:
            sel.setdefault(k, v)
    path = Path(path_part) if path_part else default_store
    if path_part and not path.exists():
        raise UsageError(f"{path_part!r} is not a folder, store or JSON file, nor a selector; {SOURCE_HELP}")
    if path.suffix.lower() in (".json", ".jsonl") and path.is_file():
        records = _post_filter(_load_json(path), sel)
        samples = {r.run_id: r.samples for r in records if r.samples}
        return Loaded(spec, records, samples)
    store_file = _store_file(path)
    if store_file is None:
        if path.is_dir():
            raise UsageError(f"no result store in {path} (expected {path / 'edgebench.sqlite'}): run "
                             "'edgebench run --out DIR' first, or name the store file")
        raise UsageError(f"no result store at {path}: run 'edgebench run' first, or pass --out DIR; {SOURCE_HELP}")
    from results.store import ResultStore, StoreError

    try:
        with ResultStore(store_file, create=False) as store:
            run_ids = [p.strip() for p in sel["run"].split(",")] if "run" in sel else None
            records = store.records(suite=sel.get("suite"), run_ids=run_ids, since=sel.get("since"),
                                    device=sel.get("device"), model=sel.get("model"), backend=sel.get("backend"),
                                    precision=sel.get("precision"))
            records = _post_filter(records, {k: v for k, v in sel.items() if k in ("until", "commit", "pkg")})
            samples = {r.run_id: store.samples(r.run_id) for r in records if with_samples and r.status == "ok"}
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    return Loaded(spec, records, samples)
