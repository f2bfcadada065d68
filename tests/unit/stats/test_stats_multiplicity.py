"""BH and Holm adjusted p-values vs statsmodels and R p.adjust."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from monitor.stats.multiplicity import benjamini_hochberg, holm


def r_p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Transcription of R's stats::p.adjust for "BH" and "holm" (NA excluded)."""
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    q = p[keep]
    n = q.size
    if method == "holm":
        o = np.argsort(q, kind="stable")
        i = np.arange(1, n + 1)
        adj = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * q[o]))
    else:  # BH
        o = np.argsort(-q, kind="stable")
        i = np.arange(n, 0, -1)
        adj = np.minimum(1.0, np.minimum.accumulate(n / i * q[o]))
    res = np.empty(n)
    res[o] = adj
    out[keep] = res
    return out


def test_hand_computed_example() -> None:
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # BH: p_(i) * m / i = 0.05 for every i.
    np.testing.assert_allclose(benjamini_hochberg(p), [0.05] * 5, atol=1e-15)
    # Holm: (m - i + 1) p_(i) = .05, .08, .09, .08, .05 -> running max.
    np.testing.assert_allclose(holm(p), [0.05, 0.08, 0.09, 0.09, 0.09], atol=1e-15)


def test_hand_computed_unsorted_example() -> None:
    p = [0.04, 0.001, 0.03, 0.5]
    # sorted: .001 .03 .04 .5 ; BH m/i*p: .004 .06 .05333 .5 -> cummin from top: .004 .05333 .05333 .5
    np.testing.assert_allclose(benjamini_hochberg(p), [0.16 / 3, 0.004, 0.16 / 3, 0.5], atol=1e-12)
    # Holm (m-i+1)p: .004 .09 .08 .5 -> running max: .004 .09 .09 .5
    np.testing.assert_allclose(holm(p), [0.09, 0.004, 0.09, 0.5], atol=1e-12)


def test_caps_at_one() -> None:
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])


@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels_and_r(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 8), rng.uniform(0, 1, 30)])
    p[rng.integers(0, p.size, 3)] = p[0]  # ties
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], atol=1e-15)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], atol=1e-15)
    np.testing.assert_allclose(benjamini_hochberg(p), r_p_adjust(p, "BH"), atol=1e-12)
    np.testing.assert_allclose(holm(p), r_p_adjust(p, "holm"), atol=1e-12)


def test_nan_excluded_from_family() -> None:
    p = np.array([0.01, np.nan, 0.04, np.nan, 0.03])
    bh, hm = benjamini_hochberg(p), holm(p)
    assert np.isnan(bh[[1, 3]]).all() and np.isnan(hm[[1, 3]]).all()
    np.testing.assert_allclose(bh[[0, 2, 4]], benjamini_hochberg([0.01, 0.04, 0.03]))
    np.testing.assert_allclose(hm[[0, 2, 4]], holm([0.01, 0.04, 0.03]))
    np.testing.assert_allclose(hm, r_p_adjust(p, "holm"), atol=1e-12)
    np.testing.assert_allclose(bh, r_p_adjust(p, "BH"), atol=1e-12)


def test_all_nan_and_empty() -> None:
    assert np.isnan(holm([np.nan, np.nan])).all()
    assert benjamini_hochberg([]).shape == (0,)


def test_shape_preserved() -> None:
    p = np.array([[0.01, 0.2], [0.03, np.nan]])
    assert benjamini_hochberg(p).shape == (2, 2)
    np.testing.assert_allclose(holm(p).ravel(), holm(p.ravel()))


def test_invalid_pvalue() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([-0.1])


def test_holm_dominates_bh() -> None:
    rng = np.random.default_rng(11)
    p = rng.uniform(size=50)
    assert np.all(holm(p) >= benjamini_hochberg(p) - 1e-15)


def test_adjust_log10_equals_statsmodels_on_the_padded_family() -> None:
    """Oracle: statsmodels multipletests on the family padded with p = 1 for members without a p-value."""
    from monitor.stats.multiplicity import adjust_log10

    rng = np.random.default_rng(19)
    for _ in range(15):
        k = int(rng.integers(1, 40))
        m = k + int(rng.integers(0, 40))
        p = rng.uniform(size=k) ** rng.uniform(0.3, 6.0)
        p[rng.uniform(size=k) < 0.1] = 1.0
        padded = np.concatenate([p, np.ones(m - k)])
        for method, name in (("holm", "holm"), ("bh", "fdr_bh")):
            got = 10.0 ** adjust_log10(np.log10(p), method, m)
            np.testing.assert_allclose(got, multipletests(padded, method=name)[1][:k], rtol=1e-10, atol=1e-14)


def test_adjust_log10_keeps_tiny_p_values() -> None:
    from monitor.stats.multiplicity import adjust_log10

    got = adjust_log10([-400.0, -3.0, 0.0], "holm", 10)
    np.testing.assert_allclose(got, [-400.0 + 1.0, -3.0 + np.log10(9), 0.0])
    assert adjust_log10([-400.0], "bh", 100)[0] == pytest.approx(-398.0)
    with pytest.raises(ValueError):
        adjust_log10([-1.0, -2.0], "holm", 1)
    with pytest.raises(ValueError):
        adjust_log10([0.5], "bh", 3)
