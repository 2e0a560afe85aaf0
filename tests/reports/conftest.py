"""A factory of constructed run records for report tests (no runtime needed).

Latency summaries are computed from generated samples with the project's own statistics, so each
record is self-consistent (p50 and its CI agree with the samples the charts draw).
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
import pytest

from results.schema import RunRecord, unavailable
from results.stats import summarize, throughput

_counter = itertools.count()


def make_record(
    *,
    model: str = "tiny-encoder",
    backend: str = "onnxruntime",
    precision: str = "fp32",
    device: str = "host",
    status: str = "ok",
    reason: str | None = None,
    p50_ms: float = 10.0,
    n: int = 200,
    spread: float = 0.03,
    seed: int | None = None,
    artifact_bytes: int | None = 4_000_000,
    peak_rss_bytes: int | None = 150_000_000,
    sqnr_db: float | None = None,
    quality: dict[str, Any] | None = None,
    power: dict[str, Any] | None = None,
    thermal: dict[str, Any] | None = None,
    gates: dict[str, Any] | None = None,
    suite: str | None = "unit",
    created_at: str | None = None,
    with_samples: bool = True,
) -> RunRecord:
    """One run record; latency samples are lognormal around ``p50_ms`` with relative ``spread``."""
    i = next(_counter)
    # Default seed from the configuration, so samples do not depend on test order (xdist).
    default_seed = zlib.crc32(f"{model}|{backend}|{precision}|{device}|{p50_ms}|{n}|{spread}".encode())
    rng = np.random.default_rng(seed if seed is not None else default_seed)
    kwargs: dict[str, Any] = {}
    samples: dict[str, list[float]] = {}
    if status == "ok":
        lat = (p50_ms * np.exp(rng.normal(0.0, spread, size=n))).tolist()
        summary = summarize(lat)
        ips, _ = throughput(lat)
        kwargs.update(latency_ms=summary, throughput_ips=ips, load_s=0.12, first_inference_ms=p50_ms * 3)
        if with_samples:
            samples["latency_ms"] = lat
    if quality is None:
        quality = {"reason": "not scored"} if sqnr_db is None else {"sqnr_db": sqnr_db, "cosine": 0.999}
    record = RunRecord(
        run_id=f"20250101T0000{i:02d}-{i:08x}"[:24],
        status=status,
        reason=reason,
        precision=precision,
        model={"name": model, "sha256": "ab" * 32, "format": "onnx"},
        backend={"name": backend, "version": "1.0"},
        device={"name": device, "facts": {"power_mode": "n/a", "cores": 2}},
        suite=suite,
        created_at=created_at or f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        environment={
            "os": "Linux", "kernel": "6.1", "python": "3.11",
            "cpu": {"model": "Test CPU", "isa_features": ["avx2", "fma"]},
            "packages": {"onnxruntime": "1.31.0", "numpy": "2.4"},
            "edgebench": {"version": "0.1.0", "commit": "abc1234"},
        },
        artifact_bytes=artifact_bytes if status == "ok" else None,
        memory={"peak_rss_bytes": peak_rss_bytes} if status == "ok" else {"reason": "run did not finish"},
        power=power or unavailable("no power sensor on this machine", mean_w=None, peak_w=None, idle_w=None,
                                   energy_j=None, energy_per_inference_mj=None, source=None),
        thermal=thermal or unavailable("no thermal zone readable", start_c=None, end_c=None, throttled=None),
        quality=quality,
        gates=gates or {},
        samples=samples,
        **kwargs,
    )
    return record


@pytest.fixture
def factory():
    return make_record


@pytest.fixture
def matrix_records() -> list[RunRecord]:
    """A small realistic suite: two backends × three precisions, one failure, one skip, power on one."""
    gate = {"spec": ">= 25", "value": None, "passed": None}

    def g(value: float) -> dict[str, Any]:
        return {"sqnr_db": {**gate, "value": value, "passed": value >= 25}}

    power = {"mean_w": 6.2, "peak_w": 7.9, "idle_w": 2.1, "energy_j": 1.9, "energy_per_inference_mj": 41.0,
             "source": "fake-ina3221", "reason": None}
    return [
        make_record(backend="onnxruntime", precision="fp32", p50_ms=12.0, artifact_bytes=17_000_000,
                    peak_rss_bytes=210_000_000, sqnr_db=None, gates={}),
        make_record(backend="onnxruntime", precision="int8", p50_ms=18.0, artifact_bytes=4_400_000,
                    peak_rss_bytes=160_000_000, sqnr_db=28.0, gates=g(28.0)),
        make_record(backend="onnxruntime", precision="int8-dynamic", p50_ms=6.5, artifact_bytes=4_500_000,
                    peak_rss_bytes=150_000_000, sqnr_db=31.0, gates=g(31.0), power=power),
        make_record(backend="openvino", precision="fp32", p50_ms=9.8, artifact_bytes=17_000_000,
                    peak_rss_bytes=260_000_000),
        make_record(backend="openvino", precision="int8", p50_ms=4.2, artifact_bytes=4_400_000,
                    peak_rss_bytes=180_000_000, sqnr_db=19.0, gates=g(19.0), n=100),
        make_record(backend="openvino", precision="fp16", status="failed",
                    reason="compile: unsupported op LayerNormalization for fp16 on CPU"),
        make_record(backend="litert", precision="int8", status="skipped",
                    reason="ai-edge-litert is not installed: pip install 'edgebench[litert]'"),
    ]
