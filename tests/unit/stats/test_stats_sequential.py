"""Sequential charts: Bernoulli CUSUM (Markov ARL, design, path, streaming) and EWMA.

Oracles: hand-computed statistics, explicit loops written from the textbook
definitions, regulatory.md section 4.4 (Bernoulli CUSUM table and EWMA L values),
Montgomery table 9.11 and seeded Monte-Carlo simulation of the charts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.stats.sequential import (
    BernoulliCusumDesign,
    CusumPath,
    bernoulli_cusum_arl,
    bernoulli_cusum_path,
    bernoulli_cusum_state,
    bernoulli_cusum_weights,
    design_bernoulli_cusum,
    ewma_arl_normal,
    ewma_proportion_chart,
    simulate_bernoulli_cusum_run_lengths,
)

P0, P1 = 0.100, 0.143  # Se0 = 0.90, drop of 4.3 points, as miss rates among positives
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# regulatory.md 4.4: h -> (ARL0, ARL1) in positives.
TABLE_4_4 = {
    2.5: (1250, 190), 3.0: (2290, 230), 3.5: (4020, 290), 4.0: (7030, 340), 4.5: (12100, 400)
}
# regulatory.md 4.4 / Montgomery table 9.11: lambda -> L for ARL0 ~ 500 (normal data), and the
# ARL at a 1-sigma shift (Montgomery table 9.11, to one decimal).
EWMA_L = {0.05: (2.615, 11.4), 0.10: (2.814, 10.3), 0.20: (2.962, 10.5)}


def loop_cusum(events: list[int] | np.ndarray, a: float, b: float, h: float, *, restart: bool,
               start: float = 0.0) -> tuple[list[float], list[int]]:
    """The definition written out: S_t = max(0, S_{t-1} + w_t), alarm when S_t >= h."""
    s, out, alarms = start, [], []
    for t, e in enumerate(events):
        s = max(0.0, s + (a if e else b))
        out.append(s)
        if s >= h * (1 - 1e-9):
            alarms.append(t)
            if restart:
                s = 0.0
    return out, alarms


def mc_agrees(runs: np.ndarray, expected: float, *, rel: float = 0.05, n_se: float = 4.0) -> bool:
    """Monte-Carlo mean within n_se standard errors, or within rel, of the expected ARL."""
    assert np.all(np.isfinite(runs))
    se = runs.std(ddof=1) / math.sqrt(runs.size)
    diff = abs(runs.mean() - expected)
    return diff <= n_se * se or diff <= rel * expected


# ----------------------------------------------------------------------------- weights


def test_weights_formula() -> None:
    a, b = bernoulli_cusum_weights(P0, P1)
    assert a == pytest.approx(math.log(0.143 / 0.100), rel=1e-15)
    assert b == pytest.approx(math.log(0.857 / 0.900), rel=1e-15)
    assert (round(a, 6), round(b, 6)) == (0.357674, -0.048957)
    # A chart for a decrease has the signs swapped.
    a2, b2 = bernoulli_cusum_weights(0.2, 0.1)
    assert a2 == pytest.approx(math.log(0.5)) and b2 == pytest.approx(math.log(0.9 / 0.8))


@pytest.mark.parametrize(
    ("p0", "p1"), [(0.1, 0.1), (0.0, 0.1), (0.1, 1.0), (-0.1, 0.2), (float("nan"), 0.2)]
)
def test_weights_reject_bad_rates(p0: float, p1: float) -> None:
    with pytest.raises(ValueError):
        bernoulli_cusum_weights(p0, p1)


# ----------------------------------------------------------------------------- path


def test_path_hand_computed_short_sequence() -> None:
    # a = log(1.43) = +0.357674 (miss), b = log(0.857/0.9) = -0.048957 (hit), h = 1.0.
    events = [1, 0, 0, 1, 1, 1, 0, 1]
    common = [0.357674, 0.308718, 0.259761, 0.617435, 0.975110, 1.332784]
    expected_restart = common + [0.0, 0.357674]
    expected_carry_on = common + [1.283827, 1.641502]

    path = bernoulli_cusum_path(events, P0, P1, 1.0)
    assert isinstance(path, CusumPath)
    np.testing.assert_allclose(path.statistic, expected_restart, atol=1e-6)
    assert path.alarms.tolist() == [5] and path.first_alarm == 5
    assert path.alarms.dtype == np.int64 and path.statistic.dtype == np.float64

    carry = bernoulli_cusum_path(events, P0, P1, 1.0, restart=False)
    np.testing.assert_allclose(carry.statistic, expected_carry_on, atol=1e-6)
    assert carry.alarms.tolist() == [5, 6, 7] and carry.first_alarm == 5

    quiet = bernoulli_cusum_path([0, 0, 1, 0], P0, P1, 1.0)
    assert quiet.alarms.size == 0 and quiet.first_alarm is None
    assert quiet.statistic.tolist()[:2] == [0.0, 0.0]  # floored at zero

    empty = bernoulli_cusum_path([], P0, P1, 1.0)
    assert empty.statistic.size == 0 and empty.first_alarm is None


def test_restart_counts_later_alarms_separately() -> None:
    # Three events reach h = 1.0 (3 * 0.3577 = 1.073); nine events in a row.
    events = [1] * 9
    restarted = bernoulli_cusum_path(events, P0, P1, 1.0, restart=True)
    assert restarted.alarms.tolist() == [2, 5, 8]
    np.testing.assert_allclose(restarted.statistic[3], 0.357674, atol=2e-6)
    carried = bernoulli_cusum_path(events, P0, P1, 1.0, restart=False)
    assert carried.alarms.tolist() == [2, 3, 4, 5, 6, 7, 8]
    np.testing.assert_allclose(carried.statistic[-1], 9 * 0.357674, atol=1e-5)


def test_exact_tie_signals() -> None:
    a, _ = bernoulli_cusum_weights(P0, P1)
    # h equal to three event weights: the third event must signal despite rounding.
    path = bernoulli_cusum_path([1, 1, 1], P0, P1, 3 * a)
    assert path.first_alarm == 2


@pytest.mark.parametrize(("h", "restart"), [(0.5, True), (2.0, True), (6.0, True), (2.0, False)])
def test_path_matches_explicit_loop_on_long_sequences(h: float, restart: bool) -> None:
    # Long enough to cross the internal look-ahead windows, with few or many alarms.
    rng = np.random.default_rng(20240501)
    events = rng.random(30_000) < 0.13
    a, b = bernoulli_cusum_weights(P0, P1)
    expected, alarms = loop_cusum(events, a, b, h, restart=restart)
    path = bernoulli_cusum_path(events.astype(int), P0, P1, h, restart=restart)
    np.testing.assert_allclose(path.statistic, expected, atol=1e-9)
    assert path.alarms.tolist() == alarms


def test_state_over_two_chunks_equals_one_pass() -> None:
    rng = np.random.default_rng(7)
    events = (rng.random(5_000) < 0.14).astype(int)
    h = 2.0
    for restart in (True, False):
        whole = bernoulli_cusum_path(events, P0, P1, h, restart=restart)
        assert whole.alarms.size > 1
        for cut in (0, 1, 1234, int(whole.alarms[0]) + 1, int(whole.alarms[0]), 4_999, 5_000):
            state = bernoulli_cusum_state(events[:cut], P0, P1, h, restart=restart)
            final = bernoulli_cusum_state(events[cut:], P0, P1, h, start=state, restart=restart)
            assert final == pytest.approx(
                bernoulli_cusum_state(events, P0, P1, h, restart=restart), abs=1e-9
            )
            first = bernoulli_cusum_path(events[:cut], P0, P1, h, restart=restart)
            second = bernoulli_cusum_path(events[cut:], P0, P1, h, restart=restart, start=state)
            np.testing.assert_allclose(
                np.concatenate([first.statistic, second.statistic]), whole.statistic, atol=1e-9
            )
            joined = np.concatenate([first.alarms, second.alarms + cut])
            assert joined.tolist() == whole.alarms.tolist()


def test_state_after_alarm_on_last_case_is_zero_with_restart() -> None:
    assert bernoulli_cusum_state([1, 1, 1], P0, P1, 1.0) == 0.0
    carried = bernoulli_cusum_state([1, 1, 1], P0, P1, 1.0, restart=False)
    assert carried == pytest.approx(1.073023, abs=1e-6)
    assert bernoulli_cusum_state([], P0, P1, 1.0, start=0.25) == 0.25


@PROPERTY_SETTINGS
@given(
    events=st.lists(st.integers(0, 1), max_size=300),
    cut=st.integers(0, 300),
    h=st.floats(0.2, 4.0),
    start=st.floats(0.0, 3.0),
    restart=st.booleans(),
)
def test_path_and_state_properties(events: list[int], cut: int, h: float, start: float,
                                   restart: bool) -> None:
    a, b = bernoulli_cusum_weights(P0, P1)
    expected, alarms = loop_cusum(events, a, b, h, restart=restart, start=start)
    path = bernoulli_cusum_path(events, P0, P1, h, restart=restart, start=start)
    np.testing.assert_allclose(path.statistic, expected, atol=1e-9)
    assert path.alarms.tolist() == alarms
    assert np.all(path.statistic >= 0)
    cut = min(cut, len(events))
    mid = bernoulli_cusum_state(events[:cut], P0, P1, h, start=start, restart=restart)
    end = bernoulli_cusum_state(events[cut:], P0, P1, h, start=mid, restart=restart)
    assert end == pytest.approx(
        bernoulli_cusum_state(events, P0, P1, h, start=start, restart=restart), abs=1e-9
    )


@pytest.mark.parametrize(
    ("events", "kwargs"),
    [
        ([[0, 1], [1, 0]], {}),
        ([0, 2, 1], {}),
        ([0.0, float("nan")], {}),
        (["a", "b"], {}),
        ([0, 1], {"h": 0.0}),
        ([0, 1], {"h": float("inf")}),
        ([0, 1], {"start": -0.1}),
    ],
)
def test_path_rejects_bad_input(events: object, kwargs: dict[str, float]) -> None:
    h = kwargs.pop("h", 1.0)
    with pytest.raises(ValueError):
        bernoulli_cusum_path(events, P0, P1, h, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bernoulli_cusum_state(events, P0, P1, h, **kwargs)  # type: ignore[arg-type]


def test_path_accepts_bool_and_float_events() -> None:
    ints = bernoulli_cusum_path([1, 0, 1], P0, P1, 2.0).statistic
    for events in ([True, False, True], np.array([1.0, 0.0, 1.0])):
        np.testing.assert_array_equal(bernoulli_cusum_path(events, P0, P1, 2.0).statistic, ints)


# ----------------------------------------------------------------------------- Markov ARL


@pytest.mark.parametrize(("h", "expected"), TABLE_4_4.items(), ids=str)
def test_markov_arl_reproduces_regulatory_table(h: float, expected: tuple[int, int]) -> None:
    arl0, arl1 = expected
    assert bernoulli_cusum_arl(P0, P1, h, p_true=P0) == pytest.approx(arl0, rel=0.05)
    assert bernoulli_cusum_arl(P0, P1, h, p_true=P1) == pytest.approx(arl1, rel=0.05)


@pytest.mark.parametrize("h", TABLE_4_4.keys())
def test_markov_arl_agrees_with_simulation(h: float) -> None:
    seed = int(h * 10)
    in_control = simulate_bernoulli_cusum_run_lengths(P0, P1, h, p_true=P0, n_runs=800, seed=seed)
    assert mc_agrees(in_control, bernoulli_cusum_arl(P0, P1, h, p_true=P0))
    shifted = simulate_bernoulli_cusum_run_lengths(P0, P1, h, p_true=P1, n_runs=2000, seed=seed + 1)
    assert mc_agrees(shifted, bernoulli_cusum_arl(P0, P1, h, p_true=P1))


def test_markov_arl_agrees_with_path_based_simulation() -> None:
    # An oracle independent of the block simulator: first alarms of bernoulli_cusum_path.
    h, n_runs, length = 1.2, 3000, 2_000  # ARL0 = 181 trials; P(no alarm in 2000) ~ 1e-5
    rng = np.random.default_rng(1)
    firsts = []
    for _ in range(n_runs):
        events = rng.random(length) < P0
        first = bernoulli_cusum_path(events, P0, P1, h, restart=False).first_alarm
        assert first is not None
        firsts.append(first + 1)
    assert mc_agrees(np.asarray(firsts, dtype=float), bernoulli_cusum_arl(P0, P1, h, p_true=P0))


def test_markov_arl_degenerate_true_rates_are_exact() -> None:
    a, _ = bernoulli_cusum_weights(P0, P1)
    # Every case an event: the statistic climbs by a each trial.
    for h in (0.3, 1.0, 2.5, 4.4):
        arl = bernoulli_cusum_arl(P0, P1, h, p_true=1.0)
        assert arl == pytest.approx(math.ceil(h / a), rel=1e-9)
    assert bernoulli_cusum_arl(P0, P1, 2.0, p_true=0.0) == math.inf
    # A single event crosses a small threshold: geometric run length 1 / p.
    assert bernoulli_cusum_arl(P0, P1, 0.3, p_true=0.2) == pytest.approx(5.0, rel=1e-9)


def test_markov_arl_grid_convergence_and_monotonicity() -> None:
    for h in (2.5, 4.5):
        fine = bernoulli_cusum_arl(P0, P1, h, p_true=P0, grid=100_000)
        assert bernoulli_cusum_arl(P0, P1, h, p_true=P0) == pytest.approx(fine, rel=2e-3)
    hs = np.arange(1.0, 4.01, 0.25)
    arls = [bernoulli_cusum_arl(P0, P1, h, p_true=P0) for h in hs]
    assert np.all(np.diff(arls) > 0)
    # ARL falls as the true miss rate rises.
    rates = [bernoulli_cusum_arl(P0, P1, 3.0, p_true=p) for p in (0.08, 0.10, 0.12, 0.143, 0.2)]
    assert np.all(np.diff(rates) < 0)


def test_markov_arl_decrease_chart_against_simulation() -> None:
    # p1 < p0: events carry the negative weight (e.g. a chart for a drop in positive calls).
    p0, p1, h = 0.30, 0.20, 3.0
    arl = bernoulli_cusum_arl(p0, p1, h, p_true=p1)
    runs = simulate_bernoulli_cusum_run_lengths(p0, p1, h, p_true=p1, n_runs=2000, seed=5)
    assert mc_agrees(runs, arl)


@pytest.mark.parametrize(
    "kwargs",
    [{"h": -1.0}, {"p_true": 1.5}, {"grid": 50}, {"grid": 1000.5}, {"p1": P0}],
)
def test_markov_arl_rejects_bad_input(kwargs: dict[str, float]) -> None:
    args = {"p0": P0, "p1": P1, "h": 3.0, "p_true": P0} | kwargs
    with pytest.raises(ValueError):
        p0, p1, h = args.pop("p0"), args.pop("p1"), args.pop("h")
        bernoulli_cusum_arl(p0, p1, h, **args)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- design


def test_design_is_smallest_h_reaching_arl0() -> None:
    design = design_bernoulli_cusum(P0, P1, arl0=500)
    assert isinstance(design, BernoulliCusumDesign)
    assert design.method == "markov" and (design.p0, design.p1) == (P0, P1)
    assert design.arl0 >= 500
    assert bernoulli_cusum_arl(P0, P1, design.h, p_true=P0) == pytest.approx(design.arl0)
    assert bernoulli_cusum_arl(P0, P1, design.h - 0.001, p_true=P0) < 500
    assert design.arl1 == pytest.approx(bernoulli_cusum_arl(P0, P1, design.h, p_true=P1))
    assert design.arl1 < design.arl0


def test_acceptance_cusum_in_control_run_length_within_15pct_of_design_arl0() -> None:
    """The issue's acceptance check, by simulation of the designed chart."""
    design = design_bernoulli_cusum(P0, P1, arl0=500)
    in_control = simulate_bernoulli_cusum_run_lengths(
        P0, P1, design.h, p_true=P0, n_runs=1000, seed=2024
    )
    assert abs(in_control.mean() / 500 - 1) <= 0.15
    assert mc_agrees(in_control, design.arl0)
    shifted = simulate_bernoulli_cusum_run_lengths(
        P0, P1, design.h, p_true=P1, n_runs=2000, seed=2025
    )
    assert mc_agrees(shifted, design.arl1)


