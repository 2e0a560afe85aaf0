"""Zoo pipelines: the zoo models split into the stage models a real generation runs.

``talking-head-gen``: audio_encoder once → denoiser per step (latent carried, timestep advancing)
→ frame_decoder per chunk (2 frames at 25 fps). ``foley-gen``: video_encoder and text_encoder
once → audio_decoder per step → upsampler per chunk (16384 samples at 16 kHz).

Each stage is cut out of the zoo model's graph (the same nodes, the same seeded weights), so the
stage models together compute what the single model computes for one step; the sampler update
between steps is the pipeline's (harness/pipeline.py), as in a real sampler. Stage files are
deterministic like the zoo's (same bytes on every export).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import onnx
from onnx import helper

from backends.base import TensorSpec
from harness.errors import UsageError
from harness.zoo._graph import IR_VERSION
from harness.zoo._model import ZooModel


@dataclass(frozen=True)
class ZooStage:
    name: str
    repeat: str
    inputs: Mapping[str, str]  # public input name -> tensor of the source graph
    outputs: Mapping[str, str]  # public output name -> tensor of the source graph
    specs: tuple[list[TensorSpec], list[TensorSpec]]  # declared I/O (checked against the built file by tests)
    carry: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ZooPipeline:
    name: str
    description: str
    source: str  # the zoo model the stages are cut from (and whose samples feed the pipeline)
    stages: list[ZooStage]
    wiring: Mapping[str, str]
    output: str
    output_kind: str
    chunk_seconds: float
    steps: list[int]
    chunks: int = 1

    def suite_entry(self) -> dict[str, Any]:
        """The pipeline as a suite's ``pipelines:`` entry (user overrides are merged on top)."""
        return {
            "name": self.name,
            "stages": [{"name": s.name, "zoo_stage": f"{self.name}/{s.name}", "repeat": s.repeat,
                        "carry": dict(s.carry)} for s in self.stages],
            "wiring": dict(self.wiring),
            "steps": list(self.steps),
            "chunks": self.chunks,
            "media_seconds": self.chunk_seconds * self.chunks,
            "output": self.output,
            "output_kind": self.output_kind,
        }

    def stage_model(self, stage: str) -> ZooModel:
        from harness import zoo

        s = next(x for x in self.stages if x.name == stage)
        src = zoo.get(self.source)
        return ZooModel(
            name=f"{self.name}.{stage}",
            description=f"stage {stage} of {self.name}, cut from zoo model {self.source}",
            output_kinds={o: (self.output_kind if f"{stage}.{o}" == self.output else "tensor") for o in s.outputs},
            modules=[m for m in src.modules if any(t.startswith(f"{m}/") for t in s.outputs.values())] or [stage],
            inputs=list(s.specs[0]),
            module_outputs={},
            _builder=lambda: _parsed(_stage_bytes(self.name, stage)),
            _sampler=lambda rng: {k: v for k, v in src._sampler(rng).items() if k in s.inputs},
        )


@lru_cache(maxsize=4)
def _source_bytes(name: str) -> bytes:
    """The zoo model with inferred shapes (the extractor needs every tensor's type), built once per process."""
    from harness import zoo

    return onnx.shape_inference.infer_shapes(zoo.get(name).build()).SerializeToString(deterministic=True)


@lru_cache(maxsize=16)
def _stage_bytes(pipeline: str, stage: str) -> bytes:
    p = get(pipeline)
    return _cut(p.source, next(s for s in p.stages if s.name == stage)).SerializeToString(deterministic=True)


