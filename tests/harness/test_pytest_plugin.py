"""The pytest plugin, black-box: pytest sessions run with ``pytester`` on tiny real ONNX models.

Real onnxruntime and the null backend do the inference; the adapters that are not installed / offer
fp32 only / return NaN are fakes (tests/harness/pytest_fake_backends.py), named as such.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_tiny_onnx
from tests.harness.pytest_fake_backends import FAKE_MISSING_REASON

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
# The entry point ("edgebench") is blocked and the module loaded by name, so these runs work the same
# whether or not edgebench is pip-installed (a plugin registered under two names is an error).
PLUGIN = ("-p", "no:edgebench", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")
FAST = {"warmup": 2, "min_iterations": 20, "min_duration_s": 0.0, "max_duration_s": 5.0}
FAKES = "tests.harness.pytest_fake_backends"
MIN_ROUNDS = 25  # --benchmark-min-rounds given to the benchmarking session


def _preload() -> None:
    """Import now what the in-process pytester sessions import: pytester drops modules a session imported
    when the test ends, and a second import of onnx's compiled extension aborts the interpreter."""
    import importlib

    for name in ("numpy", "onnx", "onnxruntime", "scipy.stats", "backends", "backends.onnxruntime", "backends.null",
                 "harness.runner", "harness.reference", "harness.plan", "harness.quality.fidelity",
                 "harness.quality.gates", "harness.data", "harness.zoo", "devices.profiles", "devices.telemetry",
                 "devices.environment", "results.store", "results.pytest_import", "harness.pytest_plugin"):
        try:
            importlib.import_module(name)
        except ImportError:  # a runtime that is not installed: the tests needing it say so themselves
            pass
    import backends as registry

    registry.registry()


_preload()


@pytest.fixture
def bench_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a tiny model; artifacts go to its own out/ (never the repo's)."""
    build_tiny_onnx(pytester.path / "tiny.onnx")
    monkeypatch.setenv("EDGEBENCH_OUT", str(pytester.path / "out"))
    monkeypatch.setenv("EDGEBENCH_DEVICE", "host")
    # the fake adapters are named by import path: allowed explicitly, as `run --plugin` would
    monkeypatch.setenv("EDGEBENCH_PLUGINS", ",".join(f"{FAKES}:{c}" for c in (
        "MissingRuntimeFakeBackend", "Fp32OnlyFakeBackend", "NaNFakeBackend")))
    # for subprocess runs (xdist workers): the repo's packages and the fakes import from there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return pytester.path


def write_suite(path: Path, backends: str = "[onnxruntime, null]", precisions: str = "[fp32, int8-dynamic]") -> Path:
    path.write_text(f"""
name: tiny-suite
runner: {json.dumps(FAST)}
data: {{evaluation: 2, calibration: 4}}
models:
  - path: tiny.onnx
backends: {backends}
precisions: {precisions}
""")
    return path


# -- collection: cases and their IDs -------------------------------------------------------------------


def test_suite_marker_helper_and_option_generate_readable_ids(pytester: pytest.Pytester, bench_dir: Path):
    write_suite(bench_dir / "suite.yaml")
    pytester.makepyfile(test_ids=f"""
        import pytest
        from harness.pytest_plugin import edgebench_cases

        @pytest.mark.edgebench(suite="suite.yaml")
        def test_marker(edgebench_case):
            assert edgebench_case.suite == "tiny-suite"

        @pytest.mark.edgebench("suite.yaml", backends=["null"], precisions=["int8-dynamic"])
        def test_marker_subset(edgebench_case):
            pass

        @pytest.mark.parametrize("edgebench_case", edgebench_cases(
            models=["tiny.onnx", {{"path": "tiny.onnx", "name": "tiny-b"}}], backends=["{FAKES}:Fp32OnlyFakeBackend"],
            precisions=["fp32"]))
        def test_helper(edgebench_case):
            pass

        def test_from_option(edgebench_case):
            pass
    """)
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q", "--edgebench-suite", "suite.yaml")
    result.assert_outcomes()
    ids = {line.strip() for line in result.outlines if "::" in line}
    for precision in ("fp32", "int8-dynamic"):
        for backend in ("onnxruntime", "null"):
            assert f"test_ids.py::test_marker[tiny-{backend}-{precision}]" in ids
            assert f"test_ids.py::test_from_option[tiny-{backend}-{precision}]" in ids
    assert "test_ids.py::test_marker_subset[tiny-null-int8-dynamic]" in ids
    assert "test_ids.py::test_helper[tiny-Fp32OnlyFakeBackend-fp32]" in ids
    assert "test_ids.py::test_helper[tiny-b-Fp32OnlyFakeBackend-fp32]" in ids
    assert len(ids) == 4 + 1 + 2 + 4


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def test_x(edgebench_model):\n    pass\n", "says nothing to benchmark"),
        ("import pytest\n@pytest.mark.edgebench(suite='nope.yaml')\ndef test_x(edgebench_case):\n    pass\n",
         "suite file nope.yaml not found"),
        ("import pytest\n@pytest.mark.edgebench('suite.yaml', backends=['openvino'])\n"
         "def test_x(edgebench_case):\n    pass\n", "backends ['openvino'] not in the suite"),
        ("import pytest\n@pytest.mark.edgebench(models=['tiny.onnx'], precisions=['int4'])\n"
         "def test_x(edgebench_case):\n    pass\n", "expected a precision"),
    ],
)
def test_nothing_or_bad_input_to_expand_is_a_clear_collection_error(pytester: pytest.Pytester, bench_dir: Path,
                                                                     source: str, expected: str):
    write_suite(bench_dir / "suite.yaml")
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q")
    assert result.ret != 0
    assert expected in result.stdout.str()