def test_design_matches_table_thresholds() -> None:
    # Designing for the table's ARL0 values gives back thresholds close to the table's h.
    for h, (arl0, _) in TABLE_4_4.items():
        assert design_bernoulli_cusum(P0, P1, arl0=arl0).h == pytest.approx(h, abs=0.05)


@pytest.mark.parametrize("arl0", [1.0, 0.5, float("nan"), float("inf")])
def test_design_rejects_bad_arl0(arl0: float) -> None:
    with pytest.raises(ValueError):
        design_bernoulli_cusum(P0, P1, arl0=arl0)


def test_simulation_censoring_and_validation() -> None:
    runs = simulate_bernoulli_cusum_run_lengths(
        P0, P1, 50.0, p_true=P0, n_runs=5, seed=1, max_trials=100
    )
    assert np.all(np.isinf(runs))
    a = simulate_bernoulli_cusum_run_lengths(P0, P1, 2.0, p_true=P1, n_runs=50, seed=3)
    b = simulate_bernoulli_cusum_run_lengths(P0, P1, 2.0, p_true=P1, n_runs=50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.all(a >= 1) and np.all(a == np.floor(a))
    with pytest.raises(ValueError):
        simulate_bernoulli_cusum_run_lengths(P0, P1, 2.0, p_true=P0, n_runs=0)


# ----------------------------------------------------------------------------- EWMA


def loop_ewma(
    k: np.ndarray, n: np.ndarray, p0: float, lam: float, L: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Montgomery ch. 9 written out: z_t recursion, Var(z_t) as the explicit double sum."""
    z, zs, lower, upper = p0, [], [], []
    seen: list[int] = []
    for t in range(len(n)):
        if n[t] > 0:
            z = lam * k[t] / n[t] + (1 - lam) * z
            seen.append(t)
        var = 0.0
        for j, i in enumerate(seen):  # i-th observed period is the j-th EWMA update
            var += (lam * (1 - lam) ** (len(seen) - 1 - j)) ** 2 * p0 * (1 - p0) / n[i]
        zs.append(z)
        lower.append(p0 - L * math.sqrt(var))
        upper.append(p0 + L * math.sqrt(var))
    return np.array(zs), np.array(lower), np.array(upper)


def test_ewma_limits_match_explicit_loop() -> None:
    rng = np.random.default_rng(11)
    n = rng.integers(5, 300, 120)
    n[[0, 1, 40, 41, 90]] = 0  # periods without verified positives
    k = rng.binomial(n, 0.88)
    chart = ewma_proportion_chart(k, n, p0=0.9, lam=0.2, L=2.962)
    z, lower, upper = loop_ewma(k, n, 0.9, 0.2, 2.962)
    np.testing.assert_allclose(chart.statistic, z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chart.lower, lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chart.upper, upper, rtol=0, atol=1e-12)
    outside = np.flatnonzero((n > 0) & ((z < lower) | (z > upper)))
    assert chart.alarms.tolist() == outside.tolist()
    assert chart.center == 0.9 and chart.lam == 0.2 and chart.L == 2.962
    # Before the first observed period the chart sits on the centre line and cannot alarm.
    assert chart.statistic[:2].tolist() == [0.9, 0.9] and chart.lower[0] == chart.upper[0] == 0.9


def test_ewma_equal_sizes_reduce_to_textbook_limits() -> None:
    lam, L, p0, n, t = 0.1, 2.814, 0.9, 100, np.arange(1, 61)
    chart = ewma_proportion_chart(np.full(60, 90), np.full(60, n), p0=p0, lam=lam, L=L)
    half = L * np.sqrt(p0 * (1 - p0) / n * lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
    np.testing.assert_allclose(chart.upper - p0, half, rtol=1e-12)
    np.testing.assert_allclose(chart.statistic, 0.9, rtol=1e-12)
    assert chart.alarms.size == 0


def test_ewma_detects_a_drop_below_the_lower_limit() -> None:
    rng = np.random.default_rng(8)
    n = rng.integers(80, 200, 80)
    p = np.where(np.arange(80) < 40, 0.90, 0.857)
    chart = ewma_proportion_chart(rng.binomial(n, p), n, p0=0.90)
    late = chart.alarms[chart.alarms >= 40]
    assert late.size > 0
    assert np.all(chart.statistic[late] < chart.lower[late])


def test_ewma_proportion_chart_false_alarm_rate_as_designed() -> None:
    """In control, periods of 80-200 positives: ARL0 about 500 periods (false alarms 0.2%)."""
    rng = np.random.default_rng(31)
    periods, charts, first = 4_000, 600, []
    for _ in range(charts):
        n = rng.integers(80, 200, periods)
        chart = ewma_proportion_chart(rng.binomial(n, 0.9), n, p0=0.9, lam=0.1, L=2.814)
        first.append(chart.alarms[0] + 1 if chart.alarms.size else periods)
    alarms = sum(f < periods for f in first)
    arl_hat = sum(first) / alarms  # exponential MLE, censoring at `periods`
    assert arl_hat == pytest.approx(ewma_arl_normal(0.1, 2.814), rel=0.20)


@pytest.mark.parametrize(
    ("successes", "trials", "kwargs"),
    [
        ([5, 6], [10, 5], {}),
        ([5], [10, 5], {}),
        ([[1, 2]], [[3, 4]], {}),
        ([1, -1], [3, 4], {}),
        ([1, 1], [3, 4], {"lam": 0.0}),
        ([1, 1], [3, 4], {"lam": 1.5}),
        ([1, 1], [3, 4], {"L": -1.0}),
        ([1, 1], [3, 4], {"p0": 1.0}),
    ],
)
def test_ewma_chart_rejects_bad_input(
    successes: object, trials: object, kwargs: dict[str, float]
) -> None:
    args = {"p0": 0.9} | kwargs
    with pytest.raises(ValueError):
        ewma_proportion_chart(successes, trials, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("lam", "expected"), EWMA_L.items(), ids=str)
def test_ewma_arl_normal_reproduces_l_values(lam: float, expected: tuple[float, float]) -> None:
    L, arl_one_sigma = expected
    markov = ewma_arl_normal(lam, L)
    integral = ewma_arl_normal(lam, L, method="integral")
    assert markov == pytest.approx(500, rel=0.03)
    assert integral == pytest.approx(500, rel=0.03)
    assert markov == pytest.approx(integral, rel=2e-3)
    assert round(ewma_arl_normal(lam, L, 1.0), 1) == arl_one_sigma
    assert ewma_arl_normal(lam, L, -1.0) == pytest.approx(ewma_arl_normal(lam, L, 1.0), rel=1e-9)


@pytest.mark.parametrize(
    "kwargs", [{"lam": 0.0}, {"L": 0.0}, {"shift": float("nan")}, {"method": "sim"}, {"grid": 5}]
)
def test_ewma_arl_rejects_bad_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"lam": 0.1, "L": 2.814} | kwargs
    with pytest.raises(ValueError):
        ewma_arl_normal(**args)  # type: ignore[arg-type]
