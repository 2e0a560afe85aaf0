"""Parse-time checks of a pipeline's wiring, and the order its stages run in.

Order of a generation: ``once`` stages (in dependency order); then for every chunk: the per-chunk
stages that do not depend on the denoising loop ("pre"), the per-step stages ``steps`` times, and
the per-chunk stages that read the loop's result ("post").
"""

from __future__ import annotations

import dataclasses
from typing import Any

from backends.base import TensorSpec
from harness.pipeline_spec import PipelineSpec, StageSpec, stage_io
from harness.suite import _Checker

PHASES = ("once", "pre", "step", "post")


def split_ref(ref: str) -> tuple[str, str]:
    stage, _, tensor = ref.partition(".")
    return stage, tensor


def check_pipeline(spec: PipelineSpec, chk: _Checker, key: str) -> PipelineSpec:
    """Every reference resolves, shapes agree across wires and carries, no cycles, no stage reads a
    stage that runs later. Returns the spec with defaults filled (timestep inputs, output)."""
    io = {s.name: stage_io(s) for s in spec.stages}
    names = [s.name for s in spec.stages]
    for dst, src in spec.wiring.items():
        wkey = f"{key}.wiring.{dst}"
        d_stage, d_in = split_ref(dst)
        s_stage, s_out = split_ref(src)
        for stage in (d_stage, s_stage):
            if stage not in names:
                raise chk.fail(wkey, f"a stage of this pipeline ({', '.join(names)})", stage)
        if d_stage == s_stage:
            raise chk.fail(wkey, "a wire between two stages (a stage feeding itself is a cycle: use carry on a "
                           "per_step stage)", f"{dst}: {src}")
        d_spec = _tensor(io[d_stage], 0, d_in, chk, wkey, d_stage, "input")
        s_spec = _tensor(io[s_stage], 1, s_out, chk, f"{wkey} (value)", s_stage, "output")
        _same_shape(s_spec, d_spec, chk, wkey, src, dst)
    stages = [_check_stage(s, io[s.name], spec, chk, f"{key}.stages[{i}]") for i, s in enumerate(spec.stages)]
    spec = dataclasses.replace(spec, stages=stages)
    phases(spec, chk, key)
    return dataclasses.replace(spec, output=_output(spec, io, chk, key))


def _tensor(io: Any, side: int, name: str, chk: _Checker, key: str, stage: str, what: str) -> TensorSpec | None:
    if io is None:
        return None
    specs = {s.name: s for s in io[side]}
    if name not in specs:
        raise chk.fail(key, f"an {what} of stage {stage} ({', '.join(specs) or 'none'})", name)
    return specs[name]


def _same_shape(src: TensorSpec | None, dst: TensorSpec | None, chk: _Checker, key: str, a: str, b: str) -> None:
    if src is None or dst is None:
        return
    fixed = lambda d: isinstance(d, int) and d > 0  # noqa: E731 - a dynamic dim matches anything
    if len(src.shape) != len(dst.shape) or any(fixed(x) and fixed(y) and x != y for x, y in zip(src.shape, dst.shape)):
        raise chk.fail(key, f"{b} to take {a}'s shape {list(src.shape)}", f"shape {list(dst.shape)}")


def _check_stage(stage: StageSpec, io: Any, spec: PipelineSpec, chk: _Checker, key: str) -> StageSpec:
    wired = {split_ref(d)[1] for d in spec.wiring if split_ref(d)[0] == stage.name}
    for out, inp in stage.carry.items():
        ckey = f"{key}.carry.{out}"
        o = _tensor(io, 1, out, chk, ckey, stage.name, "output")
        i = _tensor(io, 0, inp, chk, f"{ckey} (value)", stage.name, "input")
        _same_shape(o, i, chk, ckey, f"{stage.name}.{out}", f"{stage.name}.{inp}")
        if inp in wired:
            raise chk.fail(ckey, f"an input that is not also wired ({stage.name}.{inp} is in wiring)", inp)
    timestep = stage.timestep
    if stage.repeat == "per_step" and io is not None:
        inputs = [s.name for s in io[0]]
        if timestep is not None and timestep not in inputs:
            raise chk.fail(f"{key}.timestep", f"an input of stage {stage.name} ({', '.join(inputs)})", timestep)
        if timestep is None and "timestep" in inputs and "timestep" not in wired:
            timestep = "timestep"  # the conventional name: the sampler feeds it
    return dataclasses.replace(stage, timestep=timestep)


def _deps(spec: PipelineSpec) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {s.name: set() for s in spec.stages}
    for dst, src in spec.wiring.items():
        deps[split_ref(dst)[0]].add(split_ref(src)[0])
    return deps


def phases(spec: PipelineSpec, chk: _Checker | None = None, key: str = "") -> dict[str, list[str]]:
    """Stage names per phase (once/pre/step/post), each in dependency order."""
    chk = chk or _Checker("<pipeline>")
    deps = _deps(spec)
    order = _topological(spec, deps, chk, key)
    repeat = {s.name: s.repeat for s in spec.stages}
    phase: dict[str, str] = {}
    for name in order:
        if repeat[name] == "once":
            later = sorted(d for d in deps[name] if repeat[d] != "once")
            if later:
                raise chk.fail(f"{key}.wiring", f"stage {name} (repeat: once) to read only once stages; it reads "
                               f"{later[0]}, which runs {repeat[later[0]]}", later[0])
            phase[name] = "once"
        elif repeat[name] == "per_step":
            phase[name] = "step"
        else:
            phase[name] = "post" if any(phase[d] in ("step", "post") for d in deps[name]) else "pre"
    return {p: [n for n in order if phase[n] == p] for p in PHASES}


def _topological(spec: PipelineSpec, deps: dict[str, set[str]], chk: _Checker, key: str) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name):], name]
            raise chk.fail(f"{key}.wiring", "wiring without cycles (a stage's output back to its own input goes "
                           "in carry)", " -> ".join(cycle))
        state[name] = 1
        for d in sorted(deps[name]):
            visit(d, [*path, name])
        state[name] = 2
        order.append(name)

    for s in spec.stages:
        visit(s.name, [])
    return order


def _output(spec: PipelineSpec, io: dict[str, Any], chk: _Checker, key: str) -> str:
    names = [s.name for s in spec.stages]
    if spec.output:
        stage, tensor = split_ref(spec.output)
        if stage not in names or not tensor:
            raise chk.fail(f"{key}.output", f"'stage.output' of a stage of this pipeline ({', '.join(names)})",
                           spec.output)
        if spec.stage(stage).repeat == "once":
            raise chk.fail(f"{key}.output", "an output of a per_chunk or per_step stage (the media of each chunk)",
                           spec.output)
        _tensor(io[stage], 1, tensor, chk, f"{key}.output", stage, "output")
        return spec.output
    last = [s for s in spec.stages if s.repeat != "once"]
    if not last:
        raise chk.fail(f"{key}.stages", "at least one per_chunk or per_step stage (it makes the media)", names)
    stage = last[-1]
    if io[stage.name] is None or not io[stage.name][1]:
        raise chk.fail(f"{key}.output", f"the media tensor as 'stage.output' (the outputs of {stage.name} cannot "
                       "be read before it loads)", None)
    return f"{stage.name}.{io[stage.name][1][0].name}"
