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
from harness.profiling import ProfileSettings

OUTPUT_KINDS = ("tensor", "image", "video", "audio", "logits", "class_map")
#: Bounds a shape must respect before anything is allocated from it (resource guards come later,
#: with the machine's memory; these only stop nonsense such as a 10**12 dimension early).
MAX_RANK = 8
MAX_DIM = 2**31 - 1
MAX_NAME = 200
#: Settings a precision may carry, over every backend (each adapter reads its own and checks values).
_TFLITE_SETTINGS = {"edgetpu", "pseudo_ops", "io", "timeout_s"}
_OPENVINO_SETTINGS = {"method", "format", "subset_size", "keep_float"}


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
    # Per-operator profile pass after the timed rounds (`profile:` in the suite, `--profile` on run).
    profile: ProfileSettings = field(default_factory=ProfileSettings)
    # recipe search settings for `edgebench tune SUITE` (see harness/quant/tune.py); `run` ignores them
    tune: dict[str, Any] = field(default_factory=dict)


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expected: str, found: Any, hint: str = "") -> UsageError:
        shown = repr(found) if not isinstance(found, str) else f"'{found}'"
        if len(shown) > 120:  # a 100,000-item list is shown by its start, not printed whole
            shown = shown[:100] + f"… ({type(found).__name__})"
        where = f"'{key}'" if key else "the top level"
        return UsageError(f"{self.source}: at {where}: expected {expected}, found {shown}{hint}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a mapping (key: value)", value)
        for k in value:
            if not isinstance(k, str):
                raise self.fail(f"{key}.{k!r}" if key else repr(k), "keys that are text (quote them)", k)
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
                value = [int(d) for d in value.lower().split("x")]
            except ValueError:
                raise self.fail(key, "a shape like [1, 3, 224, 224] or '1x3x224x224'", value) from None
        if (not isinstance(value, list) or not value or len(value) > MAX_RANK
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_DIM for d in value)):
            raise self.fail(key, f"a shape: a list of 1 to {MAX_RANK} positive integers (each at most {MAX_DIM}), "
                            "like [1, 3, 224, 224] or '1x3x224x224'", value)
        return tuple(value)

    def text(self, value: Any, key: str, what: str = "a name (text)") -> str:
        """A non-empty string of printable characters: names end up in tables, records and file names."""
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise self.fail(key, f"{what}, 1 to {MAX_NAME} characters", value)
        if any(not c.isprintable() for c in value):
            raise self.fail(key, f"{what} without control characters", value)
        return value

    def number(self, value: Any, key: str, what: str = "a number") -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(key, what, value)
        return float(value)


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
    if raw.get("calibration_dir") is not None:
        chk.text(raw["calibration_dir"], f"{key}.calibration_dir", "a folder path")
    if "fidelity_floor_db" in raw:
        raw = {**raw, "fidelity_floor_db": chk.number(raw["fidelity_floor_db"], f"{key}.fidelity_floor_db",
                                                        "a number of dB (e.g. 10)")}
    return DataSettings(**raw)


def _model(raw: Any, chk: _Checker, key: str, base: Path) -> ModelSpec:
    if isinstance(raw, str):
        raw = {"zoo": raw} if not raw.endswith((".onnx", ".tflite", ".xml")) else {"path": raw}
    raw = chk.mapping(raw, key)
    chk.keys(raw, key, {"zoo", "path", "name", "inputs", "outputs", "variants"})
    sources = [k for k in ("zoo", "path", "variants") if k in raw]
    if len(sources) != 1:
        raise chk.fail(key, "exactly one of 'zoo', 'path' or 'variants'", sorted(raw))
    if "name" in raw:
        chk.text(raw["name"], f"{key}.name", "a model name (text)")
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
        return chk.text(raw, key), {}
    raw = dict(chk.mapping(raw, key))
    name = chk.text(raw.pop("name", None), f"{key}.name")
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


