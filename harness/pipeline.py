"""The generation executor: runs a pipeline's stages as a real generation does, and times every call.

A generation: ``once`` stages; then per chunk the "pre" per-chunk stages, the per-step stages
``steps`` times with the sampler update between steps, and the "post" per-chunk stages. The harness
owns the clock (``time.perf_counter_ns`` around each ``infer``) and the sampler: the per-step
stage predicts the clean latent from the noisy one and the timestep, and the pipeline moves the
carried latent towards it by a deterministic DDIM (eta = 0) step on a linear noise schedule:

    sigma_k = 1 - k/N,  t_k = sigma_k · timestep_scale,
    x_{k+1} = pred_k + (sigma_{k+1} / sigma_k) · (x_k - pred_k)

so the step count changes the result as it does in a real sampler (``sampler: none`` carries the
prediction unchanged). With ``resident: staged`` a stage is loaded when needed and closed after its
last call of the phase (the per-step stages stay loaded for the loop of one chunk); its load time is
part of the generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends.base import Backend, TensorSpec
from harness.pipeline_check import phases, split_ref
from harness.pipeline_spec import PipelineSpec, StageSpec


@dataclass
class StageRuntime:
    """One stage ready to run: its spec, its input specs (dims resolved) and how to get a loaded backend."""

    spec: StageSpec
    inputs: list[TensorSpec]
    open: Callable[[], Backend]  # load the stage (a fresh backend each call)
    backend: Backend | None = None


@dataclass
class Generation:
    """What one generation took and made."""

    total_ns: int = 0
    first_chunk_ns: int | None = None
    calls_ns: dict[str, list[int]] = field(default_factory=dict)
    step_ns: list[int] = field(default_factory=list)
    load_ns: dict[str, int] = field(default_factory=dict)  # staged loads inside the generation
    media: list[np.ndarray] = field(default_factory=list)  # the output of every chunk
    input_index: int | None = None  # which of the run's inputs it generated from (quality pairs by it)


def schedule(steps: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(sigmas[0..N], timesteps[0..N-1]) of the linear schedule."""
    sigmas = 1.0 - np.arange(steps + 1, dtype=np.float64) / steps
    return sigmas, sigmas[:-1] * scale


def sampler_update(x: np.ndarray, pred: np.ndarray, sigma: float, sigma_next: float, sampler: str) -> np.ndarray:
    if sampler == "none":
        return np.asarray(pred)
    ratio = np.float32(sigma_next / sigma)
    return (np.asarray(pred) + ratio * (np.asarray(x) - np.asarray(pred))).astype(np.float32, copy=False)


def _cast(value: Any, spec: TensorSpec) -> np.ndarray:
    # Quantized or half I/O takes float data, as in the single-model runner: the adapter converts it.
    dtype = np.float32 if spec.dtype in ("int8", "uint8", "float16") else np.dtype(spec.dtype)
    return np.ascontiguousarray(np.asarray(value).astype(dtype, copy=False))


def external(feeds: Mapping[str, np.ndarray], stage: str, name: str) -> np.ndarray:
    """A stage's unwired input from a generation's feeds: ``stage.input`` when several stages have an
    unwired input of that name (each its own feed), else the plain name."""
    return feeds[f"{stage}.{name}"] if f"{stage}.{name}" in feeds else feeds[name]


