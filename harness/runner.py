"""The runner: one plan → one record. It owns the stop rule and the order of things; the phases
(harness/phases.py) run in a process of their own (harness/launchers.py), trackers
(harness/trackers.py) measure around them, and ``record_from`` (harness/record.py) builds the record.

A child that raises, crashes (segfault/abort) or hangs past the timeout becomes a ``failed``
record with the reason, and the suite goes on.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import BackendError
from harness.errors import UsageError
from harness.inputs import as_model_dtype, resolve_specs
from harness.launchers import Outcome, ProcessLauncher
from harness.phases import INPUT_POOL_SIZE, timed_loop
from harness.plan import RunPlan
from harness.quality.scoring import gate_figures, score
from harness.record import base_record, quality_warnings, record_from
from harness.trackers import default_trackers
from results.schema import RunRecord

__all__ = ["INPUT_POOL_SIZE", "RunContext", "Terminated", "as_model_dtype", "gate_figures", "interrupted_message",
           "precheck", "quality_warnings", "resolve_specs", "run_plan", "score", "timed_loop"]


@dataclass
class RunContext:
    """Where a run writes and what it records about the machine."""

    out_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=lambda: {"name": "host"})
    telemetry: Any = None  # devices.telemetry.Telemetry, or None for none
    device_options: dict[str, Any] = field(default_factory=dict)  # the profile's options (cool-down threshold...)

    @property
    def cache_dir(self) -> Path:
        return self.out_dir / "cache"


def precheck(plan: RunPlan) -> str | None:
    """Why this plan cannot run on this machine at all (→ skipped), or None."""
    cls = plan.backend_class()
    availability = cls.probe()
    if not availability.available:
        return f"{plan.backend.name} is not available here: {availability.reason}"
    if plan.model.variants and plan.precision.name not in plan.model.variants:
        return (f"model {plan.model.name} declares variants {sorted(plan.model.variants)} and no "
                f"{plan.precision.name} file")
    if plan.precision.name not in cls.precisions and not plan.model.variants:
        return f"{plan.backend.name} cannot produce {plan.precision.name} (it offers {', '.join(cls.precisions)})"
    return None


def run_plan(plan: RunPlan, ctx: RunContext) -> RunRecord:
    """Run one plan in its own process and return its record (never raises for a failing model)."""
    why_not = precheck(plan)
    if why_not:
        return base_record(plan, ctx.device, ctx.environment, "skipped", why_not)
    try:
        plan = plan.resolved(ctx.cache_dir / "zoo")
    except (UsageError, BackendError) as exc:
        return base_record(plan, ctx.device, ctx.environment, "failed", str(exc))
    source = plan.resolved_source()
    if source.format not in plan.backend_class().source_formats:
        return base_record(plan, ctx.device, ctx.environment, "skipped",
                           f"{plan.backend.name} does not run {source.format} models ({source.path.name})")
    trackers = default_trackers(ctx.telemetry, plan.runner, ctx.device_options)
    outcome = ProcessLauncher(ctx.cache_dir).launch(plan, trackers)
    return record_of(plan, ctx, outcome)


def record_of(plan: RunPlan, ctx: RunContext, outcome: Outcome) -> RunRecord:
    """The record of a launched run, whatever its end."""
    record = base_record(plan, ctx.device, ctx.environment, "ok")
    record.phase = outcome.phase
    if outcome.kind == "result" and outcome.result is not None:
        return record_from(plan, outcome.result, record, outcome.figures)
    for fig in outcome.figures:  # e.g. the cool-down before a run that then failed
        record.extra.update(fig.extra)
    payload = outcome.payload
    if outcome.kind == "skipped":
        record.status, record.reason = "skipped", payload["reason"]
    elif outcome.kind == "error":
        record.status = "failed"
        record.reason = f"{payload['reason']} (phase {payload.get('phase', outcome.phase)}{payload.get('where', '')})"
        if payload.get("traceback"):
            record.extra["traceback"] = payload["traceback"]
    else:
        code = outcome.exitcode
        how = f"was killed by {_signal_name(code)}" if code is not None and code < 0 else f"exited with code {code}"
        record.status = "failed"
        record.reason = f"the run's process {how} during phase {outcome.phase} (a crash in the backend?)"
    return record


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (like Ctrl-C), so runs stop and what finished is kept."""


def raise_on_sigterm() -> Any:
    """Handle SIGTERM like SIGINT until the returned previous handler is put back."""
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def interrupted_message(saved: int) -> str:
    return f"interrupted: {saved} finished run(s) are saved; nothing half-written was stored"
