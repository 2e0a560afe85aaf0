"""LSE-D / LSE-C: synthetic embeddings with a known offset, windowing, and the model path
through a FAKE SyncNet ONNX model (right signature, known arithmetic) run by ONNX Runtime."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from harness.quality import QualityError, lse
from harness.quality.mfcc import mfcc
from tests.harness.quality.quality_fakes import build_fake_syncnet, needs_ort, syncnet_weights, write_mp4


def _hand_mdist(v: np.ndarray, a: np.ndarray, vshift: int) -> np.ndarray:
    """The definition, written as plainly as possible."""
    n = len(v)
    mdist = []
    for k in range(2 * vshift + 1):
        dists = []
        for i in range(n):
            j = i + k - vshift
            aj = a[j] if 0 <= j < n else np.zeros_like(a[0])
            dists.append(np.sqrt(np.sum((v[i] - aj + 1e-6) ** 2)))
        mdist.append(np.mean(dists))
    return np.array(mdist)


@pytest.mark.parametrize("true_offset", [3, 0, -5])
def test_known_offset_is_recovered_and_scores_match_hand_computation(true_offset):
    rng = np.random.default_rng(11)
    n, dim = 60, 32
    v = rng.standard_normal((n, dim))
    # audio window j carries video window j + offset (plus noise); out-of-clip windows are unrelated
    a = np.array([v[j + true_offset] if 0 <= j + true_offset < n else rng.standard_normal(dim) for j in range(n)])
    a += 0.1 * rng.standard_normal(a.shape)
    lse_d, lse_c, offset = lse.lse_from_embeddings(v, a)
    assert offset == true_offset
    mdist = _hand_mdist(v, a, 15)
    assert lse_d == pytest.approx(mdist.min(), rel=1e-12)
    assert lse_c == pytest.approx(np.median(mdist) - mdist.min(), rel=1e-12)
    assert lse.lse_details(v, a)["mdist"] == pytest.approx(list(mdist), rel=1e-12)


def test_small_vshift_and_bad_embeddings():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((8, 4))
    assert lse.lse_details(v, v, vshift=2)["mdist"] == pytest.approx(list(_hand_mdist(v, v, 2)))
    with pytest.raises(QualityError, match="same shape"):
        lse.lse_from_embeddings(v, v[:7])
    with pytest.raises(QualityError, match="2-D"):
        lse.lse_from_embeddings(v.ravel(), v.ravel())


def test_window_counts_and_audio_windows():
    assert lse.n_windows(100, 64000) == 95  # n = min(100, 64000 // 640) = 100 -> windows 0 … 94
    assert lse.n_windows(100, 640 * 50 + 639) == 45
    assert lse.n_windows(5, 64000) == 0
    rng = np.random.default_rng(2)
    samples = (3000 * rng.standard_normal(640 * 12)).astype(np.int16)
    wins = lse.audio_windows(samples, 7)
    feats = mfcc(samples).T
    assert wins.shape == (7, 1, 13, 20) and wins.dtype == np.float32
    for i in range(7):
        np.testing.assert_allclose(wins[i, 0], feats[:, 4 * i: 4 * i + 20], rtol=1e-6)


def _clip(n_frames: int, seed: int = 0, hw=(224, 224)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_frames, *hw, 3), dtype=np.uint8)
    samples = (2000 * rng.standard_normal(n_frames * 640)).astype(np.int16)
    return frames, samples


@needs_ort
def test_fake_syncnet_embeddings_follow_the_windowing(tmp_path):
    w_audio, w_video = syncnet_weights()
    model = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "FAKE_syncnet.onnx", w_audio, w_video), batch=4)
    frames, samples = _clip(14)
    video_emb, audio_emb = model.embed(frames, samples)
    assert video_emb.shape == audio_emb.shape == (9, 1024)
    feats = mfcc(samples).T
    for i in (0, 4, 8):
        # video window i: frames [i, i+5) as channels-first BGR, mean over pixels -> 3×5 features
        window = frames[i:i + 5].astype(np.float64).transpose(3, 0, 1, 2).mean(axis=(2, 3)).ravel()
        np.testing.assert_allclose(video_emb[i], window @ w_video, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(audio_emb[i], feats[:, 4 * i:4 * i + 20].ravel() @ w_audio, rtol=1e-3, atol=1e-3)
    result = lse.score_clip(frames, samples, model)
    expected = lse.lse_details(video_emb, audio_emb)
    assert result["lse_d"] == pytest.approx(expected["lse_d"], rel=1e-6)
    assert result["n_windows"] == 9 and result["trimmed_to_frames"] == 14


@needs_ort
def test_outputs_told_apart_by_probing_and_channel_order(tmp_path):
    w_audio, w_video = syncnet_weights()
    named = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "a.onnx", w_audio, w_video))
    anonymous = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "b.onnx", w_audio, w_video, names=("out0", "out1")))
    frames, samples = _clip(7)
    v1, a1 = named.embed(frames, samples)
    v2, a2 = anonymous.embed(frames, samples)
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    np.testing.assert_allclose(a1, a2, rtol=1e-6)
    rgb = lse.score_clip(frames[..., ::-1], samples, named, channel_order="rgb")
    assert rgb["lse_d"] == pytest.approx(lse.score_clip(frames, samples, named)["lse_d"], rel=1e-6)


@needs_ort
def test_wrong_syncnet_shapes_are_refused(tmp_path):
    w_audio, w_video = syncnet_weights()
    with pytest.raises(QualityError, match=r"\[N, 1, 13, 20\]"):
        lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "a.onnx", np.zeros((13 * 40, 1024)), w_video,
                                                 audio_shape=(1, 13, 40)))
    with pytest.raises(QualityError, match=r"expected two outputs \[N, 1024\]|expected \[N, 1024\]"):
        lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "b.onnx", w_audio[:, :64], w_video[:, :64]))
    with pytest.raises(QualityError, match="not found"):
        lse.SyncNet.from_onnx(tmp_path / "missing.onnx")
    model = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "c.onnx", w_audio, w_video))
    frames, samples = _clip(8, hw=(96, 96))
    with pytest.raises(QualityError, match="224×224 face crops"):
        model.embed(frames, samples)


@needs_ort
def test_fps_rule_and_length_mismatch(tmp_path):
    w_audio, w_video = syncnet_weights()
    model = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "a.onnx", w_audio, w_video))
    frames, samples = _clip(30)
    with pytest.raises(QualityError, match="30 fps but SyncNet's evaluation expects 25 fps"):
        lse.score_clip(frames, samples[: 30 * 16000 // 30], model, fps=30.0)
    with pytest.warns(UserWarning, match="resampling 30 fps to 25 fps"):
        res = lse.score_clip(frames, samples[: 16000], model, fps=30.0, resample=True)
    assert res["resampled_from_fps"] == 30.0 and res["trimmed_to_frames"] == 25
    with pytest.raises(QualityError, match="lengths differ"):
        lse.score_clip(frames, samples[: 640 * 20], model)  # 1.2 s of video, 0.8 s of audio
    with pytest.raises(QualityError, match="too short"):
        lse.score_clip(frames[:5], samples[: 640 * 5], model)


@needs_ort
def test_video_file_and_wav_path(tmp_path):
    from scipy.io import wavfile

    w_audio, w_video = syncnet_weights()
    model = lse.SyncNet.from_onnx(build_fake_syncnet(tmp_path / "a.onnx", w_audio, w_video))
    # smooth frames survive lossy coding well enough for the frame count and shape to be checked
    base = np.linspace(0, 255, 224, dtype=np.float64)
    frames = np.stack([np.stack([np.add.outer(base, base) / 2 * (0.5 + 0.02 * t)] * 3, -1) for t in range(12)])
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    write_mp4(tmp_path / "clip.mp4", frames, 25)
    samples = (2000 * np.random.default_rng(0).standard_normal(12 * 640)).astype(np.int16)
    wavfile.write(tmp_path / "clip.wav", 16000, samples)
    res = lse.score_files(tmp_path / "clip.mp4", tmp_path / "clip.wav", model)
    assert res["n_windows"] == 7 and res["video_s"] == pytest.approx(12 / 25)
    write_mp4(tmp_path / "clip30.mp4", frames, 30)
    with pytest.raises(QualityError, match="30 fps"):
        lse.score_files(tmp_path / "clip30.mp4", tmp_path / "clip.wav", model)
    wavfile.write(tmp_path / "stereo.wav", 16000, np.stack([samples, samples], 1))
    with pytest.raises(QualityError, match="mono"):
        lse.score_files(tmp_path / "clip.mp4", tmp_path / "stereo.wav", model)
    wavfile.write(tmp_path / "float.wav", 16000, samples.astype(np.float32) / 32768)
    with pytest.raises(QualityError, match="16-bit"):
        lse.score_files(tmp_path / "clip.mp4", tmp_path / "float.wav", model)


def test_no_video_reader_gives_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "x.mp4").write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    from harness.quality.media import read_video

    with pytest.raises(QualityError, match="pip install av"):
        read_video(tmp_path / "x.mp4")


def test_dataset_mean_and_paired_deltas():
    fp32 = {"a.mp4": {"lse_d": 7.0, "lse_c": 8.0}, "b.mp4": {"lse_d": 6.0, "lse_c": 7.0},
            "c.mp4": {"lse_d": 8, "lse_c": 6}}
    int8 = {"a.mp4": {"lse_d": 7.2, "lse_c": 7.9}, "b.mp4": {"lse_d": 6.5, "lse_c": 6.6},
            "d.mp4": {"lse_d": 1, "lse_c": 1}}
    ds = lse.dataset_score(list(fp32.values()))
    assert ds == {"lse_d": pytest.approx(7.0), "lse_c": pytest.approx(7.0), "lse_n_clips": 3}
    d = lse.paired_deltas(fp32, int8)
    assert d["lse_delta_n_pairs"] == 2
    assert d["lse_d_delta"] == pytest.approx((0.2 + 0.5) / 2)
    assert d["lse_c_delta"] == pytest.approx((-0.1 - 0.4) / 2)
    from scipy import stats

    assert d["lse_d_delta_ci95"] == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.2, 0.5], ddof=1) / np.sqrt(2))
    assert d["lse_delta_unpaired_clips"] == ["c.mp4", "d.mp4"]
    with pytest.raises(QualityError, match="no clip scored on both sides"):
        lse.paired_deltas({"a": fp32["a.mp4"]}, {"b": fp32["a.mp4"]})
