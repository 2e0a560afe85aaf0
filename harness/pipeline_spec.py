"""Pipelines in a suite: multi-stage generations (encoder once, denoiser per step, decoder per chunk).

    pipelines:
      - name: my-gen
        media_seconds: 2.0          # media one generation produces
        steps: [10, 20, 30]         # a sweep: one record per step count
        chunks: 1
        resident: all               # all | staged | [all, staged]
        stages:
          - {name: encoder, model: enc.onnx, repeat: once}
          - {name: denoiser, model: den.onnx, repeat: per_step, carry: {latent_out: latent}}
          - {name: decoder, model: dec.onnx, repeat: per_chunk, precision: fp16}
        wiring: {"denoiser.cond": "encoder.features", "decoder.latent": "denoiser.latent_out"}
      - zoo: talking-head-gen      # a zoo pipeline, with optional steps/chunks/resident/... overrides

Everything that can be checked without running is checked here, with the key path: unknown stages,
inputs and outputs (read from the ONNX files), shape mismatches across a wire, cycles, a stage that
reads from a stage that runs later (a ``once`` stage cannot read a per-step output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import PRECISIONS, TensorSpec
from harness.suite import OUTPUT_KINDS, BackendSpec, ModelSpec, PrecisionSpec, _Checker, _model

REPEATS = ("once", "per_chunk", "per_step")
RESIDENT = ("all", "staged")
SAMPLERS = ("ddim", "none")
_STAGE_KEYS = {"name", "model", "zoo_stage", "repeat", "carry", "precision", "backend", "inputs", "timestep"}
_PIPELINE_KEYS = {"name", "zoo", "stages", "wiring", "steps", "chunks", "media_seconds", "resident", "output",
                  "output_kind", "sampler", "timestep_scale", "generations", "warmup_generations", "backends",
                  "precisions", "stage_overrides"}


@dataclass(frozen=True)
class StageSpec:
    name: str
    model: ModelSpec
    repeat: str
    carry: dict[str, str] = field(default_factory=dict)  # output -> input of the same stage, next step
    precision: PrecisionSpec | None = None  # None: the plan's precision
    backend: BackendSpec | None = None  # None: the plan's backend
    timestep: str | None = None  # the input fed the sampler's timestep (per-step stages)
    zoo_stage: str | None = None  # "<zoo pipeline>/<stage>" for zoo stage models


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    stages: list[StageSpec]
    wiring: dict[str, str]  # "stage.input" -> "stage.output"
    steps: list[int]
    chunks: int = 1
    media_seconds: float = 1.0
    resident: list[str] = field(default_factory=lambda: ["all"])
    output: str = ""  # "stage.output": the media a generation produces, one per chunk
    output_kind: str = "tensor"
    sampler: str = "ddim"
    timestep_scale: float = 1000.0
    generations: int = 3
    warmup_generations: int = 1
    backends: list[BackendSpec] | None = None  # None: the suite's
    precisions: list[PrecisionSpec] | None = None  # None: the suite's
    zoo: str | None = None

    def stage(self, name: str) -> StageSpec:
        return next(s for s in self.stages if s.name == name)


def parse_pipelines(raw: Any, chk: _Checker, base: Path) -> list[PipelineSpec]:
    """The suite's ``pipelines:`` list; every error names the key path."""
    if raw is None:
        return []
    out = [_pipeline(item, chk, f"pipelines[{i}]", base) for i, item in enumerate(chk.seq(raw, "pipelines"))]
    seen: set[str] = set()
    for i, p in enumerate(out):
        if p.name in seen:
            raise chk.fail(f"pipelines[{i}].name", "a name no other pipeline of the suite uses", p.name)
        seen.add(p.name)
    return out