# -- measuring ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One benchmarking session shared by the tests that read its JSON (it is the slow part)."""
    folder = tmp_path_factory.mktemp("bench")
    build_tiny_onnx(folder / "tiny.onnx")
    write_suite(folder / "suite.yaml", backends=f"[onnxruntime, '{FAKES}:MissingRuntimeFakeBackend', "
                f"'{FAKES}:Fp32OnlyFakeBackend']")
    (folder / "test_bench.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.edgebench(suite='suite.yaml')\n"
        "def test_tiny(edgebench_model, benchmark):\n"
        "    record = edgebench_model.measure(benchmark)\n"
        "    assert record.latency_ms['n'] == benchmark.stats.stats.rounds\n"
    )
    env = {**os.environ, "EDGEBENCH_OUT": str(folder / "out"), "EDGEBENCH_DEVICE": "host",
           # import paths in a suite are refused unless allowed explicitly (issue 15: plugins only)
           "EDGEBENCH_PLUGINS": f"{FAKES}:MissingRuntimeFakeBackend,{FAKES}:Fp32OnlyFakeBackend",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "pytest", *PLUGIN, "-rs", "-q", "-W", "ignore::DeprecationWarning",
            "--benchmark-json", str(folder / "result.json"), "--benchmark-autosave",
            "--benchmark-storage", str(folder / "storage"), "--edgebench-store", f"--benchmark-min-rounds={MIN_ROUNDS}"]
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)
    return {"folder": folder, "done": done, "env": env, "args": args}


def test_benchmark_session_outcomes_and_skip_reasons(benchmark_run: dict):
    done = benchmark_run["done"]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # onnxruntime: fp32 + int8-dynamic; the fp32-only fake: fp32; everything else skipped with its reason
    assert "3 passed, 3 skipped" in done.stdout
    assert FAKE_MISSING_REASON in done.stdout
    assert "Fp32OnlyFakeBackend cannot produce int8-dynamic (it offers fp32)" in done.stdout


