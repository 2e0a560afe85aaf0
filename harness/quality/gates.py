"""Quality gates: ``{"sqnr_db": ">= 25", "lse_d_delta": "<= 0.3", "mos_delta": ">= -0.2"}``.

Grammar of a gate spec: ``<op> <number>`` with op one of ``>=``, ``<=``, ``>``, ``<``, ``==``
and a decimal number (sign and exponent allowed); spaces around the parts are optional.
The gate's name is the figure it reads. A figure that is missing or ``None`` leaves the gate
undecided (``passed: None``, ``reason: "not scored yet"``), never failed: a listening test may
finish weeks after the benchmark, and attaching its scores re-evaluates the gate.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.quality import QualityError

GRAMMAR = "'<op> <number>' with op one of >=, <=, >, <, == (e.g. '>= 25', '<= 0.3', '>= -0.2')"
NOT_SCORED = "not scored yet"

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
#: Every figure a gate may name: what the runner measures (``harness.runner.gate_figures``), what
#: fidelity scoring writes, and what ``edgebench score`` attaches later (MOS, DNSMOS, LSE).
#: A suite's gates are checked against this list before anything runs, so a misspelt metric is an
#: error instead of a gate that stays "not scored yet" and can never fail.
GATE_METRICS: frozenset[str] = frozenset(
    [f"latency_{k}_ms" for k in ("mean", "std", "min", "max", "p50", "p90", "p95", "p99", "n", "cv_pct")]
    + ["peak_rss_bytes", "energy_per_inference_mj"]
    + ["sqnr_db", "cosine", "max_abs_err", "mean_abs_err", "p99_abs_err", "rel_err", "nonfinite",
       "psnr_db", "ssim", "si_sdr_db", "lsd_db"]
    + ["lse_d", "lse_c", "lse_d_delta", "lse_c_delta"]
    + ["mos", "mos_ci95", "mos_delta", "mos_delta_ci95", "mos_delta_p_value", "mos_n_votes", "mos_n_listeners"]
    + ["mos_lqo_sig", "mos_lqo_bak", "mos_lqo_ovrl"]
)
_SPEC = re.compile(r"^\s*(>=|<=|==|>|<)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    op: str
    threshold: float

    def check(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.threshold))

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_gate(spec: str) -> Gate:
    """``">= 25"`` -> Gate(">=", 25.0); anything else -> ValueError naming the grammar."""
    if not isinstance(spec, str):
        raise QualityError(f"gate spec must be a string {GRAMMAR}; found {spec!r} ({type(spec).__name__})")
    match = _SPEC.match(spec)
    if not match:
        raise QualityError(f"bad gate spec {spec!r}: expected {GRAMMAR}")
    return Gate(match.group(1), float(match.group(2)))


def _lookup(figures: Mapping[str, Any], name: str) -> Any:
    """A flat key first; else a dotted path into nested groups (``quality.sqnr_db``)."""
    if name in figures:
        return figures[name]
    node: Any = figures
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def evaluate_gates(gates: Mapping[str, str], figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each gate -> ``{"spec", "value", "passed": True|False|None, "reason"?}``.

    Every spec is parsed before any is evaluated, so a typo fails loudly instead of silently
    leaving one gate undecided.
    """
    parsed = {name: parse_gate(spec) for name, spec in gates.items()}
    results: dict[str, dict[str, Any]] = {}
    for name, gate in parsed.items():
        value = _lookup(figures, name)
        entry: dict[str, Any] = {"spec": gates[name], "value": value, "passed": None}
        if value is None:
            entry["reason"] = NOT_SCORED
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            entry["reason"] = f"figure {name!r} is not a number ({value!r}); gates compare numbers"
        elif math.isnan(float(value)):
            entry["value"] = None
            entry["reason"] = f"figure {name!r} is NaN: it could not be measured"
        else:
            entry["value"] = float(value)
            entry["passed"] = gate.check(float(value))
        results[name] = entry
    return results


def failed(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the gates that were decided and did not pass."""
    return [name for name, r in results.items() if r.get("passed") is False]


def gate_figures(quality: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flat figures of a record's quality group that gates can read (numbers only)."""
    out: dict[str, Any] = {}
    for key, value in (quality or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    return out