def _pipeline(raw: Any, chk: _Checker, key: str, base: Path) -> PipelineSpec:
    if isinstance(raw, str):
        raw = {"zoo": raw}
    raw = dict(chk.mapping(raw, key))
    chk.keys(raw, key, _PIPELINE_KEYS)
    if "zoo" in raw:
        raw = _zoo_raw(raw, chk, key)
    elif "stage_overrides" in raw:
        raise chk.fail(f"{key}.stage_overrides", "stage_overrides only on a zoo pipeline (give the stage's "
                       "precision/backend in its own entry)", raw["stage_overrides"])
    name = raw.get("name")
    if not isinstance(name, str) or not name or "." in name:
        raise chk.fail(f"{key}.name", "a pipeline name (no dots)", name)
    stages = [_stage(s, chk, f"{key}.stages[{i}]", base, name) for i, s in enumerate(chk.seq(raw.get("stages"),
                                                                                              f"{key}.stages"))]
    names = [s.name for s in stages]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise chk.fail(f"{key}.stages[{i}].name", "a stage name no other stage of the pipeline uses", n)
    wiring = _wiring(raw.get("wiring", {}), chk, f"{key}.wiring")
    spec = PipelineSpec(
        name=name, stages=stages, wiring=wiring,
        steps=_steps(raw.get("steps"), chk, f"{key}.steps", stages),
        chunks=_positive_int(raw.get("chunks", 1), chk, f"{key}.chunks"),
        media_seconds=_media_seconds(raw.get("media_seconds"), chk, f"{key}.media_seconds"),
        resident=_resident(raw.get("resident", "all"), chk, f"{key}.resident"),
        output=str(raw.get("output") or ""),
        output_kind=_choice(raw.get("output_kind", "tensor"), OUTPUT_KINDS, chk, f"{key}.output_kind"),
        sampler=_choice(raw.get("sampler", "ddim"), SAMPLERS, chk, f"{key}.sampler"),
        timestep_scale=_positive_number(raw.get("timestep_scale", 1000.0), chk, f"{key}.timestep_scale"),
        generations=_positive_int(raw.get("generations", 3), chk, f"{key}.generations", minimum=3),
        warmup_generations=_positive_int(raw.get("warmup_generations", 1), chk, f"{key}.warmup_generations",
                                         minimum=0),
        backends=_backends(raw.get("backends"), chk, f"{key}.backends"),
        precisions=_precisions(raw.get("precisions"), chk, f"{key}.precisions"),
        zoo=raw.get("zoo"),
    )
    from harness.pipeline_check import check_pipeline

    return check_pipeline(spec, chk, key)


def _zoo_raw(raw: dict[str, Any], chk: _Checker, key: str) -> dict[str, Any]:
    """A zoo pipeline's own definition with the user's overrides (steps, chunks, resident, …)."""
    from harness.zoo import pipelines as zp

    if raw["zoo"] not in zp.names():
        raise chk.fail(f"{key}.zoo", f"a zoo pipeline ({', '.join(zp.names())})", raw["zoo"])
    offending = [k for k in ("stages", "wiring") if k in raw]
    if offending:
        raise chk.fail(f"{key}.{offending[0]}", "no stages/wiring on a zoo pipeline (they are the zoo's; use "
                       "stage_overrides for a stage's precision or backend)", offending)
    merged = {**zp.get(raw["zoo"]).suite_entry(), **{k: v for k, v in raw.items() if k != "stage_overrides"}}
    if "chunks" in raw and "media_seconds" not in raw:
        merged["media_seconds"] = zp.get(raw["zoo"]).chunk_seconds * merged["chunks"]
    overrides = chk.mapping(raw.get("stage_overrides", {}), f"{key}.stage_overrides")
    stage_names = [s["name"] for s in merged["stages"]]
    stages = []
    for stage in merged["stages"]:
        extra = overrides.get(stage["name"], {})
        stages.append({**stage, **chk.mapping(extra, f"{key}.stage_overrides.{stage['name']}")})
    for name, extra in overrides.items():
        if name not in stage_names:
            raise chk.fail(f"{key}.stage_overrides.{name}", f"a stage of {raw['zoo']} ({', '.join(stage_names)})",
                           name)
        chk.keys(extra, f"{key}.stage_overrides.{name}", {"precision", "backend"})
    merged["stages"] = stages
    return merged


def _stage(raw: Any, chk: _Checker, key: str, base: Path, pipeline: str) -> StageSpec:
    raw = chk.mapping(raw, key)
    chk.keys(raw, key, _STAGE_KEYS)
    name = raw.get("name")
    if not isinstance(name, str) or not name or "." in name or "/" in name:
        raise chk.fail(f"{key}.name", "a stage name (no dots or slashes)", name)
    repeat = _choice(raw.get("repeat"), REPEATS, chk, f"{key}.repeat")
    if "zoo_stage" in raw:
        model = ModelSpec(name=f"{pipeline}.{name}")
    else:
        if "model" not in raw:
            raise chk.fail(f"{key}.model", "the stage's model file (.onnx, .tflite or OpenVINO .xml)", None)
        model_raw: dict[str, Any] = {"path": raw["model"], "name": f"{pipeline}.{name}"}
        if "inputs" in raw:
            model_raw["inputs"] = raw["inputs"]
        model = _model(model_raw, chk, f"{key}.model", base)
        if not Path(model.path or "").is_file():
            raise chk.fail(f"{key}.model", "an existing model file (relative paths are read from the suite "
                           "file's folder)", raw["model"])
    carry = chk.mapping(raw.get("carry", {}), f"{key}.carry")
    for out, inp in carry.items():
        if not isinstance(out, str) or not isinstance(inp, str):
            raise chk.fail(f"{key}.carry.{out}", "output: input (names)", inp)
    if carry and repeat != "per_step":
        raise chk.fail(f"{key}.carry", "carry only on a per_step stage (it feeds an output back to the next step)",
                       carry)
    precision = None
    if raw.get("precision") is not None:
        precision = _precisions([raw["precision"]], chk, f"{key}.precision")[0]  # type: ignore[index]
    backend = None
    if raw.get("backend") is not None:
        backend = _backends([raw["backend"]], chk, f"{key}.backend")[0]  # type: ignore[index]
    timestep = raw.get("timestep")
    if timestep is not None and (not isinstance(timestep, str) or repeat != "per_step"):
        raise chk.fail(f"{key}.timestep", "the name of a per_step stage's timestep input", timestep)
    return StageSpec(name=name, model=model, repeat=repeat, carry={str(k): str(v) for k, v in carry.items()},
                     precision=precision, backend=backend, timestep=timestep, zoo_stage=raw.get("zoo_stage"))