def test_extra_info_holds_memory_power_size_and_fidelity(benchmark_run: dict):
    doc = json.loads((benchmark_run["folder"] / "result.json").read_text())
    benches = {b["param"]: b for b in doc["benchmarks"]}
    assert set(benches) == {"tiny-onnxruntime-fp32", "tiny-onnxruntime-int8-dynamic", "tiny-Fp32OnlyFakeBackend-fp32"}
    model_bytes = (benchmark_run["folder"] / "tiny.onnx").stat().st_size
    for param, bench in benches.items():
        info = bench["extra_info"]
        assert bench["group"] == "tiny"
        assert (info["model"], info["precision"], info["device"], info["suite"]) == (
            "tiny", param.rsplit("-", 1)[-1] if "dynamic" not in param else "int8-dynamic", "host", "tiny-suite")
        # rounds and warm-up come from the suite's runner settings; --benchmark-min-rounds raises the rounds
        assert bench["stats"]["rounds"] >= MIN_ROUNDS > FAST["min_iterations"]
        assert info["record"]["warmup_iterations"] == FAST["warmup"]
        assert info["record"]["runner"]["rounds"] == bench["stats"]["rounds"]
        # memory: a real sampled figure, at least the baseline of the process
        memory = info["record"]["memory"]
        assert info["peak_rss_bytes"] == memory["peak_rss_bytes"] >= memory["baseline_rss_bytes"] > 1_000_000
        # power: a figure, or None with the reason (never 0 for "not measured")
        power = info["record"]["power"]
        assert (isinstance(power["energy_j"], float) and power["energy_j"] > 0) or (
            power["energy_j"] is None and power["reason"])
        assert info["artifact_bytes"] > 0
        assert info["record"]["quality"]["n_samples"] == 2
    ort32, ort8 = benches["tiny-onnxruntime-fp32"]["extra_info"], benches["tiny-onnxruntime-int8-dynamic"]["extra_info"]
    assert ort32["artifact_bytes"] == model_bytes
    # fp32 on its own reference runtime matches exactly; dynamic int8 is close but not identical
    assert ort32["cosine"] == pytest.approx(1.0)
    assert ort8["sqnr_db"] < ort32["sqnr_db"]
    assert ort8["cosine"] > 0.9
    # the fake (null) backend answers zeros: fidelity shows it instead of passing silently
    assert benches["tiny-Fp32OnlyFakeBackend-fp32"]["extra_info"]["sqnr_db"] < 1.0


def test_machine_info_carries_device_facts(benchmark_run: dict):
    from devices.profiles import get_profile

    doc = json.loads((benchmark_run["folder"] / "result.json").read_text())
    eb = doc["machine_info"]["edgebench"]
    assert eb["device"] == "host"
    facts = json.loads(json.dumps(get_profile("host").facts(), default=str))
    assert eb["facts"] == facts
    assert eb["packages"]["onnxruntime"]


