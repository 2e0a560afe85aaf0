"""The run record: one benchmark of one model × backend × precision on one device.

Every figure carries its unit in its name. A figure that was not measured is ``None`` and the
group it belongs to says why in its ``reason`` field (e.g. ``power.reason``); it is never 0.
Raw samples (per-iteration latencies, memory and power traces) live in ``samples`` and are stored
apart from the record so listing runs stays cheap.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "skipped")


def new_run_id() -> str:
    """Sortable by time, unique across machines: ``YYYYmmddTHHMMSS-xxxxxxxx``."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def utc_now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def unavailable(reason: str, **figures: Any) -> dict[str, Any]:
    """A group of figures that could not be measured: each ``None``, with the reason."""
    return {**{k: None for k in figures}, "reason": reason}


def _nones(names: tuple[str, ...]) -> dict[str, None]:
    return dict.fromkeys(names)


POWER_FIELDS = ("mean_w", "peak_w", "idle_w", "energy_j", "energy_per_inference_mj", "source", "sample_hz")
THERMAL_FIELDS = ("start_c", "end_c", "throttled")


@dataclass
class RunRecord:
    run_id: str
    status: str
    precision: str
    model: dict[str, Any]  # name, sha256, path, format
    backend: dict[str, Any]  # name, version, options, info
    device: dict[str, Any]  # name (profile) and facts
    reason: str | None = None
    created_at: str = field(default_factory=utc_now_iso)
    suite: str | None = None
    variant: dict[str, Any] = field(default_factory=dict)  # precision, settings, key
    environment: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)  # the settings the run used
    phase: str | None = None  # last phase reached (useful on failure)
    prepare_s: float | None = None
    load_s: float | None = None
    first_inference_ms: float | None = None
    warmup_iterations: int | None = None
    latency_ms: dict[str, Any] | None = None
    throughput_ips: float | None = None
    items_per_s: float | None = None
    batch_size: int = 1
    memory: dict[str, Any] = field(default_factory=dict)
    artifact_bytes: int | None = None
    artifact: dict[str, Any] = field(default_factory=dict)
    power: dict[str, Any] = field(default_factory=lambda: unavailable("not measured", **_nones(POWER_FIELDS)))
    thermal: dict[str, Any] = field(default_factory=lambda: unavailable("not measured", **_nones(THERMAL_FIELDS)))
    quality: dict[str, Any] = field(default_factory=lambda: {"reason": "not scored"})
    gates: dict[str, Any] = field(default_factory=dict)
    # A whole generation of a multi-stage pipeline (None for a single-model run): name, steps, chunks,
    # media_s, generation_s, rtf, x_realtime, first_chunk_s, resident, stages, step_ms, peak_rss_bytes.
    pipeline: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # What the runtime actually computed in, read back after load (precision, by_type counts, source,
    # reason when unknown). ``precision`` above is the label that was asked for; they can differ.
    executed_precision: dict[str, Any] | None = None
    # Per-operator profile from a separate pass after the timed rounds (results.profile.normalise); None when
    # the run was not profiled. Its rows are also kept in the store's profile table.
    profile: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, found {self.status!r}")

    def to_dict(self, with_samples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_samples:
            d.pop("samples")
        return d

    def to_json(self, with_samples: bool = False) -> str:
        return json.dumps(self.to_dict(with_samples), default=_json_default, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        extra = {k: v for k, v in d.items() if k not in known}
        record = cls(**kwargs)
        if extra:
            record.extra.update(extra)
        return record

    def config_key(self) -> tuple[str, str, str, str]:
        """What identifies "the same configuration" across result sets. A pipeline's step count and
        memory strategy are part of its configuration (one record per steps of a sweep)."""
        model = self.model.get("name", "")
        if self.pipeline:
            model = f"{model} [{', '.join(self._pipeline_key())}]"
        return (model, self.backend.get("name", ""), self.precision, self.device.get("name", ""))

    def _pipeline_key(self) -> list[str]:
        """A pipeline's configuration beyond model/backend/precision: steps, memory strategy, the stages
        whose precision or backend override the pipeline's, and the reference's step count (quality
        against fp32 at 30 steps is not the same figure as against 20)."""
        p = self.pipeline or {}
        parts = [f"{p.get('steps')} steps", str(p.get("resident"))]
        backend = self.backend.get("name", "")
        for name, stage in (p.get("stages") or {}).items():
            over = [v for v in (stage.get("precision"), stage.get("backend"))
                    if v is not None and v not in (self.precision, backend)]
            if over:
                parts.append(f"{name}={'/'.join(over)}")
        ref = p.get("reference_steps") or ((self.quality or {}).get("reference") or {}).get("steps")
        if ref is not None:
            parts.append(f"reference {ref} steps")
        return parts


# The compute precision each label promises. The int8 labels promise integer kernels for the quantized
# layers (float layers may remain, by design for int8-mixed).
_LABEL_COMPUTE = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "int8": "int8", "int8-dynamic": "int8",
                  "int8-mixed": "int8"}


def precision_mismatch(label: str, executed: dict[str, Any] | None) -> str | None:
    """Why a run labelled ``label`` did not compute in that precision, or None (it did, or it is unknown)."""
    if not executed or not executed.get("precision") or label not in _LABEL_COMPUTE:
        return None
    ran = str(executed["precision"])
    wanted = _LABEL_COMPUTE[label]
    if wanted == "int8" and ran in ("int8", "int4"):
        return None
    by_type = executed.get("by_type") or {}
    if ran == wanted and not (wanted == "fp32" and any(by_type.get(t) for t in ("fp16", "bf16", "fp8"))):
        return None
    counts = ", ".join(f"{k} {v}" for k, v in by_type.items()) or "no counts"
    unit = executed.get("unit") or "layers"
    if ran == wanted:  # fp32 overall, but some layers ran narrower: fp32 promises full precision throughout
        return (f"labelled {label} but some {unit} ran in reduced precision ({counts}; from "
                f"{executed.get('source') or 'the runtime'})")
    source = executed.get("source") or "the runtime"
    return f"labelled {label} but the runtime executed {ran} ({unit}: {counts}; from {source})"


def executed_label(record: RunRecord) -> str:
    """How a report names what a run ran: its label, or ``label (ran executed)`` when they differ."""
    if precision_mismatch(record.precision, record.executed_precision):
        executed = record.executed_precision or {}
        ran = executed.get("precision")
        if ran == record.precision:  # fp32 overall with some narrower layers
            ran = "mixed " + "+".join(k for k, v in (executed.get("by_type") or {}).items() if v)
        return f"{record.precision} (ran {ran})"
    return record.precision


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def sanitize(value: Any) -> Any:
    """Replace non-finite floats by None so records are valid JSON (NaN is not a figure)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"latency_ms": {"p50": 1}}`` -> ``{"latency_ms.p50": 1}`` for tables and CSV."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            if v:
                out.update(flatten(v, key + "."))
            else:
                out[key] = None  # an empty group has no figures (and columnar formats cannot hold {})
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, default=_json_default)
        else:
            out[key] = v
    return out
