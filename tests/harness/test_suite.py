import pytest
import yaml

from harness.errors import UsageError
from harness.plan import expand
from harness.suite import RunnerSettings, load_suite, parse_suite


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_valid_suite_expands_to_the_cross_product(tmp_path, tiny_onnx):
    path = write(tmp_path, f"""
name: mine
runner: {{warmup: 3, min_iterations: 10}}
models:
  - path: {tiny_onnx.name}
    inputs: {{x: [1, 16]}}
backends: [onnxruntime, {{name: null}}]
precisions: [fp32, {{name: int8, per_channel: true}}]
gates: {{sqnr_db: ">= 20"}}
""")
    suite = load_suite(path)
    assert suite.name == "mine"
    assert suite.models[0].path == str(tiny_onnx)  # relative to the suite's folder
    assert suite.precisions[1].settings == {"per_channel": True}
    plans = expand(suite, "host", {"min_iterations": 99}, {"cooldown_s": 5.0, "warmup": 50})
    assert len(plans) == 4
    # device defaults < suite < command line
    assert plans[0].runner.warmup == 3
    assert plans[0].runner.min_iterations == 99
    assert plans[0].runner.cooldown_s == 5.0
    assert plans[0].gates == {"sqnr_db": ">= 20"}


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("models: [{path: a.onnx}]\nbackends: [tensorflowz]", "backends[0]", "a backend"),
        ("models: [{path: a.onnx}]\nprecisions: [int4]", "precisions[0]", "a precision"),
        ("models: [{path: a.onnx}]\nrunner: {warmup: -1}", "runner.warmup", "non-negative integer"),
        ("models: [{path: a.onnx}]\nrunner: {warmpu: 1}", "warmpu", "one of the keys"),
        ("models: []", "models", "non-empty list"),
        ("models: [{path: a.onnx, zoo: foley}]", "models[0]", "exactly one of"),
        ("models: [{path: a.onnx, inputs: {x: [1, -3]}}]", "models[0].inputs.x", "positive integers"),
        ("models: [{path: a.onnx, outputs: {y: smell}}]", "models[0].outputs.y", "tensor, image, video, audio"),
        ("models: [{name: p, variants: {int8: a.tflite}}]", "models[0].variants", "an fp32 entry"),
        ("models: [{path: a.onnx}]\nrunner: {min_duration_s: 5, max_duration_s: 1}", "runner.max_duration_s",
         "at least min_duration_s"),
        ("models: [{path: a.onnx}]\ngates: {sqnr_db: 25}", "gates.sqnr_db", "a condition"),
    ],
)
def test_errors_name_file_key_expected_and_found(tmp_path, text, where, expected):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message and where in message and expected in message and "found" in message


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match="not valid YAML"):
        load_suite(write(tmp_path, "models: [unclosed"))
    with pytest.raises(UsageError, match="does not exist"):
        load_suite(tmp_path / "nope.yaml")


def test_repo_suites_are_valid():
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parents[2].joinpath("suites").glob("*.yaml")):
        suite = load_suite(path)
        assert (suite.models or suite.pipelines) and suite.backends and suite.precisions, path


def test_runner_defaults_are_sane():
    r = RunnerSettings()
    assert r.min_iterations >= 64  # enough for a trustworthy p90
    assert r.max_duration_s > r.min_duration_s


def test_parse_accepts_plain_mapping():
    suite = parse_suite(yaml.safe_load("models: [{path: m.onnx}]"), "inline")
    assert [b.name for b in suite.backends] == ["onnxruntime"]
    assert [p.name for p in suite.precisions] == ["fp32"]


def test_rounds_settings_are_read_and_checked():
    suite = parse_suite({"models": [{"path": "a.onnx"}], "runner": {"rounds": 7, "rewarm": 2, "interleave": False}})
    assert (suite.runner.rounds, suite.runner.rewarm_iterations(), suite.runner.interleave) == (7, 2, False)
    assert parse_suite({"models": [{"path": "a.onnx"}], "runner": {"warmup": 12}}).runner.rewarm_iterations() == 2
    with pytest.raises(UsageError, match=r"runner.rounds.*at least 1 round"):
        parse_suite({"models": [{"path": "a.onnx"}], "runner": {"rounds": 0}})


def test_int8_auto_switches_must_be_booleans():
    from harness.errors import UsageError

    with pytest.raises(UsageError, match=r"precisions\[0\]\.refine': expected true or false, found 'yes'"):
        parse_suite({"models": [{"zoo": "foley"}], "precisions": [{"name": "int8-auto", "refine": "yes"}]})
    parse_suite({"models": [{"zoo": "foley"}], "precisions": [{"name": "int8-auto", "refine": False}]})
