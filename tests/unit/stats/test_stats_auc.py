"""Oracle tests for monitor.stats.auc (DeLong AUC, histogram AUC, paired DeLong).

Oracles:
* ``sklearn.metrics.roc_auc_score`` for the AUC itself;
* a slow textbook DeLong written here from the kernel psi(X, Y) of DeLong et
  al. (1988, eqs. 3-4 and section 2): an explicit m x n matrix, its row and
  column means (the structural components V10, V01) and their sample
  (co)variances (S10, S01) - no ranks, no shared code with the module;
* the Hanley & McNeil (1982) 5-point rating data (58 normal: 33, 6, 6, 11, 2;
  51 abnormal: 3, 2, 2, 11, 33), published AUC 0.8932.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from monitor.stats.auc import (
    AUC_CI_METHODS,
    AucResult,
    PairedAucResult,
    auc_delong,
    auc_from_histograms,
    paired_delong,
)

# ----------------------------------------------------------------------------- oracles


def slow_components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Explicit O(m n) Mann-Whitney kernel: psi = 1 if X > Y, 1/2 if X = Y, 0 otherwise."""
    psi = np.zeros((pos.size, neg.size))
    for i, x in enumerate(pos):
        for j, y in enumerate(neg):
            psi[i, j] = 1.0 if x > y else (0.5 if x == y else 0.0)
    return float(psi.mean()), psi.mean(axis=1), psi.mean(axis=0)


def slow_delong(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    auc, v10, v01 = slow_components(pos, neg)
    m, n = pos.size, neg.size
    s10 = sum((v - auc) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - auc) ** 2 for v in v01) / (n - 1)
    return auc, float(np.sqrt(s10 / m + s01 / n))


def slow_paired(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """DeLong et al. (1988) section 2 with k = 2 and contrast L = (1, -1)."""
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    th_a, v10_a, v01_a = slow_components(a[pos], a[neg])
    th_b, v10_b, v01_b = slow_components(b[pos], b[neg])
    theta = np.array([th_a, th_b])
    v10 = np.column_stack([v10_a, v10_b])
    v01 = np.column_stack([v01_a, v01_b])
    s10 = np.zeros((2, 2))
    s01 = np.zeros((2, 2))
    for r in range(2):
        for s in range(2):
            s10[r, s] = np.sum((v10[:, r] - theta[r]) * (v10[:, s] - theta[s])) / (m - 1)
            s01[r, s] = np.sum((v01[:, r] - theta[r]) * (v01[:, s] - theta[s])) / (n - 1)
    big_s = s10 / m + s01 / n
    contrast = np.array([1.0, -1.0])
    se = float(np.sqrt(contrast @ big_s @ contrast))
    diff = th_a - th_b
    z = diff / se
    return diff, se, z, float(2 * (1 - stats.norm.cdf(abs(z))))


HM_NORMAL = [33, 6, 6, 11, 2]
HM_ABNORMAL = [3, 2, 2, 11, 33]


def hm_scores() -> tuple[np.ndarray, np.ndarray]:
    ratings = np.arange(1, 6)
    return np.repeat(ratings, HM_ABNORMAL), np.repeat(ratings, HM_NORMAL)


# ----------------------------------------------------------------------------- auc_delong


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_auc_matches_sklearn(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 80)), int(rng.integers(2, 80))
    if kind == "continuous":
        pos, neg = rng.normal(1.0, 1.0, m), rng.normal(0.0, 1.0, n)
    else:
        pos, neg = rng.integers(0, 6, m).astype(float), rng.integers(0, 5, n).astype(float)
    y = np.r_[np.ones(m), np.zeros(n)]
    expected = roc_auc_score(y, np.r_[pos, neg])
    assert auc_delong(pos, neg).auc == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize("seed", range(6))
def test_delong_se_matches_slow_textbook(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(2, 40)), int(rng.integers(2, 40))
    if seed % 2:
        pos, neg = rng.integers(0, 4, m).astype(float), rng.integers(0, 4, n).astype(float)  # heavy ties
    else:
        pos, neg = rng.normal(0.8, 1.0, m), rng.normal(0.0, 1.3, n)
    auc, se = slow_delong(pos, neg)
    got = auc_delong(pos, neg)
    assert got.auc == pytest.approx(auc, abs=1e-14)
    assert got.se == pytest.approx(se, rel=1e-12)
    assert (got.n_positive, got.n_negative) == (m, n)


def test_hanley_mcneil_published_auc() -> None:
    # Hanley & McNeil, Radiology 1982;143:29-36: AUC (Wilcoxon) = 0.8932.
    pos, neg = hm_scores()
    r = auc_delong(pos, neg)
    assert round(r.auc, 4) == 0.8932
    assert (r.n_positive, r.n_negative) == (51, 58)
    auc, se = slow_delong(pos, neg)
    assert r.se == pytest.approx(se, rel=1e-12)
    # Regression value of the DeLong SE (computed here, equal to the slow oracle).
    assert r.se == pytest.approx(0.030724, abs=5e-7)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.83295, 0.95339), abs=5e-6)


