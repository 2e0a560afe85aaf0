"""Suites: models × backends × precisions × runner settings, read from YAML and validated.

Every error names the file, the key path, what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import PRECISIONS
from harness.errors import UsageError
from harness.input_values import InputValue

OUTPUT_KINDS = ("tensor", "image", "video", "audio")


@dataclass(frozen=True)
class RunnerSettings:
    """How long and how to measure. Defaults suit a small board: enough iterations for p90, a few
    seconds of steady state, a cap so a slow model cannot hold the suite hostage."""

    warmup: int = 10
    min_iterations: int = 64  # per round
    min_duration_s: float = 1.0  # per round
    max_duration_s: float = 60.0  # per round
    timeout_s: float = 900.0
    fresh_inputs: bool = False
    threads: int | None = None
    cooldown_s: float = 0.0
    idle_s: float = 1.0
    # Rounds: each a re-warm of ``rewarm`` calls (default a fifth of warmup) and a full timed window;
    # ``interleave`` runs the rounds of a suite's plans of one model and backend in turn (harness.rounds).
    rounds: int = 5
    rewarm: int | None = None
    interleave: bool = True

    def rewarm_iterations(self) -> int:
        return self.rewarm if self.rewarm is not None else max(1, self.warmup // 5)

    def merged(self, overrides: dict[str, Any]) -> RunnerSettings:
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given)


@dataclass(frozen=True)
class DataSettings:
    calibration: int = 100
    calibration_dir: str | None = None
    evaluation: int = 8
    seed: int = 0
    # Below this SQNR (or with NaN/Inf outputs) a run gets a warning in its record.
    fidelity_floor_db: float = 10.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str | None = None
    zoo: str | None = None
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    output_kinds: dict[str, str] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)  # precision -> prebuilt file
    input_values: dict[str, InputValue] = field(default_factory=dict)  # inputs fixed by the user (harness.input_values)


@dataclass(frozen=True)
class BackendSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrecisionSpec:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    models: list[ModelSpec]
    backends: list[BackendSpec]
    precisions: list[PrecisionSpec]
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    data: DataSettings = field(default_factory=DataSettings)
    gates: dict[str, str] = field(default_factory=dict)
    description: str = ""
    path: str | None = None
    pipelines: list[Any] = field(default_factory=list)  # harness.pipeline_spec.PipelineSpec


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expected: str, found: Any) -> UsageError:
        shown = repr(found) if not isinstance(found, str) else f"'{found}'"
        return UsageError(f"{self.source}: at '{key}': expected {expected}, found {shown}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a mapping (key: value)", value)
        return value

    def seq(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, "a non-empty list", value)
        return value

    def keys(self, value: dict[str, Any], key: str, allowed: set[str]) -> None:
        unknown = set(value) - allowed
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}" if key else sorted(unknown)[0],
                            f"one of the keys {', '.join(sorted(allowed))}", sorted(unknown)[0])

    def shape(self, value: Any, key: str) -> tuple[int, ...]:
        if isinstance(value, str):
            try:
                return tuple(int(d) for d in value.lower().split("x"))
            except ValueError:
                raise self.fail(key, "a shape like [1, 3, 224, 224] or '1x3x224x224'", value) from None
        if not isinstance(value, list) or not all(isinstance(d, int) and d > 0 for d in value):
            raise self.fail(key, "a shape: a list of positive integers", value)
        return tuple(value)


def _runner_settings(raw: Any, chk: _Checker, key: str) -> RunnerSettings:
    raw = chk.mapping(raw, key)
    types = {f.name: f.type for f in dataclasses.fields(RunnerSettings)}
    chk.keys(raw, key, set(types))
    values: dict[str, Any] = {}
    for k, v in raw.items():
        kind = types[k]
        if v is None:
            continue
        if "bool" in kind:
            if not isinstance(v, bool):
                raise chk.fail(f"{key}.{k}", "true or false", v)
        elif "int" in kind and "float" not in kind:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise chk.fail(f"{key}.{k}", "a non-negative integer", v)
        elif not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise chk.fail(f"{key}.{k}", "a non-negative number (seconds)", v)
        values[k] = v
    settings = RunnerSettings().merged(values)
    _check_rounds(settings, chk, key)
    if settings.max_duration_s < settings.min_duration_s:
        raise chk.fail(f"{key}.max_duration_s", f"at least min_duration_s ({settings.min_duration_s})",
                       settings.max_duration_s)
    return settings


def _check_rounds(settings: RunnerSettings, chk: _Checker, key: str) -> None:
    if settings.rounds < 1:
        raise chk.fail(f"{key}.rounds", "at least 1 round (5 or more for an interval between rounds)", settings.rounds)


def _data_settings(raw: Any, chk: _Checker, key: str) -> DataSettings:
    raw = chk.mapping(raw, key)
    chk.keys(raw, key, {"calibration", "calibration_dir", "evaluation", "seed", "fidelity_floor_db"})
    for k in ("calibration", "evaluation", "seed"):
        if k in raw and (not isinstance(raw[k], int) or isinstance(raw[k], bool) or raw[k] < 0):
            raise chk.fail(f"{key}.{k}", "a non-negative integer", raw[k])
    if raw.get("calibration") == 0:
        raise chk.fail(f"{key}.calibration", "at least 1 calibration sample", 0)
    return DataSettings(**raw)


def _model(raw: Any, chk: _Checker, key: str, base: Path) -> ModelSpec:
    if isinstance(raw, str):
        raw = {"zoo": raw} if not raw.endswith((".onnx", ".tflite", ".xml")) else {"path": raw}
    raw = chk.mapping(raw, key)
    chk.keys(raw, key, {"zoo", "path", "name", "inputs", "outputs", "variants"})
    sources = [k for k in ("zoo", "path", "variants") if k in raw]
    if len(sources) != 1:
        raise chk.fail(key, "exactly one of 'zoo', 'path' or 'variants'", sorted(raw))
    inputs, values = _model_inputs(raw.get("inputs", {}), chk, f"{key}.inputs", base)
    outputs = chk.mapping(raw.get("outputs", {}), f"{key}.outputs")
    for name, kind in outputs.items():
        if kind not in OUTPUT_KINDS:
            raise chk.fail(f"{key}.outputs.{name}", f"one of {', '.join(OUTPUT_KINDS)}", kind)

    def resolve(p: Any, k: str) -> str:
        # Relative paths are read from the suite file's folder, else from the working directory.
        if not isinstance(p, str) or not p:
            raise chk.fail(k, "a file path", p)
        path = Path(p)
        if path.is_absolute():
            return str(path)
        beside_suite = base / path
        return str(beside_suite if beside_suite.exists() or not path.exists() else path.resolve())

    if "zoo" in raw:
        from harness import zoo

        if raw["zoo"] not in zoo.names():
            raise chk.fail(f"{key}.zoo", f"a zoo model ({', '.join(zoo.names())})", raw["zoo"])
        return ModelSpec(name=raw.get("name", raw["zoo"]), zoo=raw["zoo"], input_shapes=inputs, output_kinds=outputs,
                         input_values=values)
    if "path" in raw:
        path = resolve(raw["path"], f"{key}.path")
        return ModelSpec(name=raw.get("name", Path(path).stem), path=path, input_shapes=inputs, output_kinds=outputs,
                         input_values=values)
    variants = chk.mapping(raw["variants"], f"{key}.variants")
    for precision in variants:
        if precision not in PRECISIONS:
            raise chk.fail(f"{key}.variants.{precision}", f"a precision ({', '.join(PRECISIONS)})", precision)
    if "fp32" not in variants:
        raise chk.fail(f"{key}.variants", "an fp32 entry: the reference the others are scored against",
                       sorted(variants))
    if "name" not in raw:
        raise chk.fail(f"{key}.name", "a name for a model declared by its variants", None)
    files = {p: resolve(f, f"{key}.variants.{p}") for p, f in variants.items()}
    return ModelSpec(name=raw["name"], variants=files, input_shapes=inputs, output_kinds=outputs,
                     input_values=values)


def _model_inputs(raw: Any, chk: _Checker, key: str,
                  base: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, InputValue]]:
    """``inputs:`` of a model: NAME: SHAPE as before, or NAME: {shape, value | file | range}."""
    shapes: dict[str, tuple[int, ...]] = {}
    values: dict[str, InputValue] = {}
    for name, entry in chk.mapping(raw, key).items():
        if not isinstance(entry, dict):
            shapes[name] = chk.shape(entry, f"{key}.{name}")
            continue
        chk.keys(entry, f"{key}.{name}", {"shape", "value", "file", "range"})
        if "shape" in entry:
            shapes[name] = chk.shape(entry["shape"], f"{key}.{name}.shape")
        given = [k for k in ("value", "file", "range") if k in entry]
        if len(given) > 1:
            raise chk.fail(f"{key}.{name}", "at most one of 'value', 'file' or 'range'", sorted(entry))
        if given:
            values[name] = _input_value(name, given[0], entry[given[0]], chk, f"{key}.{name}.{given[0]}", base)
    return shapes, values


def _input_value(name: str, kind: str, raw: Any, chk: _Checker, key: str, base: Path) -> InputValue:
    where = f"{chk.source}: at '{key}'"
    if kind == "value":
        if not isinstance(raw, (int, float, bool)):
            raise chk.fail(key, "a number or true/false (use 'file:' for an array)", raw)
        return InputValue(name, "constant", value=raw, origin=where)
    if kind == "file":
        if not isinstance(raw, str) or not raw.lower().endswith(".npy"):
            raise chk.fail(key, "a path to a .npy file", raw)
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        if not path.is_file():
            raise chk.fail(key, "an existing .npy file (relative paths are read from the suite's folder)", raw)
        return InputValue(name, "file", path=str(path), origin=where)
    ok = (isinstance(raw, list) and len(raw) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw) and raw[0] <= raw[1])
    if not ok:
        raise chk.fail(key, "[lo, hi]: two numbers with lo <= hi", raw)
    return InputValue(name, "range", low=raw[0], high=raw[1], origin=where)


def _named(raw: Any, chk: _Checker, key: str, options_key: str | None) -> tuple[str, dict[str, Any]]:
    if isinstance(raw, str):
        return raw, {}
    raw = dict(chk.mapping(raw, key))
    if "name" not in raw or not isinstance(raw["name"], str):
        raise chk.fail(f"{key}.name", "a name", raw.get("name"))
    name = raw.pop("name")
    if options_key is not None:
        chk.keys(raw, key, {options_key})
        return name, dict(chk.mapping(raw.get(options_key, {}), f"{key}.{options_key}"))
    return name, raw


def _check_backend_options(name: str, options: dict[str, Any], chk: _Checker, key: str) -> None:
    """Options against the adapter's own schema, before anything runs: a typo fails here, not after a
    minute of conversion. Out-of-tree adapters (``module:Class``) are checked when they import."""
    import backends

    if ":" in name:
        return
    problems = backends.get_backend(name).check_options(options)
    if problems:
        where, why = problems[0]
        raise UsageError(f"{chk.source}: at '{key}.{where}': {why}")


def parse_suite(data: Any, source: str = "<suite>", base: Path | None = None) -> Suite:
    import backends

    chk = _Checker(source)
    data = chk.mapping(data, "")
    chk.keys(data, "", {"name", "description", "runner", "data", "models", "backends", "precisions", "gates",
                        "pipelines"})
    base = base or Path.cwd()
    name = data.get("name") or Path(source).stem
    # Backends and precisions first: they are cheap to check, and a typo there should not wait for
    # the zoo (onnx) that models and pipelines load.
    known = backends.names()
    backend_specs = []
    for i, raw in enumerate(chk.seq(data.get("backends", ["onnxruntime"]), "backends")):
        # YAML reads a bare `null` as None: in a backend list it can only mean the null backend.
        if raw is None:
            raw = "null"
        elif isinstance(raw, dict) and "name" in raw and raw["name"] is None:
            raw = {**raw, "name": "null"}
        bname, options = _named(raw, chk, f"backends[{i}]", "options")
        if bname not in known and ":" not in bname:
            raise chk.fail(f"backends[{i}]", f"a backend ({', '.join(known)})", bname)
        _check_backend_options(bname, options, chk, f"backends[{i}].options")
        backend_specs.append(BackendSpec(bname, options))
    precision_specs = []
    for i, raw in enumerate(chk.seq(data.get("precisions", ["fp32"]), "precisions")):
        pname, settings = _named(raw, chk, f"precisions[{i}]", None)
        if pname not in PRECISIONS:
            raise chk.fail(f"precisions[{i}]", f"a precision ({', '.join(PRECISIONS)})", pname)
        precision_specs.append(PrecisionSpec(pname, settings))
    from harness.pipeline_spec import parse_pipelines

    pipelines = parse_pipelines(data.get("pipelines"), chk, base)
    # A suite of pipelines alone needs no models: list.
    models = [] if pipelines and "models" not in data else [
        _model(m, chk, f"models[{i}]", base) for i, m in enumerate(chk.seq(data.get("models"), "models"))]
    gates = chk.mapping(data.get("gates", {}), "gates")
    for metric, spec in gates.items():
        if not isinstance(spec, str):
            raise chk.fail(f"gates.{metric}", "a condition like '>= 25'", spec)
    return Suite(
        name=str(name),
        description=str(data.get("description", "")),
        models=models,
        backends=backend_specs,
        precisions=precision_specs,
        runner=_runner_settings(data.get("runner", {}), chk, "runner"),
        data=_data_settings(data.get("data", {}), chk, "data"),
        gates={str(k): str(v) for k, v in gates.items()},
        path=source,
        pipelines=pipelines,
    )


def load_suite(path: str | Path) -> Suite:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"suite file {p} does not exist; pass a YAML suite (see suites/quick.yaml)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: not valid YAML: {exc}") from exc
    return parse_suite(data, str(p), p.parent)
