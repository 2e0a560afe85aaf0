"""The pipelines part of reports, from constructed records: the fastest configuration that meets
the quality floor (step count included), the steps-sweep chart, the terminal table, and pipeline
records kept out of the single-model matrix."""

from __future__ import annotations

from reports import pipelines as pl
from reports.markdown import render as render_md
from reports.model import build
from reports.table import pipeline_table
from results.schema import RunRecord
from tests.reports.conftest import make_record


def _pipe(precision: str, steps: int, generation_s: float, sqnr: float | None, resident: str = "all",
          status: str = "ok") -> RunRecord:
    r = make_record(model="gen", precision=precision, p50_ms=generation_s * 1e3, n=5, sqnr_db=sqnr, status=status,
                    reason=None if status == "ok" else "stage denoiser: boom")
    stages = {"encoder": {"calls": 1, "share_pct": 10.0, "p50_ms": 5.0, "precision": precision,
                          "backend": "onnxruntime"},
              "denoiser": {"calls": steps, "share_pct": 80.0, "p50_ms": 20.0, "precision": precision,
                           "backend": "onnxruntime"}}
    r.pipeline = {"name": "gen", "steps": steps, "chunks": 1, "media_s": 2.0, "resident": resident,
                  "generation_s": generation_s, "rtf": generation_s / 2.0, "x_realtime": 2.0 / generation_s,
                  "first_chunk_s": generation_s, "stages": stages, "stage_load_pct": 0.0, "overhead_pct": 10.0,
                  "step_ms": {"p50": 20.0, "p90": 22.0, "n": 3 * steps}, "peak_rss_bytes": 100 << 20,
                  "generations": 3} if status == "ok" else {"name": "gen", "steps": steps, "resident": resident}
    if sqnr is not None:
        r.quality["reference"] = {"steps": 30}
    return r


def _records() -> list[RunRecord]:
    return [_pipe("fp32", 30, 3.0, 100.0), _pipe("fp32", 10, 1.2, 28.0), _pipe("int8", 10, 0.8, 18.0),
            _pipe("int8", 20, 1.1, 24.0), _pipe("int8", 30, 1.6, 26.0), _pipe("fp16", 10, 0.5, None),
            _pipe("int8", 5, 0.0, None, status="failed")]


def test_fastest_configuration_meeting_the_floor_includes_the_step_count():
    recs = _records()
    best, verdicts = pl.recommend(recs, floor_db=20.0)
    assert best is recs[3]  # int8 at 20 steps: int8 at 10 is faster but under the floor, fp16 is not scored
    assert "below the floor" in verdicts[recs[2].run_id]
    assert "not scored" in verdicts[recs[5].run_id]
    assert verdicts[recs[6].run_id].startswith("failed")
    assert "slower than the recommended" in verdicts[recs[1].run_id]
    group = pl.build(recs, 20.0, charts=False)[0]
    assert "int8 at 20 steps" in group.headline and "RTF 0.55" in group.headline
    assert pl.recommend(recs, floor_db=200.0)[0] is None


def test_report_has_a_pipeline_section_and_no_pipeline_rows_in_the_model_matrix():
    recs = [*_records(), make_record(model="tiny-encoder", precision="fp32", sqnr_db=None)]
    model = build(recs)
    assert [g.model for g in model.groups] == ["tiny-encoder"]
    (pg,) = model.pipelines
    assert len(pg.rows) == 7 and {c.key for c in pg.charts} == {"steps-sweep", "stage-shares"}
    sweep = next(c for c in pg.charts if c.key == "steps-sweep")
    assert sweep.svg and "inference steps" in sweep.svg
    md = render_md(recs)
    assert "## Pipeline gen on host" in md and "x real time" in md and "denoiser 80%" in md


def test_steps_sweep_without_finished_runs_says_why():
    model = build([_pipe("int8", 5, 0.0, None, status="failed")])
    chart = next(c for c in model.pipelines[0].charts if c.key == "steps-sweep")
    assert chart.svg is None and "no pipeline configuration finished" in chart.na


def test_terminal_table_shows_time_rtf_and_stage_shares():
    text = pipeline_table(_records())
    assert "RTF" in text and "x real time" in text and "denoiser 80%" in text
    assert "failed: stage denoiser: boom" in text


def test_config_key_keeps_every_step_count_of_a_sweep():
    a, b = _pipe("int8", 10, 1.0, 20.0), _pipe("int8", 20, 1.0, 20.0)
    assert a.config_key() != b.config_key()
    assert _pipe("int8", 10, 1.0, 20.0, resident="staged").config_key() != a.config_key()


def test_config_key_tells_stage_overrides_and_reference_steps_apart():
    a = _pipe("int8", 10, 1.0, 20.0)
    mixed = _pipe("int8", 10, 1.0, 20.0)
    mixed.pipeline["stages"]["encoder"]["precision"] = "fp32"  # the encoder kept in fp32
    assert mixed.config_key() != a.config_key() and "encoder=fp32" in mixed.config_key()[0]
    other_backend = _pipe("int8", 10, 1.0, 20.0)
    other_backend.pipeline["stages"]["denoiser"]["backend"] = "openvino"
    assert other_backend.config_key() != a.config_key()
    ref20 = _pipe("int8", 10, 1.0, 20.0)
    ref20.quality["reference"] = {"steps": 20}
    assert ref20.config_key() != a.config_key()
    failed = _pipe("int8", 10, 0.0, None, status="failed")
    failed.pipeline["reference_steps"] = 30  # a failed run keeps the reference's steps from its plan
    assert "reference 30 steps" in failed.config_key()[0] and "reference 30 steps" in a.config_key()[0]
