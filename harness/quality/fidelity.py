"""Fidelity of a candidate output to the fp32 reference (definitions: shared/reference/quality.md).

x is the fp32 reference, y the candidate, both flattened unless a metric says otherwise. All sums
are taken in float64 so a float32 output does not lose the small differences being measured.

Choices this module makes (and records in its results):

- **Cap.** SQNR, PSNR and SI-SDR of identical signals are infinite; they are reported as
  ``cap_db`` (100 dB by default) and every such figure is clamped to ``[-cap_db, cap_db]``, so a
  result is always a finite JSON number and never a division error.
- **Undefined figures** (cosine with an all-zero vector, SI-SDR of a silent reference, anything
  touched by a NaN in the candidate) are ``None`` in ``score_outputs`` with the reason in
  ``reasons``; the pure functions return ``nan`` for them.
- **Relative error** = mean over elements of ``|x - y| / |x|`` where zeros of ``|x|`` are replaced
  by the machine epsilon of float32 (the precision outputs are compared at).
- **Data range L** for PSNR/SSIM, from the reference of that output over all samples:
  uint8 -> 255; float within [0, 1] -> 1.0; within [-1, 1] -> 2.0 (peak to peak); within
  [0, 255] -> 255 (8-bit values held as floats); anything else -> the observed reference range
  ``max - min`` (noted in ``data_range_rule``). Pass ``data_range`` to override.
- **PSNR** per frame (one C×H×W image), then the mean over frames. **SSIM** per frame and channel
  (Wang 2004: 11×11 Gaussian σ=1.5, C1=(0.01L)², C2=(0.03L)², population covariances, mean over
  the part of the image where the window fits), mean over channels, then over frames.
- **SI-SDR** per waveform (last axis; leading axes are separate waveforms), mean over waveforms.
- **LSD** per waveform from frames of ``n_fft`` samples every ``hop`` samples, periodic Hann
  window, no padding except that a waveform shorter than ``n_fft`` is zero-padded to one frame.
- **Class scores** (kind ``logits``: classes on the last axis, e.g. [N, C] or per-timestep
  [N, T, C]; kind ``class_map``: classes on axis 1, e.g. [N, C, H, W]): ``top1_agreement`` is the
  fraction of positions whose argmax matches the reference's, ``top5_agreement`` the fraction where
  the reference's argmax is among the candidate's five best; both weighted by positions per sample.
- **Top-level aggregates over outputs:** SQNR, cosine and the errors are computed over all
  outputs and samples concatenated. ``psnr_db``, ``ssim``, ``si_sdr_db`` and the agreements are
  the *worst* (minimum) over outputs of that kind and ``lsd_db`` the worst (maximum): a gate on them holds
  for every output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.quality import QualityError

KINDS = ("tensor", "image", "video", "audio", "logits", "class_map")
#: class-score kinds and their class axis: logits [..., C] (a classifier, or per-timestep classes
#: [N, T, C]); class_map [N, C, ...] (per-pixel classes, channels first)
CLASS_AXIS = {"logits": -1, "class_map": 1}
DEFAULT_CAP_DB = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
LSD_DEFAULTS: dict[str, Any] = {"n_fft": 512, "hop": 128, "window": "hann", "eps": 1e-10}
_REL_EPS = float(np.finfo(np.float32).eps)


# -- pure metric functions -------------------------------------------------------------------

def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape != y.shape:
        raise QualityError(
            f"reference and candidate shapes differ: {x.shape} vs {y.shape}; "
            "compare outputs of the same model on the same inputs"
        )
    return x.astype(np.float64, copy=False).ravel(), y.astype(np.float64, copy=False).ravel()


def _ratio_db(signal_power: float, noise_power: float, cap_db: float) -> float:
    """10·log10(signal/noise), clamped to ±cap_db; 0/0 (both silent and identical) is the cap."""
    if not (np.isfinite(signal_power) and np.isfinite(noise_power)):
        return float("nan")
    if noise_power == 0.0:
        return cap_db
    if signal_power == 0.0:
        return -cap_db
    return float(np.clip(10.0 * np.log10(signal_power / noise_power), -cap_db, cap_db))


def sqnr_db(reference: np.ndarray, candidate: np.ndarray, cap_db: float = DEFAULT_CAP_DB) -> float:
    """10·log10(Σx² / Σ(x−y)²); identical inputs give ``cap_db``."""
    x, y = _pair(reference, candidate)
    return _ratio_db(float(np.dot(x, x)), float(np.sum((x - y) ** 2)), cap_db)


def nsr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Σ(x−y)²/Σx² (= 10^(−SQNR/10) uncapped); nan when the reference is all zeros."""
    x, y = _pair(reference, candidate)
    signal = float(np.dot(x, x))
    return float(np.sum((x - y) ** 2) / signal) if signal > 0 else float("nan")


