"""LSE-D / LSE-C lip-sync scores, as SyncNet's evaluation defines them (shared/reference/quality.md).

Pipeline: 25 fps video of 224×224 face crops (BGR, raw 0–255) and 16 kHz mono int16 audio →
``n = min(video_frames, floor(audio_samples / 640))`` → windows i = 0 … n−6 (video frames
[i, i+5), MFCC frames [4i, 4i+20)) → a SyncNet-shaped ONNX model gives one 1024-d embedding per
window and stream → for offsets k = 0 … 2·vshift, ``d_i[k] = ‖v_i − a_(i+k−vshift) + 1e-6‖₂``
(a_j = 0 outside the windows) → ``mdist[k]`` = mean over i → LSE-D = min mdist, LSE-C = median
mdist − LSE-D, AV offset = vshift − argmin.

Nothing is downloaded: the user converts SyncNet's weights to ONNX themselves. The model must
have two inputs, audio ``[N, 1, 13, 20]`` and video ``[N, 3, 5, H, W]``, and two outputs
``[N, 1024]`` (audio and lip embeddings); wrap ``forward_aud``/``forward_lip`` in one module to
export it. Outputs are told apart by name (``aud…`` vs ``lip``/``vid``…), by explicit names, or
by probing which output moves when only the video changes. A port should reproduce the reference
demo clip (AV offset 3, min dist 5.353, confidence 10.021) before its numbers are trusted.

Choices: a clip not at 25 fps is refused unless ``resample=True`` (nearest frame, warning); audio
and video whose durations differ by more than ``max_av_mismatch_s`` (default 0.1 s) are refused,
smaller differences are trimmed to the shorter stream exactly as the reference's ``min`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.quality import QualityError
from harness.quality.media import Video, conform_fps, read_video, read_wav_int16_mono
from harness.quality.mfcc import mfcc
from harness.quality.stats import mean_ci95

FPS = 25.0
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = 640  # 16000 / 25
WINDOW_FRAMES = 5
MFCC_PER_FRAME = 4  # 100 MFCC frames/s over 25 video frames/s
MFCC_PER_WINDOW = 20
N_MFCC = 13
VSHIFT = 15
EMBEDDING_DIM = 1024
DISTANCE_EPS = 1e-6
DEFAULT_BATCH = 20
DEFAULT_MAX_AV_MISMATCH_S = 0.1


# -- scores from embeddings --------------------------------------------------------------------

def offset_distances(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(windows, 2·vshift+1) matrix of d_i[k] = ‖v_i − a_(i+k−vshift) + 1e-6‖₂, a_j = 0 outside."""
    v = np.asarray(video_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    if v.ndim != 2 or a.ndim != 2:
        raise QualityError(
            f"embeddings must be 2-D (windows, dim): video {v.shape}, audio {a.shape}"
        )
    if v.shape != a.shape:
        raise QualityError(
            f"video and audio embeddings must have the same shape (one per window, same dim): "
            f"video {v.shape}, audio {a.shape}"
        )
    if v.shape[0] == 0:
        raise QualityError("no windows: a clip needs at least 6 video frames (0.24 s) for one 5-frame window")
    if vshift < 0:
        raise QualityError(f"vshift must be >= 0, found {vshift}")
    n, dim = v.shape
    padded = np.concatenate([np.zeros((vshift, dim)), a, np.zeros((vshift, dim))])
    span = 2 * vshift + 1
    # row i of the window view holds a_(i−vshift) … a_(i+vshift), i.e. offsets k = 0 … 2·vshift
    from numpy.lib.stride_tricks import sliding_window_view

    shifted = sliding_window_view(padded, span, axis=0)[:n]  # (n, dim, span)
    diff = v[:, :, None] - shifted + DISTANCE_EPS
    return np.sqrt(np.sum(diff * diff, axis=1))


def lse_details(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> dict[str, Any]:
    """LSE-D, LSE-C, the AV offset and the mean distance per offset (``mdist``)."""
    dists = offset_distances(video_emb, audio_emb, vshift)
    mdist = dists.mean(axis=0)
    k_min = int(np.argmin(mdist))
    lse_d = float(mdist[k_min])
    return {
        "lse_d": lse_d,
        "lse_c": float(np.median(mdist) - lse_d),
        "offset_frames": vshift - k_min,
        "n_windows": int(dists.shape[0]),
        "vshift": vshift,
        "mdist": [float(m) for m in mdist],
    }


def lse_from_embeddings(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> tuple[float, float, int]:
    """(LSE-D, LSE-C, AV offset in frames) from per-window embeddings (windows × dim each)."""
    d = lse_details(video_emb, audio_emb, vshift)
    return d["lse_d"], d["lse_c"], d["offset_frames"]


# -- windows -----------------------------------------------------------------------------------

def n_frames_used(n_video_frames: int, n_audio_samples: int) -> int:
    """n = min(video frames, floor(audio samples / 640))."""
    return min(int(n_video_frames), int(n_audio_samples) // SAMPLES_PER_FRAME)


def n_windows(n_video_frames: int, n_audio_samples: int) -> int:
    """Windows i = 0 … n−6, i.e. n−5 of them (0 when the clip is too short)."""
    return max(0, n_frames_used(n_video_frames, n_audio_samples) - WINDOW_FRAMES)


def audio_windows(samples: np.ndarray, count: int) -> np.ndarray:
    """(count, 1, 13, 20) float32: MFCC frames [4i, 4i+20) of the raw int16 samples."""
    feats = mfcc(np.asarray(samples)).T  # 13 × T
    need = MFCC_PER_FRAME * (count - 1) + MFCC_PER_WINDOW
    if feats.shape[1] < need:
        raise QualityError(
            f"audio gives {feats.shape[1]} MFCC frames but {count} windows need {need}; "
            "the audio is shorter than the video frames it is paired with"
        )
    from numpy.lib.stride_tricks import sliding_window_view

    wins = sliding_window_view(feats, MFCC_PER_WINDOW, axis=1)[:, ::MFCC_PER_FRAME][:, :count]  # 13, count, 20
    return np.ascontiguousarray(wins.transpose(1, 0, 2)[:, None]).astype(np.float32)


def video_window_batches(frames: np.ndarray, count: int, batch: int) -> Iterator[np.ndarray]:
    """Batches of (b, 3, 5, H, W) float32 raw 0–255 windows, built lazily (a clip's worth would not fit)."""
    chw = frames  # (T, H, W, 3)
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        out = np.stack([chw[i:i + WINDOW_FRAMES] for i in range(start, stop)])  # b, 5, H, W, 3
        yield np.ascontiguousarray(out.transpose(0, 4, 1, 2, 3)).astype(np.float32)


# -- the SyncNet model through a backend adapter ----------------------------------------------

def _dim_ok(found: Any, expected: int) -> bool:
    return not isinstance(found, int) or found < 0 or found == expected


class SyncNet:
    """A SyncNet-shaped embedding model run by any ``backends`` adapter (ONNX Runtime by default)."""

    def __init__(self, backend: Any, *, input_names: Mapping[str, str] | None = None,
                 output_names: Mapping[str, str] | None = None, embedding_dim: int | None = EMBEDDING_DIM,
                 batch: int = DEFAULT_BATCH, source: str = "") -> None:
        self.backend = backend
        self.source = source
        self.embedding_dim = embedding_dim
        self._batch_request = batch
        self._resolve_inputs(dict(input_names or {}))
        self._output_names = dict(output_names or {})
        self._resolve_outputs_static()

    # construction ------------------------------------------------------------------------
    @classmethod
    def from_onnx(cls, path: str | Path, backend: Any = None, **kwargs: Any) -> SyncNet:
        """Load the user's SyncNet ONNX file through ``backend`` (an unloaded adapter instance) or ORT."""
        p = Path(path)
        if not p.is_file():
            raise QualityError(
                f"SyncNet model {p} not found: convert SyncNet's weights (syncnet_v2.model) to ONNX yourself and "
                "pass its path; edgebench downloads nothing"
            )
        from backends.base import Artifact, file_sha256

        if backend is None:
            from backends import get_backend

            backend = get_backend("onnxruntime")()
        backend.load(Artifact(path=p, format="onnx", precision="fp32", source_sha256=file_sha256(p),
                              bytes=p.stat().st_size))
        return cls(backend, source=str(p), **kwargs)

    def _resolve_inputs(self, names: dict[str, str]) -> None:
        specs = {s.name: s for s in self.backend.inputs()}
        listing = ", ".join(f"{s.name} {list(s.shape)}" for s in specs.values())
        expect = "two inputs, audio [N, 1, 13, 20] and video [N, 3, 5, 224, 224]"
        if len(specs) != 2:
            raise QualityError(f"SyncNet model {self.source}: expected {expect}; found {len(specs)}: {listing}")
        if not names:
            for spec in specs.values():
                shape = tuple(spec.shape)
                if len(shape) == 4 and all(_dim_ok(d, e) for d, e in zip(shape[1:], (1, N_MFCC, MFCC_PER_WINDOW))):
                    names.setdefault("audio", spec.name)
                elif len(shape) == 5 and all(_dim_ok(d, e) for d, e in zip(shape[1:3], (3, WINDOW_FRAMES))):
                    names.setdefault("video", spec.name)
        decided = set(names) == {"audio", "video"} and names["audio"] != names["video"]
        if not decided or not set(names.values()) <= set(specs):
            raise QualityError(f"SyncNet model {self.source}: expected {expect}; found {listing}")
        audio, video = specs[names["audio"]], specs[names["video"]]
        a_shape, v_shape = tuple(audio.shape), tuple(video.shape)
        if len(a_shape) != 4 or not all(_dim_ok(d, e) for d, e in zip(a_shape[1:], (1, N_MFCC, MFCC_PER_WINDOW))):
            raise QualityError(f"SyncNet audio input {audio.name}: expected [N, 1, 13, 20], found {list(a_shape)}")
        if len(v_shape) != 5 or not all(_dim_ok(d, e) for d, e in zip(v_shape[1:3], (3, WINDOW_FRAMES))):
            raise QualityError(f"SyncNet video input {video.name}: expected [N, 3, 5, H, W], found {list(v_shape)}")
        self.audio_input, self.video_input = audio.name, video.name
        h, w = v_shape[3], v_shape[4]
        self.frame_hw = (h if isinstance(h, int) and h > 0 else 224, w if isinstance(w, int) and w > 0 else 224)
        batches = {d for d in (a_shape[0], v_shape[0]) if isinstance(d, int) and d > 0}
        if len(batches) > 1:
            raise QualityError(f"SyncNet inputs have different fixed batch sizes {sorted(batches)}; export one batch")
        self.fixed_batch = batches.pop() if batches else None
        self.batch = self.fixed_batch or max(1, int(self._batch_request))

    def _resolve_outputs_static(self) -> None:
        specs = {s.name: s for s in self.backend.outputs()}
        listing = ", ".join(f"{s.name} {list(s.shape)}" for s in specs.values())
        if len(specs) != 2:
            raise QualityError(
                f"SyncNet model {self.source}: expected two outputs [N, {self.embedding_dim or 'D'}] "
                f"(audio and lip embeddings); found {len(specs)}: {listing}"
            )
        for spec in specs.values():
            shape = tuple(spec.shape)
            if len(shape) != 2 or (self.embedding_dim and not _dim_ok(shape[1], self.embedding_dim)):
                raise QualityError(
                    f"SyncNet output {spec.name}: expected [N, {self.embedding_dim or 'D'}], found {list(shape)}"
                )
        if self._output_names:
            if set(self._output_names) != {"audio", "video"} or not set(self._output_names.values()) <= set(specs):
                raise QualityError(f"output_names must map 'audio' and 'video' to outputs among: {listing}")
            return
        guess: dict[str, str] = {}
        for name in specs:
            low = name.lower()
            if "aud" in low:
                guess.setdefault("audio", name)
            elif any(tag in low for tag in ("lip", "vid", "face", "img", "visual")):
                guess.setdefault("video", name)
        if set(guess) == {"audio", "video"}:
            self._output_names = guess
        # else: decided by probing at the first inference

    def _probe_outputs(self) -> None:
        """Which output moves when only the video changes? That one is the lip embedding."""
        h, w = self.frame_hw
        b = self.fixed_batch or 1
        rng = np.random.default_rng(0)
        audio = np.zeros((b, 1, N_MFCC, MFCC_PER_WINDOW), np.float32)
        shape = (b, 3, WINDOW_FRAMES, h, w)
        first = self.backend.infer({self.audio_input: audio,
                                    self.video_input: rng.uniform(0, 255, shape).astype(np.float32)})
        second = self.backend.infer({self.audio_input: audio,
                                     self.video_input: rng.uniform(0, 255, shape).astype(np.float32)})
        moved = [k for k in first if not np.allclose(first[k], second[k])]
        if len(moved) != 1:
            raise QualityError(
                f"cannot tell SyncNet's audio and lip outputs apart ({list(first)}): name them "
                "(output_names={'audio': ..., 'video': ...}, or --syncnet-outputs AUDIO,VIDEO)"
            )
        other = next(k for k in first if k != moved[0])
        self._output_names = {"audio": other, "video": moved[0]}

    # inference --------------------------------------------------------------------------
    def _run(self, feeds: dict[str, np.ndarray], real: int) -> tuple[np.ndarray, np.ndarray]:
        if self.fixed_batch and real < self.fixed_batch:  # pad the last batch, drop the padding after
            pad = self.fixed_batch - real
            feeds = {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in feeds.items()}
        out = self.backend.infer(feeds)
        a, v = np.asarray(out[self._output_names["audio"]]), np.asarray(out[self._output_names["video"]])
        for name, emb in (("audio", a), ("video", v)):
            if emb.ndim != 2 or (self.embedding_dim and emb.shape[1] != self.embedding_dim):
                raise QualityError(
                    f"SyncNet {name} embedding: expected [N, {self.embedding_dim or 'D'}], found {list(emb.shape)}"
                )
        return a[:real], v[:real]

    def embed(self, frames: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(video_emb, audio_emb), one row per window, from BGR frames (T, H, W, 3) and int16 samples."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise QualityError(f"frames must be (T, H, W, 3) BGR, found shape {frames.shape}")
        if tuple(frames.shape[1:3]) != self.frame_hw:
            h, w = self.frame_hw
            raise QualityError(
                f"frames are {frames.shape[1]}×{frames.shape[2]} but SyncNet takes {h}×{w} face crops: crop the faces "
                f"(as syncnet_python's pipeline does) or scale them (ffmpeg -vf scale={w}:{h})"
            )
        count = n_windows(len(frames), len(samples))
        if count <= 0:
            raise QualityError(
                f"clip too short: {len(frames)} frames and {len(samples)} samples give no 5-frame window; "
                "SyncNet needs at least 6 frames (0.24 s) of both"
            )
        if not self._output_names:
            self._probe_outputs()
        a_wins = audio_windows(samples, count)
        audio_out, video_out = [], []
        for start, v_batch in zip(range(0, count, self.batch), video_window_batches(frames, count, self.batch)):
            real = v_batch.shape[0]
            a, v = self._run({self.audio_input: a_wins[start:start + real], self.video_input: v_batch}, real)
            audio_out.append(a)
            video_out.append(v)
        return np.concatenate(video_out), np.concatenate(audio_out)

    def close(self) -> None:
        self.backend.close()


# -- whole clips --------------------------------------------------------------------------------

def check_lengths(n_frames: int, n_samples: int, fps: float = FPS,
                  max_av_mismatch_s: float = DEFAULT_MAX_AV_MISMATCH_S) -> dict[str, Any]:
    video_s = n_frames / fps
    audio_s = n_samples / SAMPLE_RATE
    if abs(video_s - audio_s) > max_av_mismatch_s:
        raise QualityError(
            f"audio ({audio_s:.3f} s) and video ({video_s:.3f} s) lengths differ by {abs(video_s - audio_s):.3f} s, "
            f"more than the {max_av_mismatch_s:g} s allowed: pair the audio with the video it belongs to, trim both "
            "to the same length, or raise the tolerance (--max-av-mismatch-s)"
        )
    return {"video_s": video_s, "audio_s": audio_s, "trimmed_to_frames": n_frames_used(n_frames, n_samples)}


def score_clip(frames: np.ndarray, samples: np.ndarray, syncnet: SyncNet, *, fps: float = FPS,
               resample: bool = False, channel_order: str = "bgr", vshift: int = VSHIFT,
               max_av_mismatch_s: float = DEFAULT_MAX_AV_MISMATCH_S) -> dict[str, Any]:
    """LSE of one clip from frame and sample arrays (frames (T, H, W, 3) uint8/float 0–255; int16 samples)."""
    frames = np.asarray(frames)
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise QualityError(f"audio samples must be mono (1-D) int16 at 16 kHz, found shape {samples.shape}")
    if samples.dtype != np.int16:
        raise QualityError(
            f"audio samples must be int16 (SyncNet's MFCC uses raw 16-bit values), found {samples.dtype}"
        )
    if channel_order not in ("bgr", "rgb"):
        raise QualityError(f"channel_order must be 'bgr' or 'rgb', found {channel_order!r}")
    if frames.ndim == 4 and channel_order == "rgb":
        frames = frames[..., ::-1]
    notes: dict[str, Any] = {}
    if abs(fps - FPS) >= 1e-3:
        video = conform_fps(Video(frames, fps, np.arange(len(frames)) / fps), FPS, resample)
        frames = video.frames
        notes["resampled_from_fps"] = fps
    lengths = check_lengths(len(frames), len(samples), FPS, max_av_mismatch_s)
    video_emb, audio_emb = syncnet.embed(frames, samples)
    result = lse_details(video_emb, audio_emb, vshift)
    result.update(lengths)
    result.update(notes)
    return result


def score_files(video_path: str | Path, audio_path: str | Path, syncnet: SyncNet, *, resample: bool = False,
                vshift: int = VSHIFT, max_av_mismatch_s: float = DEFAULT_MAX_AV_MISMATCH_S) -> dict[str, Any]:
    """LSE of one clip from a video file (frames) and a 16 kHz mono int16 wav (audio)."""
    samples = read_wav_int16_mono(audio_path, SAMPLE_RATE)
    video = read_video(video_path, FPS, resample)
    result = score_clip(video.frames, samples, syncnet, vshift=vshift, max_av_mismatch_s=max_av_mismatch_s)
    result["video"] = str(video_path)
    result["audio"] = str(audio_path)
    if video.resampled_from_fps is not None:
        result["resampled_from_fps"] = video.resampled_from_fps
    return result


# -- datasets and fp32 vs quantized -------------------------------------------------------------

def dataset_score(clips: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Unweighted mean of per-clip LSE-D and LSE-C over clips, with N."""
    if not clips:
        raise QualityError("no clips scored: a dataset score needs at least one clip")
    return {
        "lse_d": float(np.mean([c["lse_d"] for c in clips])),
        "lse_c": float(np.mean([c["lse_c"] for c in clips])),
        "lse_n_clips": len(clips),
    }


def paired_deltas(reference: Mapping[str, Mapping[str, Any]],
                  candidate: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per-clip candidate − reference (e.g. int8 − fp32) of LSE-D and LSE-C, mean with 95 % CI.

    Clips are paired by id; clips scored on only one side are listed and left out.
    """
    common = [c for c in reference if c in candidate]
    if not common:
        raise QualityError(
            f"no clip scored on both sides: reference clips {sorted(reference)[:5]}, candidate clips "
            f"{sorted(candidate)[:5]}; score the same clips through the identical pipeline"
        )
    out: dict[str, Any] = {"lse_delta_n_pairs": len(common)}
    for key in ("lse_d", "lse_c"):
        diffs = [float(candidate[c][key]) - float(reference[c][key]) for c in common]
        s = mean_ci95(diffs)
        out[f"{key}_delta"] = s["mean"]
        out[f"{key}_delta_ci95"] = s["ci95"]
    out["lse_delta_per_clip"] = {
        c: {"lse_d": float(candidate[c]["lse_d"]) - float(reference[c]["lse_d"]),
            "lse_c": float(candidate[c]["lse_c"]) - float(reference[c]["lse_c"])} for c in common
    }
    unpaired = sorted(set(reference) ^ set(candidate))
    if unpaired:
        out["lse_delta_unpaired_clips"] = unpaired
    return out
