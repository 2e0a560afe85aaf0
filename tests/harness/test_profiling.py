"""The profile pass: settings from suites and the command line, and a real profiled run end to end."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.profiling import ProfileSettings
from harness.suite import parse_suite


def test_profile_settings_from_a_suite():
    suite = parse_suite({"models": ["talking-head"], "profile": {"iterations": 7, "modules": {"attn": ["*/attn/*"]}}})
    assert suite.profile == ProfileSettings(enabled=True, iterations=7, modules={"attn": ("*/attn/*",)})
    assert parse_suite({"models": ["talking-head"], "profile": True}).profile.enabled
    assert not parse_suite({"models": ["talking-head"]}).profile.enabled


@pytest.mark.parametrize("value, expected", [
    ("yes", "profile must be true, false or a mapping"),
    ({"iterations": 0}, "profile.iterations must be a positive integer"),
    ({"modules": {"a": "enc/*"}}, "profile.modules must map a module name to a list of node-name globs"),
    ({"every": 3}, "unknown profile key(s) ['every']"),
])
def test_bad_profile_settings_say_what_was_expected(value, expected):
    with pytest.raises(UsageError, match=None) as info:
        parse_suite({"models": ["talking-head"], "profile": value}, source="s.yaml")
    assert expected in str(info.value) and "s.yaml" in str(info.value)


def test_run_with_profile_records_the_profile_and_its_overhead(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--model", str(tiny_onnx), "--profile", "--profile-iterations", "5", "--min-iterations", "5",
                 "--min-duration", "0", "--warmup", "1", "--evaluation", "0", "--out", str(out), "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)[0]
    profile = record["profile"]
    assert profile["reason"] is None and profile["iterations"] == 5
    assert profile["source"] == "onnxruntime SessionOptions.enable_profiling"
    assert isinstance(profile["pass_overhead_pct"], float)  # measured on the harness's clock, whatever its sign
    assert set(profile["by_module"]) <= {"enc", "head", "(unattributed)"} and "enc" in profile["by_module"]
    assert sum(r["share_pct"] for r in profile["rows"]) == pytest.approx(100.0)
    # The timed rounds are untouched: as many samples as asked for, the profile's inferences not among them.
    assert record["latency_ms"]["n"] >= 5
    assert main(["export", "--format", "json", "--profiles", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(profile["rows"]) and {r["run_id"] for r in rows} == {record["run_id"]}


def test_run_without_profile_has_none(tiny_onnx, tmp_path, capsys):
    assert main(["run", "--model", str(tiny_onnx), "--min-iterations", "3", "--min-duration", "0", "--warmup", "0",
                 "--evaluation", "0", "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["profile"] is None


def test_profile_iterations_must_be_positive(tiny_onnx, tmp_path, capsys):
    assert main(["run", "--model", str(tiny_onnx), "--profile-iterations", "0", "--out", str(tmp_path)]) == 2
    assert "--profile-iterations must be at least 1" in capsys.readouterr().err


def test_a_suite_with_profile_and_a_module_mapping(tiny_onnx, tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(f"""name: prof
models: [{{path: {tiny_onnx}}}]
backends: [onnxruntime]
precisions: [fp32]
runner: {{warmup: 1, min_iterations: 3, min_duration_s: 0}}
data: {{evaluation: 0}}
profile: {{iterations: 3, modules: {{projections: ["*/matmul"]}}}}
""")
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--json"]) == 0
    profile = json.loads(capsys.readouterr().out)[0]["profile"]
    assert profile["iterations"] == 3
    modules = {r["node"]: r["module"] for r in profile["rows"] if r["source_nodes"]}
    assert "projections" in set(modules.values())  # the user's mapping, for the MatMuls it matches


def test_interleaved_rounds_are_profiled_after_the_last_round(tiny_onnx, tmp_path, capsys):
    """fp32 and fp16 of one model and backend run their rounds interleaved; each profiles once, after them."""
    assert main(["run", "--model", str(tiny_onnx), "--precision", "fp32", "--precision", "fp16", "--rounds", "2",
                 "--profile", "--profile-iterations", "3", "--min-iterations", "3", "--min-duration", "0",
                 "--warmup", "1", "--evaluation", "0", "--out", str(tmp_path), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["precision"] for r in records] == ["fp32", "fp16"] and all(r["status"] == "ok" for r in records)
    for r in records:
        assert r["extra"]["rounds"]["interleaved_with"]  # the interleaved path, not the single-plan one
        assert r["profile"]["reason"] is None and r["profile"]["iterations"] == 3
        assert isinstance(r["profile"]["pass_overhead_pct"], float)
