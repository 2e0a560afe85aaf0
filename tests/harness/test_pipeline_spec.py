"""Parsing pipelines in suites: defaults, zoo pipelines, and every parse-time error with its key path."""

from __future__ import annotations

import copy

import pytest

from harness.errors import UsageError
from harness.pipeline_check import phases
from harness.suite import parse_suite
from tests.harness.pipeline_models import build_decoder, build_three, pipeline_entry


@pytest.fixture
def files(tmp_path):
    return build_three(tmp_path / "m")


def _suite(*pipelines, **top):
    return {"name": "p", "pipelines": list(pipelines), "backends": ["onnxruntime"], "precisions": ["fp32"], **top}


def test_pipeline_parses_with_defaults_and_order(files):
    suite = parse_suite(_suite(pipeline_entry(files)))
    assert suite.models == []  # a suite of pipelines alone needs no models
    (p,) = suite.pipelines
    assert p.steps == [2, 3] and p.chunks == 1 and p.resident == ["all"] and p.generations == 3
    assert p.output == "decoder.media"  # the last per-chunk stage's first output
    assert p.stage("denoiser").timestep == "timestep"  # the conventional name, fed by the sampler
    assert phases(p) == {"once": ["encoder"], "pre": [], "step": ["denoiser"], "post": ["decoder"]}


def test_relative_stage_paths_are_read_beside_the_suite(files, tmp_path):
    import yaml

    from harness.suite import load_suite

    entry = pipeline_entry({k: v.name for k, v in files.items()})
    path = files["encoder"].parent / "suite.yaml"
    path.write_text(yaml.safe_dump(_suite(entry)))
    (p,) = load_suite(path).pipelines
    assert p.stage("encoder").model.path == str(files["encoder"])


def test_zoo_pipeline_with_overrides():
    suite = parse_suite(_suite({"zoo": "foley-gen", "steps": [2, 4], "chunks": 2, "resident": ["all", "staged"],
                                "stage_overrides": {"upsampler": {"precision": "fp16"}}}))
    (p,) = suite.pipelines
    assert p.zoo == "foley-gen" and p.steps == [2, 4] and p.resident == ["all", "staged"]
    assert p.media_seconds == pytest.approx(2 * 1.024)  # chunks × the zoo's seconds per chunk
    assert p.stage("upsampler").precision.name == "fp16" and p.stage("audio_decoder").precision is None
    assert p.output == "upsampler.waveform" and p.output_kind == "audio"
    assert set(phases(p)["once"]) == {"video_encoder", "text_encoder"} and phases(p)["step"] == ["audio_decoder"]


def _error(raw) -> str:
    with pytest.raises(UsageError) as info:
        parse_suite(raw, source="s.yaml")
    return str(info.value)


def _broken(files, mutate):
    entry = copy.deepcopy(pipeline_entry(files))
    mutate(entry)
    return _error(_suite(entry))


def test_unknown_stage_in_wiring(files):
    msg = _broken(files, lambda e: e["wiring"].update({"denoiser.cond": "encodr.features"}))
    assert "pipelines[0].wiring.denoiser.cond" in msg and "encodr" in msg and "encoder" in msg


def test_unknown_output_and_input(files):
    msg = _broken(files, lambda e: e["wiring"].update({"denoiser.cond": "encoder.feats"}))
    assert "pipelines[0].wiring.denoiser.cond" in msg and "output of stage encoder (features)" in msg
    msg = _broken(files, lambda e: e["wiring"].update({"denoiser.kond": "encoder.features"}))
    assert "input of stage denoiser" in msg and "kond" in msg


def test_shape_mismatch_across_a_wire(files, tmp_path):
    from tests.harness.pipeline_models import build_denoiser

    wide = build_denoiser(tmp_path / "wide.onnx", cond_width=16)
    msg = _broken(files, lambda e: e["stages"][1].update({"model": str(wide)}))
    assert "pipelines[0].wiring.denoiser.cond" in msg and "[1, 8]" in msg and "[1, 16]" in msg


def test_cycle_is_reported_with_its_path(files, tmp_path):
    back = build_decoder(tmp_path / "dec2.onnx")

    def mutate(e):
        e["stages"].append({"name": "post", "model": str(back), "repeat": "per_chunk"})
        e["wiring"].update({"post.latent": "decoder.media", "decoder.latent": "post.media"})

    msg = _broken(files, mutate)
    assert "pipelines[0].wiring" in msg and "cycles" in msg and "decoder -> post -> decoder" in msg


def test_self_wire_points_to_carry(files):
    msg = _broken(files, lambda e: e["wiring"].update({"denoiser.latent": "denoiser.latent_out"}))
    assert "use carry" in msg


def test_once_stage_cannot_read_a_later_stage(files, tmp_path):
    extra = build_decoder(tmp_path / "late.onnx")

    def mutate(e):
        e["stages"].insert(0, {"name": "late", "model": str(extra), "repeat": "once"})
        e["wiring"]["late.latent"] = "denoiser.latent_out"

    assert "stage late (repeat: once) to read only once stages" in _broken(files, mutate)


