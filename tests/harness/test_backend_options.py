"""Backend options are checked against each adapter's schema when the suite is read, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import backends
from devices.profiles import PROFILES
from harness.errors import UsageError
from harness.plan import expand
from harness.suite import parse_suite

ROOT = Path(__file__).resolve().parents[2]


def _suite(options: dict, backend: str = "onnxruntime") -> dict:
    return {"models": ["m.onnx"], "backends": [{"name": backend, "options": options}]}


def test_a_misspelt_option_names_its_key_path_and_the_close_match():
    with pytest.raises(UsageError) as err:
        parse_suite(_suite({"threads": 2, "provder": "cuda"}), source="s.yaml")
    message = str(err.value)
    assert "s.yaml: at 'backends[0].options.provder'" in message
    assert "did you mean 'provider'?" in message and "allowed:" in message


def test_a_value_outside_the_allowed_ones_lists_them():
    with pytest.raises(UsageError) as err:
        parse_suite(_suite({"graph_optimization": "extendd"}), source="s.yaml")
    assert "backends[0].options.graph_optimization" in str(err.value)
    assert "disable, basic, extended, all" in str(err.value) and "'extended'" in str(err.value)


def test_a_value_of_the_wrong_type_says_what_was_expected():
    with pytest.raises(UsageError, match="expected an integer, found str 'four'"):
        parse_suite(_suite({"threads": "four"}, backend="litert"))


def test_valid_options_pass_and_the_runner_threads_are_not_an_option_typo():
    suite = parse_suite(_suite({"threads": 2, "provider": "cpu", "graph_optimization": "all"}))
    assert suite.backends[0].options["provider"] == "cpu"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profiles_backend_options_validate_against_their_adapter(profile):
    for name, options in PROFILES[profile].backend_options.items():
        assert name in backends.names(), f"profile {profile} sets options for unknown backend {name}"
        assert backends.get_backend(name).check_options(options) == [], (profile, name)


def test_profile_backend_options_reach_the_plans_under_the_suites_own():
    suite = parse_suite({"models": ["m.onnx"], "backends": [{"name": "litert", "options": {"threads": 1}},
                                                            "onnxruntime"]})
    plans = expand(suite, "rpi", backend_defaults=PROFILES["rpi"].backend_options)
    assert [p.backend.options for p in plans] == [{"threads": 1}, {"threads": 4}]


def test_cli_stops_on_a_misspelt_option_before_any_run(tmp_path, tiny_onnx):
    suite = tmp_path / "s.yaml"
    suite.write_text(f"models: [{{path: {tiny_onnx}}}]\nbackends: [{{name: onnxruntime, options: {{treads: 2}}}}]\n")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "backends[0].options.treads" in done.stderr and "did you mean 'threads'?" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "cache").exists()  # nothing was prepared
