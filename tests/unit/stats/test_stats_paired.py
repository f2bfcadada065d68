"""Tests for monitor.stats.paired (paired proportions and the paired AUC from a joint histogram).

Oracles:
* the R package contingencytables test-suite (Fagerland, Lydersen & Laake 2017, chapter 8),
  Cavo et al. (2012) table ``[[59, 6], [16, 80]]``: Newcombe square-and-add interval
  -0.0621 (-0.1186 to -0.0046), McNemar exact conditional P = 0.052479;
* with an uncorrelated table (corrected phi = 0) the paired interval is the independent Newcombe
  interval (statsmodels ``confint_proportions_2indep(method="newcomb")``) on the two margins;
* :func:`monitor.stats.auc.paired_delong` on the expanded per-case scores;
* a small simulation of the paired interval's coverage.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from monitor.stats.auc import paired_delong
from monitor.stats.paired import (
    compare_paired_proportions,
    newcombe_paired_difference,
    paired_auc_from_histogram,
)


def test_newcombe_paired_reference_value() -> None:
    d, lo, hi = newcombe_paired_difference(59, 6, 16, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (-0.0621, -0.1186, -0.0046)
    r = compare_paired_proportions(59, 6, 16, 80)
    assert r.p_value == pytest.approx(0.052479, abs=5e-7)
    assert (r.a_only, r.b_only, r.n) == (6, 16, 161)
    assert r.estimate_a == pytest.approx(65 / 161) and r.estimate_b == pytest.approx(75 / 161)


@pytest.mark.parametrize("cells", [(10, 10, 10, 10), (4, 2, 6, 3), (20, 5, 5, 2)])
def test_small_positive_correlation_gives_the_independent_interval(cells: tuple[int, int, int, int]) -> None:
    a, b, c, d = cells
    n = sum(cells)
    assert 0 <= a * d - b * c <= n / 2  # corrected phi is 0
    low, high = confint_proportions_2indep(a + b, n, a + c, n, method="newcomb", compare="diff")
    diff, lo, hi = newcombe_paired_difference(*cells)
    assert diff == pytest.approx((b - c) / n)
    assert (lo, hi) == pytest.approx((max(-1, low), min(1, high)), abs=1e-12)


def test_positive_correlation_narrows_the_interval() -> None:
    paired = newcombe_paired_difference(45, 8, 2, 45)
    n = 100
    low, high = confint_proportions_2indep(53, n, 47, n, method="newcomb", compare="diff")
    assert high - low > paired[2] - paired[1]


def test_paired_edge_cases() -> None:
    assert all(np.isnan(x) for x in newcombe_paired_difference(0, 0, 0, 0))
    same = compare_paired_proportions(30, 0, 0, 10)
    assert same.difference == 0.0 and np.isnan(same.p_value) and same.ci_low <= 0.0 <= same.ci_high
    extreme = newcombe_paired_difference(0, 12, 0, 0)
    assert extreme[0] == 1.0 and -1.0 <= extreme[1] <= extreme[2] <= 1.0
    with pytest.raises(ValueError):
        newcombe_paired_difference(1, 2, 3, -4)


def test_paired_interval_coverage() -> None:
    """500 paired tables of 120 cases (p_A = 0.85, p_B = 0.80, correlated): coverage near 95%."""
    rng = np.random.default_rng(11)
    probs = np.array([0.75, 0.10, 0.05, 0.10])  # both, A only, B only, neither
    true = probs[1] - probs[2]
    hits = sum(lo <= true <= hi for _, lo, hi in
               (newcombe_paired_difference(*cells) for cells in rng.multinomial(120, probs, size=500)))
    assert 0.92 <= hits / 500 <= 0.99


def _expand(bins_a: np.ndarray, bins_b: np.ndarray, labels: np.ndarray, counts: np.ndarray):
    return np.repeat(labels, counts), np.repeat(bins_a, counts), np.repeat(bins_b, counts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paired_auc_from_histogram_equals_paired_delong_on_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = 600
    labels = rng.integers(0, 2, cases)
    latent = rng.normal(labels * 1.2, 1.0)
    score_a = np.clip(np.round(1 / (1 + np.exp(-latent)), 2), 0, 1)
    score_b = np.clip(np.round(1 / (1 + np.exp(-(0.7 * latent + rng.normal(0, 0.6, cases)))), 2), 0, 1)
    expected = paired_delong(labels, score_a, score_b, confidence=0.9)
    # the joint histogram, as the database groups it
    keys, counts = np.unique(np.column_stack([score_a, score_b, labels]), axis=0, return_counts=True)
    assert len(keys) < cases
    got = paired_auc_from_histogram(keys[:, 0], keys[:, 1], keys[:, 2].astype(int), counts, confidence=0.9)
    for field in ("auc_a", "auc_b", "difference", "se", "z", "p_value", "ci_low", "ci_high"):
        assert getattr(got, field) == pytest.approx(getattr(expected, field), rel=1e-9, abs=1e-12), field


def test_paired_auc_from_histogram_edge_cases() -> None:
    nan_result = paired_auc_from_histogram([0.1, 0.2], [0.3, 0.4], [1, 1], [3, 4])
    assert np.isnan(nan_result.auc_a) and np.isnan(nan_result.se)
    one_negative = paired_auc_from_histogram([0.1, 0.9], [0.2, 0.8], [0, 1], [1, 5])
    assert one_negative.difference == 0.0 and np.isnan(one_negative.se)
    identical = paired_auc_from_histogram([0.1, 0.5, 0.9], [0.1, 0.5, 0.9], [0, 1, 1], [4, 2, 6])
    assert identical.difference == 0.0 and identical.p_value == 1.0
    zero_cells = paired_auc_from_histogram([0.1, 0.5, 0.9, 0.3], [0.2, 0.6, 0.7, 0.4], [0, 1, 1, 0], [4, 2, 6, 0])
    reference = paired_auc_from_histogram([0.1, 0.5, 0.9], [0.2, 0.6, 0.7], [0, 1, 1], [4, 2, 6])
    assert zero_cells == reference
    with pytest.raises(ValueError):
        paired_auc_from_histogram([0.1], [0.2], [2], [1])
    with pytest.raises(ValueError):
        paired_auc_from_histogram([0.1, 0.2], [0.2], [1, 0], [1, 1])
