"""Markdown output is inert (issue 15): user and model text cannot inject HTML (renderers pass raw HTML
through) or break a table row with a pipe."""

from __future__ import annotations

from reports import markdown
from results.compare import compare
from tests.reports.conftest import make_record

HOSTILE = "<script>alert(1)</script>|<img src=x onerror=alert(2)>"


def _records():
    return [make_record(model=HOSTILE, backend="onnxruntime", precision="fp32", sqnr_db=40.0),
            make_record(model=HOSTILE, backend="onnxruntime", precision="int8", sqnr_db=30.0),
            make_record(model=HOSTILE, precision="fp16", status="failed", reason="boom <b>bold</b> | pipe")]


def _no_raw_html(text: str) -> None:
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text


def test_report_markdown_escapes_html_and_pipes():
    text = markdown.render(_records(), title=f"title {HOSTILE}")
    _no_raw_html(text)
    for line in text.splitlines():
        if line.startswith("|") and "script" in line:
            assert "\\|&lt;img" in line  # the pipe inside the name is escaped, not a new cell


def test_compare_markdown_escapes_html_and_pipes():
    base = _records()[:2]
    new = [make_record(model=HOSTILE, precision=p, p50_ms=12.0, sqnr_db=35.0) for p in ("fp32", "int8")]
    text = markdown.render_comparison(compare(base, new, base_label=HOSTILE, new_label="new <i>"))
    _no_raw_html(text)
    assert "<i>" not in text
