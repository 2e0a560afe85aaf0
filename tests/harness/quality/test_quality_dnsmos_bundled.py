"""DNSMOS with the real P.835 and P.808 models the speechmos wheel ships (offline), on speech made
by Debian's espeak-ng: clean speech scores higher on BAK and OVRL than the same speech with noise."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest

from harness.quality import dnsmos as D

pytest.importorskip("onnxruntime")
ESPEAK = shutil.which("espeak-ng")
TEXT = ("The quick brown fox jumps over the lazy dog. Small boards now generate speech and video on "
        "their own, and the question is how good it sounds.")


def _bundled():
    try:
        return D.bundled_models()
    except Exception as exc:  # the reason is the skip message
        pytest.skip(f"speechmos (the DNSMOS model files) is not installed: {exc}")


def test_bundled_models_are_the_p835_and_p808_files():
    models = _bundled()
    assert models["p835"].name == "sig_bak_ovr.onnx" and models["p808"].name == "model_v8.onnx"


def test_p808_features_have_the_models_input_shape():
    x = np.random.default_rng(0).standard_normal(D.INPUT_SAMPLES).astype(np.float32) * 0.1
    feats = D.p808_features(x)
    assert feats.shape == (D.P808_FRAMES, D.P808_MELS) and feats.dtype == np.float32
    # dB relative to the segment's maximum, clipped 80 dB under it, then (dB + 40) / 40
    assert feats.max() == pytest.approx(1.0) and feats.min() >= -1.0 - 1e-6
    fb = D.mel_filters()
    assert fb.shape == (D.P808_MELS, D.P808_N_FFT // 2 + 1) and (fb.sum(axis=1) > 0).all()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; scripts/install-system-deps.sh)")
    from harness.quality.media import read_wav_float_mono

    path = tmp_path_factory.mktemp("tts") / "speech.wav"
    subprocess.run([ESPEAK, "-v", "en", "-s", "150", "-w", str(path), TEXT], check=True, capture_output=True)
    return read_wav_float_mono(path)


def test_noisy_speech_scores_lower_on_background_and_overall(speech):
    models = _bundled()
    audio, rate = speech
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(audio.size).astype(np.float32)
    # white noise 5 dB under the speech's power
    noise *= np.sqrt(np.mean(audio ** 2) / np.mean(noise ** 2) / 10 ** 0.5)
    noisy = np.clip(audio + noise, -1.0, 1.0)
    scorer = D.DnsMos(models["p835"], p808_path=models["p808"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # espeak-ng writes 22.05 kHz: resampled to 16 kHz, with a warning
            clean_s, noisy_s = scorer.score(audio, rate), scorer.score(noisy, rate)
    finally:
        scorer.close()
    assert clean_s["label"] == "MOS-LQO" and "mos" not in clean_s
    assert clean_s["model"] == "DNSMOS P.835 + P.808" and clean_s["resampled_from_hz"] == rate
    for key in ("mos_lqo_sig", "mos_lqo_bak", "mos_lqo_ovrl", "mos_lqo_p808"):
        assert 1.0 <= clean_s[key] <= 5.0 and 1.0 <= noisy_s[key] <= 5.0
    assert noisy_s["mos_lqo_bak"] < clean_s["mos_lqo_bak"]
    assert noisy_s["mos_lqo_ovrl"] < clean_s["mos_lqo_ovrl"]


def test_default_constructor_uses_the_bundled_models():
    _bundled()
    scorer = D.DnsMos()
    try:
        assert scorer.p808 is not None and scorer.model_path.name == "sig_bak_ovr.onnx"
    finally:
        scorer.close()
