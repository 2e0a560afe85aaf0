"""Interleaving order, and why it matters: a FAKE slow-drift machine (a fake clock, no real timing)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.rounds import back_to_back, drive, round_orders
from results.stats import paired_ratio_ci


def test_round_orders():
    assert round_orders(3, 3, "fixed") == [[0, 1, 2]] * 3
    assert round_orders(3, 4, "rotate") == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]
    shuffled = round_orders(4, 5, "random", seed=3)
    assert all(sorted(o) == [0, 1, 2, 3] for o in shuffled)
    assert shuffled == round_orders(4, 5, "random", seed=3)  # seeded: the order is reproducible
    with pytest.raises(ValueError, match="expected one of rotate, random, fixed"):
        round_orders(2, 2, "zigzag")


class FakeDriftMachine:
    """A FAKE shared machine whose slowdown grows with every round run on it (another tenant ramping up)."""

    def __init__(self, drift_per_round: float = 0.06) -> None:
        self.t = 0
        self.drift = drift_per_round
        self.rng = np.random.default_rng(0)

    def window(self, true_ms: float) -> list[float]:
        factor = 1.0 + self.drift * self.t
        self.t += 1
        return (true_ms * factor * np.exp(self.rng.normal(0, 0.005, 200))).tolist()


class FakeSession:
    """Stands in for a plan's live process: each round is one timed window on the fake machine."""

    def __init__(self, machine: FakeDriftMachine, true_ms: float, fail_after: int | None = None) -> None:
        self.machine, self.true_ms, self.fail_after = machine, true_ms, fail_after
        self.round_p50: list[float] = []
        self.ran: list[int] = []

    def ready(self) -> bool:
        return self.fail_after is None or len(self.ran) < self.fail_after

    def run_round(self, index: int) -> None:
        self.ran.append(index)
        self.round_p50.append(float(np.median(self.machine.window(self.true_ms))))


def _ratio(order_fn) -> tuple[float, float, float]:
    machine = FakeDriftMachine()
    fp32, int8 = FakeSession(machine, 10.0), FakeSession(machine, 8.0)  # int8 truly 0.8x of fp32
    order_fn([fp32, int8])
    return paired_ratio_ci(fp32.round_p50, int8.round_p50)


def test_interleaved_rounds_keep_the_ratio_right_under_slow_drift():
    _, lo, hi = _ratio(lambda s: drive(s, rounds=6, order="fixed"))
    assert lo <= 0.8 * 1.07 and hi >= 0.8  # the truth (0.8, plus one in-round step of drift) is inside
    assert hi < 1.0  # and int8 is clearly faster


def test_back_to_back_rounds_get_the_ratio_wrong_under_the_same_drift():
    _, lo, hi = _ratio(lambda s: back_to_back(s, rounds=6))
    assert lo > 0.8 * 1.07  # int8 ran later on a slower machine: the interval misses the truth
    assert hi > 1.0  # and "clearly faster" is lost


def test_rotating_order_cancels_the_in_round_step_too():
    ratio, _, _ = _ratio(lambda s: drive(s, rounds=6, order="rotate"))
    assert ratio == pytest.approx(0.8, rel=0.01)


def test_a_session_that_fails_drops_out_and_the_others_go_on():
    machine = FakeDriftMachine()
    a, b, c = FakeSession(machine, 1.0), FakeSession(machine, 1.0, fail_after=2), FakeSession(machine, 1.0)
    info = drive([a, b, c], rounds=4)
    assert a.ran == [0, 1, 2, 3] and b.ran == [0, 1] and c.ran == [0, 1, 2, 3]
    assert info["positions"][0] == [0, 2, 1, 0]  # rotate: a leads, then c-a-… with b gone
