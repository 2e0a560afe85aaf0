"""Predicted speech quality with DNSMOS P.835 (``sig_bak_ovr.onnx``) and P.808 (``model_v8.onnx``): MOS-LQO.

The models: the ones the MIT-licensed ``speechmos`` package ships inside its wheel (found on disk,
never imported, nothing downloaded), or a file the user passes. P.808 is optional: without it the
clip gets SIG/BAK/OVRL only.

The model takes ``input_1`` float32 [1, 144160] (9.01 s at 16 kHz) and returns raw [SIG, BAK,
OVRL], mapped by the reference polynomials (highest power first, in ``POLYNOMIALS``).

Segmenting (as the reference script does): the clip, as float samples in [-1, 1], is appended
to itself (doubled) until it holds at least 144160 samples; segments of 144160 samples start every 1 s
(16000 samples) at 0, 1, 2 … s; their count is ``int(floor(samples / 16000) − 9.01) + 1`` (the
duration in whole seconds decides it, at least one). Each segment's raw scores go through the
polynomials and the clip score is the mean over segments. Audio not at 16 kHz is resampled
(polyphase, with a warning).

P.808 (as the reference script does): each segment minus its last 160 samples becomes a log-mel
spectrogram (librosa's defaults, re-implemented: 321-point FFT, hop 160, periodic Hann window,
centred frames with zero padding, 120 Slaney-scale mel bands with Slaney area normalisation, power
in dB relative to the segment's maximum, clipped 80 dB under it, then ``(dB + 40) / 40``): [900, 120].

These are predictions, labelled MOS-LQO (ITU-T P.800.1) and never plain MOS; DNSMOS is trained on
speech and says nothing about lips or Foley sound effects. Nothing is downloaded.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from harness.quality import QualityError
from harness.quality.media import read_wav_float_mono

SAMPLE_RATE = 16000
INPUT_LENGTH_S = 9.01
INPUT_SAMPLES = int(INPUT_LENGTH_S * SAMPLE_RATE)  # 144160
HOP_SAMPLES = SAMPLE_RATE
INPUT_NAME = "input_1"
LABEL = "MOS-LQO"
POLYNOMIALS: dict[str, tuple[float, float, float]] = {
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
}
_MISSING_HINT = (
    "DNSMOS needs the P.835 model file sig_bak_ovr.onnx, which edgebench does not download: install the "
    "MIT-licensed speechmos package (pip install speechmos, or edgebench's 'quality' extra), which ships it, "
    "or get it from Microsoft's DNS-Challenge repository (DNSMOS/DNSMOS/sig_bak_ovr.onnx) and pass its path "
    "(--model PATH)"
)
P808_FRAMES, P808_MELS, P808_N_FFT, P808_HOP = 900, 120, 321, 160


def bundled_models() -> dict[str, Path]:
    """The DNSMOS files inside the installed ``speechmos`` wheel: {"p835": …, "p808": …}.

    Found through the package's location only: importing ``speechmos.dnsmos`` would pull librosa."""
    import importlib.util

    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise QualityError(f"the speechmos package is not installed. {_MISSING_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models"
    found = {"p835": folder / "sig_bak_ovr.onnx", "p808": folder / "model_v8.onnx"}
    if not found["p835"].is_file():
        raise QualityError(f"speechmos is installed but {found['p835']} is missing. {_MISSING_HINT}")
    return {k: v for k, v in found.items() if v.is_file()}


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear under 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = P808_N_FFT, n_mels: int = P808_MELS) -> np.ndarray:
    """[n_mels, 1 + n_fft // 2] triangular filters on Slaney's scale, area-normalised."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def p808_features(segment: np.ndarray) -> np.ndarray:
    """[frames, 120] log-mel input of P.808 for one 9.01 s segment (its last 160 samples dropped)."""
    x = np.asarray(segment, dtype=np.float64)[:-P808_HOP]
    pad = P808_N_FFT // 2
    x = np.pad(x, pad)
    n_frames = 1 + (x.size - P808_N_FFT) // P808_HOP
    idx = np.arange(P808_N_FFT)[None, :] + P808_HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(P808_N_FFT) / P808_N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    mel = power @ mel_filters().T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10)) - 10.0 * np.log10(max(float(mel.max()), 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return ((db + 40.0) / 40.0).astype(np.float32)


def tile(audio: np.ndarray, length: int = INPUT_SAMPLES) -> np.ndarray:
    """Append the clip to itself (doubling it) until it holds at least ``length`` samples.

    Doubling, not "just enough copies", because the reference does so and the number of 1 s
    segments depends on the tiled length (a 3 s clip becomes 12 s: three segments).
    """
    x = np.asarray(audio, dtype=np.float32).ravel()
    if x.size == 0:
        raise QualityError("empty audio: nothing to score")
    copies = 1
    while x.size * copies < length:
        copies *= 2
    return np.tile(x, copies) if copies > 1 else x


def segment_starts(n_samples: int, sample_rate: int = SAMPLE_RATE) -> list[int]:
    """Start sample of each 9.01 s segment of an (already tiled) clip, 1 s apart."""
    count = int(math.floor(n_samples / sample_rate) - INPUT_LENGTH_S) + 1
    starts = [k * HOP_SAMPLES for k in range(max(count, 1))]
    return [s for s in starts if s + INPUT_SAMPLES <= n_samples]


def polyfit(raw: dict[str, float]) -> dict[str, float]:
    return {k: float(np.polyval(POLYNOMIALS[k], raw[k])) for k in POLYNOMIALS}


class DnsMos:
    """DNSMOS P.835 (and P.808 when given) through ``backends`` adapters (ONNX Runtime by default).
    ``model_path=None``: the models the installed speechmos package ships."""

    def __init__(self, model_path: str | Path | None = None, backend: Any = None,
                 p808_path: str | Path | None = None) -> None:
        if model_path is None:
            bundled = bundled_models()
            model_path, p808_path = bundled["p835"], p808_path or bundled.get("p808")
        p = Path(model_path)
        if not p.is_file():
            raise QualityError(f"DNSMOS model {p} not found. {_MISSING_HINT}")
        from backends.base import Artifact, file_sha256

        if backend is None:
            from backends import get_backend

            backend = get_backend("onnxruntime")()
        self.model_path = p
        self.model_sha256 = file_sha256(p)
        backend.load(Artifact(path=p, format="onnx", precision="fp32", source_sha256=self.model_sha256,
                              bytes=p.stat().st_size))
        self.backend = backend
        self._validate()
        self.p808: Any = None
        if p808_path is not None:
            self._load_p808(Path(p808_path))

    def _load_p808(self, path: Path) -> None:
        from backends import get_backend
        from backends.base import Artifact, file_sha256

        if not path.is_file():
            raise QualityError(f"DNSMOS P.808 model {path} not found; pass model_v8.onnx or leave it out")
        self.p808_sha256 = file_sha256(path)
        backend = get_backend("onnxruntime")()
        backend.load(Artifact(path=path, format="onnx", precision="fp32", source_sha256=self.p808_sha256,
                              bytes=path.stat().st_size))
        inputs = backend.inputs()
        if len(inputs) != 1 or list(inputs[0].shape)[-1:] != [P808_MELS]:
            backend.close()
            raise QualityError(f"{path} is not DNSMOS P.808's model_v8.onnx: expected one input [1, {P808_FRAMES}, "
                               f"{P808_MELS}], found {[(s.name, list(s.shape)) for s in inputs]}")
        self.p808 = backend
        self._p808_io = (inputs[0].name, backend.outputs()[0].name)

    def _p808(self, segment: np.ndarray) -> float:
        name, out = self._p808_io
        return float(np.asarray(self.p808.infer({name: p808_features(segment)[None]})[out]).ravel()[0])

    def _validate(self) -> None:
        inputs = self.backend.inputs()
        listing = ", ".join(f"{s.name} {list(s.shape)}" for s in inputs)
        shape = tuple(inputs[0].shape) if len(inputs) == 1 else ()
        ok = (len(inputs) == 1 and inputs[0].name == INPUT_NAME and len(shape) == 2
              and (not isinstance(shape[1], int) or shape[1] in (INPUT_SAMPLES, -1)))
        if not ok:
            raise QualityError(
                f"{self.model_path} is not DNSMOS P.835's sig_bak_ovr.onnx: expected one input {INPUT_NAME} "
                f"[1, {INPUT_SAMPLES}], found {listing}. {_MISSING_HINT}"
            )
        self._input = inputs[0].name
        outputs = self.backend.outputs()
        if not outputs:
            raise QualityError(f"{self.model_path} has no outputs; expected [1, 3] raw SIG, BAK, OVRL")
        self._output = outputs[0].name

    def _raw(self, segment: np.ndarray) -> dict[str, float]:
        out = np.asarray(self.backend.infer({self._input: segment[None, :].astype(np.float32)})[self._output])
        flat = out.ravel()
        if flat.size != 3:
            raise QualityError(
                f"{self.model_path}: expected output [1, 3] (SIG, BAK, OVRL), found shape {list(out.shape)}"
            )
        return {"sig": float(flat[0]), "bak": float(flat[1]), "ovrl": float(flat[2])}

    def score(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
              max_segments: int | None = None) -> dict[str, Any]:
        """Scores of one clip (float samples in [-1, 1], mono). ``max_segments`` keeps the first
        segments only (a short clip tiled to 9 s repeats itself: one segment already covers it)."""
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise QualityError(f"DNSMOS scores mono audio, found shape {x.shape}; downmix first")
        notes: dict[str, Any] = {}
        if sample_rate != SAMPLE_RATE:
            from scipy.signal import resample_poly

            ratio = Fraction(SAMPLE_RATE, int(sample_rate))
            warnings.warn(f"DNSMOS: resampling {sample_rate} Hz audio to {SAMPLE_RATE} Hz", stacklevel=2)
            x = resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)
            notes["resampled_from_hz"] = int(sample_rate)
        duration_s = x.size / SAMPLE_RATE
        tiled = tile(x)
        starts = segment_starts(tiled.size)[:max_segments]
        per_segment = [polyfit(self._raw(tiled[s:s + INPUT_SAMPLES])) for s in starts]
        result = {f"mos_lqo_{k}": float(np.mean([seg[k] for seg in per_segment])) for k in ("sig", "bak", "ovrl")}
        if self.p808 is not None:
            result["mos_lqo_p808"] = float(np.mean([self._p808(tiled[s:s + INPUT_SAMPLES]) for s in starts]))
        result.update({
            "label": LABEL,
            "model": "DNSMOS P.835" + (" + P.808" if self.p808 is not None else ""),
            "model_sha256": self.model_sha256,
            "n_segments": len(starts),
            "duration_s": duration_s,
            "tiled": bool(tiled.size > x.size),
        })
        result.update(notes)
        return result

    def score_file(self, path: str | Path) -> dict[str, Any]:
        audio, rate = read_wav_float_mono(path)
        result = self.score(audio, rate)
        result["file"] = str(path)
        return result

    def close(self) -> None:
        self.backend.close()
        if self.p808 is not None:
            self.p808.close()


def dataset_score(clips: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean of per-clip MOS-LQO over clips, with N; the figures a run stores."""
    if not clips:
        raise QualityError("no clips scored")
    out: dict[str, Any] = {
        f"mos_lqo_{k}": float(np.mean([c[f"mos_lqo_{k}"] for c in clips])) for k in ("sig", "bak", "ovrl")
    }
    if all("mos_lqo_p808" in c for c in clips):
        out["mos_lqo_p808"] = float(np.mean([c["mos_lqo_p808"] for c in clips]))
    out["mos_lqo_label"] = LABEL
    out["mos_lqo_model"] = "DNSMOS P.835"
    out["mos_lqo_n_clips"] = len(clips)
    return out
