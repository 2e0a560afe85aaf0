"""The reference zoo: deterministic graphs with module-named nodes, representative inputs, the CLI."""

from __future__ import annotations

import fnmatch
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed")

from onnx import numpy_helper  # noqa: E402

from harness import zoo  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from harness.zoo import _signals  # noqa: E402


def test_names_and_unknown_name():
    assert zoo.names() == ["foley", "talking-head"]
    with pytest.raises(UsageError, match="known models are foley, talking-head") as exc:
        zoo.get("talking-heads")
    assert "did you mean 'talking-head'" in str(exc.value)


@pytest.mark.parametrize("name", ["foley", "talking-head"])
def test_graph_is_valid_module_named_and_has_the_hard_parts(name):
    m = zoo.get(name)
    model = m.build()
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for node in model.graph.node:
        assert node.name.split("/", 1)[0] in m.modules, f"node {node.name!r} carries no module prefix"
    ops = {n.op_type for n in model.graph.node}
    assert {"Softmax", "LayerNormalization", "Erf", "MatMul", "Conv"} <= ops
    residuals = [n for n in model.graph.node if n.op_type == "Add" and "residual" in n.name]
    assert len(residuals) >= 4
    weight_bytes = sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer)
    assert weight_bytes > 4e6, "several MB of weights, so int8 kernels matter"
    assert {s.name for s in m.inputs} == {i.name for i in model.graph.input}
    assert set(m.output_kinds) == {o.name for o in model.graph.output}
    assert set(m.output_kinds.values()) <= {"tensor", "image", "video", "audio"}
    for mod in m.modules:
        assert any(n.name.startswith(f"{mod}/") for n in model.graph.node)


@pytest.mark.parametrize(("name", "module"), [("foley", "audio_decoder"), ("talking-head", "denoiser")])
def test_outlier_channels_20_to_100x(name, module):
    model = zoo.get(name).build()
    ratios = []
    for init in model.graph.initializer:
        if init.name.startswith(f"{module}/") and init.name.endswith("/gamma"):
            g = np.abs(numpy_helper.to_array(init))
            ratios.append(g.max() / np.median(g))
    assert ratios and 18 <= max(ratios) <= 110


def test_export_is_byte_identical_and_not_rewritten(tmp_path):
    m = zoo.get("talking-head")
    a = m.export(tmp_path / "a")
    b = m.export(tmp_path / "b")
    assert a.name == "talking-head.onnx" and a.read_bytes() == b.read_bytes()
    mtime = a.stat().st_mtime_ns
    assert m.export(tmp_path / "a") == a and a.stat().st_mtime_ns == mtime
    a.write_bytes(b"damaged")
    m.export(tmp_path / "a")
    assert a.read_bytes() == b.read_bytes()
    assert not [p for p in (tmp_path / "a").iterdir() if p.name != "talking-head.onnx"]  # no temp files left


@pytest.mark.parametrize("name", ["foley", "talking-head"])
def test_samples_match_inputs_are_deterministic_and_splits_disjoint(name):
    m = zoo.get(name)
    calib = m.samples("calibration", 3, seed=0)
    evaluation = m.samples("evaluation", 3, seed=0)
    for s in calib + evaluation:
        for spec in m.inputs:
            assert s[spec.name].shape == spec.shape and s[spec.name].dtype == np.dtype(spec.dtype)
            assert np.isfinite(s[spec.name]).all() if s[spec.name].dtype.kind == "f" else True
    for c in calib:
        for e in evaluation:
            assert any(not np.array_equal(c[k], e[k]) for k in c)
    again = m.samples("calibration", 2, seed=0)
    assert all(np.array_equal(again[i][k], calib[i][k]) for i in range(2) for k in calib[0])
    other = m.samples("calibration", 1, seed=1)
    assert any(not np.array_equal(other[0][k], calib[0][k]) for k in calib[0])
    with pytest.raises(UsageError, match="calibration, evaluation"):
        m.samples("train", 1)
    with pytest.raises(UsageError, match="non-negative integer"):
        m.samples("calibration", -1)


@pytest.mark.parametrize("name", ["foley", "talking-head"])
def test_runs_on_onnxruntime(name):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    m = zoo.get(name)
    sess = ort.InferenceSession(m.build().SerializeToString(), providers=["CPUExecutionProvider"])
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, m.samples("evaluation", 1)[0])))
    assert set(out) == set(m.output_kinds)
    for v in out.values():
        assert np.isfinite(v).all() and v.std() > 0


def test_foley_upsampler_output_has_a_wide_dynamic_range():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    m = zoo.get("foley")
    sess = ort.InferenceSession(m.build().SerializeToString(), providers=["CPUExecutionProvider"])
    spans = []
    for feeds in m.samples("evaluation", 2):
        wave = sess.run(None, feeds)[0].ravel()
        block_rms = np.sqrt(np.mean(wave.reshape(-1, 256) ** 2, axis=1))
        spans.append(20 * np.log10(block_rms.max() / block_rms.min()))
    assert min(spans) > 30.0, spans  # loud events and near-silence in the same clip


def test_module_outputs_can_be_exposed():
    m = zoo.get("foley")
    model = m.build(expose_modules=True)
    names = [o.name for o in model.graph.output]
    assert names == ["waveform", *[f"{mod}:out" for mod in m.modules]]
    onnx.checker.check_model(model)


def test_signals_look_like_their_sources():
    rng = np.random.default_rng(0)
    mel = _signals.speech_log_mel(rng, 80, 200)
    frame_energy = mel.mean(axis=0)
    assert mel.min() > -2.0 and mel.max() < 2.0
    assert frame_energy.max() - frame_energy.min() > 0.5  # syllables and pauses
    frames = _signals.natural_frames(rng, 2, 64)
    pixels = frames[0, 0]
    spectrum = np.abs(np.fft.rfft2(pixels - pixels.mean()))
    assert spectrum[1:4, 1:4].mean() > 5 * spectrum[20:30, 20:30].mean()  # energy falls with frequency
    assert not np.array_equal(frames[0], frames[1])
    ids = _signals.token_ids(rng, 32, 1000)
    assert ids[0, 0] == 1 and 2 in ids[0] and ids.max() < 1000


def test_cli_zoo_list_and_export(tmp_path, capsys):
    assert main(["zoo", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["foley", "talking-head"]
    assert rows[0]["modules"] == ["video_encoder", "text_encoder", "audio_decoder", "upsampler"]
    assert main(["zoo", "export", "foley", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (tmp_path / "foley.onnx").stat().st_size == info["bytes"]
    assert main(["zoo", "export", "nope", str(tmp_path)]) == 2
    assert "known models are" in capsys.readouterr().err
    assert fnmatch.fnmatch(info["path"], "*foley.onnx")
