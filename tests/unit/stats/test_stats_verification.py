"""Verification-bias correction (Begg & Greenes) and audit sample sizing.

Oracles: closed forms written out independently (Bayes' theorem; inverse-probability
weighting of case-level data; the Begg-Greenes / Zhou variance as transcribed in the
R package PVBcorrect, ``acc_bg``), statsmodels' Wilson interval for the audit size,
and seeded Monte-Carlo simulations for bias and coverage.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import expit, logit
from statsmodels.stats.proportion import proportion_confint

from monitor.stats.verification import (
    CorrectedAccuracy,
    _begg_greenes_arrays,
    audit_sample_size,
    begg_greenes,
)

Z95 = float(stats.norm.ppf(0.975))


# ------------------------------------------------------------------ point estimates


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "tn"), [(45, 10, 5, 140), (90, 3, 12, 400), (7, 2, 1, 30)]
)
def test_full_verification_equals_naive(tp: int, fp: int, fn: int, tn: int) -> None:
    r = begg_greenes(tp, fp, fn, tn, calls_positive=tp + fp, calls_negative=fn + tn)
    assert r.sensitivity == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert r.specificity == pytest.approx(tn / (tn + fp), abs=1e-12)
    assert r.verification_fraction_positive_calls == 1.0
    assert r.verification_fraction_negative_calls == 1.0
    # The interval reduces to the logit (Wald) interval of the naive proportion.
    for est, ci, k, m in ((r.sensitivity, r.sensitivity_ci, tp, fn), (r.specificity, r.specificity_ci, tn, fp)):
        half = Z95 * math.sqrt(1.0 / k + 1.0 / m)
        assert ci[0] == pytest.approx(expit(logit(est) - half), abs=1e-12)
        assert ci[1] == pytest.approx(expit(logit(est) + half), abs=1e-12)


def test_bayes_form_of_begg_greenes() -> None:
    tp, fp, fn, tn, n_pos, n_neg = 150, 50, 5, 95, 200, 1800
    r = begg_greenes(tp, fp, fn, tn, n_pos, n_neg)
    pi = n_pos / (n_pos + n_neg)
    p1, p0 = tp / (tp + fp), fn / (fn + tn)
    se = pi * p1 / (pi * p1 + (1 - pi) * p0)
    sp = (1 - pi) * (1 - p0) / ((1 - pi) * (1 - p0) + pi * (1 - p1))
    assert r.sensitivity == pytest.approx(se, abs=1e-12)
    assert r.specificity == pytest.approx(sp, abs=1e-12)
    assert r.verification_fraction_negative_calls == pytest.approx(100 / 1800)


def _ipw_from_case_level(tp: int, fp: int, fn: int, tn: int, n_pos: int, n_neg: int) -> tuple[float, float]:
    """Case-level data: every verified case weighted by 1 / P(verified | its call)."""
    call = np.repeat([1, 1, 0, 0], [tp, fp, fn, tn])
    disease = np.repeat([1, 0, 1, 0], [tp, fp, fn, tn])
    verified_fraction = np.where(call == 1, (tp + fp) / n_pos, (fn + tn) / n_neg)
    w = 1.0 / verified_fraction
    se = np.sum(w * (call == 1) * (disease == 1)) / np.sum(w * (disease == 1))
    sp = np.sum(w * (call == 0) * (disease == 0)) / np.sum(w * (disease == 0))
    return float(se), float(sp)


@settings(max_examples=150, deadline=None)
@given(
    tp=st.integers(1, 300),
    fp=st.integers(1, 300),
    fn=st.integers(1, 300),
    tn=st.integers(1, 300),
    extra_pos=st.integers(0, 2000),
    extra_neg=st.integers(0, 20000),
)
def test_equivalent_to_inverse_probability_weighting(
    tp: int, fp: int, fn: int, tn: int, extra_pos: int, extra_neg: int
) -> None:
    n_pos, n_neg = tp + fp + extra_pos, fn + tn + extra_neg
    r = begg_greenes(tp, fp, fn, tn, n_pos, n_neg)
    se, sp = _ipw_from_case_level(tp, fp, fn, tn, n_pos, n_neg)
    assert r.sensitivity == pytest.approx(se, rel=1e-10)
    assert r.specificity == pytest.approx(sp, rel=1e-10)
    assert r.sensitivity_ci[0] <= r.sensitivity <= r.sensitivity_ci[1]
    assert r.specificity_ci[0] <= r.specificity <= r.specificity_ci[1]


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "tn", "n_pos", "n_neg"),
    [(150, 50, 5, 95, 200, 1800), (40, 60, 9, 300, 120, 5000), (231, 32, 27, 54, 400, 250)],
)
def test_variance_matches_begg_greenes_zhou_formula(
    tp: int, fp: int, fn: int, tn: int, n_pos: int, n_neg: int
) -> None:
    """Var(Se) as in R PVBcorrect ``acc_bg`` (Begg & Greenes 1983; Zhou 1994):
    (Se(1-Se))^2 (n/(n0 n1) + r1/(s1(s1+r1)) + r0/(s0(s0+r0))), s = diseased, r = non-diseased.
    Our logit-scale half-width / z times Se(1-Se) must reproduce its square root."""
    r = begg_greenes(tp, fp, fn, tn, n_pos, n_neg)
    n = n_pos + n_neg
    s1, r1, s0, r0 = tp, fp, fn, tn
    se, sp = r.sensitivity, r.specificity
    var_se = (se * (1 - se)) ** 2 * (n / (n_neg * n_pos) + r1 / (s1 * (s1 + r1)) + r0 / (s0 * (s0 + r0)))
    var_sp = (sp * (1 - sp)) ** 2 * (n / (n_neg * n_pos) + s1 / (r1 * (s1 + r1)) + s0 / (r0 * (s0 + r0)))
    sd_logit_se = (logit(r.sensitivity_ci[1]) - logit(r.sensitivity_ci[0])) / (2 * Z95)
    sd_logit_sp = (logit(r.specificity_ci[1]) - logit(r.specificity_ci[0])) / (2 * Z95)
    assert sd_logit_se * se * (1 - se) == pytest.approx(math.sqrt(var_se), rel=1e-9)
    assert sd_logit_sp * sp * (1 - sp) == pytest.approx(math.sqrt(var_sp), rel=1e-9)
    # The logit interval is centred on logit(estimate).
    assert (logit(r.sensitivity_ci[0]) + logit(r.sensitivity_ci[1])) / 2 == pytest.approx(logit(se), abs=1e-9)


# ---------------------------------------------------------------------- simulation


def _simulate(
    seed: int, reps: int, n_cases: int, prevalence: float, se: float, sp: float, v_pos: float, v_neg: float
) -> tuple[np.ndarray, ...]:
    """Whole-population 2x2 per replicate, then verification at a rate set by the call (MAR)."""
    rng = np.random.default_rng(seed)
    probs = [prevalence * se, prevalence * (1 - se), (1 - prevalence) * (1 - sp), (1 - prevalence) * sp]
    tp_all, fn_all, fp_all, tn_all = rng.multinomial(n_cases, probs, size=reps).T
    tp, fp = rng.binomial(tp_all, v_pos), rng.binomial(fp_all, v_pos)
    fn, tn = rng.binomial(fn_all, v_neg), rng.binomial(tn_all, v_neg)
    return tp, fp, fn, tn, tp_all + fp_all, fn_all + tn_all


SCENARIO = dict(n_cases=20_000, prevalence=0.10, se=0.85, sp=0.90, v_pos=1.0, v_neg=0.10)


@pytest.fixture(scope="module")
def simulated() -> dict[str, np.ndarray]:
    tp, fp, fn, tn, n_pos, n_neg = _simulate(20240611, 4000, **SCENARIO)
    out = _begg_greenes_arrays(tp, fp, fn, tn, n_pos, n_neg, 0.95)
    out.update(tp=tp, fp=fp, fn=fn, tn=tn, n_pos=n_pos, n_neg=n_neg)
    return out


def test_vectorised_core_equals_public_function(simulated: dict[str, np.ndarray]) -> None:
    for i in range(25):
        r = begg_greenes(*(int(simulated[k][i]) for k in ("tp", "fp", "fn", "tn", "n_pos", "n_neg")))
        assert r.sensitivity == simulated["sensitivity"][i]
        assert r.sensitivity_ci == (simulated["sensitivity_lower"][i], simulated["sensitivity_upper"][i])
        assert r.specificity_ci == (simulated["specificity_lower"][i], simulated["specificity_upper"][i])


def test_naive_biased_corrected_nearly_unbiased(simulated: dict[str, np.ndarray]) -> None:
    tp, fp, fn, tn = (simulated[k] for k in ("tp", "fp", "fn", "tn"))
    naive_se = tp / (tp + fn)
    naive_sp = tn / (tn + fp)
    assert naive_se.mean() > SCENARIO["se"] + 0.10  # ~0.98: false negatives under-verified
    assert naive_sp.mean() < SCENARIO["sp"] - 0.10  # ~0.47: false positives all verified
    # At 20,000 cases (about 30 verified false negatives per period) the ratio estimator
    # keeps a small O(1/n) bias (~0.001), two orders of magnitude below the naive bias.
    assert abs(simulated["sensitivity"].mean() - SCENARIO["se"]) < 0.003
    assert abs(simulated["specificity"].mean() - SCENARIO["sp"]) < 0.003


def test_corrected_unbiased_within_monte_carlo_error() -> None:
    """Large programme (250,000 screened, ~375 verified false negatives): the O(1/n)
    bias is well below the Monte-Carlo error of the mean of 4,000 replicates."""
    reps = 4000
    scenario = {**SCENARIO, "n_cases": 250_000}
    tp, fp, fn, tn, n_pos, n_neg = _simulate(20240612, reps, **scenario)
    r = _begg_greenes_arrays(tp, fp, fn, tn, n_pos, n_neg, 0.95)
    naive_se = (tp / (tp + fn)).mean()
    for key, truth in (("sensitivity", scenario["se"]), ("specificity", scenario["sp"])):
        est = r[key]
        mc_error = est.std(ddof=1) / math.sqrt(reps)
        assert abs(est.mean() - truth) < 3.0 * mc_error, (key, est.mean(), mc_error)
    assert naive_se - scenario["se"] > 100 * abs(r["sensitivity"].mean() - scenario["se"])


def test_interval_coverage_by_simulation(simulated: dict[str, np.ndarray]) -> None:
    for key, truth in (("sensitivity", SCENARIO["se"]), ("specificity", SCENARIO["sp"])):
        covered = (simulated[f"{key}_lower"] <= truth) & (truth <= simulated[f"{key}_upper"])
        assert 0.93 <= covered.mean() <= 0.97, (key, covered.mean())


def test_interval_coverage_smaller_audit() -> None:
    # 5,000 cases, positives all verified, 20% of negatives audited.
    tp, fp, fn, tn, n_pos, n_neg = _simulate(7, 4000, 5000, 0.15, 0.80, 0.92, 1.0, 0.20)
    r = _begg_greenes_arrays(tp, fp, fn, tn, n_pos, n_neg, 0.95)
    cover_se = np.mean((r["sensitivity_lower"] <= 0.80) & (0.80 <= r["sensitivity_upper"]))
    cover_sp = np.mean((r["specificity_lower"] <= 0.92) & (0.92 <= r["specificity_upper"]))
    assert 0.93 <= cover_se <= 0.97 and 0.93 <= cover_sp <= 0.97


# ----------------------------------------------------------------------- edge cases


def test_no_false_negative_found_in_audit() -> None:
    r = begg_greenes(150, 50, 0, 100, 200, 1800)
    assert r.sensitivity == 1.0
    lo, hi = r.sensitivity_ci
    assert hi == 1.0 and 0.0 < lo < 1.0  # Haldane-corrected lower limit, widened to 1


def test_no_verified_negative_call_gives_nan() -> None:
    r = begg_greenes(10, 5, 0, 0, 15, 100)
    assert math.isnan(r.sensitivity) and math.isnan(r.specificity)
    assert all(math.isnan(x) for x in (*r.sensitivity_ci, *r.specificity_ci))
    assert r.verification_fraction_negative_calls == 0.0


def test_empty_gives_nan() -> None:
    r = begg_greenes(0, 0, 0, 0, 0, 0)
    assert isinstance(r, CorrectedAccuracy)
    for value in (
        r.sensitivity,
        r.specificity,
        *r.sensitivity_ci,
        *r.specificity_ci,
        r.verification_fraction_positive_calls,
        r.verification_fraction_negative_calls,
    ):
        assert math.isnan(value)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((10, 5, 1, 20, 14, 100), {}),  # tp + fp > calls_positive
        ((10, 5, 1, 20, 15, 20), {}),  # fn + tn > calls_negative
        ((-1, 5, 1, 20, 15, 100), {}),
        ((1.5, 5, 1, 20, 15, 100), {}),
        ((10, 5, 1, 20, 15, 100), {"confidence": 0.0}),
        (([10, 11], 5, 1, 20, 15, 100), {}),
    ],
)
def test_invalid_counts_raise(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        begg_greenes(*args, **kwargs)


# ------------------------------------------------------------------- audit sample size


def _wilson_half_width_statsmodels(n: int, p: float, population: int, confidence: float) -> float:
    if n >= population:
        return 0.0
    n_eff = n * (population - 1) / (population - n) if population > 1 else float(n)
    if n_eff == 0:
        return 0.5
    lo, hi = proportion_confint(p * n_eff, n_eff, alpha=1 - confidence, method="wilson")
    return (hi - lo) / 2


@pytest.mark.parametrize("population", [50, 400, 5000, 120_000])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize(("half_width", "confidence"), [(0.01, 0.95), (0.03, 0.95), (0.05, 0.90)])
def test_audit_size_is_the_smallest_meeting_target(
    population: int, rate: float, half_width: float, confidence: float
) -> None:
    n = audit_sample_size(population, rate, half_width=half_width, confidence=confidence)
    assert 1 <= n <= population
    assert _wilson_half_width_statsmodels(n, rate, population, confidence) <= half_width + 1e-12
    assert _wilson_half_width_statsmodels(n - 1, rate, population, confidence) > half_width


def test_finite_population_reduces_n() -> None:
    sizes = [audit_sample_size(N, 0.02, half_width=0.01) for N in (1_000, 5_000, 50_000, 10**9)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # Infinite-population limit equals a plain Wilson-width search.
    n_inf = sizes[-1]
    w = lambda n: np.diff(proportion_confint(0.02 * n, n, method="wilson"))[0] / 2  # noqa: E731
    assert w(n_inf) <= 0.01 < w(n_inf - 1)


def test_close_to_buderer_for_moderate_rates() -> None:
    # Buderer / normal approximation n0 = z^2 p (1 - p) / w^2 (infinite population).
    n0 = Z95**2 * 0.1 * 0.9 / 0.03**2
    assert abs(audit_sample_size(10**9, 0.1, half_width=0.03) - n0) / n0 < 0.02


def test_audit_size_edge_cases() -> None:
    assert audit_sample_size(0, 0.02, half_width=0.01) == 0
    assert audit_sample_size(1, 0.02, half_width=0.01) == 1
    assert audit_sample_size(30, 0.02, half_width=0.6) == 0  # any sample is narrower than 0.5
    assert audit_sample_size(30, 0.3, half_width=1e-9) == 30  # only a census
    with pytest.raises(ValueError):
        audit_sample_size(100, 1.2, half_width=0.01)
    with pytest.raises(ValueError):
        audit_sample_size(100, 0.1, half_width=0.0)
    with pytest.raises(ValueError):
        audit_sample_size(-5, 0.1, half_width=0.01)
