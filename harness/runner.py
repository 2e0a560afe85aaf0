"""The runner: one plan → one record. It owns the stop rule and the order of things; the phases
(harness/phases.py) run in a process of their own (harness/launchers.py), trackers
(harness/trackers.py) measure around them, and ``record_from`` (harness/record.py) builds the record.

A child that raises, crashes (segfault/abort) or hangs past the timeout becomes a ``failed``
record with the reason, and the suite goes on.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import BackendError
from harness.errors import UsageError
from harness.inputs import as_model_dtype, resolve_specs
from harness.launchers import LiveRun, Outcome, ProcessLauncher
from harness.phases import INPUT_POOL_SIZE, timed_loop
from harness.plan import RunPlan
from harness.quality.scoring import gate_figures, score
from harness.record import base_record, outcome_record, quality_warnings, record_from
from harness.rounds import drive
from harness.trackers import default_trackers
from results.schema import RunRecord

__all__ = ["INPUT_POOL_SIZE", "RunContext", "Terminated", "as_model_dtype", "gate_figures", "interrupted_message",
           "precheck", "quality_warnings", "resolve_specs", "run_plan", "run_plans", "score", "timed_loop"]


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
    wanted = "int8-mixed" if plan.precision.name == "int8-auto" else plan.precision.name  # auto runs as mixed
    if wanted not in cls.precisions and not plan.model.variants:
        return f"{plan.backend.name} cannot produce {plan.precision.name} (it offers {', '.join(cls.precisions)})"
    return None


def _resolved_or_record(plan: RunPlan, ctx: RunContext) -> RunPlan | RunRecord:
    """The plan resolved and ready to launch, or the skipped/failed record that says why it cannot run."""
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
    return plan


def _trackers(plan: RunPlan, ctx: RunContext) -> list[Any]:
    return default_trackers(ctx.telemetry, plan.runner, ctx.device_options)


def run_plan(plan: RunPlan, ctx: RunContext) -> RunRecord:
    """Run one plan in its own process and return its record (never raises for a failing model)."""
    ready = _resolved_or_record(plan, ctx)
    if isinstance(ready, RunRecord):
        return ready
    outcome = ProcessLauncher(ctx.cache_dir, passes=extra_passes(ready)).launch(ready, _trackers(ready, ctx))
    return record_of(ready, ctx, outcome)


class _Session:
    """One plan's live process across interleaved rounds (``harness.rounds.RoundSession``)."""

    def __init__(self, plan: RunPlan, ctx: RunContext, launcher: ProcessLauncher) -> None:
        self.plan, self.ctx, self.launcher = plan, ctx, launcher
        self.record: RunRecord | None = None
        self.live: LiveRun | None = None

    def open(self) -> None:
        """Prepare, load and warm up, up to the gate of round 0 (or to the end, when it fails)."""
        ready = _resolved_or_record(self.plan, self.ctx)
        if isinstance(ready, RunRecord):
            self.record = ready
            return
        self.plan = ready
        self.live = self.launcher.open(ready, _trackers(ready, self.ctx))
        self._after(self.live.advance())

    def ready(self) -> bool:
        return self.live is not None and self.record is None

    def run_round(self, index: int) -> None:
        assert self.live is not None
        self.live.release(after_others=True)
        self._after(self.live.advance())

    def _after(self, outcome: Outcome | None) -> None:
        if outcome is not None and self.live is not None:
            self.record = record_of(self.plan, self.ctx, self.live.close(outcome))

    def abort(self) -> None:
        """Stop a process still waiting for a round (Ctrl-C, or more gates than rounds driven)."""
        if self.live is not None and self.record is None:
            self.record = record_of(self.plan, self.ctx, self.live.close(None))


def interleave_groups(plans: Sequence[RunPlan]) -> list[list[int]]:
    """Indices of the plans whose rounds run interleaved: consecutive plans of one model and backend
    (the precisions the report compares with fp32 on the same backend). Processes of a group stay alive
    together, so grouping per backend bounds memory at one runtime's worth of variants."""
    groups: list[list[int]] = []
    key = None
    for i, plan in enumerate(plans):
        k = (plan.model.name, plan.backend.name)
        if not (plan.runner.interleave and plan.runner.rounds > 1):
            groups.append([i])
            key = None
            continue
        if groups and k == key:
            groups[-1].append(i)
        else:
            groups.append([i])
        key = k
    return groups


def run_plans(plans: Sequence[RunPlan], ctx: RunContext,
              on_start: Callable[[int, RunPlan], None] | None = None) -> Iterator[tuple[int, RunRecord]]:
    """Run every plan, interleaving the rounds of each group (``interleave_groups``); yields
    (plan index, record) as each group finishes. Each plan keeps its own process and timeout."""
    for group in interleave_groups(plans):
        if len(group) == 1:
            if on_start:
                on_start(group[0], plans[group[0]])
            yield group[0], run_plan(plans[group[0]], ctx)
            continue
        # A group comes from one suite, so its plans share the profile setting: the passes after their rounds.
        launcher = ProcessLauncher(ctx.cache_dir, passes=extra_passes(plans[group[0]]))
        sessions = [_Session(plans[i], ctx, launcher) for i in group]
        session_id = uuid.uuid4().hex[:12]
        try:
            for i, s in zip(group, sessions):
                if on_start:
                    on_start(i, plans[i])
                s.open()
            info = drive(sessions, plans[group[0]].runner.rounds, order="rotate")
        finally:
            for s in sessions:
                s.abort()
        labels = [plans[i].label for i in group]
        for k, (i, s) in enumerate(zip(group, sessions)):
            assert s.record is not None
            if s.record.status == "ok":
                s.record.extra.setdefault("rounds", {}).update(
                    {"session": session_id, "interleaved_with": [x for x in labels if x != plans[i].label],
                     "order": info["order"], "positions": info["positions"][k]})
            yield i, s.record


def extra_passes(plan: RunPlan) -> list[tuple[str, Any]]:
    """The passes after the timed rounds this plan asks for: today the per-operator profile (``--profile``)."""
    from harness.profiling import profile_phase_pass

    return [("profile", profile_phase_pass)] if plan.profile.enabled else []


def record_of(plan: RunPlan, ctx: RunContext, outcome: Outcome) -> RunRecord:
    """The record of a launched run, whatever its end."""
    record = base_record(plan, ctx.device, ctx.environment, "ok")
    return outcome_record(record, outcome, lambda r: record_from(plan, outcome.result, r, outcome.figures),
                          "the run's process", " (a crash in the backend?)")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (like Ctrl-C), so runs stop and what finished is kept."""


def raise_on_sigterm() -> Any:
    """Handle SIGTERM like SIGINT until the returned previous handler is put back."""
    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def interrupted_message(saved: int) -> str:
    return f"interrupted: {saved} finished run(s) are saved; nothing half-written was stored"
