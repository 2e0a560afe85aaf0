"""Hostile-but-realistic input (issue 15): every case ends in a clear message and its documented exit
code, within bounded time and memory, with nothing already stored lost. CLI cases run as a user types
them (a subprocess); the suite validator's cases run in-process through the same ``main``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.errors import UsageError
from tests.harness.test_cli import FAST, ROOT, edgebench

QUICK_RUN = "runner: {warmup: 0, min_iterations: 3, min_duration_s: 0, max_duration_s: 5, idle_s: 0}\n" \
            "data: {evaluation: 0}\n"


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def _usage_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("edgebench: error:"), done.stderr[-2000:]
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr[-2000:])
    return done.stderr


# -- 1. one validation pass before anything runs ----------------------------------------------------

SUITE_CASES = {
    "duplicate key": ("name: a\nname: b\nmodels: [M]\n", ["duplicate key 'name'", "first at line 1", ":2:1"]),
    "tag on a name": ("name: !!timestamp 2020-01-01\nmodels: [M]\n", ["YAML tags", ":1:7"]),
    "python tag": ("name: !!python/object/apply:os.system [ls]\nmodels: [M]\n", ["YAML tags"]),
    "mixed key types": ("models: [{path: M, inputs: {1: [1, 16], '1': [1, 16]}}]\n", ["a key must be text"]),
    "suite name a list": ("name: [a, b]\nmodels: [M]\n", ["at 'name'", "a suite name"]),
    "model name a mapping": ("models: [{path: M, name: {x: 1}}]\n", ["models[0].name", "a model name"]),
    "model name a date": ("models: [{path: M, name: 2026-01-01}]\n", ["models[0].name"]),
    "floor not a number": ("models: [M]\ndata: {fidelity_floor_db: high}\n", ["data.fidelity_floor_db", "dB"]),
    "calibration_dir a number": ("models: [M]\ndata: {calibration_dir: 42}\n", ["data.calibration_dir"]),
    "negative and zero dims": ("models: [{path: M, inputs: {x: 1x3x-4x0}}]\n", ["models[0].inputs.x", "[1, 3, -4, 0]"]),
    "unknown precision setting": ("models: [M]\nprecisions: [{name: int8, per_chanel: true}]\n",
                                  ["precisions[0].per_chanel", "did you mean 'per_channel'"]),
    "setting of a mapping type": ("models: [M]\nprecisions: [{name: int8, per_channel: {a: 1}}]\n",
                                  ["precisions[0].per_channel"]),
    "misspelt gate metric": ("models: [M]\ngates: {sqnr: '>= 200'}\n", ["gates.sqnr", "did you mean 'sqnr_db'"]),
    "gate on a nested path": ("models: [M]\ngates: {quality.sqnr_db: '>= 20'}\n", ["gates.quality.sqnr_db"]),
    "bad gate condition": ("models: [M]\ngates: {sqnr_db: '>= banana'}\n", ["gates.sqnr_db", "'>= banana'"]),
    "backend import path": ("models: [M]\nbackends: ['os:system']\n", ["backends[0]", "edgebench.backends",
                                                                        "--plugin"]),
    "backend of a missing package": ("models: [M]\nbackends: ['nosuchpkg.mod:Cls']\n", ["edgebench.backends"]),
    "description a mapping": ("description: {a: 1}\nmodels: [M]\n", ["at 'description'"]),
    "not a mapping": ("- 1\n- 2\n", ["a mapping"]),
    "nul byte": ("name: a\x00\nmodels: [M]\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("case", sorted(SUITE_CASES))
def test_bad_suite_is_a_usage_error_before_anything_is_written(case, tmp_path, tiny_onnx, capsys):
    text, needles = SUITE_CASES[case]
    suite = _suite(tmp_path, text.replace("[M]", f"[{tiny_onnx}]").replace("path: M", f"path: {tiny_onnx}"))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--fail-on-gate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgebench: error:") and "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (out / "edgebench.sqlite").exists()  # nothing measured, nothing written


def _bomb(levels: int, where: str) -> str:
    """The "billion laughs": each level 9 aliases of the one before (9**10 strings once expanded)."""
    chain = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    chain += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    if where == "options":
        nested = "\n      ".join(chain)
        return f"models: [m.onnx]\nbackends:\n  - name: onnxruntime\n    options:\n      {nested}\n"
    nested = "\n  ".join(chain)
    tail = f"name: *l{levels - 1}\n" if where == "name" else ""
    return f"description:\n  {nested}\n{tail}models: [m.onnx]\n"


@pytest.mark.parametrize("where", ["description", "options", "name"])
def test_alias_bombs_are_refused_at_once(where, tmp_path):
    suite = _suite(tmp_path, _bomb(10, where))
    assert len(suite.read_bytes()) < 2000
    # a hang or a multi-GB expansion would blow this timeout (the old loader took > 180 s)
    done = edgebench("run", str(suite), out=tmp_path / "out")
    _usage_error(done, "alias")


def test_deeply_nested_list_is_refused_without_recursion(tmp_path):
    suite = _suite(tmp_path, "models: " + "[" * 100_000 + "]" * 100_000 + "\n")
    done = edgebench("run", str(suite), out=tmp_path / "out")
    _usage_error(done)
    assert "RecursionError" not in done.stderr


@pytest.mark.parametrize("backend", ["os:system", "nosuchpkg.mod:Cls"])
def test_backend_import_path_on_the_command_line_is_refused(backend, tmp_path, tiny_onnx):
    done = edgebench("run", "--model", str(tiny_onnx), "--backend", backend, out=tmp_path / "out")
    _usage_error(done, "edgebench.backends", "--plugin")
    assert not (tmp_path / "out" / "edgebench.sqlite").exists()


def test_plugin_flag_that_does_not_load_is_a_usage_error(tmp_path, tiny_onnx):
    done = edgebench("run", "--model", str(tiny_onnx), "--plugin", "nosuchpkg.mod:Cls",
                     "--backend", "nosuchpkg.mod:Cls", out=tmp_path / "out")
    _usage_error(done, "--plugin 'nosuchpkg.mod:Cls'", "No module named 'nosuchpkg'")


def test_entry_point_plugin_is_listed_and_runs(tmp_path, tiny_onnx):
    """A real entry point: a distribution's metadata on the path declares the group edgebench.backends."""
    site = tmp_path / "site"
    dist = site / "edgebench_demo_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: edgebench-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[edgebench.backends]\ndemo = demo_plugin:DemoBackend\n")
    (site / "demo_plugin.py").write_text("from backends.null import NullBackend\n\n\n"
                                         "class DemoBackend(NullBackend):\n    name = 'demo'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--model", str(tiny_onnx), "--backend", "demo",
                           *FAST, "--json", "--out", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["backend"]["name"] for r in json.loads(done.stdout)] == ["demo"]