def test_json_and_storage_folder_import_into_store_list_and_report(benchmark_run: dict, tmp_path: Path, capsys):
    from harness.cli import main
    from results.store import ResultStore

    folder = benchmark_run["folder"]
    doc = json.loads((folder / "result.json").read_text())
    out = tmp_path / "out"
    assert main(["import-pytest", str(folder / "result.json"), "--out", str(out)]) == 0
    assert main(["import-pytest", str(folder / "storage"), "--out", str(out)]) == 0  # same runs: nothing added
    with ResultStore(out / "edgebench.sqlite") as store:
        records = {(r.model["name"], r.backend["name"].rpartition(":")[2], r.precision): r for r in store.records()}
        assert len(store) == 3
        samples = {r.run_id: store.samples(r.run_id) for r in records.values()}
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        record = records[(info["model"], info["backend"].rpartition(":")[2], info["precision"])]
        assert record.run_id == info["run_id"]
        assert record.device["name"] == "host" and record.suite == "tiny-suite"
        # seconds -> milliseconds
        assert record.latency_ms["mean"] == pytest.approx(bench["stats"]["mean"] * 1e3)
        assert record.latency_ms["p50"] == pytest.approx(bench["stats"]["median"] * 1e3)
        assert record.latency_ms["n"] == bench["stats"]["rounds"]
        assert len(samples[record.run_id]["latency_ms"]) == bench["stats"]["rounds"]
        assert record.quality["sqnr_db"] == info["sqnr_db"]
        assert record.memory["peak_rss_bytes"] == info["peak_rss_bytes"]
        assert record.artifact_bytes == info["artifact_bytes"]
    # the storage folder (autosave, no --benchmark-save-data): percentiles from the plugin's extra_info
    other = tmp_path / "other"
    assert main(["import-pytest", str(folder / "storage"), "--out", str(other)]) == 0
    with ResultStore(other / "edgebench.sqlite") as store:
        for record in store.records():
            assert record.latency_ms["p90"] is not None and "plugin" in record.latency_ms["source"]
    capsys.readouterr()
    assert main(["list", "--out", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["precision"] for r in listed} == {"fp32", "int8-dynamic"}
    report = tmp_path / "report.html"
    assert main(["report", "--out", str(out), "-o", str(report)]) == 0
    html = report.read_text()
    assert "tiny" in html and "int8-dynamic" in html and "onnxruntime" in html


def test_store_option_saves_the_same_runs_the_json_imports(benchmark_run: dict, tmp_path: Path, capsys):
    from harness.cli import main
    from results.store import ResultStore

    folder = benchmark_run["folder"]
    doc = json.loads((folder / "result.json").read_text())
    with ResultStore(folder / "out" / "edgebench.sqlite") as store:
        stored = {r.run_id: r for r in store.records()}
    assert set(stored) == {b["extra_info"]["run_id"] for b in doc["benchmarks"]}
    for bench in doc["benchmarks"]:
        record = stored[bench["extra_info"]["run_id"]]
        assert record.latency_ms["n"] == bench["stats"]["rounds"]
        assert record.quality["sqnr_db"] == bench["extra_info"]["sqnr_db"]
    # importing the JSON into that store adds nothing: the plugin already saved those runs (with raw samples)
    out = tmp_path / "copy"
    (out).mkdir()
    (out / "edgebench.sqlite").write_bytes((folder / "out" / "edgebench.sqlite").read_bytes())
    capsys.readouterr()
    assert main(["import-pytest", str(folder / "result.json"), "--out", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["imported"] == [] and len(answer["already_stored"]) == 3


def test_compare_against_autosaved_run_and_histogram_keep_working(benchmark_run: dict):
    """pytest-benchmark's own regression check on these tests (a generous threshold: no timing is asserted);
    stable machine info means no 'machine_info is different' warning."""
    folder = benchmark_run["folder"]
    args = [a for a in benchmark_run["args"] if a not in ("--benchmark-autosave", "--edgebench-store")]
    args[args.index("--benchmark-json") + 1] = str(folder / "second.json")
    args += ["-k", "onnxruntime and fp32", "--benchmark-compare=0001", "--benchmark-compare-fail=mean:100000%"]
    try:
        import pygal  # noqa: F401 - pytest-benchmark[histogram]
    except ImportError:
        histogram = None
    else:
        histogram = folder / "histogram"
        args.append(f"--benchmark-histogram={histogram}")
    done = subprocess.run(args, cwd=folder, env=benchmark_run["env"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Comparing against benchmarks from: " in done.stdout + done.stderr
    assert "machine_info is different" not in done.stdout + done.stderr
    if histogram is not None:
        assert (folder / "histogram-tiny.svg").stat().st_size > 0  # one chart per group: the model


# -- smoke mode ------------------------------------------------------------------------------------


def test_benchmark_disable_runs_smoke_checks_against_fp32(pytester: pytest.Pytester, bench_dir: Path):
    write_suite(bench_dir / "suite.yaml", backends=f"[onnxruntime, '{FAKES}:NaNFakeBackend']", precisions="[fp32]")
    pytester.makepyfile(test_smoke="""
        import pytest

        @pytest.mark.edgebench(suite="suite.yaml")
        def test_tiny(edgebench_model, benchmark):
            record = edgebench_model.measure(benchmark)
            assert record.extra["mode"] == "smoke"
            assert record.latency_ms is None  # nothing timed
            assert record.quality["n_samples"] == 1  # one inference, scored against fp32
            assert record.quality["cosine"] == pytest.approx(1.0)
    """)
    result = pytester.runpytest(*PLUGIN, "--benchmark-disable", "-q")
    result.assert_outcomes(passed=1, failed=1)
    assert "tiny-NaNFakeBackend-fp32: NaN/Inf in outputs ['y']: this configuration is broken" in result.stdout.str()


def test_xdist_runs_the_benchmarks_as_smoke_tests(pytester: pytest.Pytester, bench_dir: Path):
    pytest.importorskip("xdist")
    write_suite(bench_dir / "suite.yaml", backends="[onnxruntime, null]", precisions="[fp32]")
    pytester.makepyfile(test_smoke="""
        import pytest

        @pytest.mark.edgebench(suite="suite.yaml")
        def test_tiny(edgebench_model, benchmark):
            assert edgebench_model.measure(benchmark).extra["mode"] == "smoke"
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "-n", "2", "-q")
    result.assert_outcomes(passed=2)


# -- import cost ---------------------------------------------------------------------------------------


def test_plugin_import_is_cheap_and_needs_no_runtime():
    """pytest loads the plugin in every session of an environment where edgebench is installed."""
    code = ("import sys, harness.pytest_plugin as p\n"
            "heavy = [m for m in ('numpy', 'onnx', 'onnxruntime', 'openvino', 'scipy', 'harness.runner') "
            "if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert p.plan_rounds(0.01, 50, 2.0, 30.0) == (200, False)\n"
            "assert p.plan_rounds(1.0, 50, 2.0, 30.0) == (30, True)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the repo itself, nothing preloaded
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
