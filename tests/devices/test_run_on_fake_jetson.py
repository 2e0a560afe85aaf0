"""A full ``edgebench run --device jetson`` on a FAKE AGX Orin tree: real onnxruntime on a tiny
model, the INA3221 rails read from fake sysfs files, power and energy in the stored record."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.devices.fakes import fake_agx_orin_jp5
from tests.devices.test_cli import edgebench

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed"),
    # The runner makes its timing inputs with harness.data (issue 3); without it no run can finish.
    pytest.mark.skipif(importlib.util.find_spec("harness.data") is None,
                       reason="harness/data.py (input data, issue 3) is not in the tree yet"),
]


def test_run_on_fake_agx_orin_records_power_and_energy(tmp_path, tiny_onnx):
    root = tmp_path / "fake-agx-orin"
    root.mkdir()
    board = fake_agx_orin_jp5(root)
    done = edgebench("run", "--model", str(tiny_onnx), "--backend", "onnxruntime", "--device", "jetson",
                     "--min-duration", "0.2", "--min-iterations", "10", "--warmup", "2", "--evaluation", "0",
                     "--json", fs_root=root, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)[0]
    assert record["status"] == "ok", record["reason"]
    assert record["device"]["name"] == "jetson"
    assert record["device"]["jetson"]["l4t"]["l4t"] == "35.4.1"

    power = record["power"]
    n = record["latency_ms"]["n"]
    assert power["source"] == "ina3221" and power["reason"] is None
    # The fake's rails draw a constant power: the figures follow from its files whatever the timing.
    assert power["mean_w"] == pytest.approx(board.total_w, rel=1e-6)
    assert power["peak_w"] == pytest.approx(board.total_w, rel=1e-6)
    assert power["idle_w"] == pytest.approx(board.total_w, rel=1e-6)
    assert power["energy_j"] == pytest.approx(board.total_w * power["window_s"], rel=1e-6)
    assert power["energy_per_inference_mj"] == pytest.approx(power["energy_j"] / n * 1000, rel=1e-9)
    assert power["sample_hz"] > 0
    # 0.2 s asked, but 10 INA3221 updates (~0.1 s each) are needed: the runner lengthened the window.
    assert power["window_s"] >= 10 * power["update_period_s"] * 0.99
    assert record["thermal"]["start_c"] == pytest.approx(41.437)
    assert record["thermal"]["throttled"] is False  # the Orin over-current counters did not move

    shown = edgebench("show", record["run_id"], "--json", fs_root=root, tmp=tmp_path)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    stored = stored[0] if isinstance(stored, list) else stored
    assert stored["power"]["energy_j"] == pytest.approx(power["energy_j"])