class Executor:
    """Runs generations of one pipeline over loaded (or loadable) stages."""

    def __init__(self, spec: PipelineSpec, stages: Mapping[str, StageRuntime], staged: bool = False,
                 mark: Callable[[int], None] | None = None) -> None:
        self.spec = spec
        self.stages = dict(stages)
        self.staged = staged
        self.order = phases(spec)
        self.index = {s.name: i for i, s in enumerate(spec.stages)}
        self._mark = mark or (lambda i: None)
        self.wires = {split_ref(d): split_ref(s) for d, s in spec.wiring.items()}
        self.needed = {split_ref(s) for s in spec.wiring.values()} | {split_ref(spec.output)}
        self.clock = time.perf_counter_ns

    # -- loading ------------------------------------------------------------------------------
    def load_all(self) -> dict[str, int]:
        """Load every stage (resident: all); returns each stage's load time in ns."""
        times = {}
        for name in self.stages:
            times[name] = self._acquire(name, None)
        return times

    def close_all(self) -> None:
        for name in self.stages:
            self._release(name, force=True)

    def _acquire(self, name: str, gen: Generation | None) -> int:
        stage = self.stages[name]
        if stage.backend is not None:
            return 0
        self._mark(self.index[name])
        t0 = self.clock()
        stage.backend = stage.open()
        took = self.clock() - t0
        if gen is not None:
            gen.load_ns[name] = gen.load_ns.get(name, 0) + took
        return took

    def _release(self, name: str, force: bool = False) -> None:
        stage = self.stages[name]
        if stage.backend is not None and (self.staged or force):
            stage.backend.close()
            stage.backend = None

    # -- running ------------------------------------------------------------------------------
    def _call(self, name: str, values: dict[tuple[str, str], Any], feeds: Mapping[str, np.ndarray],
              extra: Mapping[str, Any], gen: Generation) -> Mapping[str, Any]:
        stage = self.stages[name]
        args = {}
        for spec in stage.inputs:
            key = (name, spec.name)
            if key in self.wires:
                value = values[self.wires[key]]
            elif spec.name in extra:
                value = extra[spec.name]
            else:
                value = external(feeds, name, spec.name)
            args[spec.name] = _cast(value, spec)
        backend = stage.backend
        assert backend is not None
        self._mark(self.index[name])
        t0 = self.clock()
        out = backend.infer(args)
        gen.calls_ns[name].append(self.clock() - t0)
        for (sname, oname) in self.needed:
            if sname == name:
                values[(sname, oname)] = out[oname]
        return out

    def _run_phase(self, names: Sequence[str], values: dict, feeds: Mapping[str, np.ndarray], gen: Generation) -> None:
        for name in names:
            self._acquire(name, gen)
            self._call(name, values, feeds, {}, gen)
            self._release(name)

    def _loop(self, steps: int, values: dict, feeds: Mapping[str, np.ndarray], gen: Generation) -> None:
        names = self.order["step"]
        for name in names:
            self._acquire(name, gen)
        sigmas, timesteps = schedule(steps, self.spec.timestep_scale)
        state = {(n, i): external(feeds, n, i) for n in names for i in self.stages[n].spec.carry.values()}
        for k in range(steps):
            t0 = self.clock()
            for name in names:
                stage = self.stages[name].spec
                extra: dict[str, Any] = {i: state[(name, i)] for i in stage.carry.values()}
                if stage.timestep:
                    shape = next(s.shape for s in self.stages[name].inputs if s.name == stage.timestep)
                    extra[stage.timestep] = np.full(shape, timesteps[k], np.float32)
                out = self._call(name, values, feeds, extra, gen)
                for o, i in stage.carry.items():
                    state[(name, i)] = sampler_update(state[(name, i)], out[o], sigmas[k], sigmas[k + 1],
                                                      self.spec.sampler)
                    values[(name, o)] = state[(name, i)]  # what later stages read: the updated latent
            gen.step_ns.append(self.clock() - t0)
        for name in names:
            self._release(name)

    def generate(self, chunk_feeds: Sequence[Mapping[str, np.ndarray]], steps: int) -> Generation:
        """One generation over ``len(chunk_feeds)`` chunks (chunk c reads its external inputs from
        ``chunk_feeds[c]``; once-stages read chunk 0's)."""
        gen = Generation(calls_ns={n: [] for n in self.stages})
        out_stage, out_name = split_ref(self.spec.output)
        start = self.clock()
        values: dict[tuple[str, str], Any] = {}
        self._run_phase(self.order["once"], values, chunk_feeds[0], gen)
        for c, feeds in enumerate(chunk_feeds):
            self._run_phase(self.order["pre"], values, feeds, gen)
            if self.order["step"]:
                self._loop(steps, values, feeds, gen)
            self._run_phase(self.order["post"], values, feeds, gen)
            gen.media.append(np.array(values[(out_stage, out_name)], copy=True))
            if c == 0:
                gen.first_chunk_ns = self.clock() - start
        gen.total_ns = self.clock() - start
        self._mark(-1)
        return gen
