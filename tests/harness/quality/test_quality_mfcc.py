"""Our MFCC against the installed python_speech_features package on generated signals."""

from __future__ import annotations

import numpy as np
import pytest

from harness.quality import QualityError
from harness.quality.mfcc import mfcc

psf = pytest.importorskip("python_speech_features", reason="python_speech_features is the reference (dev extra)")


def _speechlike(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    tone = 4000 * np.sin(2 * np.pi * (180 + 60 * np.sin(2 * np.pi * 3 * t)) * t)
    noise = 800 * rng.standard_normal(n)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    x = (tone * envelope + noise).astype(np.int16)
    x[n // 3: n // 3 + 2000] = 0  # a stretch of digital silence (log of zero energy)
    return x


@pytest.mark.parametrize(("n", "seed"), [(16000 * 2 + 123, 0), (640 * 31, 1), (399, 2), (400, 3), (401, 4)])
def test_mfcc_matches_python_speech_features(n, seed):
    x = _speechlike(n, seed)
    ours = mfcc(x)
    reference = psf.mfcc(x, 16000)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9)


def test_mfcc_frame_count_and_bad_input():
    assert mfcc(np.zeros(16000, np.int16)).shape == (99, 13)  # 1 + ceil((16000 − 400) / 160)
    with pytest.raises(QualityError, match="mono"):
        mfcc(np.zeros((2, 100)))
