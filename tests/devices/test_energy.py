"""Energy from power traces and counters against analytic waveforms with known integrals."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from devices import energy

S = energy.NS_PER_S


def irregular_times_ns(t_end_s: float, mean_dt_s: float, seed: int = 0) -> list[int]:
    """Jittered sampling instants 0..t_end (a sampler thread never ticks on time)."""
    rng = random.Random(seed)
    ts, t = [0], 0.0
    while True:
        t += mean_dt_s * rng.uniform(0.3, 1.7)
        if t >= t_end_s:
            break
        ts.append(round(t * S))
    ts.append(round(t_end_s * S))
    return ts


def test_constant_power_any_sampling():
    ts = irregular_times_ns(7.3, 0.1)
    watts = [4.2] * len(ts)
    w = energy.power_window(ts, watts, (ts[0], ts[-1]))
    assert w.energy_j == pytest.approx(4.2 * 7.3, rel=1e-12)
    assert w.mean_w == pytest.approx(4.2) and w.peak_w == pytest.approx(4.2)


def test_ramp_is_exact_with_trapezoid_over_real_timestamps():
    # P(t) = a + b t: the trapezoid rule is exact for linear power whatever the spacing.
    a, b, T = 2.0, 0.75, 9.0
    ts = irregular_times_ns(T, 0.2, seed=3)
    watts = [a + b * t / S for t in ts]
    analytic = a * T + b * T * T / 2
    assert energy.trapezoid_j(ts, watts) == pytest.approx(analytic, rel=1e-9)
    # Assuming the nominal 0.2 s interval instead of the stamps would be wrong for the same samples.
    nominal = sum(0.2 * (watts[i] + watts[i - 1]) / 2 for i in range(1, len(ts)))
    assert abs(nominal - analytic) / analytic > 0.01


def test_ramp_clipped_to_a_window_inside_the_trace():
    a, b = 1.0, 0.5
    ts = irregular_times_ns(10.0, 0.25, seed=5)
    watts = [a + b * t / S for t in ts]
    w0, w1 = 2.345, 7.891
    w = energy.power_window(ts, watts, (round(w0 * S), round(w1 * S)))
    analytic = a * (w1 - w0) + b * (w1 * w1 - w0 * w0) / 2
    assert w.energy_j == pytest.approx(analytic, rel=1e-6)
    assert w.mean_w == pytest.approx(analytic / (w1 - w0), rel=1e-6)
    assert w.peak_w == pytest.approx(a + b * w1, rel=1e-6)
    assert w.coverage == 1.0 and 0 < w.n_samples < len(ts)


def test_square_wave_sampled_at_its_edges_is_exact():
    low, high, period, T = 2.0, 8.0, 1.0, 6.0
    ts, watts = [], []
    for k in range(int(T / period) * 2):
        level = high if k % 2 == 0 else low
        t0, t1 = k * period / 2, (k + 1) * period / 2
        ts += [round(t0 * S), round(t1 * S)]
        watts += [level, level]
    w = energy.power_window(ts, watts, (0, round(T * S)))
    assert w.energy_j == pytest.approx((low + high) / 2 * T, rel=1e-12)
    assert w.peak_w == high


def test_square_wave_dense_jittered_sampling_within_the_edge_error_bound():
    low, high, period, T = 1.0, 5.0, 0.8, 8.0

    def p(t_s: float) -> float:
        return high if (t_s % period) < period / 2 else low

    ts = irregular_times_ns(T, 0.005, seed=11)
    watts = [p(t / S) for t in ts]
    w = energy.power_window(ts, watts, (0, round(T * S)))
    edges = 2 * T / period
    max_gap_s = max(b - a for a, b in itertools.pairwise(ts)) / S
    # Each edge can be misplaced by at most one gap, costing at most (high - low) x gap.
    assert abs(w.energy_j - (low + high) / 2 * T) <= edges * (high - low) * max_gap_s


def test_sine_wave_converges():
    T = 2 * math.pi
    ts = irregular_times_ns(T, 0.001, seed=2)
    watts = [3 + math.sin(t / S) for t in ts]
    assert energy.trapezoid_j(ts, watts) == pytest.approx(3 * T, rel=1e-5)


def test_window_beyond_samples_holds_edge_values_and_reports_coverage():
    ts = [round(1 * S), round(2 * S)]
    w = energy.power_window(ts, [3.0, 3.0], (0, round(4 * S)))
    assert w.energy_j == pytest.approx(12.0) and w.coverage == pytest.approx(0.25)


def test_power_window_rejects_empty_input():
    with pytest.raises(ValueError, match="no power samples"):
        energy.power_window([], [], (0, 1))
    with pytest.raises(ValueError, match="not after"):
        energy.power_window([0, 1], [1, 1], (5, 5))


# -- counters ---------------------------------------------------------------------------------------
MAX = 262143328850  # a real RAPL max_energy_range_uj


def test_counter_delta_with_wrap():
    assert energy.counter_delta(100, 350, MAX) == 250
    start, end = MAX - 1000, 500
    assert energy.counter_delta(start, end, MAX) == 1000 + 500 + 1
    with pytest.raises(ValueError, match="backwards"):
        energy.counter_delta(10, 5, None)


def test_unwrap_counts_several_wraps_across_a_long_window():
    # 20 W for 10 wraps' worth of energy, polled often enough to see every wrap.
    rate_uj_per_s = 20e6
    ts = irregular_times_ns(10 * (MAX + 1) / rate_uj_per_s, 600.0, seed=1)
    start = MAX - 5_000_000
    true_cum = [rate_uj_per_s * t / S for t in ts]
    raw = [(start + c) % (MAX + 1) for c in true_cum]
    cum = energy.unwrap_counter(raw, MAX)
    assert sum(1 for a, b in itertools.pairwise(raw) if b < a) >= 9
    assert cum[-1] == pytest.approx(true_cum[-1], rel=1e-9)
    w = energy.counter_window(ts, [c * 1e-6 for c in cum], (ts[0], ts[-1]))
    assert w.mean_w == pytest.approx(20.0, rel=1e-9)


def test_counter_window_interpolates_to_the_window_edges():
    ts = [0, round(1 * S), round(2 * S), round(3 * S)]
    cum_j = [0.0, 10.0, 20.0, 30.0]  # 10 W
    w = energy.counter_window(ts, cum_j, (round(0.5 * S), round(2.5 * S)))
    assert w.energy_j == pytest.approx(20.0) and w.mean_w == pytest.approx(10.0) and w.peak_w == pytest.approx(10.0)


def test_energy_per_inference_and_idle_mean():
    assert energy.energy_per_inference_mj(2.5, 1000) == pytest.approx(2.5)
    assert energy.energy_per_inference_mj(None, 10) is None
    assert energy.energy_per_inference_mj(1.0, 0) is None
    assert energy.mean_power_w([0, S, 3 * S], [1.0, 1.0, 4.0]) == pytest.approx((1 + 5) / 3)


def test_lengthen_advice_only_when_the_window_is_too_short():
    assert energy.min_window_s(0.2) == pytest.approx(2.0)
    advice = energy.lengthen_advice(0.5, 0.2, "ina3221")
    assert advice is not None and "ina3221" in advice and "2" in advice
    assert energy.lengthen_advice(2.5, 0.2) is None
    assert energy.lengthen_advice(0.1, 0.0) is None
