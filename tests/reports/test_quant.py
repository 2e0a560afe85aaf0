"""The quantization section of reports: recipes, int8 compute counts, int8-auto tables, tune fronts."""

from __future__ import annotations

from reports import markdown, quant
from reports import model as rm
from tests.reports.conftest import make_record

ORT_RECIPE = {"tool": "onnxruntime.quantization", "format": "QDQ", "per_channel": True, "activation_type": "QUInt8",
              "weight_type": "QInt8", "reduce_range": False, "calibrate_method": "MinMax",
              "preprocess": {"done": True}, "op_types": ["Conv", "MatMul"]}
AUTO = {"floor": "sqnr_db >= 25", "met": True, "keep_float": ["upsampler"], "seconds": 12.5, "note": None,
        "suite_snippet": '- {name: int8-mixed, keep_float: ["upsampler/*"]}',
        "sensitivity": [{"module": "encoder", "only_quantized": 54.1, "only_float": 18.9, "gain_if_float": 0.05,
                         "seconds": 2.0},
                        {"module": "upsampler", "only_quantized": 19.8, "only_float": 25.3, "gain_if_float": 6.4,
                         "seconds": 2.1}]}


def _int8(precision: str = "int8", **kw):
    r = make_record(precision=precision, p50_ms=6.0, sqnr_db=30.0, **kw)
    r.artifact = {"metadata": {"recipe": ORT_RECIPE, "compute_nodes": {"quantized": 67, "total": 74}}}
    return r


def test_recipe_and_int8_compute_are_shown():
    section = quant.build([make_record(), _int8()])
    assert [r.config for r in section.recipes] == ["onnxruntime · int8"]
    text = section.recipes[0].recipe
    assert "static QDQ" in text and "per-channel" in text and "U8S8" in text and "pre-processed" in text
    assert section.recipes[0].compute == "67 of 74 compute nodes int8"
    assert quant.compute_text(None).startswith("n/a (")


def test_int8_auto_table_snippet_and_chart_in_reports():
    auto = _int8("int8-auto")
    auto.extra["int8_auto"] = AUTO
    text = markdown.render([make_record(), auto])
    assert "int8-auto, onnxruntime · int8-auto" in text and "| upsampler | 19.8 | 25.3 | 6.40 | 2.10 s |" in text
    assert '- {name: int8-mixed, keep_float: ["upsampler/*"]}' in text
    model = rm.build([make_record(), auto])
    assert any(c.key == "sensitivity" and c.svg for c in model.groups[0].charts)


def _tuned(label: str, p50: float, sqnr: float, size: int, status: str = "ok"):
    r = make_record(precision="int8", p50_ms=p50, sqnr_db=sqnr, artifact_bytes=size, status=status,
                    reason=None if status == "ok" else "onnxruntime rejected the recipe")
    r.extra["tune"] = {"label": label, "metric": "sqnr_db", "floor": "sqnr_db >= 25", "op": ">=", "threshold": 25.0,
                       "recipe_text": label}
    return r


def test_tune_front_and_fastest_meeting_the_floor():
    runs = [_tuned("fast-bad", 4.0, 15.0, 100), _tuned("mid-good", 6.0, 30.0, 100),
            _tuned("slow-better", 9.0, 40.0, 100), _tuned("dominated", 9.5, 29.0, 120),
            _tuned("rejected", 1.0, 0.0, 1, status="failed")]
    section = quant.build([], runs)
    rows = {t.recipe: t for t in section.tune}
    assert rows["fast-bad"].on_front and rows["mid-good"].on_front and rows["slow-better"].on_front
    assert not rows["dominated"].on_front and rows["rejected"].status == "failed"
    assert [t.recipe for t in section.tune if t.fastest_meeting_floor] == ["mid-good"]
    assert section.headline.startswith("fastest recipe meeting sqnr_db >= 25: onnxruntime · mid-good")
    text = "\n".join(markdown._quant_lines(section))
    assert "**fastest meeting the floor**" in text and "failed: onnxruntime rejected the recipe" in text
    chart = next(c for c in rm.build(runs).groups[0].charts if c.key == "tune")
    assert chart.svg and "Pareto front" in chart.svg


def test_no_recipe_meets_the_floor_is_said():
    section = quant.build([], [_tuned("a", 4.0, 15.0, 100), _tuned("b", 5.0, 20.0, 100)])
    assert section.headline == "no tried recipe meets sqnr_db >= 25"
    assert not any(t.fastest_meeting_floor for t in section.tune)