def test_wald_interval_is_auc_pm_z_se_clipped() -> None:
    pos, neg = hm_scores()
    for conf in (0.9, 0.95, 0.99):
        r = auc_delong(pos, neg, confidence=conf)
        z = stats.norm.ppf(0.5 + conf / 2)
        assert r.ci_low == pytest.approx(r.auc - z * r.se, abs=1e-15)
        assert r.ci_high == pytest.approx(min(1.0, r.auc + z * r.se), abs=1e-15)
    # Near 1 the Wald interval is clipped at 1.
    r = auc_delong([0.9, 0.95, 0.99, 0.2], [0.1, 0.3, 0.05, 0.25])
    assert r.ci_high == 1.0 and r.ci_low < r.auc


def test_logit_interval() -> None:
    pos, neg = hm_scores()
    r = auc_delong(pos, neg, method="logit")
    z = stats.norm.ppf(0.975)
    lo = np.log(r.auc / (1 - r.auc)) - z * r.se / (r.auc * (1 - r.auc))
    hi = np.log(r.auc / (1 - r.auc)) + z * r.se / (r.auc * (1 - r.auc))
    assert r.ci_low == pytest.approx(1 / (1 + np.exp(-lo)), abs=1e-14)
    assert r.ci_high == pytest.approx(1 / (1 + np.exp(-hi)), abs=1e-14)
    assert 0 < r.ci_low < r.auc < r.ci_high < 1
    wald = auc_delong(pos, neg, method="wald")
    assert r.auc == wald.auc and r.se == wald.se


@pytest.mark.parametrize("method", AUC_CI_METHODS)
def test_perfect_separation_has_zero_se(method: str) -> None:
    r = auc_delong([2.0, 3.0, 4.0], [0.0, 1.0], method=method)  # type: ignore[arg-type]
    assert (r.auc, r.se, r.ci_low, r.ci_high) == (1.0, 0.0, 1.0, 1.0)
    r = auc_delong([0.0, 1.0], [2.0, 3.0, 4.0], method=method)  # type: ignore[arg-type]
    assert (r.auc, r.se, r.ci_low, r.ci_high) == (0.0, 0.0, 0.0, 0.0)


def test_empty_and_single_case_give_nan() -> None:
    r = auc_delong([], [0.1, 0.2])
    assert np.isnan([r.auc, r.se, r.ci_low, r.ci_high]).all()
    assert (r.n_positive, r.n_negative) == (0, 2)
    r = auc_delong([0.5], [0.1, 0.2, 0.7])
    assert r.auc == pytest.approx(2 / 3)
    assert np.isnan([r.se, r.ci_low, r.ci_high]).all()
    r = auc_from_histograms([0, 0, 0], [1, 2, 3])
    assert np.isnan(r.auc) and (r.n_positive, r.n_negative) == (0, 6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"positive_scores": [0.1, np.nan], "negative_scores": [0.2]}, "finite"),
        ({"positive_scores": [[0.1]], "negative_scores": [0.2]}, "one-dimensional"),
        ({"positive_scores": ["a"], "negative_scores": [0.2]}, "numeric"),
        ({"positive_scores": [0.1], "negative_scores": [0.2], "confidence": 1.0}, "confidence"),
        ({"positive_scores": [0.1], "negative_scores": [0.2], "method": "exact"}, "method"),
    ],
)
def test_auc_delong_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        auc_delong(**kwargs)