def _backends(raw_list: Any, chk: _Checker) -> list[BackendSpec]:
    import backends

    known = backends.names()
    specs = []
    for i, raw in enumerate(chk.seq(raw_list, "backends")):
        # YAML reads a bare `null` as None: in a backend list it can only mean the null backend.
        if raw is None:
            raw = "null"
        elif isinstance(raw, dict) and "name" in raw and raw["name"] is None:
            raw = {**raw, "name": "null"}
        bname, options = _named(raw, chk, f"backends[{i}]", "options")
        if bname not in known:
            if ":" in bname:
                raise chk.fail(f"backends[{i}]", f"a backend name ({', '.join(known)})", bname,
                               f"; a suite cannot import code by itself: {backends.HOW_TO_REGISTER}")
            raise chk.fail(f"backends[{i}]", f"a backend ({', '.join(known)})", bname, _suggest(bname, known))
        _check_backend_options(bname, options, chk, f"backends[{i}].options")
        specs.append(BackendSpec(bname, options))
    return specs


def _precisions(raw_list: Any, chk: _Checker) -> list[PrecisionSpec]:
    known_settings = precision_setting_names()
    specs = []
    for i, raw in enumerate(chk.seq(raw_list, "precisions")):
        pname, settings = _named(raw, chk, f"precisions[{i}]", None)
        if pname not in PRECISIONS:
            raise chk.fail(f"precisions[{i}]", f"a precision ({', '.join(PRECISIONS)})", pname,
                           _suggest(pname, PRECISIONS))
        for k, v in settings.items():
            if k not in known_settings:
                raise chk.fail(f"precisions[{i}].{k}", "a precision setting some backend reads "
                               f"({', '.join(sorted(known_settings))})", k, _suggest(k, known_settings))
            if not _plain_value(v) and not (k == "modules" and _module_mapping(v)):
                raise chk.fail(f"precisions[{i}].{k}", "a number, text, true/false or a list of them", v)
        specs.append(PrecisionSpec(pname, settings))
    return specs


def _plain_value(v: Any) -> bool:
    if isinstance(v, list):
        return all(isinstance(x, (str, int, float, bool)) for x in v)
    return v is None or isinstance(v, (str, int, float, bool))


def _module_mapping(v: Any) -> bool:
    """int8-auto's ``modules: {name: [glob, ...]}``."""
    return isinstance(v, dict) and all(isinstance(k, str) and (isinstance(g, str) or (
        isinstance(g, list) and all(isinstance(x, str) for x in g))) for k, g in v.items())


def precision_setting_names() -> set[str]:
    """Every precision setting some adapter (or int8-auto's search) reads; each checks the values of its own."""
    from backends._ov_recipe import NNCF_SETTINGS
    from harness.quant.auto import AUTO_KEYS

    names = set(_TFLITE_SETTINGS) | set(_OPENVINO_SETTINGS) | set(NNCF_SETTINGS) | set(AUTO_KEYS)
    from backends._onnx_variants import DEFAULTS
    from backends._trt_plan import SETTING_KEYS

    names |= {k for d in DEFAULTS.values() for k in d} | set(SETTING_KEYS)
    return names


