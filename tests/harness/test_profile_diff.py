"""``edgebench profile-diff`` on two stored runs, its bad input, and ``export --profiles``."""

from __future__ import annotations

import csv
import io
import json

import pytest

from harness.cli import main
from results.profile import normalise
from results.schema import RunRecord
from results.stats import summarize
from results.store import ResultStore
from tests.results.profile_samples import NODES, raw_fp32, raw_int8


def _store(tmp_path, with_profiles: bool = True) -> None:
    def record(run_id: str, precision: str, p50: float, raw: dict) -> RunRecord:
        profile = normalise(raw, model_nodes=NODES, requested_precision=precision) if with_profiles else None
        return RunRecord(run_id=run_id, status="ok", precision=precision, model={"name": "m"},
                         backend={"name": "onnxruntime"}, device={"name": "host"},
                         latency_ms=summarize([p50] * 10), profile=profile)

    with ResultStore(tmp_path / "edgebench.sqlite") as store:
        store.save(record("20260101T000000-aaaaaaaa", "fp32", 10.0, raw_fp32()))
        store.save(record("20260101T000001-bbbbbbbb", "int8", 17.0, raw_int8()))


def test_profile_diff_explains_the_slowdown(tmp_path, capsys):
    _store(tmp_path)
    assert main(["profile-diff", "20260101T000000", "20260101T000001", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("int8 on onnxruntime vs fp32 on onnxruntime is 1.70× slower: 20 ")
    assert "take 50% of the time" in first and "attention MatMul nodes (dec) ran in fp32" in first
    assert "module" in out and "dec" in out and "×2.10" in out and " new " in out
    assert "top contributors to a slowdown):" in out and "  DequantizeLinear: +" in out
    assert "quantize/dequantize/convert: A 0 nodes" in out


def test_profile_diff_json(tmp_path, capsys):
    _store(tmp_path)
    assert main(["profile-diff", "20260101T000000", "20260101T000001", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["latency_ratio"] == pytest.approx(1.7) and data["quantize"]["b"]["count"] == 20
    assert data["explanation"].startswith("int8 on onnxruntime vs fp32 on onnxruntime is 1.70× slower")


@pytest.mark.parametrize("args, expected", [
    (["nope", "20260101T000001"], "no run matches 'nope'"),
    (["20260101T000000", "20260101T000001"], "has no profile: re-run that configuration with"),
])
def test_profile_diff_bad_input_exits_2_with_the_reason(tmp_path, capsys, args, expected):
    _store(tmp_path, with_profiles="no profile" not in expected)
    assert main(["profile-diff", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_export_profiles_as_csv_and_json(tmp_path, capsys):
    _store(tmp_path)
    assert main(["export", "--format", "csv", "--profiles", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6 + 25 and {r["precision"] for r in rows} == {"fp32", "int8"}
    assert {"run_id", "node", "op_type", "source_nodes", "module", "category", "executed_precision", "time_ms",
            "share_pct"} <= set(rows[0])
    assert main(["export", "--format", "json", "--profiles", "--precision", "int8", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 25 and sum(r["category"] == "quantize" for r in data) == 20


def test_show_summarises_the_profile_rows(tmp_path, capsys):
    _store(tmp_path)
    assert main(["show", "20260101T000001", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "profile.by_module.dec.share_pct" in out
    assert "profile.rows" in out and "25 nodes: 'edgebench show 20260101T000001-bbbbbbbb --json'" in out
    assert "dec/attn/q0/QuantizeLinear" not in out  # the node rows themselves are not dumped in the text view
