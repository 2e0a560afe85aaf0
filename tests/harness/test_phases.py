"""Phases: the stop rule, repeated timed windows, hooks with defaults, listener order (null backend)."""

from __future__ import annotations

from harness.phases import timed_loop


def test_stop_rule_needs_iterations_and_duration():
    calls = []
    lat, n = timed_loop(lambda f: calls.append(1), [{}], min_iterations=50, min_duration_s=0.0, max_duration_s=10)
    assert len(lat) == 50 == len(calls) == n
    # the cap wins over min_iterations
    lat, n = timed_loop(lambda f: None, [{}], min_iterations=10**9, min_duration_s=0.0, max_duration_s=0.05)
    assert 0 < len(lat) < 10**9
