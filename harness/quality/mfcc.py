"""MFCC exactly as SyncNet's evaluation computes them: python_speech_features' defaults.

Written from the definition (shared/reference/quality.md), not from that package: 25 ms frames
(400 samples at 16 kHz) every 10 ms, zero-padded so the last frame is complete, rectangular
window, pre-emphasis 0.97, power spectrum |FFT_512|²/512, 26 triangular mel filters over
0–8000 Hz, log, orthonormal DCT-II keeping 13 cepstra, sinusoidal lifter 22, and c0 replaced by
the log of the frame's energy (sum of its power spectrum). Inputs are the raw int16 sample values.
Zeros before a log are replaced by float64 machine epsilon, as the reference does.
"""

from __future__ import annotations

import math

import numpy as np

from harness.quality import QualityError

_EPS = float(np.finfo(np.float64).eps)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int = 26, n_fft: int = 512, samplerate: int = 16000,
                   low_hz: float = 0.0, high_hz: float | None = None) -> np.ndarray:
    """Triangular filters (n_filters × n_fft//2+1) whose corners sit on FFT bins floor((n_fft+1)·f/sr)."""
    high_hz = samplerate / 2 if high_hz is None else high_hz
    if high_hz > samplerate / 2:
        raise QualityError(f"high_hz {high_hz} is above the Nyquist frequency {samplerate / 2}")
    mels = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_filters + 2)
    corners = np.floor((n_fft + 1) * mel_to_hz(mels) / samplerate).astype(int)
    bins = np.arange(n_fft // 2 + 1)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = corners[j], corners[j + 1], corners[j + 2]
        if mid > lo:
            rising = (bins >= lo) & (bins < mid)
            bank[j, rising] = (bins[rising] - lo) / (mid - lo)
        if hi > mid:
            falling = (bins >= mid) & (bins < hi)
            bank[j, falling] = (hi - bins[falling]) / (hi - mid)
    return bank


def frame_signal(signal: np.ndarray, frame_len: int, frame_step: int) -> np.ndarray:
    """Frames of ``frame_len`` every ``frame_step``; the tail is zero-padded to a whole frame."""
    n = signal.shape[0]
    count = 1 if n <= frame_len else 1 + math.ceil((n - frame_len) / frame_step)
    padded = np.zeros((count - 1) * frame_step + frame_len)
    padded[:n] = signal
    idx = np.arange(frame_len)[None, :] + frame_step * np.arange(count)[:, None]
    return padded[idx]


def mfcc(signal: np.ndarray, samplerate: int = 16000, winlen: float = 0.025, winstep: float = 0.01,
         numcep: int = 13, nfilt: int = 26, nfft: int = 512, lowfreq: float = 0.0,
         highfreq: float | None = None, preemph: float = 0.97, ceplifter: int = 22,
         append_energy: bool = True) -> np.ndarray:
    """MFCC of a mono signal: (frames, numcep), 100 frames per second with the defaults."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise QualityError(f"MFCC needs a non-empty mono signal (1-D), found shape {x.shape}")
    frame_len = _round_half_up(winlen * samplerate)
    frame_step = _round_half_up(winstep * samplerate)
    if frame_len > nfft:
        raise QualityError(f"frame of {frame_len} samples is longer than nfft={nfft}; raise nfft")
    emphasized = np.concatenate([x[:1], x[1:] - preemph * x[:-1]])
    frames = frame_signal(emphasized, frame_len, frame_step)
    power = np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2 / nfft
    energy = power.sum(axis=1)
    energy[energy == 0] = _EPS
    feats = power @ mel_filterbank(nfilt, nfft, samplerate, lowfreq, highfreq).T
    feats[feats == 0] = _EPS
    from scipy.fft import dct

    cep = dct(np.log(feats), type=2, axis=1, norm="ortho")[:, :numcep]
    if ceplifter > 0:
        n = np.arange(cep.shape[1])
        cep = cep * (1.0 + (ceplifter / 2.0) * np.sin(np.pi * n / ceplifter))
    if append_energy:
        cep[:, 0] = np.log(energy)
    return cep
