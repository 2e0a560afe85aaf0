"""Rounds, interleaved across the plans being compared.

A run is measured in several rounds (each a short re-warm and a full timed window). Within a suite,
the plans of one model (the configurations the report compares) run their rounds interleaved:
round 0 of A, B, C, then round 1 of each, and so on, in a rotated or shuffled order per round — as
pyperf and hyperfine interleave processes — so slow drift of a shared machine (another tenant, a
warming chassis, a governor) hits every configuration alike, and a ratio from rounds paired by
index cancels it. Each plan keeps its own process across its rounds (crash and timeout isolation
as before); a plan that fails simply drops out of the later rounds.

``drive`` is the order of things only: a session is anything with ``ready()``/``run_round(i)``,
so it is tested with fake sessions on a fake drifting clock, and used with live processes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol

ORDERS = ("rotate", "random", "fixed")


class RoundSession(Protocol):
    def ready(self) -> bool:
        """True while the session can run another round (its process is alive and waiting)."""

    def run_round(self, index: int) -> None:
        """Run round ``index`` to its end (re-warm + timed window) and return."""


def round_orders(n_plans: int, rounds: int, order: str = "rotate", seed: int = 0) -> list[list[int]]:
    """The plan indices of each round: ``fixed`` A B C every round; ``rotate`` A B C, B C A, C A B …
    (each plan leads in turn, so no plan always runs first after the previous round); ``random`` a
    seeded shuffle per round."""
    if order not in ORDERS:
        raise ValueError(f"round order {order!r}: expected one of {', '.join(ORDERS)}")
    base = list(range(n_plans))
    out = []
    rng = random.Random(seed)
    for r in range(rounds):
        if order == "fixed" or n_plans < 2:
            out.append(list(base))
        elif order == "rotate":
            k = r % n_plans
            out.append(base[k:] + base[:k])
        else:
            shuffled = list(base)
            rng.shuffle(shuffled)
            out.append(shuffled)
    return out


def drive(sessions: Sequence[RoundSession], rounds: int, order: str = "rotate", seed: int = 0) -> dict[str, Any]:
    """Run ``rounds`` rounds of every session, interleaved; returns each session's position per round."""
    positions: list[list[int]] = [[] for _ in sessions]
    for r, plan_order in enumerate(round_orders(len(sessions), rounds, order, seed)):
        pos = 0
        for i in plan_order:
            if sessions[i].ready():
                sessions[i].run_round(r)
                positions[i].append(pos)
                pos += 1
    return {"order": order, "rounds": rounds, "positions": positions}


def back_to_back(sessions: Sequence[RoundSession], rounds: int) -> None:
    """Every round of one session, then every round of the next (what interleaving replaces)."""
    for s in sessions:
        for r in range(rounds):
            if s.ready():
                s.run_round(r)
