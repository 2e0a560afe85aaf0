"""Open the report in headless Chromium: the page renders (non-blank screenshot) and the table is in the DOM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reports import html as report_html
from tests.reports.conftest import make_record

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser")
                             or "") if p and Path(p).exists()), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium'; "
                                                "scripts/install-system-deps.sh installs it)"),
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    records = [
        make_record(precision="fp32", p50_ms=12.0),
        make_record(precision="int8-dynamic", p50_ms=6.0, sqnr_db=31.0, artifact_bytes=1_000_000),
        make_record(backend="openvino", precision="fp32", p50_ms=9.0),
        make_record(backend="openvino", precision="fp16", status="failed", reason="compile: unsupported op"),
    ]
    path = tmp_path_factory.mktemp("browser") / "report.html"
    report_html.render(records, None, path)
    return records, path


def test_report_renders_in_headless_chromium(report, tmp_path):
    from matplotlib.image import imread

    _, path = report
    png = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={png}", path.as_uri())
    assert png.exists(), f"no screenshot: {proc.stderr[-2000:]}"
    pixels = imread(png)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1200
    non_white = np.mean(np.any(pixels < 0.94, axis=-1))
    assert non_white > 0.05, f"page looks blank: only {non_white:.1%} non-white pixels"
    # several colours (badges, bars), not a one-colour error page
    rgb = (pixels * 255).astype(np.uint32).reshape(-1, 3)
    assert np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]).size > 50


def test_dom_holds_the_matrix_and_charts(report, tmp_path):
    records, path = report
    proc = _chromium(tmp_path, "--dump-dom", path.as_uri())
    dom = proc.stdout
    assert '<table class="matrix">' in dom
    for r in records:
        assert f'data-run-id="{r.run_id}"' in dom
    assert dom.count("<svg") >= 4
    assert "Ship int8-dynamic on onnxruntime" in dom.replace("<strong>", "").replace("</strong>", "")