def _suggest(name: str, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _gates(raw: Any, chk: _Checker) -> dict[str, str]:
    """Parsed now, so a bad condition or a misspelt metric fails before anything is measured: a gate
    on a figure no run produces would stay "not scored yet" forever and never fail a CI job."""
    from harness.quality import QualityError
    from harness.quality.gates import GATE_METRICS, parse_gate

    gates = chk.mapping(raw, "gates")
    for metric, spec in gates.items():
        if not isinstance(spec, str):
            raise chk.fail(f"gates.{metric}", "a condition like '>= 25'", spec)
        try:
            parse_gate(spec)
        except QualityError as exc:
            raise chk.fail(f"gates.{metric}", str(exc).replace("bad gate spec ", "a condition; ", 1), spec) from None
        if metric not in GATE_METRICS:
            raise chk.fail(f"gates.{metric}", "a figure a run produces or a score attaches ("
                           f"{', '.join(sorted(GATE_METRICS))})", metric, _suggest(metric, GATE_METRICS))
    return dict(gates)


#: figures only fidelity scoring on evaluation samples produces
_FIDELITY_METRICS = {"sqnr_db", "cosine", "max_abs_err", "mean_abs_err", "p99_abs_err", "rel_err", "nonfinite",
                     "psnr_db", "ssim", "si_sdr_db", "lsd_db"}


def check_gates_scorable(suite: Suite, source: str | None = None) -> None:
    """A fidelity gate with no evaluation samples could never be decided: refuse the combination."""
    if suite.data.evaluation > 0:
        return
    blind = sorted(set(suite.gates) & _FIDELITY_METRICS)
    if blind:
        raise UsageError(f"{source or suite.path}: gates {', '.join(blind)} read fidelity figures, but evaluation is "
                         "0 (data.evaluation or --evaluation): they could never pass or fail; evaluate at least 1 "
                         "sample or drop the gates")


def parse_suite(data: Any, source: str = "<suite>", base: Path | None = None) -> Suite:
    chk = _Checker(source)
    data = chk.mapping(data, "")
    chk.keys(data, "", {"name", "description", "runner", "data", "models", "backends", "precisions", "gates",
                        "pipelines", "profile", "tune"})
    base = base or Path.cwd()
    name = chk.text(data["name"], "name", "a suite name (text)") if data.get("name") is not None else Path(source).stem
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise chk.fail("description", "text", description)
    # Backends and precisions first: they are cheap to check, and a typo there should not wait for
    # the zoo (onnx) that models and pipelines load.
    backend_specs = _backends(data.get("backends", ["onnxruntime"]), chk)
    precision_specs = _precisions(data.get("precisions", ["fp32"]), chk)
    from harness.pipeline_spec import parse_pipelines

    pipelines = parse_pipelines(data.get("pipelines"), chk, base)
    # A suite of pipelines alone needs no models: list.
    models = [] if pipelines and "models" not in data else [
        _model(m, chk, f"models[{i}]", base) for i, m in enumerate(chk.seq(data.get("models"), "models"))]
    suite = Suite(
        name=str(name),
        description=description or "",
        models=models,
        backends=backend_specs,
        precisions=precision_specs,
        runner=_runner_settings(data.get("runner", {}), chk, "runner"),
        data=_data_settings(data.get("data", {}), chk, "data"),
        gates=_gates(data.get("gates", {}), chk),
        path=source,
        pipelines=pipelines,
        profile=ProfileSettings.parse(data.get("profile"), f"{source}: at 'profile'"),
        tune=_tune_settings(data.get("tune"), source),
    )
    check_gates_scorable(suite)
    _check_auto_floors(suite.precisions, suite.gates, source)
    return suite


def _check_auto_floors(precisions: list[PrecisionSpec], gates: dict[str, Any], source: str) -> None:
    """A bad int8-auto floor fails when the suite is read, not inside the first run's search."""
    for i, spec in enumerate(precisions):
        if spec.name == "int8-auto":
            from harness.quant.auto import parse_floor

            try:
                parse_floor(spec.settings.get("floor"), {str(k): str(v) for k, v in gates.items()})
            except UsageError as exc:
                raise UsageError(f"{source}: at 'precisions[{i}].floor': {exc}") from None
            for key in ("refine", "sensitivity"):
                value = spec.settings.get(key, False)
                if not isinstance(value, bool):
                    raise UsageError(f"{source}: at 'precisions[{i}].{key}': expected true or false, found "
                                     f"{value!r}")


def _tune_settings(raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: at 'tune': expected a mapping (budget_s, floor, recipes, backends), "
                         f"found {raw!r}")
    from harness.quant.tune import tune_settings

    return tune_settings(raw, source)


def load_suite(path: str | Path) -> Suite:
    from harness import yamlsafe

    p = Path(path)
    if not p.is_file():
        what = "is not a regular file" if p.exists() else "does not exist"
        raise UsageError(f"suite file {p} {what}; pass a YAML suite (see suites/quick.yaml)")
    return parse_suite(yamlsafe.load_file(p), str(p), p.parent)
