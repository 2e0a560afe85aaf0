"""A fleet's report: grouped by device, and an at-a-glance answer per model across devices."""

from __future__ import annotations

from reports import html as report_html
from reports import markdown
from reports.model import build
from reports.recommend import across_devices, recommend
from tests.reports.conftest import make_record


def fleet_records():
    return [
        # interleaved in time, as a fleet run stores them
        make_record(device="pi5-a", precision="fp32", p50_ms=40.0),
        make_record(device="orin-1", precision="fp32", p50_ms=10.0),
        make_record(device="pi5-a", precision="int8", p50_ms=20.0, sqnr_db=30.0),
        make_record(device="orin-1", precision="int8", p50_ms=5.0, sqnr_db=30.0),
        make_record(device="orin-1", model="decoder", precision="fp32", status="failed", reason="out of memory"),
        make_record(device="pi5-a", model="decoder", precision="fp32", p50_ms=90.0),
    ]


def test_best_device_runtime_precision_per_model():
    records = fleet_records()
    across = {a.model: a for a in across_devices(recommend(records), records)}
    enc = across["tiny-encoder"]
    assert (enc.best_device, enc.best.label) == ("orin-1", "int8 on onnxruntime")
    assert "than the next device's pick (int8 on onnxruntime on pi5-a)" in enc.reason
    assert dict((d, v.label if v else None) for d, v in enc.picks) == {"pi5-a": "int8 on onnxruntime",
                                                                        "orin-1": "int8 on onnxruntime"}
    dec = across["decoder"]  # only the Pi ran it
    assert dec.best_device == "pi5-a" and "the only device" in dec.reason


def test_a_tie_within_the_noise_goes_to_less_memory_and_no_pick_is_said():
    records = [make_record(device="a", p50_ms=10.0, peak_rss_bytes=300_000_000),
               make_record(device="b", p50_ms=10.0, peak_rss_bytes=100_000_000),
               make_record(device="a", model="m2", status="failed", reason="crash")]
    across = {a.model: a for a in across_devices(recommend(records), records)}
    assert across["tiny-encoder"].best_device == "b" and "with less memory" in across["tiny-encoder"].reason
    assert across["m2"].best is None and "no device has a recommended configuration" in across["m2"].reason


def test_report_groups_by_device_and_shows_the_answer(tmp_path):
    records = fleet_records()
    model = build(records, charts=False)
    assert [(g.device, g.model) for g in model.groups] == [
        ("pi5-a", "tiny-encoder"), ("pi5-a", "decoder"), ("orin-1", "tiny-encoder"), ("orin-1", "decoder")]
    md = markdown.render_model(model)
    assert "best device × runtime × precision per model" in md
    assert "| tiny-encoder | **int8 on onnxruntime** on **orin-1** |" in md
    # columns follow the devices, whatever order each model's records came in
    assert "| pi5-a: its own pick | orin-1: its own pick |" in md
    assert md.count("| fp32 on onnxruntime | none recommended |") == 1  # decoder: pi5-a picked, orin-1 failed
    report_html.render(records, {}, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "Best device × runtime × precision per model" in page and "orin-1: its own pick" in page


def test_one_device_report_has_no_cross_device_table():
    model = build([make_record(), make_record(precision="int8", p50_ms=5.0, sqnr_db=30.0)], charts=False)
    assert model.across == []
    assert "best device" not in markdown.render_model(model)
