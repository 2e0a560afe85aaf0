"""Reading the media quality scorers consume: wav files and video frames.

Video is decoded with PyAV (``pip install av``, in the ``quality`` extra) or, failing that,
OpenCV; frames come back as uint8 H×W×3 in **BGR** order (what SyncNet was trained on, as OpenCV
reads it) with their presentation times in seconds. Nothing is re-encoded: a clip that is not at
the wanted frame rate is refused, or resampled by picking the nearest frame in time when the
caller asks for that explicitly (with a warning, because ffmpeg's re-encode can pick differently).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.quality import QualityError

_CONVERT_HINT = "convert it with: ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav"


@dataclass
class Video:
    frames: np.ndarray  # (T, H, W, 3) uint8, BGR
    fps: float
    times_s: np.ndarray  # presentation time of each frame
    source: str = ""
    resampled_from_fps: float | None = None

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps if self.fps else 0.0


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples, sample_rate) of a PCM wav, samples as stored (int16 stays int16), mono or (n, ch)."""
    from scipy.io import wavfile

    p = Path(path)
    if not p.is_file():
        raise QualityError(f"audio file {p} not found: pass the wav the model produced")
    try:
        rate, data = wavfile.read(p)
    except ValueError as exc:
        raise QualityError(f"cannot read {p} as a wav file ({exc}); {_CONVERT_HINT}") from exc
    return data, int(rate)


def read_wav_int16_mono(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """The int16 mono samples SyncNet's MFCC expects; anything else is refused with the fix."""
    data, rate = read_wav(path)
    if rate != sample_rate:
        raise QualityError(f"{path}: expected {sample_rate} Hz audio, found {rate} Hz; {_CONVERT_HINT}")
    if data.ndim != 1:
        raise QualityError(f"{path}: expected mono audio, found {data.shape[1]} channels; {_CONVERT_HINT}")
    if data.dtype != np.int16:
        raise QualityError(
            f"{path}: expected 16-bit PCM samples, found {data.dtype}; SyncNet's MFCC works on raw int16 "
            f"values; {_CONVERT_HINT}"
        )
    return data


def read_wav_float_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float in [-1, 1] (int PCM divided by its full scale) and the rate; mono only."""
    data, rate = read_wav(path)
    if data.ndim != 1:
        raise QualityError(f"{path}: expected mono audio, found {data.shape[1]} channels; {_CONVERT_HINT}")
    if data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        x = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        x = data.astype(np.float32)
    return x, rate


def _decode_pyav(path: Path) -> tuple[list[np.ndarray], list[float], float]:
    import av

    frames, times = [], []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise QualityError(f"{path} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        for i, frame in enumerate(container.decode(stream)):
            frames.append(frame.to_ndarray(format="bgr24"))
            t = frame.time
            times.append(float(t) if t is not None else (i / fps if fps else float(i)))
    return frames, times, fps


def _decode_opencv(path: Path) -> tuple[list[np.ndarray], list[float], float]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise QualityError(f"OpenCV cannot open {path}; check the file or install av (pip install av)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    frames, times = [], []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
            times.append(len(times) / fps if fps else float(len(times)))
    finally:
        cap.release()
    return frames, times, fps


def read_video(path: str | Path, fps: float = 25.0, resample: bool = False) -> Video:
    """Decode every frame (BGR uint8). Not at ``fps``: refuse, or resample when ``resample``."""
    p = Path(path)
    if not p.is_file():
        raise QualityError(f"video file {p} not found")
    try:
        import av  # noqa: F401

        decode = _decode_pyav
    except ImportError:
        try:
            import cv2  # noqa: F401

            decode = _decode_opencv
        except ImportError:
            raise QualityError(
                "reading a video file needs PyAV or OpenCV and neither is installed: "
                "pip install av  (or pip install 'edgebench[quality]'); or pass frame arrays instead"
            ) from None
    frames, times, found_fps = decode(p)
    if not frames:
        raise QualityError(f"{p}: no video frames could be decoded")
    video = Video(np.stack(frames), found_fps, np.asarray(times, dtype=np.float64), str(p))
    return conform_fps(video, fps, resample)


def conform_fps(video: Video, fps: float = 25.0, resample: bool = False) -> Video:
    """Return ``video`` at ``fps``: unchanged if it already is, else refused or resampled."""
    if video.fps and abs(video.fps - fps) < 1e-3:
        return video
    if not resample:
        raise QualityError(
            f"{video.source or 'video'} is at {video.fps:g} fps but SyncNet's evaluation expects {fps:g} fps: "
            f"re-encode it (ffmpeg -i IN -r {fps:g} OUT.mp4), or ask edgebench to resample it "
            "(--resample-fps / resample=True; nearest frame in time, with a warning)"
        )
    if not video.fps:
        raise QualityError(f"{video.source or 'video'}: frame rate unknown, cannot resample; re-encode at {fps:g} fps")
    warnings.warn(
        f"{video.source or 'video'}: resampling {video.fps:g} fps to {fps:g} fps by nearest frame in time; "
        "scores may differ slightly from an ffmpeg re-encode (compare fp32 and quantized the same way)",
        stacklevel=2,
    )
    start = float(video.times_s[0])
    duration = len(video.frames) / video.fps
    n_out = max(1, int(np.floor(duration * fps + 1e-9)))
    wanted = start + np.arange(n_out) / fps
    # nearest source frame to each output instant
    idx = np.searchsorted(video.times_s, wanted)
    idx = np.clip(idx, 1, len(video.times_s) - 1) if len(video.times_s) > 1 else np.zeros_like(idx)
    if len(video.times_s) > 1:
        left_closer = (wanted - video.times_s[idx - 1]) <= (video.times_s[idx] - wanted)
        idx = np.where(left_closer, idx - 1, idx)
    return Video(video.frames[idx], fps, wanted, video.source, resampled_from_fps=video.fps)
