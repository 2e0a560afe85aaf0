"""Where the time goes, in the report: module shares chart, op-type table (top 15, rest folded), and the diff
with its one-sentence explanation under a "not recommended because slower" verdict. Records without a
profile render as before: no profile section at all."""

from __future__ import annotations

import re

from reports import html as report_html
from reports import markdown
from reports.model import build
from results.profile import normalise
from tests.reports.conftest import make_record
from tests.results.profile_samples import NODES, raw_fp32, raw_int8


def _records(with_profiles: bool = True, wide: bool = False):
    fp32 = make_record(backend="onnxruntime", precision="fp32", p50_ms=10.0, sqnr_db=None)
    int8 = make_record(backend="onnxruntime", precision="int8", p50_ms=17.0, sqnr_db=35.0)
    ov = make_record(backend="openvino", precision="fp32", p50_ms=9.0)
    if with_profiles:
        fp32.profile = normalise(raw_fp32(), model_nodes=NODES, requested_precision="fp32", pass_overhead_pct=4.0)
        raw = raw_int8()
        if wide:  # more op types than the table shows
            raw["nodes"] += [{"name": f"dec/extra{i}", "op_type": f"Op{i}", "time_ms": 0.01, "executed_precision": None}
                             for i in range(20)]
        int8.profile = normalise(raw, model_nodes=NODES, requested_precision="int8", overhead_reason="test")
    return [fp32, int8, ov]


def test_slower_verdict_gets_the_diff_and_its_explanation():
    model = build(_records(), charts=False)
    gp = model.groups[0].profiles
    assert gp is not None and [c.label for c in gp.configs] == ["onnxruntime · fp32", "onnxruntime · int8"]
    assert len(gp.diffs) == 1
    d = gp.diffs[0]
    assert d.label == "int8 on onnxruntime" and d.base_label == "fp32 on onnxruntime" and d.slower
    assert re.match(r"int8 on onnxruntime is 1\.\d\d× slower: 20 \w+Linear/\w+Linear nodes take 50% of the time; "
                    r"1 attention MatMul nodes \(dec\) ran in fp32; most of the added time is in dec", d.explanation)


def test_markdown_has_shares_op_types_and_the_explanation():
    text = markdown.render(_records(wide=True))
    assert "### Where the time goes" in text
    assert "| onnxruntime · fp32 | 37.5% | 62.5% |" in text or "| onnxruntime · fp32 | 62.5% | 37.5% |" in text
    assert "#### Why int8 on onnxruntime is slower than fp32 on onnxruntime" in text
    assert "nodes take 50% of the time" in text
    assert "… 12 more op types" in text  # 27 op types in the int8 profile: 15 shown, the rest folded
    assert "pass overhead +4.0% per inference" in text and "pass overhead n/a (test)" in text


def test_html_has_the_stacked_bar_and_the_diff(tmp_path):
    text = report_html.render(_records(), None, tmp_path / "r.html")
    assert 'class="profiles"' in text and "Where the time goes: share of profiled time per module" in text
    assert "<svg" in text.split('class="profiles"', 1)[1]
    assert "Why int8 on onnxruntime is slower than fp32 on onnxruntime" in text
    assert "nodes take 50% of the time" in text


def test_a_faster_int8_is_explained_too(tmp_path):
    fp32 = make_record(backend="onnxruntime", precision="fp32", p50_ms=17.0, sqnr_db=None)
    int8 = make_record(backend="onnxruntime", precision="int8", p50_ms=10.0, sqnr_db=35.0)
    fp32.profile = normalise(raw_fp32(), model_nodes=NODES, requested_precision="fp32", pass_overhead_pct=4.0)
    int8.profile = normalise(raw_int8(), model_nodes=NODES, requested_precision="int8", overhead_reason="test")
    records = [fp32, int8]
    gp = build(records, charts=False).groups[0].profiles
    assert gp is not None and len(gp.diffs) == 1 and not gp.diffs[0].slower
    text = markdown.render(records)
    assert "#### What changes from fp32 on onnxruntime to int8 on onnxruntime" in text
    assert "Why int8 on onnxruntime is slower" not in text


def test_records_without_a_profile_render_as_before(tmp_path):
    plain = _records(with_profiles=False)
    model = build(plain, charts=False)
    assert all(g.profiles is None for g in model.groups)
    text = markdown.render(plain)
    assert "Where the time goes" not in text
    html = report_html.render(plain, None, tmp_path / "r.html")
    assert 'class="profiles"' not in html and "Where the time goes" not in html


def test_a_profile_that_could_not_be_taken_says_why():
    records = _records()
    records[1].profile = normalise({"source": "litert", "reason": "no benchmark_model binary", "nodes": []})
    text = markdown.render(records)
    assert "profile n/a (no benchmark_model binary)" in text
    assert "no explanation (no profile to compare (B: no benchmark_model binary))" in text


def test_terminal_sentences_for_slower_profiled_runs():
    from reports.profile import slowdown_sentences

    lines = slowdown_sentences(_records())
    assert len(lines) == 1 and lines[0].startswith("tiny-encoder: int8 on onnxruntime is 1.")
    assert slowdown_sentences(_records(with_profiles=False)) == []


def test_the_slower_verdict_is_recognised_with_and_without_its_interval():
    from reports.profile import SLOWER_VERDICT

    assert SLOWER_VERDICT.search("1.30× slower [1.10–1.50] than fp32 on the same backend: quantization costs time")
    assert SLOWER_VERDICT.search("1.69× slower than fp32 on the same backend: quantization costs time here")
    assert not SLOWER_VERDICT.search("SQNR 12.0 dB is below the 20 dB floor; 1.2× faster than fp32")