@pytest.mark.parametrize(("mutate", "where", "what"), [
    (lambda e: e.update(steps=[0]), "pipelines[0].steps[0]", "positive whole number"),
    (lambda e: e.update(steps=[2, 2]), "pipelines[0].steps", "distinct"),
    (lambda e: e.pop("steps"), "pipelines[0].steps", "step counts"),
    (lambda e: e.update(resident="some"), "pipelines[0].resident", "all, staged"),
    (lambda e: e.pop("media_seconds"), "pipelines[0].media_seconds", "seconds of media"),
    (lambda e: e.update(generations=2), "pipelines[0].generations", "at least 3"),
    (lambda e: e["stages"][0].update(repeat="twice"), "pipelines[0].stages[0].repeat", "once, per_chunk"),
    (lambda e: e["stages"][2].update(carry={"media": "latent"}), "pipelines[0].stages[2].carry", "per_step"),
    (lambda e: e["stages"][1].update(carry={"latent_out": "lat"}), "pipelines[0].stages[1].carry.latent_out",
     "input of stage denoiser"),
    (lambda e: e["stages"][1].update(precision="int3"), "pipelines[0].stages[1].precision", "a precision"),
    (lambda e: e["stages"][1].update(model="missing.onnx"), "pipelines[0].stages[1].model", "existing model file"),
    (lambda e: e.update(output="decoder.nope"), "pipelines[0].output", "output of stage decoder"),
    (lambda e: e.update(bogus=1), "pipelines[0].bogus", "one of the keys"),
])
def test_parse_errors_name_the_key(files, mutate, where, what):
    msg = _broken(files, mutate)
    assert what in msg and where in msg


def test_unknown_zoo_pipeline():
    msg = _error(_suite({"zoo": "talking-head-gne"}))
    assert "pipelines[0].zoo" in msg and "talking-head-gen" in msg


def test_zoo_pipeline_with_stages_names_only_the_offending_keys():
    msg = _error(_suite({"zoo": "talking-head-gen", "steps": [2], "resident": "all", "wiring": {"a.b": "c.d"}}))
    assert "pipelines[0].wiring" in msg and "['wiring']" in msg
    assert "steps" not in msg.split("found")[-1] and "resident" not in msg.split("found")[-1]


def test_cli_reports_a_bad_pipeline_with_exit_2(files, tmp_path, capsys):
    import yaml

    from harness.cli import main

    entry = pipeline_entry(files)
    entry["wiring"]["denoiser.cond"] = "encoder.nope"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_suite(entry)))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pipelines[0].wiring.denoiser.cond" in err and "Traceback" not in err


def test_default_suite_runs_both_zoo_pipelines_at_a_small_sweep():
    from pathlib import Path

    from harness.pipeline_run import expand_pipelines
    from harness.suite import load_suite

    suite = load_suite(Path(__file__).resolve().parents[2] / "suites" / "default.yaml")
    assert {p.zoo for p in suite.pipelines} == {"talking-head-gen", "foley-gen"}
    plans = expand_pipelines(suite, suite.runner)
    assert max(p.steps for p in plans) <= 8 and {p.resident for p in plans} == {"all", "staged"}
    assert len(plans) <= 12  # sized for a 2-core board


def test_backend_and_precision_flags_narrow_pipelines_too(files):
    from harness.cli.run import _restrict

    suite = parse_suite(_suite(pipeline_entry(files, backends=["onnxruntime"], precisions=["fp32", "int8"]),
                               precisions=["fp32", "fp16"]), source="s.yaml")
    narrowed = _restrict(suite, None, ["int8"])
    assert [q.name for q in narrowed.pipelines[0].precisions] == ["int8"]
    with pytest.raises(UsageError, match="leave nothing to run"):
        _restrict(suite, None, ["fp16"])  # the pipeline does not run fp16, and there are no models
    with pytest.raises(UsageError, match="not in the suite"):
        _restrict(suite, ["openvino"], None)


def test_attach_conditions_name_a_pipeline_configuration():
    from harness.quality.attach import condition_for
    from tests.reports.conftest import make_record

    r = make_record(model="gen", precision="int8")
    r.pipeline = {"steps": 20, "resident": "staged"}
    assert condition_for(r, ["int8", "onnxruntime/int8@20"]) == "onnxruntime/int8@20"
    assert condition_for(r, ["int8@20:staged", "onnxruntime/int8@20"]) == "int8@20:staged"
    assert condition_for(r, ["int8@10", "int8"]) == "int8"
    plain = make_record(model="m", precision="int8")
    assert condition_for(plain, ["int8@20", "int8"]) == "int8"


def test_pipeline_backend_options_are_checked_against_the_adapter(files):
    msg = _broken(files, lambda e: e.update(backends=[{"name": "onnxruntime", "options": {"thredas": 2}}]))
    assert "pipelines[0].backends[0].options" in msg and "thredas" in msg
