"""`edgebench` end to end, through a subprocess, as a user would type it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--warmup", "1", "--min-iterations", "10", "--min-duration", "0", "--max-duration", "5"]


def edgebench(*args: str, out: Path | None = None, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "harness.cli", *args]
    if out is not None:
        argv += ["--out", str(out)]
    done = subprocess.run(argv, cwd=kwargs.pop("cwd", ROOT), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_run_list_show_export(tiny_onnx, tmp_path):
    out = tmp_path / "out"
    done = edgebench("run", "--model", str(tiny_onnx), "--backend", "onnxruntime", "--backend", "null", *FAST,
                     out=out, check=True)
    assert "p50" in done.stdout  # the summary table
    assert (out / "edgebench.sqlite").exists()

    listed = json.loads(edgebench("list", "--json", out=out, check=True).stdout)
    assert {r["backend"]["name"] for r in listed} == {"onnxruntime", "null"}
    run_id = next(r["run_id"] for r in listed if r["backend"]["name"] == "onnxruntime")

    shown = json.loads(edgebench("show", run_id[:-3], "--json", out=out, check=True).stdout)
    for key in ("run_id", "status", "reason", "precision", "latency_ms", "throughput_ips", "load_s",
                "first_inference_ms", "memory", "artifact_bytes", "power", "thermal", "quality", "warnings"):
        assert key in shown, key
    assert shown["model"]["name"] == "tiny" and len(shown["model"]["sha256"]) == 64
    assert shown["backend"]["version"]
    assert shown["device"]["name"] == "host"
    assert set(shown["latency_ms"]) >= {"mean", "std", "min", "max", "p50", "p90", "p95", "p99", "n"}
    assert shown["memory"]["peak_rss_bytes"] > 0
    assert shown["power"]["energy_j"] is None and shown["power"]["reason"]
    assert "avx2" in " ".join(shown["environment"]["cpu"]["isa_features"]) or shown["environment"]["cpu"]

    exported = json.loads(edgebench("export", "--format", "json", out=out, check=True).stdout)
    assert len(exported) == 2
    csv_file = tmp_path / "runs.csv"
    edgebench("export", "--format", "csv", "-o", str(csv_file), out=out, check=True)
    assert "latency_ms.p50" in csv_file.read_text().splitlines()[0]
    parquet = tmp_path / "runs.parquet"
    edgebench("export", "--format", "parquet", "-o", str(parquet), out=out, check=True)
    assert parquet.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--model", "/nonexistent/m.onnx"], "does not exist"),
        (["run", "--model", "{tiny}", "--backend", "tensorflowz"], "expected a backend"),
        (["run", "--model", "{tiny}", "--precision", "int4"], "a precision"),
        (["run", "--model", "{tiny}", "--shape", "x=1x7"], "does not fit"),
        (["run", "--model", "{corrupt}"], "not a readable ONNX model"),
        (["run"], "nothing to run"),
        (["show", "nope"], "no run"),
    ],
)
def test_bad_input_gives_clear_error_and_nonzero_exit(tiny_onnx, tmp_path, args, expected):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x00garbage" * 64)
    argv = [a.format(tiny=tiny_onnx, corrupt=corrupt) for a in args]
    out = tmp_path / "out"
    if argv[0] == "show":
        edgebench("run", "--model", str(tiny_onnx), "--backend", "null", *FAST, out=out, check=True)
    done = edgebench(*argv, *(FAST if argv[0] == "run" and len(argv) > 1 else []), out=out)
    assert done.returncode != 0
    assert expected in (done.stderr + done.stdout), done.stderr[-2000:]


def test_unwritable_output_folder(tiny_onnx, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = edgebench("run", "--model", str(tiny_onnx), *FAST, out=blocker / "sub")
    assert done.returncode != 0
    assert "not writable" in done.stderr


def test_ctrl_c_keeps_finished_runs_and_stores_nothing_half_written(tiny_onnx, tmp_path):
    out = tmp_path / "out"
    suite = tmp_path / "s.yaml"
    suite.write_text(f"""
name: interrupt
runner: {{warmup: 0, min_iterations: 5, min_duration_s: 0, max_duration_s: 30, idle_s: 0}}
data: {{evaluation: 0}}
models: [{{path: {tiny_onnx}}}]
backends: [{{name: "null"}}, {{name: "tests.harness.faulty_backends:HangingBackend"}}]
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out),
                             "--plugin", "tests.harness.faulty_backends:HangingBackend"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # wait until the first (null) run is stored and the second one is hanging in load
    while time.monotonic() < deadline:
        db = out / "edgebench.sqlite"
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    if con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1:
                        break
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "1 finished run(s) are saved" in stderr
    listed = json.loads(edgebench("list", "--json", out=out, check=True).stdout)
    assert [r["backend"]["name"] for r in listed] == ["null"]
    assert listed[0]["status"] == "ok"


def test_help_lists_the_contract_commands():
    done = edgebench("--help", check=True)
    for command in ("run", "list", "show", "export", "backends", "devices"):
        assert command in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("onnx2tf") is None,
                    reason="onnx2tf not installed ('convert' extra)")
def test_litert_conversion_with_a_relative_out_through_a_symlink_with_spaces(tmp_path):
    """`make bench` uses the relative default `out`: the onnx2tf child (cwd = its scratch folder) must still
    find its job. Relative --out, a space in every folder name, a symlink, and a second cwd."""
    from tests.conftest import build_tiny_onnx

    work, real_out, elsewhere = tmp_path / "work dir", tmp_path / "real out", tmp_path / "else where"
    for folder in (work / "model dir", real_out, elsewhere):
        folder.mkdir(parents=True)
    build_tiny_onnx(work / "model dir" / "tiny.onnx")
    (work / "link to out").symlink_to(real_out, target_is_directory=True)
    args = ("run", "--model", "model dir/tiny.onnx", "--backend", "litert", "--precision", "fp32", *FAST, "--json")
    first = edgebench(*args, "--out", "link to out", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    [record] = json.loads(first.stdout)
    assert record["status"] == "ok", record["reason"]
    assert record["executed_precision"]["precision"] == "fp32"
    assert list(real_out.rglob("*.tflite")), "the converted model is cached under the real output folder"
    # From another folder, the same store through a relative path: the cached conversion is reused.
    second = edgebench("run", "--model", "../work dir/model dir/tiny.onnx", "--backend", "litert", "--precision",
                       "fp32", *FAST, "--json", "--out", "../work dir/link to out", cwd=elsewhere)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout)[0]["status"] == "ok"
    listed = json.loads(edgebench("list", "--json", "--out", "../work dir/link to out", cwd=elsewhere,
                                  check=True).stdout)
    assert len(listed) == 2
