"""DNSMOS P.835 with a FAKE sig_bak_ovr.onnx of the right signature: tiling, segments, polynomials, labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.quality import QualityError
from harness.quality import dnsmos as D
from tests.harness.quality.quality_fakes import build_fake_dnsmos, needs_ort


@pytest.mark.parametrize(
    ("n_samples", "starts"),
    [(144160, [0]), (160000, [0]), (168000, [0]), (176000, [0, 16000]), (16000 * 12, [0, 16000, 32000])],
)
def test_segment_starts(n_samples, starts):
    # the count follows the whole seconds of the clip, as the reference script's does
    assert D.segment_starts(n_samples) == starts


def test_tile_repeats_whole_copies():
    x = np.arange(50000, dtype=np.float32)
    t = D.tile(x)
    assert t.size == 200000 and np.array_equal(t[50000:100000], x)
    assert D.tile(np.arange(100000)).size == 200000
    assert D.tile(np.zeros(150000)).size == 150000
    with pytest.raises(QualityError):
        D.tile(np.zeros(0))


def _expected(audio: np.ndarray) -> dict[str, float]:
    """By hand: tile, cut 9.01 s segments 1 s apart, fake raw = (mean, max, min) + 3, polynomials, mean."""
    tiled = audio.astype(np.float32)
    while tiled.size < 144160:
        tiled = np.concatenate([tiled, tiled])
    n_seg = int(np.floor(tiled.size / 16000) - 9.01) + 1
    per = {"sig": [], "bak": [], "ovrl": []}
    for k in range(n_seg):
        seg = tiled[k * 16000: k * 16000 + 144160]
        raw = {"sig": seg.mean() + 3, "bak": seg.max() + 3, "ovrl": seg.min() + 3}
        coeffs = {"ovrl": (-0.06766283, 1.11546468, 0.04602535), "sig": (-0.08397278, 1.22083953, 0.0052439),
                  "bak": (-0.13166888, 1.60915514, -0.39604546)}
        for key, (a, b, c) in coeffs.items():
            per[key].append(a * raw[key] ** 2 + b * raw[key] + c)
    return {k: float(np.mean(v)) for k, v in per.items()} | {"n": n_seg}


@needs_ort
@pytest.mark.parametrize("seconds", [3.0, 12.5])
def test_fake_model_scores_follow_tiling_and_polynomials(tmp_path, seconds):
    model = D.DnsMos(build_fake_dnsmos(tmp_path / "FAKE_sig_bak_ovr.onnx"))
    n = int(seconds * 16000)
    audio = (0.5 * np.sin(np.linspace(0, 40 * np.pi, n)) * np.linspace(0.1, 1.0, n)).astype(np.float32)
    res = model.score(audio)
    exp = _expected(audio)
    assert res["n_segments"] == exp["n"] and res["tiled"] is (seconds < 9.01)
    for key in ("sig", "bak", "ovrl"):
        assert res[f"mos_lqo_{key}"] == pytest.approx(exp[key], rel=1e-5)
    assert res["label"] == "MOS-LQO" and "mos" not in res  # never plain "MOS"
    json.dumps(res, allow_nan=False)


@needs_ort
def test_resampled_and_file_input(tmp_path):
    from scipy.io import wavfile

    model = D.DnsMos(build_fake_dnsmos(tmp_path / "FAKE_sig_bak_ovr.onnx"))
    samples = (8000 * np.sin(np.linspace(0, 300, 48000 * 2))).astype(np.int16)
    wavfile.write(tmp_path / "x.wav", 48000, samples)
    with pytest.warns(UserWarning, match="resampling 48000 Hz"):
        res = model.score_file(tmp_path / "x.wav")
    assert res["resampled_from_hz"] == 48000 and res["duration_s"] == pytest.approx(2.0)
    ds = D.dataset_score([res, res])
    assert ds["mos_lqo_n_clips"] == 2 and ds["mos_lqo_label"] == "MOS-LQO"


@needs_ort
def test_missing_or_wrong_model(tmp_path):
    with pytest.raises(QualityError, match=r"sig_bak_ovr\.onnx"):
        D.DnsMos(tmp_path / "nope.onnx")
    with pytest.raises(QualityError, match=r"expected one input input_1 \[1, 144160\]"):
        D.DnsMos(build_fake_dnsmos(tmp_path / "FAKE_wrong.onnx", input_name="audio"))
    with pytest.raises(QualityError, match="144160"):
        D.DnsMos(build_fake_dnsmos(tmp_path / "FAKE_short.onnx", length=16000))