def cosine(reference: np.ndarray, candidate: np.ndarray) -> float:
    """⟨x,y⟩/(‖x‖‖y‖); 1.0 when both are all zeros, nan when only one is."""
    x, y = _pair(reference, candidate)
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 and ny == 0.0:
        return 1.0
    if nx == 0.0 or ny == 0.0:
        return float("nan")
    return float(np.clip(np.dot(x, y) / (nx * ny), -1.0, 1.0))


def abs_errors(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """max, mean and 99th percentile (linear interpolation) of |x − y|."""
    x, y = _pair(reference, candidate)
    if x.size == 0:
        return {"max_abs_err": float("nan"), "mean_abs_err": float("nan"), "p99_abs_err": float("nan")}
    err = np.abs(x - y)
    return {
        "max_abs_err": float(err.max()),
        "mean_abs_err": float(err.mean()),
        "p99_abs_err": float(np.percentile(err, 99)),
    }


def rel_err(reference: np.ndarray, candidate: np.ndarray, eps: float = _REL_EPS) -> float:
    """Mean of |x − y| / |x| with zeros of |x| replaced by ``eps`` (float32 machine epsilon)."""
    x, y = _pair(reference, candidate)
    if x.size == 0:
        return float("nan")
    denom = np.abs(x)
    denom[denom == 0.0] = eps
    return float(np.mean(np.abs(x - y) / denom))


def psnr_db(reference: np.ndarray, candidate: np.ndarray, data_range: float,
            cap_db: float = DEFAULT_CAP_DB) -> float:
    """10·log10(L²/MSE) over the whole array given (one frame); identical gives ``cap_db``."""
    x, y = _pair(reference, candidate)
    return _ratio_db(float(data_range) ** 2, float(np.mean((x - y) ** 2)), cap_db)


def psnr_frames_db(reference: np.ndarray, candidate: np.ndarray, data_range: float,
                   cap_db: float = DEFAULT_CAP_DB) -> float:
    """PSNR per frame (leading axes = frames, last three = C,H,W), then the mean over frames."""
    x, y = _frames(reference, candidate)
    mse = np.mean((x - y) ** 2, axis=(1, 2, 3))
    return float(np.mean([_ratio_db(float(data_range) ** 2, float(m), cap_db) for m in mse]))


def _frames(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(reference), np.asarray(candidate)
    if x.shape != y.shape:
        raise QualityError(f"reference and candidate shapes differ: {x.shape} vs {y.shape}")
    if x.ndim < 3:
        raise QualityError(
            f"image/video outputs must be (..., C, H, W), found shape {x.shape}; "
            "declare the output kind 'tensor' if it is not an image"
        )
    c, h, w = x.shape[-3:]
    return (x.astype(np.float64).reshape(-1, c, h, w), y.astype(np.float64).reshape(-1, c, h, w))


def _gaussian_kernel(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-0.5 * (r / sigma) ** 2)
    return k / k.sum()


def _filter_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable correlation over the last two axes, kept only where the whole window fits
    (what Wang's mean SSIM averages over; scikit-image crops the same border)."""
    from scipy.ndimage import correlate1d

    r = kernel.size // 2
    out = correlate1d(img, kernel, axis=-1, mode="reflect")
    out = correlate1d(out, kernel, axis=-2, mode="reflect")
    return out[..., r:out.shape[-2] - r, r:out.shape[-1] - r]


def ssim_map_mean(reference: np.ndarray, candidate: np.ndarray, data_range: float) -> np.ndarray:
    """Mean SSIM of each 2-D plane in (..., H, W): Wang 2004 with an 11×11 Gaussian, σ = 1.5."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(candidate, dtype=np.float64)
    if x.shape != y.shape:
        raise QualityError(f"reference and candidate shapes differ: {x.shape} vs {y.shape}")
    if x.ndim < 2 or min(x.shape[-2:]) < SSIM_WINDOW:
        raise QualityError(
            f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels (its Gaussian window), "
            f"found shape {x.shape}"
        )
    k = _gaussian_kernel()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mx, my = _filter_valid(x, k), _filter_valid(y, k)
    # Population (biased) moments, as Wang defines them: E[xy] − E[x]E[y].
    vx = _filter_valid(x * x, k) - mx * mx
    vy = _filter_valid(y * y, k) - my * my
    cxy = _filter_valid(x * y, k) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(axis=(-2, -1))


def ssim(reference: np.ndarray, candidate: np.ndarray, data_range: float) -> float:
    """SSIM of one image (H, W) or (C, H, W), or frames (..., C, H, W): mean over channels, then frames."""
    x = np.asarray(reference)
    if x.ndim == 2:
        return float(ssim_map_mean(x, candidate, data_range))
    xf, yf = _frames(x, candidate)
    return float(ssim_map_mean(xf, yf, data_range).mean(axis=1).mean())


def _waveforms(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(reference), np.asarray(candidate)
    if x.shape != y.shape:
        raise QualityError(f"reference and candidate shapes differ: {x.shape} vs {y.shape}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise QualityError(f"audio outputs must be waveforms (..., samples), found shape {x.shape}")
    n = x.shape[-1]
    return x.astype(np.float64).reshape(-1, n), y.astype(np.float64).reshape(-1, n)


def si_sdr_db(reference: np.ndarray, candidate: np.ndarray, cap_db: float = DEFAULT_CAP_DB) -> float:
    """Scale-invariant SDR of one waveform (or the mean over the waveforms on leading axes)."""
    xs, ys = _waveforms(reference, candidate)
    values = []
    for x, y in zip(xs, ys):
        x = x - x.mean()
        y = y - y.mean()
        energy = float(np.dot(x, x))
        if energy == 0.0:
            values.append(float("nan"))  # a silent reference has no scale to project on
            continue
        target = (float(np.dot(y, x)) / energy) * x
        values.append(_ratio_db(float(np.dot(target, target)), float(np.sum((target - y) ** 2)), cap_db))
    return float(np.mean(values))


def _power_frames(x: np.ndarray, n_fft: int, hop: int, window: str) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.signal import get_window

    if x.shape[-1] < n_fft:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n_fft - x.shape[-1])])
    frames = sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    win = get_window(window, n_fft, fftbins=True)  # periodic, the usual choice for spectra
    return np.abs(np.fft.rfft(frames * win, axis=-1)) ** 2


def log_spectral_distance_db(reference: np.ndarray, candidate: np.ndarray, n_fft: int = 512, hop: int = 128,
                             window: str = "hann", eps: float = 1e-10) -> float:
    """Mean over frames of sqrt(mean over bins of (10·log10(|X|²+ε) − 10·log10(|Y|²+ε))²)."""
    if n_fft <= 0 or hop <= 0:
        raise QualityError(f"LSD needs positive n_fft and hop, found n_fft={n_fft}, hop={hop}")
    xs, ys = _waveforms(reference, candidate)
    px = _power_frames(xs, n_fft, hop, window)
    py = _power_frames(ys, n_fft, hop, window)
    diff = 10.0 * np.log10(px + eps) - 10.0 * np.log10(py + eps)
    per_frame = np.sqrt(np.mean(diff**2, axis=-1))
    return float(per_frame.mean(axis=-1).mean())


# -- data range ------------------------------------------------------------------------------

def data_range_for(reference: Sequence[np.ndarray]) -> tuple[float, str]:
    """(L, rule) for an image/video output from its reference samples (see the module docstring)."""
    arrays = [np.asarray(a) for a in reference]
    if arrays and all(a.dtype == np.uint8 for a in arrays):
        return 255.0, "uint8 -> 255"
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return 1.0, "no finite reference values; assumed [0, 1] -> 1.0"
    lo = min(float(a.min()) for a in finite)
    hi = max(float(a.max()) for a in finite)
    tol = 1e-6
    if lo >= -tol and hi <= 1 + tol:
        return 1.0, "float in [0, 1] -> 1.0"
    if lo >= -1 - tol and hi <= 1 + tol:
        return 2.0, "float in [-1, 1] -> 2.0"
    if lo >= -tol and hi <= 255 + tol:
        return 255.0, "values in [0, 255] -> 255"
    return hi - lo, f"outside [-1, 1] and [0, 255]: observed reference range {lo:g}..{hi:g}"


# -- scoring a run's outputs -----------------------------------------------------------------

def _flat_metrics(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], cap_db: float) -> dict[str, Any]:
    x = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in xs]) if xs else np.zeros(0)
    y = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in ys]) if ys else np.zeros(0)
    out: dict[str, Any] = {"sqnr_db": sqnr_db(x, y, cap_db), "cosine": cosine(x, y)}
    out.update(abs_errors(x, y))
    out["rel_err"] = rel_err(x, y)
    out["nonfinite"] = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
    out["n_elements"] = int(x.size)
    return out


def _finish(metrics: dict[str, Any], reasons: dict[str, str]) -> dict[str, Any]:
    """nan -> None with a reason (an unavailable figure is never a number)."""
    for key, value in list(metrics.items()):
        if isinstance(value, float) and not np.isfinite(value):
            metrics[key] = None
            reasons.setdefault(key, _why_undefined(key, metrics))
    if reasons:
        metrics["reasons"] = dict(reasons)
    return metrics


def _why_undefined(key: str, metrics: dict[str, Any]) -> str:
    if metrics.get("nonfinite"):
        return f"candidate has {metrics['nonfinite']} NaN/Inf values"
    if key == "cosine":
        return "one of the outputs is all zeros: the angle is undefined"
    if key == "si_sdr_db":
        return "the reference waveform is silent: SI-SDR is undefined"
    return "undefined for these values"


def score_outputs(
    reference: Mapping[str, Sequence[np.ndarray]],
    candidate: Mapping[str, Sequence[np.ndarray]],
    kinds: Mapping[str, str] | None = None,
    *,
    data_range: float | Mapping[str, float] | None = None,
    cap_db: float = DEFAULT_CAP_DB,
    lsd_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fidelity of every output over the evaluation samples; see the module docstring.

    ``reference``/``candidate`` map an output name to its per-sample arrays, in the same order.
    ``kinds`` maps output names to tensor|image|video|audio (default tensor).
    """
    kinds = dict(kinds or {})
    lsd = _checked_inputs(reference, candidate, kinds, lsd_params)

    per_output: dict[str, dict[str, Any]] = {}
    all_x: list[np.ndarray] = []
    all_y: list[np.ndarray] = []
    for name in reference:
        xs, ys = _checked_samples(name, reference[name], candidate[name])
        kind = kinds.get(name, "tensor")
        m = _flat_metrics(xs, ys, cap_db)
        m["kind"] = kind
        m["n_samples"] = len(xs)
        reasons: dict[str, str] = {}
        if kind in ("image", "video"):
            _image_metrics(name, xs, ys, data_range, cap_db, m, reasons)
        elif kind == "audio":
            _audio_metrics(xs, ys, lsd, cap_db, m, reasons)
        elif kind in CLASS_AXIS:
            _class_metrics(name, xs, ys, CLASS_AXIS[kind], m, reasons)
        per_output[name] = _finish(m, reasons)
        all_x.extend(xs)
        all_y.extend(ys)

    top = _flat_metrics(all_x, all_y, cap_db)
    top["n_samples"] = max(len(v) for v in reference.values())
    top["n_outputs"] = len(reference)
    top["cap_db"] = cap_db
    reasons: dict[str, str] = {}
    _worst(per_output, ("image", "video"), "psnr_db", min, top, reasons)
    _worst(per_output, ("image", "video"), "ssim", min, top, reasons)
    _worst(per_output, ("audio",), "si_sdr_db", min, top, reasons)
    _worst(per_output, ("audio",), "lsd_db", max, top, reasons)
    _worst(per_output, tuple(CLASS_AXIS), "top1_agreement", min, top, reasons)
    _worst(per_output, tuple(CLASS_AXIS), "top5_agreement", min, top, reasons)
    if any(m["kind"] == "audio" for m in per_output.values()):
        top["lsd_params"] = dict(lsd)
    if any(m["kind"] in ("image", "video", "audio") for m in per_output.values()):
        top["aggregate_rule"] = "psnr_db/ssim/si_sdr_db: minimum over outputs; lsd_db: maximum (worst case)"
    if any(m["kind"] in CLASS_AXIS for m in per_output.values()):
        rule = "top1/top5_agreement: minimum over outputs"
        top["aggregate_rule"] = f"{top['aggregate_rule']}; {rule}" if "aggregate_rule" in top else rule
    result = _finish(top, reasons)
    result["per_output"] = per_output
    return result


def _checked_inputs(reference: Mapping[str, Any], candidate: Mapping[str, Any], kinds: Mapping[str, str],
                    lsd_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Raise QualityError for outputs/kinds/params that cannot be scored; return the LSD parameters."""
    bad = {k: v for k, v in kinds.items() if v not in KINDS}
    if bad:
        raise QualityError(f"unknown output kind(s) {bad}: expected one of {', '.join(KINDS)}")
    if set(reference) != set(candidate):
        missing = sorted(set(reference) - set(candidate))
        extra = sorted(set(candidate) - set(reference))
        raise QualityError(
            f"reference and candidate name different outputs: missing from the candidate {missing}, "
            f"not in the reference {extra}; both must come from the same model"
        )
    if not reference:
        raise QualityError("no outputs to score: the reference is empty")
    lsd = {**LSD_DEFAULTS, **dict(lsd_params or {})}
    if set(lsd) != set(LSD_DEFAULTS):
        raise QualityError(f"lsd_params takes {sorted(LSD_DEFAULTS)}, found {sorted(lsd)}")
    return lsd


def _checked_samples(name: str, reference: Sequence[np.ndarray],
                     candidate: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs, ys = list(reference), list(candidate)
    if len(xs) != len(ys):
        raise QualityError(
            f"output {name!r}: {len(xs)} reference samples but {len(ys)} candidate samples; "
            "score the same evaluation set"
        )
    for i, (a, b) in enumerate(zip(xs, ys)):
        if np.shape(a) != np.shape(b):
            raise QualityError(
                f"output {name!r} sample {i}: reference shape {np.shape(a)} but candidate shape "
                f"{np.shape(b)}; the candidate must produce the same shapes as the fp32 model"
            )
    if not xs or all(np.size(a) == 0 for a in xs):
        raise QualityError(f"output {name!r} has no values to score: run the evaluation set first")
    return xs, ys


def _image_metrics(name: str, xs: list[np.ndarray], ys: list[np.ndarray],
                   data_range: float | Mapping[str, float] | None, cap_db: float,
                   m: dict[str, Any], reasons: dict[str, str]) -> None:
    if isinstance(data_range, Mapping) and name in data_range:
        L, rule = float(data_range[name]), "given"
    elif isinstance(data_range, (int, float)):
        L, rule = float(data_range), "given"
    else:
        L, rule = data_range_for(xs)
    m["data_range"] = L
    m["data_range_rule"] = rule
    if any(np.ndim(a) < 3 for a in xs):
        raise QualityError(
            f"output {name!r} is declared image/video but a sample has shape {np.shape(xs[0])}: "
            "expected (N, C, H, W) or (N, T, C, H, W) in [0, 1] or [-1, 1]"
        )
    if m["nonfinite"]:
        reasons["psnr_db"] = reasons["ssim"] = f"candidate has {m['nonfinite']} NaN/Inf values"
        m["psnr_db"] = m["ssim"] = None
        return
    psnr_values, ssim_values, n_frames = [], [], 0
    for a, b in zip(xs, ys):
        fa, fb = _frames(a, b)
        n_frames += fa.shape[0]
        mse = np.mean((fa - fb) ** 2, axis=(1, 2, 3))
        psnr_values.extend(_ratio_db(L * L, float(v), cap_db) for v in mse)
        if min(fa.shape[-2:]) >= SSIM_WINDOW:
            ssim_values.extend(ssim_map_mean(fa, fb, L).mean(axis=1).tolist())
    m["n_frames"] = n_frames
    m["psnr_db"] = float(np.mean(psnr_values)) if psnr_values else None
    m["psnr_rule"] = "per frame, mean over frames"
    if ssim_values:
        m["ssim"] = float(np.mean(ssim_values))
    else:
        m["ssim"] = None
        reasons["ssim"] = f"frames smaller than the {SSIM_WINDOW}×{SSIM_WINDOW} SSIM window"


def _audio_metrics(xs: list[np.ndarray], ys: list[np.ndarray], lsd: Mapping[str, Any], cap_db: float,
                   m: dict[str, Any], reasons: dict[str, str]) -> None:
    m["lsd_params"] = dict(lsd)
    if m["nonfinite"]:
        reasons["si_sdr_db"] = reasons["lsd_db"] = f"candidate has {m['nonfinite']} NaN/Inf values"
        m["si_sdr_db"] = m["lsd_db"] = None
        return
    sdr, lsd_values = [], []
    for a, b in zip(xs, ys):
        wa, wb = _waveforms(a, b)
        for x, y in zip(wa, wb):
            sdr.append(si_sdr_db(x, y, cap_db))
            lsd_values.append(log_spectral_distance_db(x, y, **lsd))
    finite_sdr = [v for v in sdr if np.isfinite(v)]
    m["si_sdr_db"] = float(np.mean(finite_sdr)) if finite_sdr else None
    if not finite_sdr:
        reasons["si_sdr_db"] = "every reference waveform is silent: SI-SDR is undefined"
    elif len(finite_sdr) < len(sdr):
        reasons["si_sdr_db"] = f"{len(sdr) - len(finite_sdr)} silent reference waveform(s) left out of the mean"
    m["lsd_db"] = float(np.mean(lsd_values))
    m["n_waveforms"] = len(sdr)


def top1_agreement(reference: np.ndarray, candidate: np.ndarray, axis: int = -1) -> float:
    """Fraction of positions (every index but the class axis) where both argmaxes name the same class."""
    x, y = np.asarray(reference), np.asarray(candidate)
    if x.shape != y.shape:
        raise QualityError(f"reference and candidate shapes differ: {x.shape} vs {y.shape}")
    return float(np.mean(np.argmax(x, axis=axis) == np.argmax(y, axis=axis)))


def topk_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = 5, axis: int = -1) -> float:
    """Fraction of positions where the reference's top-1 class is among the candidate's top ``k``."""
    x, y = np.moveaxis(np.asarray(reference), axis, -1), np.moveaxis(np.asarray(candidate), axis, -1)
    k = min(k, x.shape[-1])
    best = np.argmax(x, axis=-1)[..., None]
    top = np.argpartition(-y, k - 1, axis=-1)[..., :k]
    return float(np.mean(np.any(top == best, axis=-1)))


def _class_metrics(name: str, xs: list[np.ndarray], ys: list[np.ndarray], axis: int, m: dict[str, Any],
                   reasons: dict[str, str]) -> None:
    """Top-1/top-5 agreement of class scores: SQNR over a many-way softmax is harsh on an output whose
    use is its argmax (a 6,625-way recognizer in bf16: 21.8 dB, yet 97.8% of its argmaxes agree)."""
    if any(np.ndim(a) < (2 if axis == 1 else 1) or np.shape(a)[axis] < 2 for a in xs):
        raise QualityError(f"output {name!r} is declared {'logits' if axis == -1 else 'class_map'} but a sample "
                           f"has shape {np.shape(xs[0])}: expected at least 2 classes on axis {axis}")
    m["class_axis"] = axis
    if m["nonfinite"]:
        reasons["top1_agreement"] = reasons["top5_agreement"] = f"candidate has {m['nonfinite']} NaN/Inf values"
        m["top1_agreement"] = m["top5_agreement"] = None
        return
    positions = [int(np.size(a) // np.shape(a)[axis]) for a in xs]
    top1 = [top1_agreement(a, b, axis) for a, b in zip(xs, ys)]
    top5 = [topk_agreement(a, b, 5, axis) for a, b in zip(xs, ys)]
    m["n_positions"] = sum(positions)
    m["top1_agreement"] = float(np.average(top1, weights=positions))
    m["top5_agreement"] = float(np.average(top5, weights=positions))


def _worst(per_output: dict[str, dict[str, Any]], kinds: tuple[str, ...], key: str, pick: Any,
           top: dict[str, Any], reasons: dict[str, str]) -> None:
    relevant = [m for m in per_output.values() if m["kind"] in kinds]
    if not relevant:
        return
    values = [m.get(key) for m in relevant if m.get(key) is not None]
    if values:
        top[key] = float(pick(values))
    else:
        top[key] = None
        reasons[key] = "no output of this kind could be scored (see per_output reasons)"