def test_histogram_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        auc_from_histograms([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        auc_from_histograms([1, -2], [1, 2])
    with pytest.raises(ValueError, match="whole numbers"):
        auc_from_histograms([1, 2.5], [1, 2])
    with pytest.raises(ValueError, match="one-dimensional"):
        auc_from_histograms([[1, 2]], [[1, 2]])


def test_result_types() -> None:
    r = auc_delong([1, 2, 3], [0, 1])
    assert isinstance(r, AucResult)
    assert all(isinstance(v, float) for v in (r.auc, r.se, r.ci_low, r.ci_high))
    assert isinstance(r.n_positive, int) and isinstance(r.n_negative, int)


# ----------------------------------------------------------------------------- histograms


def test_histogram_hanley_mcneil_table() -> None:
    pos, neg = hm_scores()
    h = auc_from_histograms(HM_ABNORMAL, HM_NORMAL)
    d = auc_delong(pos, neg)
    assert abs(h.auc - d.auc) < 1e-12 and abs(h.se - d.se) < 1e-12


@st.composite
def binned_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    bins = draw(st.integers(1, 40))
    pos = draw(st.lists(st.integers(0, bins - 1), min_size=2, max_size=150))
    neg = draw(st.lists(st.integers(0, bins - 1), min_size=2, max_size=150))
    return np.array(pos), np.array(neg), bins


@settings(max_examples=200, deadline=None)
@given(binned_cases(), st.sampled_from(AUC_CI_METHODS))
def test_histogram_equals_per_case(case: tuple[np.ndarray, np.ndarray, int], method: str) -> None:
    pos_bins, neg_bins, bins = case
    values = np.round(np.linspace(0.0, 1.0, bins), 4)  # the bin values, ordered
    per_case = auc_delong(values[pos_bins], values[neg_bins], method=method)  # type: ignore[arg-type]
    hist = auc_from_histograms(
        np.bincount(pos_bins, minlength=bins),
        np.bincount(neg_bins, minlength=bins),
        method=method,  # type: ignore[arg-type]
    )
    assert abs(hist.auc - per_case.auc) <= 1e-12
    assert abs(hist.se - per_case.se) <= 1e-12
    assert abs(hist.ci_low - per_case.ci_low) <= 1e-12
    assert abs(hist.ci_high - per_case.ci_high) <= 1e-12
    assert (hist.n_positive, hist.n_negative) == (per_case.n_positive, per_case.n_negative)


def test_histogram_with_10001_bins_and_large_counts() -> None:
    # Scores rounded to 4 decimals -> 10,001 bins; 200k cases. Histogram cost is O(bins).
    rng = np.random.default_rng(3)
    pos = np.round(np.clip(rng.beta(4, 2, 60_000), 0, 1), 4)
    neg = np.round(np.clip(rng.beta(2, 4, 140_000), 0, 1), 4)
    idx_pos = np.rint(pos * 10_000).astype(int)
    idx_neg = np.rint(neg * 10_000).astype(int)
    hist = auc_from_histograms(np.bincount(idx_pos, minlength=10_001), np.bincount(idx_neg, minlength=10_001))
    per_case = auc_delong(pos, neg)
    assert abs(hist.auc - per_case.auc) <= 1e-12
    assert abs(hist.se - per_case.se) <= 1e-12
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    assert hist.auc == pytest.approx(roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)


# ----------------------------------------------------------------------------- paired DeLong


def correlated_scores(seed: int, m: int, n: int, ties: bool = False) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(m, int), np.zeros(n, int)]
    rng.shuffle(y)
    latent = rng.normal(size=y.size) + 1.2 * y
    a = latent + rng.normal(scale=0.5, size=y.size)
    b = 0.6 * latent + rng.normal(scale=1.0, size=y.size)
    if ties:
        a, b = np.round(a), np.round(b)
    return y, a, b


@pytest.mark.parametrize(("seed", "ties"), [(0, False), (1, False), (2, True), (3, True), (4, False)])
def test_paired_matches_slow_explicit(seed: int, ties: bool) -> None:
    y, a, b = correlated_scores(seed, 25 + seed, 35 - seed, ties)
    diff, se, z, p = slow_paired(y, a, b)
    r = paired_delong(y, a, b)
    assert isinstance(r, PairedAucResult)
    assert r.difference == pytest.approx(diff, abs=1e-14)
    assert r.se == pytest.approx(se, rel=1e-10)
    assert r.z == pytest.approx(z, rel=1e-10)
    assert r.p_value == pytest.approx(p, rel=1e-9, abs=1e-15)
    zc = stats.norm.ppf(0.975)
    assert (r.ci_low, r.ci_high) == pytest.approx((diff - zc * se, diff + zc * se), abs=1e-12)
    assert r.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-14)
    assert r.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-14)


def test_paired_single_model_variances_match_auc_delong() -> None:
    # The diagonal of the DeLong covariance is each model's own variance:
    # comparing a model with a constant score (AUC 1/2, zero variance) gives its own SE.
    y, a, _ = correlated_scores(9, 30, 40)
    r = paired_delong(y, a, np.zeros_like(a))
    own = auc_delong(a[y == 1], a[y == 0])
    assert r.auc_b == 0.5
    assert r.se == pytest.approx(own.se, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_paired_symmetric_under_swap(seed: int) -> None:
    y, a, b = correlated_scores(20 + seed, 30, 50, ties=bool(seed % 2))
    ab, ba = paired_delong(y, a, b), paired_delong(y, b, a)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-12)
    assert ab.se == pytest.approx(ba.se, rel=1e-12)
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-15)
    assert ab.z == pytest.approx(-ba.z, rel=1e-12)
    assert (ab.ci_low, ab.ci_high) == pytest.approx((-ba.ci_high, -ba.ci_low), abs=1e-12)


def test_paired_identical_models() -> None:
    y, a, _ = correlated_scores(5, 20, 20)
    for other in (a, 3 * a + 1, np.exp(a)):  # same ranking -> same AUC and placements
        r = paired_delong(y, a, other)
        assert r.difference == 0.0
        assert r.se == 0.0 and r.z == 0.0 and r.p_value == 1.0
        assert (r.ci_low, r.ci_high) == (0.0, 0.0)


def test_paired_empty_and_validation() -> None:
    r = paired_delong([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    assert np.isnan([r.auc_a, r.difference, r.se, r.p_value]).all()
    r = paired_delong([1, 0, 0], [0.9, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert r.difference == pytest.approx(1.0) and np.isnan(r.se) and np.isnan(r.p_value)
    with pytest.raises(ValueError, match="same length"):
        paired_delong([1, 0], [0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="0/1"):
        paired_delong([1, 2], [0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        paired_delong([1, 0], [0.1, np.inf], [0.1, 0.2])
    assert paired_delong([True, False, True, False], [0.9, 0.1, 0.8, 0.3], [0.2, 0.1, 0.8, 0.3]).auc_a == 1.0