def _wiring(raw: Any, chk: _Checker, key: str) -> dict[str, str]:
    raw = chk.mapping(raw, key)
    out = {}
    for dst, src in raw.items():
        for what, ref in (("input", dst), ("output", src)):
            if not isinstance(ref, str) or ref.count(".") < 1 or ref.startswith(".") or ref.endswith("."):
                raise chk.fail(f"{key}.{dst}", f"'stage.input': 'stage.output' (found a bad {what} reference)", ref)
        out[str(dst)] = str(src)
    return out


def _steps(raw: Any, chk: _Checker, key: str, stages: list[StageSpec]) -> list[int]:
    has_loop = any(s.repeat == "per_step" for s in stages)
    if raw is None:
        if has_loop:
            raise chk.fail(key, "the inference step counts to sweep, e.g. [10, 20, 30] (there is a per_step stage)",
                           None)
        return [1]
    values = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else chk.seq(raw, key)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise chk.fail(f"{key}[{i}]", "a positive whole number of inference steps", v)
    if len(set(values)) != len(values):
        raise chk.fail(key, "distinct step counts", values)
    if not has_loop and values != [1]:
        raise chk.fail(key, "steps only with a per_step stage (no stage has repeat: per_step)", values)
    return sorted(values)


def _positive_int(raw: Any, chk: _Checker, key: str, minimum: int = 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise chk.fail(key, f"a whole number of at least {minimum}", raw)
    return raw


def _positive_number(raw: Any, chk: _Checker, key: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not raw > 0:
        raise chk.fail(key, "a positive number", raw)
    return float(raw)


def _media_seconds(raw: Any, chk: _Checker, key: str) -> float:
    if raw is None:
        raise chk.fail(key, "the seconds of media one generation produces (the real-time factor needs it)", None)
    return _positive_number(raw, chk, key)


def _choice(raw: Any, allowed: tuple[str, ...], chk: _Checker, key: str) -> str:
    if raw not in allowed:
        raise chk.fail(key, f"one of {', '.join(allowed)}", raw)
    return str(raw)


def _resident(raw: Any, chk: _Checker, key: str) -> list[str]:
    values = [raw] if isinstance(raw, str) else chk.seq(raw, key)
    return [_choice(v, RESIDENT, chk, f"{key}[{i}]" if not isinstance(raw, str) else key)
            for i, v in enumerate(values)]


def _backends(raw: Any, chk: _Checker, key: str) -> list[BackendSpec] | None:
    import backends

    if raw is None:
        return None
    from harness.suite import _check_backend_options, _named

    out = []
    for i, item in enumerate(chk.seq(raw, key)):
        name, options = _named("null" if item is None else item, chk, f"{key}[{i}]", "options")
        if name not in backends.names():  # import paths only when allowed (--plugin), as for models
            hint = f"; a suite cannot import code by itself: {backends.HOW_TO_REGISTER}" if ":" in name else ""
            raise chk.fail(f"{key}[{i}]" if isinstance(raw, list) else key,
                           f"a backend ({', '.join(backends.names())})", name, hint)
        _check_backend_options(name, options, chk, f"{key}[{i}].options")
        out.append(BackendSpec(name, options))
    return out


def _precisions(raw: Any, chk: _Checker, key: str) -> list[PrecisionSpec] | None:
    if raw is None:
        return None
    from harness.suite import _named

    out = []
    for i, item in enumerate(chk.seq(raw, key)):
        name, settings = _named(item, chk, f"{key}[{i}]", None)
        if name not in PRECISIONS:
            raise chk.fail(f"{key}[{i}]", f"a precision ({', '.join(PRECISIONS)})", name)
        out.append(PrecisionSpec(name, settings))
    return out


def stage_io(stage: StageSpec) -> tuple[list[TensorSpec], list[TensorSpec]] | None:
    """The stage's inputs and outputs as its file declares them (ONNX and zoo stages), else None:
    TFLite and OpenVINO files are checked when they load."""
    if stage.zoo_stage:
        from harness.zoo import pipelines as zp

        return zp.stage_io(stage.zoo_stage)
    path = stage.model.path or (stage.model.variants or {}).get("fp32")
    if not path or not str(path).endswith(".onnx") or not Path(path).is_file():
        return None
    from backends.base import BackendError, onnx_io_specs

    try:
        return onnx_io_specs(Path(path))
    except BackendError:
        return None  # the model-file check reports an unreadable file with its own message
