"""Count-based drift measures: closed-form values, Hypothesis properties, effect-size floors.

Agreement with Evidently 0.7 itself is tested in ``tests/integration/test_drift_evidently.py``.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from monitor.stats.drift import (
    CHISQUARE_MIN_EFFECT,
    DEFAULT_METHODS,
    DEFAULT_THRESHOLDS,
    DriftResult,
    chi_square_test,
    drift_from_counts,
    jensen_shannon_distance,
    psi,
    rate_shift,
    wasserstein_binned,
)

PROPERTY_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SQRT_LN2 = math.sqrt(math.log(2.0))


@st.composite
def histogram_pairs(draw: st.DrawFn, max_bins: int = 15, max_count: int = 10_000) -> tuple[list[int], list[int]]:
    """Two histograms over the same bins, each with at least one case."""
    k = draw(st.integers(min_value=1, max_value=max_bins))
    counts = st.lists(st.integers(0, max_count), min_size=k, max_size=k).filter(lambda c: sum(c) > 0)
    return draw(counts), draw(counts)


# --- closed forms ---------------------------------------------------------------------------------


def test_psi_closed_form() -> None:
    r = np.array([0.5, 0.3, 0.2])
    c = np.array([0.4, 0.3, 0.3])
    assert psi([50, 30, 20], [40, 30, 30]) == pytest.approx(np.sum((r - c) * np.log(r / c)), rel=1e-12)


def test_psi_smoothing_uses_epsilon_without_renormalising() -> None:
    # reference bin 2 is empty -> proportion 1e-4 (Evidently), proportions not renormalised
    expected = (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1.0 - 0.9) * math.log(1.0 / 0.9)
    assert psi([100, 0], [90, 10]) == pytest.approx(expected, rel=1e-12)
    # a custom epsilon
    expected = (1e-3 - 0.1) * math.log(1e-3 / 0.1) + (1.0 - 0.9) * math.log(1.0 / 0.9)
    assert psi([100, 0], [90, 10], epsilon=1e-3) == pytest.approx(expected, rel=1e-12)


def test_psi_smoothing_small_branch() -> None:
    # smallest non-zero reference proportion 1/20000 = 5e-5 <= 1e-4: empty bins get 5e-5 * 1e-6
    ref = np.array([19_999, 1, 0])
    cur = np.array([100, 50, 50])
    r = ref / ref.sum()
    r[2] = (1 / 20_000) * 1e-6
    c = cur / cur.sum()
    assert psi(ref, cur) == pytest.approx(np.sum((r - c) * np.log(r / c)), rel=1e-12)


def test_bins_empty_in_both_windows_are_ignored() -> None:
    ref, cur = [50, 30, 20], [40, 30, 30]
    ref0, cur0 = [0, 50, 30, 0, 20, 0], [0, 40, 30, 0, 30, 0]
    assert psi(ref0, cur0) == psi(ref, cur)
    assert jensen_shannon_distance(ref0, cur0) == pytest.approx(jensen_shannon_distance(ref, cur), abs=1e-15)
    assert chi_square_test(ref0, cur0) == pytest.approx(chi_square_test(ref, cur), rel=1e-12)
    values0 = [-1.0, 1.0, 2.0, 2.5, 3.0, 9.0]
    assert wasserstein_binned(values0, ref0, cur0) == pytest.approx(
        wasserstein_binned([1.0, 2.0, 3.0], ref, cur), rel=1e-12
    )


def test_jensen_shannon_is_natural_log() -> None:
    r, c = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.3])
    m = (r + c) / 2
    jsd = 0.5 * np.sum(r * np.log(r / m)) + 0.5 * np.sum(c * np.log(c / m))
    assert jensen_shannon_distance([50, 30, 20], [40, 30, 30]) == pytest.approx(math.sqrt(jsd), rel=1e-12)
    assert jensen_shannon_distance([5, 0], [0, 7]) == pytest.approx(SQRT_LN2, rel=1e-12)


def test_wasserstein_equals_scipy_on_the_expanded_rows() -> None:
    values = np.array([1.0, 2.5, 4.0, 7.0])
    ref, cur = np.array([10, 40, 30, 20]), np.array([5, 20, 45, 30])
    u, v = np.repeat(values, ref), np.repeat(values, cur)
    raw = stats.wasserstein_distance(u, v)
    assert wasserstein_binned(values, ref, cur, normed=False) == pytest.approx(raw, rel=1e-12)
    assert wasserstein_binned(values, ref, cur) == pytest.approx(raw / np.std(u), rel=1e-12)


def test_wasserstein_norm_floor() -> None:
    # constant reference: std 0 -> Evidently divides by 0.001
    assert wasserstein_binned([0.0, 1.0], [10, 0], [5, 5]) == pytest.approx(0.5 / 0.001, rel=1e-12)


def test_wasserstein_binned_is_close_to_the_raw_distance() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.normal(0.0, 1.0, 20_000), rng.normal(0.3, 1.2, 20_000)
    edges = np.linspace(-6.0, 7.0, 131)  # width 0.1
    centres = (edges[:-1] + edges[1:]) / 2
    binned = wasserstein_binned(centres, np.histogram(x, edges)[0], np.histogram(y, edges)[0], normed=False)
    assert binned == pytest.approx(stats.wasserstein_distance(x, y), abs=0.05)


def test_chi_square_closed_form() -> None:
    table = np.array([[50.0, 30.0, 20.0], [40.0, 30.0, 30.0]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    x2 = np.sum((table - expected) ** 2 / expected)
    assert chi_square_test(table[0], table[1]) == pytest.approx(stats.chi2.sf(x2, 2), rel=1e-12)


def test_chi_square_two_bins_is_the_two_proportion_z_test() -> None:
    # no Yates correction: the 2 x 2 test equals the pooled two-proportion z test
    _, p = proportions_ztest([30, 45], [100, 100])
    assert chi_square_test([30, 70], [45, 55]) == pytest.approx(p, rel=1e-10)
    assert rate_shift(30, 100, 45, 100).value == pytest.approx(p, rel=1e-10)


def test_chi_square_single_occupied_bin() -> None:
    assert chi_square_test([7, 0, 0], [3, 0, 0]) == 1.0


# --- properties -----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(histogram_pairs())
def test_psi_of_a_histogram_with_itself_is_zero(pair: tuple[list[int], list[int]]) -> None:
    ref, _ = pair
    assert psi(ref, ref) == 0.0


@PROPERTY_SETTINGS
@given(histogram_pairs())
def test_psi_is_non_negative_and_symmetric(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = pair
    assert psi(ref, cur) >= 0.0
    assert psi(ref, cur) == pytest.approx(psi(cur, ref), rel=1e-9, abs=1e-12)


@PROPERTY_SETTINGS
@given(histogram_pairs())
def test_jensen_shannon_is_symmetric_and_bounded(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = pair
    d = jensen_shannon_distance(ref, cur)
    assert 0.0 <= d <= SQRT_LN2 + 1e-12 < 1.0
    assert d == pytest.approx(jensen_shannon_distance(cur, ref), abs=1e-12)
    assert jensen_shannon_distance(ref, ref) == pytest.approx(0.0, abs=1e-7)


@PROPERTY_SETTINGS
@given(histogram_pairs(), st.data())
def test_wasserstein_of_identical_histograms_is_zero(pair: tuple[list[int], list[int]], data: st.DataObject) -> None:
    ref, _ = pair
    values = data.draw(
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=len(ref), max_size=len(ref), unique=True)
    )
    assert wasserstein_binned(values, ref, ref) == pytest.approx(0.0, abs=1e-9)
    assert wasserstein_binned(values, ref, ref, normed=False) == pytest.approx(0.0, abs=1e-9)


@PROPERTY_SETTINGS
@given(histogram_pairs(), st.integers(2, 1000), st.integers(2, 1000))
def test_distances_do_not_depend_on_the_window_sizes(
    pair: tuple[list[int], list[int]], k_ref: int, k_cur: int
) -> None:
    ref, cur = np.array(pair[0]), np.array(pair[1])
    values = np.arange(ref.size, dtype=float) * 1.5
    assert psi(ref * k_ref, cur * k_cur) == pytest.approx(psi(ref, cur), rel=1e-9, abs=1e-12)
    assert jensen_shannon_distance(ref * k_ref, cur * k_cur) == pytest.approx(
        jensen_shannon_distance(ref, cur), rel=1e-9, abs=1e-7
    )
    assert wasserstein_binned(values, ref * k_ref, cur * k_cur) == pytest.approx(
        wasserstein_binned(values, ref, cur), rel=1e-9, abs=1e-12
    )


@PROPERTY_SETTINGS
@given(histogram_pairs())
def test_chi_square_is_a_probability_and_symmetric(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = pair
    p = chi_square_test(ref, cur)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(chi_square_test(cur, ref), rel=1e-9, abs=1e-300)


# --- drift_from_counts ------------------------------------------------------------------------------


def test_default_methods_and_thresholds() -> None:
    assert dict(DEFAULT_METHODS) == {"numeric": ("wasserstein", 0.1), "categorical": ("jensenshannon", 0.1)}
    assert dict(DEFAULT_THRESHOLDS) == {"psi": 0.1, "jensenshannon": 0.1, "wasserstein": 0.1, "chisquare": 0.05}
    num = drift_from_counts("age", "numeric", [30.0, 50.0, 70.0], [50, 30, 20], [20, 30, 50])
    assert (num.method, num.threshold, num.kind) == ("wasserstein", 0.1, "numeric")
    assert num.value == pytest.approx(wasserstein_binned([30.0, 50.0, 70.0], [50, 30, 20], [20, 30, 50]))
    cat = drift_from_counts("site", "categorical", ["a", "b", "c"], [50, 30, 20], [40, 30, 30])
    assert (cat.method, cat.threshold) == ("jensenshannon", 0.1)
    assert cat.value == cat.effect_size == pytest.approx(jensen_shannon_distance([50, 30, 20], [40, 30, 30]))


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "wasserstein"])
def test_distance_methods_drift_at_or_above_the_threshold(method: str) -> None:
    bins, ref, cur = [1.0, 2.0, 3.0], [50, 30, 20], [20, 30, 50]
    value = drift_from_counts("x", "numeric", bins, ref, cur, method=method).value
    assert value > 0
    assert drift_from_counts("x", "numeric", bins, ref, cur, method=method, threshold=value).drifted
    assert not drift_from_counts("x", "numeric", bins, ref, cur, method=method, threshold=value * 1.01).drifted
    assert drift_from_counts("x", "numeric", bins, ref, cur, method=method).effect_size == value


def test_psi_default_threshold() -> None:
    r = drift_from_counts("site", "categorical", ["a", "b", "c"], [50, 30, 20], [20, 30, 50], method="psi")
    assert r.threshold == 0.1
    assert r.drifted


def test_chisquare_effect_size_floor_on_a_huge_sample() -> None:
    """10 million cases per window: a 0.5-point shift is significant but not drift; a real shift is."""
    n = 10_000_000
    ref = np.round(np.array([0.50, 0.30, 0.20]) * n).astype(np.int64)
    tiny = np.round(np.array([0.505, 0.30, 0.195]) * n).astype(np.int64)
    real = np.round(np.array([0.35, 0.30, 0.35]) * n).astype(np.int64)
    trivial = drift_from_counts("site", "categorical", ["a", "b", "c"], ref, tiny, method="chisquare")
    assert trivial.value < 1e-100  # overwhelmingly significant ...
    assert trivial.effect_size < CHISQUARE_MIN_EFFECT  # ... but a trivial shift
    assert not trivial.drifted
    shifted = drift_from_counts("site", "categorical", ["a", "b", "c"], ref, real, method="chisquare")
    assert shifted.value < 0.05 and shifted.effect_size >= CHISQUARE_MIN_EFFECT
    assert shifted.drifted
    # a small sample with the real shift is not significant: no drift either
    small = drift_from_counts("site", "categorical", ["a", "b", "c"], [10, 6, 4], [7, 6, 7], method="chisquare")
    assert small.value >= 0.05 and not small.drifted


def test_rate_shift_matches_statsmodels_and_has_a_floor() -> None:
    _, p = proportions_ztest([150, 100], [1000, 1000])
    r = rate_shift(100, 1000, 150, 1000, feature="positive_call_rate")
    assert r == DriftResult("positive_call_rate", "categorical", "two-proportion-z", r.value, 0.05, True, r.effect_size)
    assert r.value == pytest.approx(p, rel=1e-10)
    assert r.effect_size == pytest.approx(0.05)
    # huge windows: a 0.1-point change is significant but under the 0.02 floor
    big = rate_shift(100_000, 1_000_000, 101_000, 1_000_000)
    assert big.value < 0.05 and not big.drifted
    # 3 points on huge windows is drift; downward shifts have a negative effect size
    down = rate_shift(130_000, 1_000_000, 100_000, 1_000_000)
    assert down.drifted and down.effect_size == pytest.approx(-0.03)


def test_rate_shift_edge_cases() -> None:
    assert rate_shift(0, 50, 0, 80).value == 1.0  # no variation at all
    assert not rate_shift(0, 50, 0, 80).drifted
    empty = rate_shift(0, 0, 5, 10)
    assert math.isnan(empty.value) and math.isnan(empty.effect_size) and not empty.drifted
    with pytest.raises(ValueError):
        rate_shift(11, 10, 5, 10)
    with pytest.raises(ValueError):
        rate_shift(-1, 10, 5, 10)
    with pytest.raises(ValueError):
        rate_shift([1, 2], 10, 5, 10)  # type: ignore[arg-type]


def test_drift_result_is_frozen() -> None:
    r = drift_from_counts("site", "categorical", ["a", "b"], [1, 2], [2, 1])
    with pytest.raises(FrozenInstanceError):
        r.value = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: drift_from_counts("x", "ordinal", [1, 2], [1, 1], [1, 1]), "unknown kind"),
        (lambda: drift_from_counts("x", "numeric", [1, 2], [1, 1], [1, 1], method="ks"), "unknown drift method"),
        (lambda: drift_from_counts("x", "categorical", [1, 2], [1, 1], [1, 1], method="wasserstein"), "numeric feature"),
        (lambda: drift_from_counts("x", "numeric", ["a", "b"], [1, 1], [1, 1], method="wasserstein"), "numeric bin"),
        (lambda: drift_from_counts("x", "numeric", [1, 2, 3], [1, 1], [1, 1]), "one label per count"),
        (lambda: drift_from_counts("x", "numeric", [1, 2], [1, 1], [1, 1], threshold=0), "threshold"),
        (lambda: psi([1, 2], [1, 2, 3]), "same bins"),
        (lambda: psi([0, 0], [1, 2]), "at least one case"),
        (lambda: psi([1, -2], [1, 2]), "non-negative"),
        (lambda: psi([1.5, 2], [1, 2]), "whole numbers"),
        (lambda: psi([[1, 2]], [[1, 2]]), "1-D"),
        (lambda: psi([1, 2], [1, 2], epsilon=0.0), "epsilon"),
        (lambda: wasserstein_binned([1.0, np.nan], [1, 1], [1, 1]), "finite"),
        (lambda: wasserstein_binned([1.0], [1, 1], [1, 1]), "one value per bin"),
        (lambda: jensen_shannon_distance([1, 1], [0, 0]), "at least one case"),
        (lambda: chi_square_test([1, np.inf], [1, 1]), "finite"),
    ],
)
def test_invalid_input_raises(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