@pytest.mark.parametrize("shape", ["x=1x3x-4x0", "x=1x3x99999999999x2", "x=", "x=1x2x3x4x5x6x7x8x9"])
def test_shape_flag_with_nonsense_dims_is_refused(shape, tmp_path, tiny_onnx, capsys):
    assert main(["run", "--model", str(tiny_onnx), "--shape", shape, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("edgebench: error: --shape")


def test_shape_that_cannot_fit_in_memory_is_refused_before_allocating(tmp_path, tiny_onnx):
    done = edgebench("run", "--model", str(tiny_onnx), "--shape", "x=1x3x2000000000x20000", out=tmp_path / "out")
    _usage_error(done, "input 'x'", "available")
    assert not (tmp_path / "out" / "edgebench.sqlite").exists()


# -- 2. resource guards ------------------------------------------------------------------------------

def test_random_inputs_refuse_what_cannot_fit(monkeypatch):
    from backends.base import TensorSpec
    from harness import data

    monkeypatch.setattr(data, "available_memory_bytes", lambda: 2**30)
    spec = TensorSpec("x", (1, 3, 25000, 25000), "float32")
    with pytest.raises(UsageError) as err:
        data.random_feeds([spec], 1)
    assert "6.98 GiB" in str(err.value) and "1.00 GiB available" in str(err.value)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint8", "bool"])
def test_random_inputs_are_drawn_in_the_models_dtype(dtype):
    import tracemalloc

    from backends.base import TensorSpec
    from harness.data import random_feeds

    spec = TensorSpec("x", (1, 1024, 1024), dtype)
    tracemalloc.start()
    try:
        feeds = random_feeds([spec], 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    x = feeds[0]["x"]
    assert x.dtype == np.dtype(dtype) and x.shape == (1, 1024, 1024)
    # drawn as float64 and cast, a float32 input would peak at 3x its size; float16 goes via float32
    limit = 2.2 * 2**20 * max(4, np.dtype(dtype).itemsize) if dtype == "float16" else 1.6 * x.nbytes + 2**20
    assert peak < limit, (peak, x.nbytes)


def test_telemetry_parse_of_an_endless_file_is_bounded():
    done = edgebench("telemetry", "parse", "--format", "rapl", "/dev/zero")
    _usage_error(done, "/dev/zero", "larger than")


def test_large_suite_says_what_it_plans(tmp_path, tiny_onnx, capsys):
    from harness.cli.run import _preflight
    from harness.plan import expand, model_source
    from harness.suite import parse_suite

    suite = parse_suite({"models": [{"path": str(tiny_onnx), "name": f"m{i}"} for i in range(600)],
                         "backends": ["null"]}, "big.yaml", tmp_path)
    _preflight(suite, expand(suite), tmp_path, model_source)
    err = capsys.readouterr().err
    assert "600 run(s) planned; checking 1 distinct model file(s) of 600 model entries" in err


# -- 3. last resort, disk full, store errors -----------------------------------------------------------

def test_unexpected_exception_is_one_line_exit_70_and_a_traceback_file(tmp_path, tiny_onnx):
    out = _stored_run(tmp_path)
    before = (out / "edgebench.sqlite").read_bytes()
    code = ("import sys, harness.cli.results as r\n"
            "def boom(args):\n    raise RuntimeError('kaboom in a command')\n"
            "r.list_command = boom\n"
            "from harness.cli import main\nsys.exit(main(['list', '--out', sys.argv[1]]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 70, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: internal error: RuntimeError: kaboom in a command")
    assert "please report it" in lines[0] and "Traceback" not in done.stderr
    logs = list((out / "logs").glob("internal-error-*.txt"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and str(logs[0]) in lines[0]
    assert (out / "edgebench.sqlite").read_bytes() == before


def _record(run_id: str = "20260101T000000-abcdef01"):
    from results.schema import RunRecord

    return RunRecord(run_id=run_id, status="ok", precision="fp32", model={"name": "m"}, backend={"name": "null"},
                     device={"name": "host"}, latency_ms={"n": 2, "p50": 1.5, "mean": 1.5},
                     samples={"latency_ms": [1.0, 2.0]})


def _stored_run(tmp_path, tiny_onnx=None, out: Path | None = None) -> Path:
    """A real store holding one synthetic record (a measured run is not what these tests are about)."""
    from results.store import ResultStore

    out = out or tmp_path / "out"
    with ResultStore(out / "edgebench.sqlite") as store:
        store.save(_record())
    return out


def test_garbage_store_is_a_clear_error_for_run_and_list(tmp_path, tiny_onnx):
    out = tmp_path / "out"
    out.mkdir()
    (out / "edgebench.sqlite").write_bytes(os.urandom(8192))
    _usage_error(edgebench("list", out=out), "not a readable edgebench store")
    _usage_error(edgebench("run", "--model", str(tiny_onnx), "--backend", "null", *FAST, out=out),
                 "not a readable edgebench store")


def test_store_from_a_newer_edgebench_is_a_clear_error(tmp_path, tiny_onnx):
    out = _stored_run(tmp_path, tiny_onnx)
    with sqlite3.connect(out / "edgebench.sqlite") as con:
        con.execute("PRAGMA user_version = 99")
    for args in (["list"], ["run", "--model", str(tiny_onnx), "--backend", "null", *FAST]):
        _usage_error(edgebench(*args, out=out), "newer edgebench", "upgrade")


def test_damaged_record_is_a_clear_error_for_report(tmp_path, tiny_onnx):
    out = _stored_run(tmp_path, tiny_onnx)
    with sqlite3.connect(out / "edgebench.sqlite") as con:
        con.execute("UPDATE runs SET record = '{not json'")
    _usage_error(edgebench("report", "-o", str(tmp_path / "r.md"), out=out), "damaged", ".recover")


def test_disk_full_while_saving_keeps_the_record_fault_injected(tmp_path, tiny_onnx):
    """The fault injector (runs everywhere): the store's write fails as SQLite fails on a full disk."""
    from harness.cli.run import _save
    from results.store import ResultStore

    out = tmp_path / "out"
    record = _record()
    with ResultStore(out / "edgebench.sqlite") as store:
        def full(_record):
            raise sqlite3.OperationalError("database or disk is full")

        store.save = full
        message = _save(store, record, out)
    fallback = out / f"unsaved-run-{record.run_id}.json"
    assert message and str(fallback) in message and "edgebench import" in message and "disk is full" in message
    done = edgebench("import", str(fallback), out=out)
    assert done.returncode == 0, done.stderr
    shown = json.loads(edgebench("show", record.run_id, "--json", "--samples", out=out, check=True).stdout)
    assert shown["samples"]["latency_ms"] == [1.0, 2.0]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 3 MiB tmpfs, mounted for the test (needs root and mount permission)."""
    where = tmp_path / "mnt"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the fault-injected disk-full test covers the logic")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the fault-injected test covers the logic")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_during_a_run_on_a_real_tmpfs(small_tmpfs, tmp_path, tiny_onnx):
    out = small_tmpfs / "out"
    suite = _suite(tmp_path, f"name: full\n{QUICK_RUN}models: [{{path: {tiny_onnx}}}]\n"
                             "backends: ['null', 'tests.harness.faulty_backends:DiskFillingBackend', 'null']\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEBENCH_TEST_FILL": str(small_tmpfs)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), "--plugin",
                           "tests.harness.faulty_backends:DiskFillingBackend"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "1 finished run(s) are saved" in done.stderr
    fallback = next(p.rstrip(":;,") for p in done.stderr.split() if "unsaved-run-" in p)
    assert "edgebench import" in done.stderr and Path(fallback).is_file()
    # the full disk took nothing: the temp folder did, and the test removes it afterwards
    request_cleanup = None if Path(fallback).is_relative_to(small_tmpfs) else Path(fallback)
    (small_tmpfs / "fill").unlink()
    with sqlite3.connect(out / "edgebench.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # the first run, kept
    assert edgebench("import", fallback, out=out).returncode == 0
    listed = json.loads(edgebench("list", "--json", out=out, check=True).stdout)
    assert len(listed) == 2
    if request_cleanup is not None:
        request_cleanup.unlink()


# -- 4. read-only stores ----------------------------------------------------------------------------

def test_read_only_store_can_be_listed_shown_exported_and_reported(small_tmpfs, tmp_path, tiny_onnx):
    out = _stored_run(tmp_path, out=small_tmpfs / "out")
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here ({done.stderr.strip()})")
    listed = json.loads(edgebench("list", "--json", out=out, check=True).stdout)
    run_id = listed[0]["run_id"]
    assert json.loads(edgebench("show", run_id[:12], "--json", out=out, check=True).stdout)["run_id"] == run_id
    exported = edgebench("export", "--format", "json", out=out, check=True).stdout
    assert json.loads(exported)[0]["run_id"] == run_id
    edgebench("report", "-o", str(tmp_path / "r.md"), out=out, check=True)
    assert "1 runs" in (tmp_path / "r.md").read_text()


# -- 5. escaping and lookups ------------------------------------------------------------------------

def test_show_matches_ids_exactly_or_by_prefix_never_as_a_pattern(tmp_path, capsys):
    out = _stored_run(tmp_path)
    run_id = _record().run_id
    for pattern in ("%", "_", run_id[:4] + "%", "%" + run_id[-4:]):
        assert main(["show", pattern, "--out", str(out)]) == 2
        assert "no run matches" in capsys.readouterr().err
    assert main(["show", run_id[:10], "--json", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == run_id


def test_model_name_cannot_move_cache_paths():
    from backends._onnx_variants import _safe_name

    for name in ("..", ".", "../../etc", "a/b", "a\\b", "", ".hidden", "x" * 500):
        safe = _safe_name(name)
        assert safe not in ("", ".", "..") and "/" not in safe and "\\" not in safe and not safe.startswith(".")
        assert len(safe) <= 120


# -- 7. score and import inputs -------------------------------------------------------------------------

RATINGS = "rater,stimulus,condition,score\n" + "".join(
    f"r{r},s{s},{c},{3 + (r + s) % 3}\n" for r in range(3) for s in range(2) for c in ("fp32", "int8"))


def test_score_mos_reads_utf16_with_a_bom(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(RATINGS.encode("utf-16"))
    done = edgebench("score", "mos", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["mos"]["conditions"]) == {"fp32", "int8"}


def test_score_mos_on_latin1_is_a_clear_error(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(RATINGS.replace("r0,", "René,").encode("latin-1"))
    _usage_error(edgebench("score", "mos", str(path)), "not UTF-8", "Latin-1", "line 2")


def test_import_pytest_with_bad_types_is_a_clear_error(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"benchmarks": [
        {"name": "a", "extra_info": 5, "stats": {"rounds": 3}},
        {"name": "b", "extra_info": {"edgebench": True, "record": [1]}, "stats": {"rounds": 3}},
        {"name": "c", "extra_info": {"edgebench": True}, "stats": "fast"},
        7,
    ]}))
    err = _usage_error(edgebench("import-pytest", str(path), out=tmp_path / "out"), "nothing to import")
    assert "'extra_info' must be an object, found 5" in err
    assert "'record' must be an object" in err and "'stats' must be an object" in err
    assert "benchmarks[3]: expected an object" in err


def test_fidelity_gate_without_evaluation_could_never_fail(tmp_path, tiny_onnx, capsys):
    suite = _suite(tmp_path, f"models: [{tiny_onnx}]\ngates: {{sqnr_db: '>= 20'}}\n")
    assert main(["run", str(suite), "--evaluation", "0", "--fail-on-gate", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "sqnr_db" in err and "evaluation is 0" in err
    suite.write_text(f"models: [{tiny_onnx}]\ndata: {{evaluation: 0}}\ngates: {{cosine: '>= 0.9'}}\n")
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "edgebench.sqlite").exists()


def test_suite_built_in_python_with_non_text_keys_is_a_usage_error(tiny_onnx):
    from harness.suite import parse_suite

    with pytest.raises(UsageError, match="keys that are text"):
        parse_suite({"models": [{"path": str(tiny_onnx), "inputs": {1: [1, 16], "x": [1, 16]}}]})
    with pytest.raises(UsageError, match="keys that are text"):
        parse_suite({"models": [str(tiny_onnx)], 3: "x"})


def test_missing_calibration_folder_is_refused_before_any_run(tmp_path, tiny_onnx, capsys):
    out = tmp_path / "out"
    assert main(["run", "--model", str(tiny_onnx), "--calib", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "calibration folder" in capsys.readouterr().err
    assert not (out / "edgebench.sqlite").exists()
