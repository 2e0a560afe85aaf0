"""Quality scoring: how much a quantized model's output lost against the fp32 reference.

- ``fidelity``: SQNR, cosine, abs/rel errors, PSNR/SSIM (image/video), SI-SDR/LSD (audio).
- ``lse``: LSE-D/LSE-C lip-sync scores through a user-supplied SyncNet ONNX model.
- ``mfcc``: the MFCC front end SyncNet's evaluation expects (python_speech_features' defaults).
- ``mos``: listening-test ratings -> MOS-LQS per condition with 95 % CI and paired ΔMOS.
- ``dnsmos``: predicted speech quality (DNSMOS P.835, MOS-LQO) from a user-supplied model.
- ``gates``: ``{"sqnr_db": ">= 25"}`` thresholds evaluated on a run's figures.
- ``attach``: store scores on runs that finished long ago and re-evaluate their gates.

Definitions follow shared/reference/quality.md exactly; each module says where it had to choose.
"""

from __future__ import annotations

from harness.errors import UsageError


class QualityError(UsageError, ValueError):
    """Bad input to a scorer. A ValueError too, so library callers can catch it generically."""
