"""Representative inputs for the zoo models, synthesised with numpy (no datasets, no downloads).

Calibration ranges come from these, so they mimic the statistics of real inputs rather than
N(0, 1): speech-like log-mel spectrograms (harmonics under moving formants, syllables and pauses,
fricative noise, Whisper-style log scaling), natural-image-like frames (1/f spectra plus objects
with edges, ImageNet normalisation), Zipf-distributed token ids, and diffusion latents noised at a
random timestep of a cosine schedule.
"""

from __future__ import annotations

import math

import numpy as np

SAMPLE_RATE_HZ = 16000
N_FFT = 512
HOP = 160  # 10 ms frames

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def _mel_filterbank(n_mels: int, n_fft: int = N_FFT, sr: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Triangular filters evenly spaced on the HTK mel scale, [n_mels, n_fft//2 + 1]."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2)), n_mels + 2))
    fb = np.zeros((n_mels, bins.size), np.float64)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    return fb


_FB_CACHE: dict[int, np.ndarray] = {}


def speech_log_mel(rng: np.random.Generator, n_mels: int = 80, frames: int = 200) -> np.ndarray:
    """A [n_mels, frames] log-mel spectrogram of synthetic speech, Whisper-normalised (≈ [-1.5, 1.5])."""
    freqs = np.linspace(0.0, SAMPLE_RATE_HZ / 2, N_FFT // 2 + 1)
    t = np.arange(frames)
    # Syllables at ~4 per second with pauses: a smooth voicing envelope.
    syll_rate = rng.uniform(3.0, 5.5) / 100.0  # per 10 ms frame
    envelope = np.clip(np.sin(2 * math.pi * syll_rate * t + rng.uniform(0, 2 * math.pi)), 0.0, None) ** 0.7
    pause_start = rng.integers(0, frames)
    envelope[pause_start : pause_start + rng.integers(10, 40)] = 0.0
    # Pitch contour 90-250 Hz with a slow drift and jitter.
    f0 = rng.uniform(90.0, 220.0) * (1.0 + 0.15 * np.sin(2 * math.pi * t / rng.uniform(60, 200))) * (
        1.0 + 0.01 * rng.standard_normal(frames)
    )
    # Three formants that move from syllable to syllable.
    n_segments = max(1, frames // 25)
    seg = np.minimum(t // 25, n_segments - 1)
    formants = np.stack(
        [rng.uniform(300, 900, n_segments), rng.uniform(900, 2300, n_segments), rng.uniform(2300, 3500, n_segments)],
        axis=1,
    )[seg]  # [frames, 3]
    bandwidths = np.array([80.0, 120.0, 180.0])
    formant_env = np.sum(
        np.exp(-0.5 * ((freqs[None, None, :] - formants[:, :, None]) / bandwidths[None, :, None]) ** 2)
        * np.array([1.0, 0.5, 0.25])[None, :, None],
        axis=1,
    )  # [frames, bins]
    # Harmonic comb at multiples of f0 (width ~ 15 Hz), tilted -12 dB/octave like a glottal source.
    harmonic_idx = freqs[None, :] / f0[:, None]
    comb = np.exp(-0.5 * ((harmonic_idx - np.round(harmonic_idx)) * f0[:, None] / 15.0) ** 2)
    tilt = 1.0 / (1.0 + (freqs / 200.0) ** 2)
    voiced = (envelope[:, None] ** 2) * comb * formant_env * tilt[None, :] * 1e2
    # Fricatives: high-frequency noise bursts where voicing is low.
    fric_mask = (rng.random(frames) < 0.15) & (envelope < 0.3)
    fric = fric_mask[:, None] * (freqs[None, :] > 3000) * rng.exponential(1.0, (frames, freqs.size)) * 1e-2
    noise_floor = rng.exponential(1.0, (frames, freqs.size)) * 1e-6
    power = voiced + fric + noise_floor
    if n_mels not in _FB_CACHE:
        _FB_CACHE[n_mels] = _mel_filterbank(n_mels)
    mel = _FB_CACHE[n_mels] @ power.T  # [n_mels, frames]
    log_mel = np.log10(np.maximum(mel, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return ((log_mel + 4.0) / 4.0).astype(np.float32)


def _pink_noise(rng: np.random.Generator, shape: tuple[int, ...], alpha: float) -> np.ndarray:
    """Noise with a 1/f^alpha amplitude spectrum over the last two axes, unit variance."""
    h, w = shape[-2:]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0 / max(h, w)
    spectrum = np.fft.rfft2(rng.standard_normal(shape)) / radius**alpha
    x = np.fft.irfft2(spectrum, s=(h, w))
    x -= x.mean(axis=(-2, -1), keepdims=True)
    return x / (x.std(axis=(-2, -1), keepdims=True) + 1e-8)


def natural_frames(rng: np.random.Generator, n_frames: int, size: int = 224) -> np.ndarray:
    """[n_frames, 3, size, size] ImageNet-normalised frames of one slowly moving scene."""
    base = _pink_noise(rng, (1, size, size), rng.uniform(1.0, 1.4))[0]
    colour_mix = rng.uniform(0.6, 1.0, 3)[:, None, None]
    img = 0.5 + 0.18 * (base[None] * colour_mix + 0.3 * _pink_noise(rng, (3, size, size), 1.2))
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(2, 6)):  # objects: soft-edged ellipses of a flat colour
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(size / 16, size / 4, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        alpha = 1.0 / (1.0 + np.exp(np.minimum((inside - 1.0) * 12.0, 50.0)))
        img = img * (1 - alpha) + alpha * rng.uniform(0.05, 0.95, 3)[:, None, None]
    img = np.clip(img * rng.uniform(0.7, 1.3), 0.0, 1.0)
    dy, dx = rng.integers(-3, 4, 2)
    frames = []
    for i in range(n_frames):  # camera pan plus sensor noise
        f = np.roll(img, (int(i * dy), int(i * dx)), axis=(1, 2))
        f = np.clip(f + 0.01 * rng.standard_normal(f.shape), 0.0, 1.0)
        frames.append((f - IMAGENET_MEAN) / IMAGENET_STD)
    return np.stack(frames).astype(np.float32)


def token_ids(rng: np.random.Generator, length: int, vocab: int) -> np.ndarray:
    """[1, length] int64: BOS=1, Zipf-distributed words, EOS=2, then padding 0."""
    n_words = int(rng.integers(max(1, length // 4), length - 1))
    words = np.minimum(rng.zipf(1.3, n_words) + 2, vocab - 1)
    ids = np.zeros(length, np.int64)
    ids[0] = 1
    ids[1 : 1 + n_words] = words
    ids[1 + n_words] = 2
    return ids[None, :]


def cosine_alpha_bar(t: float, steps: int = 1000) -> float:
    """Cumulative signal fraction of the cosine noise schedule (Nichol & Dhariwal) at step t."""
    s = 0.008
    return float(math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2)


def noisy_latent(rng: np.random.Generator, shape: tuple[int, ...], smooth_axes: int) -> tuple[np.ndarray, np.ndarray]:
    """A clean latent smooth over its last ``smooth_axes`` axes, noised at a random timestep.
    Returns (latent float32 of ``shape``, timestep float32 [1])."""
    if smooth_axes == 2:
        clean = _pink_noise(rng, shape, 1.5)
    else:
        n = shape[-1]
        f = np.fft.rfftfreq(n)
        f[0] = 1.0 / n
        clean = np.fft.irfft(np.fft.rfft(rng.standard_normal(shape)) / f**0.8, n=n)
        clean = (clean - clean.mean(-1, keepdims=True)) / (clean.std(-1, keepdims=True) + 1e-8)
    t = float(rng.uniform(0, 999))
    ab = cosine_alpha_bar(t)
    latent = math.sqrt(ab) * clean + math.sqrt(1 - ab) * rng.standard_normal(shape)
    return latent.astype(np.float32), np.array([t], np.float32)