def _parsed(blob: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.ParseFromString(blob)
    return model


def _cut(source: str, stage: ZooStage) -> onnx.ModelProto:
    """The sub-graph between the stage's input and output tensors, with public I/O names."""
    from onnx.utils import Extractor

    full = onnx.ModelProto()
    full.ParseFromString(_source_bytes(source))
    extractor = Extractor(full)
    model = extractor.extract_model(list(stage.inputs.values()), list(stage.outputs.values()))
    graph = model.graph
    rename = {tensor: public for public, tensor in stage.inputs.items() if tensor != public}
    for value in graph.input:
        value.name = rename.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
    outs = []
    for public, tensor in stage.outputs.items():
        info = next(o for o in graph.output if o.name == tensor)
        if tensor != public:
            graph.node.append(helper.make_node("Identity", [tensor], [public],
                                               name=f"{tensor.split('/', 1)[0]}/output/{public}"))
        out = onnx.ValueInfoProto()
        out.CopyFrom(info)
        out.name = public
        outs.append(out)
    del graph.output[:]
    graph.output.extend(outs)
    graph.name = f"{source}.{stage.name}"
    del graph.value_info[:]  # re-derived by runtimes; keeps the file independent of the extractor's inference
    model.ir_version = IR_VERSION
    model.producer_name = "edgebench.zoo"
    model.producer_version = "1"
    onnx.checker.check_model(model)
    return model


def _f(name: str, shape: tuple[int, ...], dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name, shape, dtype)


def _talking_head() -> ZooPipeline:
    from harness.zoo import talking_head as th

    audio = "audio_encoder/ln_out/LayerNormalization:0"
    feats = (1, th.N_FRAMES_MEL // 2, th.D_AUDIO)
    frames = (1, th.N_VIDEO_FRAMES, 3, th.IMG, th.IMG)
    return ZooPipeline(
        name="talking-head-gen",
        description="talking-head split into a generation: audio_encoder once, UNet denoiser per step (latent "
        "carried, timestep advancing), frame_decoder per chunk of 2 frames (25 fps)",
        source=th.NAME,
        stages=[
            ZooStage("audio_encoder", "once", {"mel": "mel"}, {"audio_features": audio},
                     ([_f("mel", (1, th.N_MELS, th.N_FRAMES_MEL))], [_f("audio_features", feats)])),
            ZooStage("denoiser", "per_step", {"latent": "latent", "timestep": "timestep", "audio_features": audio},
                     {"latent_pred": "denoiser/step:0"},
                     ([_f("latent", th.LATENT), _f("timestep", (1,)), _f("audio_features", feats)],
                      [_f("latent_pred", th.LATENT)]),
                     carry={"latent_pred": "latent"}),
            ZooStage("frame_decoder", "per_chunk", {"latent": "denoiser/step:0"}, {"frames": "frames"},
                     ([_f("latent", th.LATENT)], [_f("frames", frames)])),
        ],
        wiring={"denoiser.audio_features": "audio_encoder.audio_features",
                "frame_decoder.latent": "denoiser.latent_pred"},
        output="frame_decoder.frames",
        output_kind="video",
        chunk_seconds=th.N_VIDEO_FRAMES / 25.0,
        steps=[10, 20, 30],
    )


def _foley() -> ZooPipeline:
    from harness.zoo import foley as fo

    video, text = "video_encoder/merge_frames:0", "text_encoder/ln_out/LayerNormalization:0"
    n_video = fo.N_FRAMES * (fo.IMG // fo.PATCH) ** 2
    v_shape, t_shape, lat = (1, n_video, fo.D_VIS), (1, fo.N_TEXT, fo.D_VIS), (1, fo.LAT_C, fo.LAT_T)
    return ZooPipeline(
        name="foley-gen",
        description="foley split into a generation: video_encoder and text_encoder once, diffusion-transformer "
        "audio_decoder per step (latent carried, timestep advancing), upsampler per chunk (1.024 s at 16 kHz)",
        source=fo.NAME,
        stages=[
            ZooStage("video_encoder", "once", {"frames": "frames"}, {"video_tokens": video},
                     ([_f("frames", (fo.N_FRAMES, 3, fo.IMG, fo.IMG))], [_f("video_tokens", v_shape)])),
            ZooStage("text_encoder", "once", {"tokens": "tokens"}, {"text_tokens": text},
                     ([_f("tokens", (1, fo.N_TEXT), "int64")], [_f("text_tokens", t_shape)])),
            ZooStage("audio_decoder", "per_step",
                     {"audio_latent": "audio_latent", "timestep": "timestep", "video_tokens": video,
                      "text_tokens": text},
                     {"latent_pred": "audio_decoder/step:0"},
                     ([_f("audio_latent", lat), _f("timestep", (1,)), _f("video_tokens", v_shape),
                       _f("text_tokens", t_shape)], [_f("latent_pred", lat)]),
                     carry={"latent_pred": "audio_latent"}),
            ZooStage("upsampler", "per_chunk", {"latent": "audio_decoder/step:0"}, {"waveform": "waveform"},
                     ([_f("latent", lat)], [_f("waveform", (1, fo.LAT_T * fo.HOP))])),
        ],
        wiring={"audio_decoder.video_tokens": "video_encoder.video_tokens",
                "audio_decoder.text_tokens": "text_encoder.text_tokens",
                "upsampler.latent": "audio_decoder.latent_pred"},
        output="upsampler.waveform",
        output_kind="audio",
        chunk_seconds=fo.LAT_T * fo.HOP / 16000.0,
        steps=[10, 20, 30],
    )


@lru_cache(maxsize=1)
def _registry() -> dict[str, ZooPipeline]:
    return {p.name: p for p in (_foley(), _talking_head())}


def names() -> list[str]:
    return sorted(_registry())


def get(name: str) -> ZooPipeline:
    if name not in _registry():
        raise UsageError(f"unknown zoo pipeline {name!r}: known pipelines are {', '.join(names())}")
    return _registry()[name]


def stage_model(ref: str) -> ZooModel:
    """``"<pipeline>/<stage>"`` -> the stage's ZooModel (export it to get the file)."""
    pipeline, _, stage = ref.partition("/")
    return get(pipeline).stage_model(stage)


def stage_io(ref: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    pipeline, _, stage = ref.partition("/")
    s = next(x for x in get(pipeline).stages if x.name == stage)
    return list(s.specs[0]), list(s.specs[1])
