"""Tests for monitor.stats.agreement (Cohen's kappa, PPA/NPA, exact McNemar).

Oracles:
* kappa and its standard error: a direct numpy implementation of Cohen (1960) and of the
  large-sample variance of Fleiss, Cohen & Everitt (1969, eq. 13) written here, and
  scikit-learn ``cohen_kappa_score`` on the expanded per-case calls;
* McNemar exact: ``scipy.stats.binomtest(b, b + c, 0.5)`` and the R package contingencytables
  test-suite value for Cavo et al. (2012): b = 6, c = 16, exact conditional P = 0.052479;
* PPA / NPA: Wilson intervals from statsmodels ``proportion_confint``;
* a small simulation of the kappa interval's coverage.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from monitor.stats.agreement import cohen_kappa, mcnemar_exact, percent_agreement


def _fleiss_cohen_everitt(table: np.ndarray) -> tuple[float, float]:
    """Kappa and its non-null large-sample SE, Fleiss, Cohen & Everitt (1969)."""
    n = table.sum()
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    p_o, p_e = np.trace(p), rows @ cols
    kappa = (p_o - p_e) / (1 - p_e)
    diagonal = sum(p[i, i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(2))
    off = (1 - kappa) ** 2 * sum(p[i, j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j)
    var = (diagonal + off - (kappa - p_e * (1 - kappa)) ** 2) / (n * (1 - p_e) ** 2)
    return float(kappa), float(np.sqrt(var))


TABLES = [(20, 5, 10, 15), (88, 10, 14, 40), (3, 0, 1, 9), (50, 50, 50, 50), (0, 7, 9, 0), (140, 2, 6, 1200)]


@pytest.mark.parametrize("cells", TABLES)
def test_kappa_and_se_match_the_textbook_formulas(cells: tuple[int, int, int, int]) -> None:
    table = np.array(cells, dtype=float).reshape(2, 2)
    kappa, se = _fleiss_cohen_everitt(table)
    r = cohen_kappa(*cells, confidence=0.90)
    assert r.kappa == pytest.approx(kappa, abs=1e-12)
    assert r.se == pytest.approx(se, rel=1e-9)
    z = stats.norm.ppf(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((max(-1, kappa - z * se), min(1, kappa + z * se)), abs=1e-12)
    assert r.n == sum(cells) and r.observed_agreement == pytest.approx((cells[0] + cells[3]) / sum(cells))


@pytest.mark.parametrize("cells", TABLES)
def test_kappa_matches_scikit_learn_on_the_cases(cells: tuple[int, int, int, int]) -> None:
    a = np.repeat([1, 1, 0, 0], cells)
    b = np.repeat([1, 0, 1, 0], cells)
    assert cohen_kappa(*cells).kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_kappa_edge_cases() -> None:
    empty = cohen_kappa(0, 0, 0, 0)
    assert empty.n == 0 and np.isnan(empty.kappa) and np.isnan(empty.ci_low)
    constant = cohen_kappa(12, 0, 0, 0)  # both raters always positive: chance agreement is 1
    assert constant.observed_agreement == 1.0 and np.isnan(constant.kappa)
    perfect = cohen_kappa(10, 0, 0, 10)
    assert perfect.kappa == pytest.approx(1.0) and perfect.se == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        cohen_kappa(1, -1, 0, 2)
    with pytest.raises(ValueError):
        cohen_kappa(1, 1, 1, 1, confidence=1.0)


def test_kappa_interval_covers_near_the_nominal_level() -> None:
    """400 tables of 300 cases from a fixed joint distribution (kappa = 0.5): coverage within MC error."""
    rng = np.random.default_rng(7)
    probs = np.array([0.3, 0.1, 0.075, 0.525])
    table = probs.reshape(2, 2)
    p_e = table.sum(axis=1) @ table.sum(axis=0)
    true = (np.trace(table) - p_e) / (1 - p_e)
    covered = 0
    draws = rng.multinomial(300, probs, size=400)
    for cells in draws:
        r = cohen_kappa(*cells)
        covered += r.ci_low <= true <= r.ci_high
    assert 0.92 <= covered / 400 <= 0.98


def test_percent_agreement_uses_the_clinician_as_the_comparator() -> None:
    r = percent_agreement(20, 5, 10, 15, method="wilson", confidence=0.95)
    assert r.ppa == pytest.approx(20 / 30) and r.npa == pytest.approx(15 / 20)
    assert (r.ppa_ci_low, r.ppa_ci_high) == pytest.approx(proportion_confint(20, 30, method="wilson"))
    assert (r.npa_ci_low, r.npa_ci_high) == pytest.approx(proportion_confint(15, 20, method="wilson"))
    exact = percent_agreement(20, 5, 10, 15, method="clopper-pearson")
    assert (exact.ppa_ci_low, exact.ppa_ci_high) == pytest.approx(proportion_confint(20, 30, method="beta"))
    none = percent_agreement(0, 3, 0, 4)
    assert np.isnan(none.ppa) and none.npa == pytest.approx(4 / 7)


@pytest.mark.parametrize(("b", "c"), [(6, 16), (2, 10), (0, 5), (7, 7), (30, 41), (1, 0)])
def test_mcnemar_exact_is_the_conditional_binomial_test(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_mcnemar_exact_reference_value() -> None:
    # R contingencytables::McNemar_exact_cond_test_paired_2x2(cavo_2012): P = 0.052479.
    assert mcnemar_exact(6, 16) == pytest.approx(0.052479, abs=5e-7)
    assert np.isnan(mcnemar_exact(0, 0))
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
