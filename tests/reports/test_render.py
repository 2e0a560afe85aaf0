"""The HTML report parses and holds the matrix, the charts and every n/a with its reason;
the Markdown summary and the terminal table say the same things in their own form."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from reports import html as report_html
from reports import markdown, table
from reports.model import build
from results.compare import compare
from tests.reports.conftest import make_record


class _Collector(HTMLParser):
    """Just enough of the DOM for the tests: tags, attributes, text, and the matrix rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.row_ids: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "tr" and "data-run-id" in a:
            self.row_ids.append(a["data-run-id"])
        if tag not in ("br", "meta", "img", "input", "hr", "link"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.text.append(data)


def _parse(text: str) -> _Collector:
    p = _Collector()
    p.feed(text)
    p.close()
    return p


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from tests.reports.conftest import matrix_records

    records = matrix_records.__wrapped__() if hasattr(matrix_records, "__wrapped__") else None
    if records is None:  # pytest wraps fixtures; the plain function is kept on the definition
        records = matrix_records.__pytest_wrapped__.obj()
    path = tmp_path_factory.mktemp("report") / "report.html"
    text = report_html.render(records, None, path)
    return records, text, path


def test_report_is_written_and_parses_with_one_row_per_run(rendered):
    records, text, path = rendered
    assert path.read_text() == text
    doc = _parse(text)
    assert sorted(doc.row_ids) == sorted(r.run_id for r in records)
    assert ("table", {"class": "matrix"}) in doc.tags
    assert not doc.stack or doc.stack == []  # every element closed


def test_report_has_the_charts_as_inline_svg(rendered):
    _, text, _ = rendered
    figures = re.findall(r'<figure class="chart( na)?" id="([^"]+)"', text)
    keys = {fid.rsplit("-", 1)[-1] for _, fid in figures}
    assert {"latency", "distribution", "pareto", "energy", "memory", "per_module"} <= keys
    drawn = [fid for na, fid in figures if not na]
    assert len(drawn) >= 5
    assert text.count("<svg") == len(drawn)
    # ids inside the SVGs must not clash between charts (clip paths would cross-wire)
    ids = re.findall(r'\sid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', text):  # every reference points at an existing id
        assert ref in ids


def test_report_is_self_contained(rendered):
    _, text, _ = rendered
    assert "<script" not in text.lower()
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "@media print" in text


def test_every_unavailable_figure_says_why(rendered):
    _, text, _ = rendered
    plain = re.sub(r"<[^>]+>", " ", text)
    assert "n/a (no power sensor on this machine)" in plain
    assert "n/a for every run (no thermal zone readable)" in plain
    assert "n/a: no run carries per-module scores" in plain
    # a missing figure is never shown as a bare zero
    assert not re.search(r"<td class=\"num[^\"]*\">0(\.0+)?( [a-zA-Z/]+)?</td>", text)


def test_unreliable_p99_is_marked(rendered):
    records, text, _ = rendered
    assert all("p99" in r.latency_ms["unreliable"] for r in records if r.status == "ok")
    assert text.count('class="num unreliable"') == sum(r.status == "ok" for r in records)
    assert "unreliable: a p99 from fewer than" in text


def test_recommendation_reasons_and_rules_are_in_the_report(rendered):
    records, text, _ = rendered
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
    assert "Ship int8-dynamic on onnxruntime" in plain
    fp32, int8 = (next(r for r in records if r.backend["name"] == "onnxruntime" and r.precision == p)
                  for p in ("fp32", "int8"))
    assert f"{int8.latency_ms['p50'] / fp32.latency_ms['p50']:.2f}× slower than fp32 on the same backend" in plain
    assert "fails gate sqnr_db" in plain
    assert "How the recommendation is made" in plain and "SQNR ≥ 25 dB" in plain
    assert "compile: unsupported op LayerNormalization" in plain  # failed runs listed with their reason


def test_provenance_is_shown(rendered):
    _, text, _ = rendered
    for needle in ("Test CPU", "avx2", "onnxruntime", "1.31.0", "commit abc1234", "suite unit"):
        assert needle in text


def test_a_chart_without_data_is_a_sentence_not_an_empty_figure():
    records = [make_record(precision="fp32", with_samples=False), make_record(precision="int8", p50_ms=5.0,
                                                                            with_samples=False)]
    text = report_html.render(records)
    assert "n/a: no per-iteration latency samples stored" in text
    assert "n/a: no run has a fidelity score (not scored)" in text
    assert "n/a: no energy figures: no power sensor on this machine" in text


def test_quality_columns_appear_when_present_and_per_module_chart_is_drawn():
    q = {"sqnr_db": 30.0, "lse_d": 7.1, "lse_c": 6.9, "mos": 4.1,
         "per_module": {"audio_encoder": 35.0, "denoiser": 24.0, "decoder": 31.0}}
    records = [make_record(precision="fp32"), make_record(precision="int8", p50_ms=5.0, quality=q)]
    model = build(records)
    keys = [c.key for c in model.groups[0].columns]
    assert {"lse_d", "lse_c", "mos"} <= set(keys)
    chart = next(c for c in model.groups[0].charts if c.key == "per_module")
    assert chart.svg and "denoiser" in chart.svg


def test_markdown_has_the_matrix_rows_and_the_recommendation(rendered):
    records, _, _ = rendered
    text = markdown.render(records)
    assert "**Ship int8-dynamic on onnxruntime.**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and " · " in line.split("|")[1]]
    assert len(rows) == len(records)
    assert "n/a (no power sensor on this machine)" in text
    assert "| openvino · fp16 | not recommended | failed | failed: compile" in text


@pytest.mark.parametrize("width", [50, 80, 120, 200])
def test_terminal_table_fits_the_width_and_keeps_status(rendered, width):
    records, _, _ = rendered
    text = table.summary_table(records, width=width)
    lines = text.splitlines()
    body = [line for line in lines if not line.startswith("~ ")]
    assert max(len(line) for line in body) <= width
    assert "status" in lines[0]
    assert sum("fail" in line or "skip" in line for line in body) >= 2


def test_terminal_table_marks_unreliable_p99(rendered):
    records, _, _ = rendered
    text = table.summary_table(records, width=200, with_ids=True)
    assert "~" in text and "indicative only" in text
    assert records[0].run_id in text


def test_comparison_renders_in_html_and_markdown(tmp_path):
    base = [make_record(precision="fp32", p50_ms=10.0, seed=1)]
    new = [make_record(precision="fp32", p50_ms=11.0, seed=2)]
    result = compare(base, new, thresholds="p50:5%", base_label="v1", new_label="v2")
    page = report_html.render_comparison(result, tmp_path / "cmp.html")
    doc = _parse(page)
    assert any(tag == "table" and a.get("class") == "compare" for tag, a in doc.tags)
    assert "badge regression" in page and "<svg" in page
    md = markdown.render_comparison(result)
    assert "**REGRESSION**" in md and "p50:5%" in md
    combined = report_html.render(base + new, comparison=result)
    assert 'id="compare"' in combined


def test_ratio_interval_text():
    from reports import fmt

    assert fmt.ratio_interval(1.3125, (1.2449, 1.391)) == "1.31× [1.24–1.39]"
    assert fmt.ratio_interval(0.9, None) == "0.90×"
    assert fmt.ratio_interval(None, (1, 2)) == "n/a"


def test_comparison_rows_show_the_ratio_with_its_interval_and_method():
    from reports.model import comparison_rows
    from results.compare import compare
    from results.stats import summarize_rounds
    from tests.reports.conftest import make_record

    drift = [1.0, 1.3, 0.9, 1.25, 1.1]
    base, new = make_record(precision="fp32"), make_record(precision="fp32")
    base.latency_ms = summarize_rounds([[10 * d, 10 * d * 1.01, 10 * d * 0.99] for d in drift])
    new.latency_ms = summarize_rounds([[8 * d, 8 * d * 1.01, 8 * d * 0.99] for d in drift])
    base.extra["rounds"] = new.extra["rounds"] = {"session": "s"}
    (row,) = comparison_rows(compare([base], [new]))
    assert row.ratio_ci == "0.80× [0.80–0.80] (paired rounds)"


def test_a_precision_mismatch_shows_in_the_table_html_and_markdown(tmp_path):
    from backends.base import executed_summary

    ok = make_record(backend="onnxruntime", precision="fp32", p50_ms=10.0)
    ok.executed_precision = executed_summary({"fp32": 3}, "nodes", "test")
    wrong = make_record(backend="openvino", precision="fp16", p50_ms=5.0, sqnr_db=40.0)
    wrong.executed_precision = executed_summary({"bf16": 3, "fp32": 1}, "layers", "test")
    text = table.summary_table([ok, wrong], width=200)
    assert "fp16 (ran bf16)" in text and "X (ran Y)" in text
    assert "fp32 (ran" not in text
    html = report_html.render([ok, wrong], None, tmp_path / "r.html")
    assert "fp16 (ran bf16)" in html and "runtime computed in Y" in html
    md = markdown.render([ok, wrong], None)
    assert "openvino · fp16 |" not in md and "openvino · fp16 (ran bf16)" in md


def test_reports_show_the_cpu_precision_features(tmp_path):
    r = make_record()
    r.environment = {"cpu": {"model": "Fake Xeon", "isa_features": ["avx2", "avx512_bf16"], "precision_features": {
        "arch": "x86", "features": {"AVX2": True, "VNNI": False, "BF16": True}, "native": ["fp32", "bf16"],
        "reason": None}}}
    old = make_record(device="old-board")  # recorded before the features were: said, not guessed
    html = report_html.render([r, old], None, tmp_path / "r.html")
    assert "AVX2 yes, VNNI no, BF16 yes; computes natively: fp32, bf16" in html
    assert "n/a (not recorded: the runs predate it)" in html
    assert "precision features: AVX2 yes" in markdown.render([r], None)
