"""Fidelity metrics against closed forms and independent references (scipy, scikit-image)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.quality import QualityError
from harness.quality import fidelity as F


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_sqnr_closed_form_and_nsr(rng):
    x = rng.standard_normal(1000)
    # y = x + 0.1·x: noise power is 1 % of the signal -> exactly 20 dB whatever x is
    assert F.sqnr_db(x, 1.1 * x) == pytest.approx(20.0, abs=1e-9)
    assert F.nsr(x, 1.1 * x) == pytest.approx(10 ** (-20.0 / 10))
    # independent noise of known power: SQNR = 10·log10(Σx²/Σn²) computed by hand
    n = rng.standard_normal(1000) * 0.05
    assert F.sqnr_db(x, x + n) == pytest.approx(10 * np.log10(np.sum(x**2) / np.sum(n**2)))


def test_sqnr_identical_and_silent_reference_are_capped_not_errors():
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    assert F.sqnr_db(x, x.copy()) == F.DEFAULT_CAP_DB
    assert F.sqnr_db(x, x, cap_db=80.0) == 80.0
    assert F.sqnr_db(np.zeros(3), np.zeros(3)) == F.DEFAULT_CAP_DB
    assert F.sqnr_db(np.zeros(3), np.ones(3)) == -F.DEFAULT_CAP_DB


def test_cosine_cases(rng):
    x = rng.standard_normal(50)
    assert F.cosine(x, 3 * x) == pytest.approx(1.0)
    assert F.cosine(x, -x) == pytest.approx(-1.0)
    assert F.cosine([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert F.cosine([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / np.sqrt(2))
    assert F.cosine(np.zeros(4), np.zeros(4)) == 1.0
    assert np.isnan(F.cosine(np.zeros(4), np.ones(4)))


def test_abs_and_relative_errors_closed_form():
    x = np.zeros(101)
    y = np.arange(101) / 100.0  # |err| = 0, 0.01, …, 1.00
    e = F.abs_errors(x, y)
    assert e["max_abs_err"] == pytest.approx(1.0)
    assert e["mean_abs_err"] == pytest.approx(0.5)
    assert e["p99_abs_err"] == pytest.approx(0.99)
    eps = np.finfo(np.float32).eps
    # a zero reference element is divided by float32 epsilon: |eps - 0| / eps = 1; |3 - 2| / 2 = 0.5
    assert F.rel_err([0.0, 2.0], [eps, 3.0]) == pytest.approx(0.75)


def test_psnr_of_8bit_rounding_is_about_58_9_db(rng):
    x = rng.uniform(0, 1, (8, 3, 64, 64))
    y = np.round(x * 255) / 255
    expected = 10 * np.log10(12 * 255**2)  # MSE of uniform rounding error = 1/(12·255²)
    assert F.psnr_frames_db(x, y, 1.0) == pytest.approx(expected, abs=0.1)
    assert expected == pytest.approx(58.9, abs=0.05)


def test_psnr_per_frame_matches_scikit_image(rng):
    from skimage.metrics import peak_signal_noise_ratio

    x = rng.uniform(-1, 1, (4, 3, 20, 24))
    y = np.clip(x + rng.normal(0, 0.03, x.shape), -1, 1)
    per_frame = [peak_signal_noise_ratio(x[i], y[i], data_range=2.0) for i in range(4)]
    assert F.psnr_frames_db(x, y, 2.0) == pytest.approx(np.mean(per_frame), rel=1e-9)
    assert F.psnr_db(x[0], y[0], 2.0) == pytest.approx(per_frame[0], rel=1e-9)


def test_ssim_matches_scikit_image_wang_settings(rng):
    from skimage.metrics import structural_similarity

    x = rng.uniform(0, 1, (3, 40, 33))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    ref = structural_similarity(x, y, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    assert F.ssim(x, y, 1.0) == pytest.approx(ref, abs=1e-9)
    ref2d = structural_similarity(x[0] * 255, y[0] * 255, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=255.0)
    assert F.ssim(x[0] * 255, y[0] * 255, 255.0) == pytest.approx(ref2d, abs=1e-9)
    assert F.ssim(x, x, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11×11"):
        F.ssim(np.zeros((3, 8, 8)), np.zeros((3, 8, 8)), 1.0)


def test_si_sdr_closed_form_and_scale_invariance(rng):
    x = rng.standard_normal(4000)
    x -= x.mean()
    n = rng.standard_normal(4000)
    n -= n.mean()
    n -= (n @ x) / (x @ x) * x  # orthogonal to x: the projection of y on x is exactly 0.7·x
    n *= 0.2
    y = 0.7 * x + n
    expected = 10 * np.log10(np.sum((0.7 * x) ** 2) / np.sum(n**2))
    assert F.si_sdr_db(x, y) == pytest.approx(expected, rel=1e-9)
    assert F.si_sdr_db(x, 5.0 * y) == pytest.approx(expected, rel=1e-9)  # scale does not matter
    assert F.si_sdr_db(x, 3.0 * x + 2.0) == F.DEFAULT_CAP_DB  # nor does an offset
    assert np.isnan(F.si_sdr_db(np.ones(100), rng.standard_normal(100)))  # silent after mean removal


def test_lsd_gain_closed_form_and_scipy_stft(rng):
    from scipy.signal import stft

    x = rng.standard_normal(16000)
    # a pure gain g shifts every bin by 20·log10(g) dB
    assert F.log_spectral_distance_db(x, 2.0 * x, eps=1e-30) == pytest.approx(20 * np.log10(2.0), rel=1e-6)
    y = x + 0.3 * rng.standard_normal(16000)
    _, _, X = stft(x, window="hann", nperseg=512, noverlap=512 - 128, boundary=None, padded=False)
    _, _, Y = stft(y, window="hann", nperseg=512, noverlap=512 - 128, boundary=None, padded=False)
    # scipy scales the spectra; the scale cancels in the log difference when eps is negligible
    d = 10 * np.log10(np.abs(X) ** 2) - 10 * np.log10(np.abs(Y) ** 2)
    expected = np.mean(np.sqrt(np.mean(d**2, axis=0)))
    assert F.log_spectral_distance_db(x, y, n_fft=512, hop=128, eps=1e-30) == pytest.approx(expected, rel=1e-6)
    assert F.log_spectral_distance_db(x, x) == 0.0


def test_score_outputs_tensor_identity_and_json():
    ref = {"y": [np.ones((2, 4), np.float32), np.arange(8, dtype=np.float32).reshape(2, 4)]}
    res = F.score_outputs(ref, {"y": [a.copy() for a in ref["y"]]})
    assert res["sqnr_db"] == F.DEFAULT_CAP_DB and res["cap_db"] == F.DEFAULT_CAP_DB
    assert res["cosine"] == pytest.approx(1.0)
    assert res["max_abs_err"] == 0.0 and res["nonfinite"] == 0 and res["n_samples"] == 2
    assert set(res["per_output"]) == {"y"} and "psnr_db" not in res
    json.dumps(res, allow_nan=False)


def test_score_outputs_aggregates_over_outputs(rng):
    a = [rng.standard_normal(100) for _ in range(3)]
    b = [rng.standard_normal(50) for _ in range(3)]
    na = [0.01 * rng.standard_normal(100) for _ in range(3)]
    nb = [0.1 * rng.standard_normal(50) for _ in range(3)]
    res = F.score_outputs({"a": a, "b": b}, {"a": [x + n for x, n in zip(a, na)], "b": [x + n for x, n in zip(b, nb)]})
    x = np.concatenate(a + b)
    n = np.concatenate(na + nb)
    assert res["sqnr_db"] == pytest.approx(10 * np.log10(np.sum(x**2) / np.sum(n**2)))
    assert res["per_output"]["a"]["sqnr_db"] > res["sqnr_db"] > res["per_output"]["b"]["sqnr_db"]


def test_score_outputs_nonfinite_becomes_none_with_reason():
    ref = {"y": [np.ones(4, np.float32)]}
    res = F.score_outputs(ref, {"y": [np.array([1, np.nan, np.inf, 1], np.float32)]})
    assert res["nonfinite"] == 2
    assert res["sqnr_db"] is None and "NaN" in res["reasons"]["sqnr_db"]
    json.dumps(res, allow_nan=False)


def test_score_outputs_images_and_audio(rng):
    img = rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)  # N,C,H,W in [-1, 1]
    vid = rng.uniform(0, 1, (1, 4, 3, 12, 12)).astype(np.float32)  # N,T,C,H,W in [0, 1]
    wav = rng.standard_normal((1, 8000)).astype(np.float32)
    ref = {"img": [img], "vid": [vid], "wav": [wav]}
    cand = {"img": [img + 0.01 * rng.standard_normal(img.shape).astype(np.float32)],
            "vid": [vid + 0.05 * rng.standard_normal(vid.shape).astype(np.float32)],
            "wav": [wav + 0.1 * rng.standard_normal(wav.shape).astype(np.float32)]}
    res = F.score_outputs(ref, cand, {"img": "image", "vid": "video", "wav": "audio"})
    po = res["per_output"]
    assert po["img"]["data_range"] == 2.0 and po["vid"]["data_range"] == 1.0
    assert po["vid"]["n_frames"] == 4 and po["img"]["n_frames"] == 2
    assert po["img"]["psnr_db"] == pytest.approx(F.psnr_frames_db(img, cand["img"][0], 2.0))
    assert po["vid"]["ssim"] == pytest.approx(F.ssim(vid, cand["vid"][0], 1.0))
    assert res["psnr_db"] == min(po["img"]["psnr_db"], po["vid"]["psnr_db"])  # worst over outputs
    assert res["ssim"] == min(po["img"]["ssim"], po["vid"]["ssim"])
    assert res["si_sdr_db"] == pytest.approx(F.si_sdr_db(wav, cand["wav"][0]))
    assert res["lsd_db"] == pytest.approx(F.log_spectral_distance_db(wav, cand["wav"][0]))
    assert res["lsd_params"] == {"n_fft": 512, "hop": 128, "window": "hann", "eps": 1e-10}
    json.dumps(res, allow_nan=False)


def test_score_outputs_bad_input():
    with pytest.raises(ValueError, match=r"output 'y' sample 0: reference shape \(2, 3\) but candidate shape \(3, 2\)"):
        F.score_outputs({"y": [np.zeros((2, 3))]}, {"y": [np.zeros((3, 2))]})
    with pytest.raises(QualityError, match="missing from the candidate"):
        F.score_outputs({"y": [np.zeros(2)], "z": [np.zeros(2)]}, {"y": [np.zeros(2)]})
    with pytest.raises(QualityError, match="samples"):
        F.score_outputs({"y": [np.zeros(2)] * 2}, {"y": [np.zeros(2)]})
    with pytest.raises(QualityError, match="no values"):
        F.score_outputs({"y": []}, {"y": []})
    with pytest.raises(QualityError, match="unknown output kind"):
        F.score_outputs({"y": [np.zeros(2)]}, {"y": [np.zeros(2)]}, {"y": "picture"})
    with pytest.raises(QualityError, match="C, H, W"):
        F.score_outputs({"y": [np.zeros((2, 2))]}, {"y": [np.zeros((2, 2))]}, {"y": "image"})


def test_data_range_rule():
    assert F.data_range_for([np.zeros(3, np.uint8)])[0] == 255.0
    assert F.data_range_for([np.array([0.0, 1.0])])[0] == 1.0
    assert F.data_range_for([np.array([-1.0, 0.5])])[0] == 2.0
    assert F.data_range_for([np.array([0.0, 200.0])])[0] == 255.0
    value, rule = F.data_range_for([np.array([-3.0, 5.0])])
    assert value == 8.0 and "observed" in rule


# -- class scores: top-1 / top-5 agreement ---------------------------------------------------------


def test_logits_agreement_where_sqnr_is_harsh():
    rng = np.random.default_rng(0)
    # a per-timestep recognizer output [N, T, C]: 40 timesteps, 500 classes, one clear winner each
    ref = rng.standard_normal((1, 40, 500)).astype(np.float32)
    ref[0, np.arange(40), rng.integers(0, 500, 40)] += 6.0
    noisy = ref + rng.standard_normal(ref.shape).astype(np.float32) * 0.5
    flipped = noisy.copy()
    flipped[0, :4] = -flipped[0, :4]  # 4 of 40 timesteps lose their winner
    from harness.quality.fidelity import score_outputs

    scores = score_outputs({"ctc": [ref]}, {"ctc": [flipped]}, {"ctc": "logits"})
    out = scores["per_output"]["ctc"]
    assert out["top1_agreement"] == pytest.approx(36 / 40) and out["n_positions"] == 40
    assert scores["top1_agreement"] == out["top1_agreement"]
    assert scores["sqnr_db"] < 10  # the same output scored by SQNR looks broken
    clean = score_outputs({"ctc": [ref]}, {"ctc": [noisy]}, {"ctc": "logits"})
    assert clean["top1_agreement"] == 1.0 and clean["top5_agreement"] == 1.0


def test_class_map_uses_axis_one_and_topk_counts_near_misses():
    from harness.quality.fidelity import score_outputs, topk_agreement

    ref = np.zeros((1, 3, 2, 2), np.float32)
    ref[0, 2] = 1.0  # class 2 everywhere
    cand = ref.copy()
    cand[0, 0, 0, 0] = 2.0  # one pixel now says class 0
    scores = score_outputs({"seg": [ref]}, {"seg": [cand]}, {"seg": "class_map"})
    assert scores["per_output"]["seg"]["top1_agreement"] == pytest.approx(3 / 4)
    assert scores["per_output"]["seg"]["top5_agreement"] == 1.0  # class 2 is still in its top 3
    assert topk_agreement(np.array([[0.0, 1.0, 2.0]]), np.array([[2.0, 1.0, 0.0]]), k=1) == 0.0


def test_class_kinds_refuse_outputs_without_classes():
    from harness.quality import QualityError
    from harness.quality.fidelity import score_outputs

    with pytest.raises(QualityError, match="at least 2 classes"):
        score_outputs({"y": [np.ones((4, 1))]}, {"y": [np.ones((4, 1))]}, {"y": "logits"})
