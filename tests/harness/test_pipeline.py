"""The generation executor on tiny real ONNX stages (onnxruntime): wiring, carry, repeat, the
sampler's arithmetic, chunks, staged loading. The denoiser adds a constant per step, so the media
after N steps is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from harness.pipeline import Executor, StageRuntime, schedule
from harness.suite import parse_suite
from tests.harness.pipeline_models import WIDTH, build_three, pipeline_entry

ort = pytest.importorskip("onnxruntime")


def _spec(files, **extra):
    suite = parse_suite({"name": "t", "pipelines": [pipeline_entry(files, **extra)], "precisions": ["fp32"]})
    return suite.pipelines[0]


def _runtimes(spec, tmp_path, opened=None):
    from backends import get_backend
    from backends.base import ModelSource, Variant, onnx_io_specs

    out = {}
    for s in spec.stages:
        source = ModelSource.from_path(s.model.path)

        def open_(source=source, name=s.name):
            backend = get_backend("onnxruntime")()
            backend.load(backend.prepare(source, Variant("fp32", {"prebuilt": True}), None, tmp_path / "cache"))
            if opened is not None:
                opened.append(name)
            return backend

        out[s.name] = StageRuntime(s, onnx_io_specs(source.path)[0], open_)
    return out


def _feeds(seed=0, chunks=1):
    rng = np.random.default_rng(seed)
    return [{"audio": rng.standard_normal((1, WIDTH)).astype(np.float32),
             "latent": rng.standard_normal((1, WIDTH)).astype(np.float32)} for _ in range(chunks)]


def _generate(spec, tmp_path, steps, feeds, staged=False, opened=None):
    ex = Executor(spec, _runtimes(spec, tmp_path, opened), staged=staged)
    if not staged:
        ex.load_all()
    try:
        return ex, ex.generate(feeds, steps)
    finally:
        ex.close_all()


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_ddim_steps_give_the_known_result(tmp_path, steps):
    c = 0.5
    spec = _spec(build_three(tmp_path / "m", step_add=c))
    feeds = _feeds()
    _, gen = _generate(spec, tmp_path, steps, feeds)
    # pred = x + c; x' = pred + (sigma_{k+1}/sigma_k)(x - pred) = x + c/(N - k): c·H_N in total, then ×3.
    harmonic = sum(1.0 / (steps - k) for k in range(steps))
    np.testing.assert_allclose(gen.media[0], 3.0 * (feeds[0]["latent"] + c * harmonic), rtol=1e-5, atol=1e-5)


def test_step_count_changes_the_media(tmp_path):
    spec = _spec(build_three(tmp_path / "m"))
    feeds = _feeds()
    a = _generate(spec, tmp_path, 2, feeds)[1].media[0]
    b = _generate(spec, tmp_path, 4, feeds)[1].media[0]
    assert not np.allclose(a, b)


def test_sampler_none_carries_the_prediction(tmp_path):
    spec = _spec(build_three(tmp_path / "m", step_add=0.25), sampler="none")
    feeds = _feeds(1)
    _, gen = _generate(spec, tmp_path, 4, feeds)
    np.testing.assert_allclose(gen.media[0], 3.0 * (feeds[0]["latent"] + 4 * 0.25), rtol=1e-6, atol=1e-6)


def test_timestep_input_advances_on_the_schedule(tmp_path):
    spec = _spec(build_three(tmp_path / "m", step_add=0.0, timestep_gain=1.0), sampler="none", timestep_scale=10.0)
    feeds = _feeds(2)
    _, gen = _generate(spec, tmp_path, 4, feeds)
    # t_k = 10·(1 - k/4): 10 + 7.5 + 5 + 2.5
    np.testing.assert_allclose(gen.media[0], 3.0 * (feeds[0]["latent"] + 25.0), rtol=1e-6, atol=1e-5)
    sigmas, ts = schedule(4, 10.0)
    assert list(ts) == [10.0, 7.5, 5.0, 2.5] and sigmas[-1] == 0.0


def test_repeat_semantics_over_chunks(tmp_path):
    spec = _spec(build_three(tmp_path / "m"), chunks=2)
    feeds = _feeds(3, chunks=2)
    _, gen = _generate(spec, tmp_path, 3, feeds)
    assert {k: len(v) for k, v in gen.calls_ns.items()} == {"encoder": 1, "denoiser": 6, "decoder": 2}
    assert len(gen.media) == 2 and len(gen.step_ns) == 6
    harmonic = 1 / 3 + 1 / 2 + 1
    for c in range(2):  # each chunk starts from its own noise
        np.testing.assert_allclose(gen.media[c], 3.0 * (feeds[c]["latent"] + 0.5 * harmonic), rtol=1e-5, atol=1e-5)
    assert gen.first_chunk_ns is not None and 0 < gen.first_chunk_ns <= gen.total_ns


def test_stage_times_add_up_within_the_generation(tmp_path):
    spec = _spec(build_three(tmp_path / "m"), chunks=2)
    _, gen = _generate(spec, tmp_path, 3, _feeds(chunks=2))
    stage_ns = sum(sum(v) for v in gen.calls_ns.values())
    assert 0 < stage_ns <= gen.total_ns
    assert sum(gen.step_ns) >= sum(gen.calls_ns["denoiser"])  # a step is its calls plus the sampler update


def test_staged_loads_each_stage_when_needed_and_gives_the_same_media(tmp_path):
    spec = _spec(build_three(tmp_path / "m"), chunks=2)
    feeds = _feeds(4, chunks=2)
    opened: list[str] = []
    ex, staged = _generate(spec, tmp_path, 2, feeds, staged=True, opened=opened)
    # once-stage once; the denoiser once per chunk (kept for the loop); the decoder once per chunk
    assert opened == ["encoder", "denoiser", "decoder", "denoiser", "decoder"]
    assert set(staged.load_ns) == {"encoder", "denoiser", "decoder"}
    assert all(rt.backend is None for rt in ex.stages.values())  # everything freed after use
    _, resident = _generate(spec, tmp_path, 2, feeds)
    assert resident.load_ns == {}
    for a, b in zip(staged.media, resident.media):
        np.testing.assert_array_equal(a, b)


def test_int8_calibration_feeds_come_from_fp32_generations_and_are_cached(tmp_path):
    from harness.pipeline_run import _Child, expand_pipelines

    files = build_three(tmp_path / "m")
    suite = parse_suite({"name": "t", "pipelines": [pipeline_entry(files, steps=[3])], "precisions": ["int8"],
                         "data": {"calibration": 2}})
    (plan,) = expand_pipelines(suite, suite.runner)
    first = _Child(plan, tmp_path / "cache", None).captured()
    # 2 generations: the encoder once each, the denoiser 3 times each, the decoder once each
    assert {k: len(v) for k, v in first.items()} == {"encoder": 2, "denoiser": 6, "decoder": 2}
    assert set(first["denoiser"][0]) == {"latent", "cond", "timestep"}
    assert [float(f["timestep"][0]) for f in first["denoiser"][:3]] == [1000.0, pytest.approx(666.6667),
                                                                          pytest.approx(333.3333)]
    again = _Child(plan, tmp_path / "cache", None).captured()  # read back from the cache
    for stage, calls in first.items():
        for a, b in zip(calls, again[stage]):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert list((tmp_path / "cache" / "calibration").glob("pipeline-*.npz"))


def _same_named_inputs(folder):
    """Stage A takes x [1, 8] (a = 2x); stage B takes its own x [1, 4] and A's a (y = a + sum(x))."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    f = TensorProto.FLOAT

    def save(name, nodes, inputs, outputs, inits=()):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(folder / f"{name}.onnx"))
        return str(folder / f"{name}.onnx")

    a = save("a", [helper.make_node("Mul", ["x", "two"], ["a"])], [helper.make_tensor_value_info("x", f, [1, WIDTH])],
             [helper.make_tensor_value_info("a", f, [1, WIDTH])], [numpy_helper.from_array(np.float32(2.0), "two")])
    b = save("b", [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=1), helper.make_node("Add", ["a", "s"], ["y"])],
             [helper.make_tensor_value_info("x", f, [1, 4]), helper.make_tensor_value_info("a", f, [1, WIDTH])],
             [helper.make_tensor_value_info("y", f, [1, WIDTH])])
    entry = {"name": "two-x", "media_seconds": 1.0, "steps": [1],
             "stages": [{"name": "A", "model": a, "repeat": "once"}, {"name": "B", "model": b, "repeat": "per_chunk"}],
             "wiring": {"B.a": "A.a"}, "output": "B.y"}
    return parse_suite({"name": "t", "pipelines": [entry], "precisions": ["fp32"]}).pipelines[0]


def test_same_named_unwired_inputs_of_two_stages_are_separate_feeds(tmp_path):
    from types import SimpleNamespace

    from harness.pipeline_run import _Child

    spec = _same_named_inputs(tmp_path / "m")
    runtimes = _runtimes(spec, tmp_path)
    specs = _Child.external_specs(SimpleNamespace(spec=spec), runtimes)
    assert {s.name: list(s.shape) for s in specs} == {"A.x": [1, WIDTH], "B.x": [1, 4]}
    rng = np.random.default_rng(3)
    feeds = {s.name: rng.standard_normal(s.shape).astype(np.float32) for s in specs}
    ex = Executor(spec, runtimes)
    ex.load_all()
    try:
        media = ex.generate([feeds], 1).media[0]
    finally:
        ex.close_all()
    np.testing.assert_allclose(media, 2 * feeds["A.x"] + feeds["B.x"].sum(), rtol=1e-5)
