"""Zoo pipelines: stage files cut from the zoo models, deterministic, declared I/O matching the
files, and the stages chained for one step computing exactly what the single zoo model computes."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import file_sha256, onnx_io_specs
from harness import zoo
from harness.zoo import pipelines as zp

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zp")
    return {(p, s.name): zp.get(p).stage_model(s.name).export(folder) for p in zp.names() for s in zp.get(p).stages}


def test_names_and_suite_entries():
    assert zp.names() == ["foley-gen", "talking-head-gen"]
    for name in zp.names():
        entry = zp.get(name).suite_entry()
        assert [s["repeat"] for s in entry["stages"]].count("per_step") == 1
        assert entry["media_seconds"] > 0 and entry["output"].split(".")[0] == entry["stages"][-1]["name"]


def test_declared_io_matches_the_stage_files(exported):
    for (pipe, stage), path in exported.items():
        declared = zp.stage_io(f"{pipe}/{stage}")
        found = onnx_io_specs(path)
        for d, f in zip(declared, found):
            assert [(s.name, tuple(s.shape), s.dtype) for s in d] == [(s.name, tuple(s.shape), s.dtype) for s in f]


def test_stage_files_are_deterministic(exported, tmp_path):
    for (pipe, stage), path in list(exported.items())[:3]:
        again = zp.get(pipe).stage_model(stage).export(tmp_path)
        assert file_sha256(again) == file_sha256(path)


def _run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {n: feeds[n] for n in names})))


@pytest.mark.parametrize("pipe", ["talking-head-gen", "foley-gen"])
def test_one_step_through_the_stages_equals_the_zoo_model(exported, tmp_path, pipe):
    p = zp.get(pipe)
    source = zoo.get(p.source)
    sample = source.samples("evaluation", 1, seed=3)[0]
    full = _run(source.export(tmp_path), sample)
    values = dict(sample)
    for stage in p.stages:  # once stages, one denoising step, then the decoder
        feeds = {}
        for name in zp.stage_io(f"{pipe}/{stage.name}")[0]:
            wired = p.wiring.get(f"{stage.name}.{name.name}")
            feeds[name.name] = values[wired] if wired else sample[name.name]
        for out, value in _run(exported[(pipe, stage.name)], feeds).items():
            values[f"{stage.name}.{out}"] = value
    media = values[p.output]
    expected = next(iter(full.values()))
    np.testing.assert_allclose(media, expected, rtol=1e-4, atol=1e-4)
