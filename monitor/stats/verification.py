"""Verification (work-up) bias correction and audit sample sizing.

Only some cases get the reference standard, and the probability of being
verified depends on the AI call: biopsy mostly follows positive calls, and only
a random audit sample of negative calls is over-read by an expert
(regulatory.md section 4.5). Sensitivity and specificity computed on the
verified cases alone are then biased (sensitivity up, specificity down).

:func:`begg_greenes` corrects them under the assumption that verification is
missing at random **given the call** (Begg & Greenes 1983), which holds by
design when the verified negatives are a random sample of the negative calls.
:func:`audit_sample_size` sizes that random sample.

For a device whose labels come from an **audit design** (all positive calls and a
known fraction of the negative calls verified), :func:`design_corrected` gives
the four metrics' inverse-probability-weighted estimates with their variance
(vectorised, for the decision rule), and :func:`planned_sensitivity_se`,
:func:`audit_size_for_sensitivity`, :func:`audit_size_for_false_omission` and
:func:`detectable_sensitivity_drop` plan the audit for the corrected
sensitivity.

Notation: ``T+`` / ``T-`` = positive / negative AI call, ``D+`` / ``D-`` =
reference standard. Among verified cases ``tp, fp, fn, tn``; among all calls
``N1 = calls_positive``, ``N0 = calls_negative``, ``N = N1 + N0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats
from scipy.special import expit

from monitor.stats._checks import check_confidence as _check_confidence
from monitor.stats.metrics import _as_count_array

__all__ = [
    "CorrectedAccuracy",
    "DESIGN_METRICS",
    "audit_sample_size",
    "audit_size_for_false_omission",
    "audit_size_for_sensitivity",
    "begg_greenes",
    "design_corrected",
    "detectable_sensitivity_drop",
    "planned_sensitivity_se",
]

_NAN_PAIR: Final[tuple[float, float]] = (math.nan, math.nan)
#: Haldane-Anscombe correction added to every verified cell for the interval when one is zero.
_ZERO_CELL_CORRECTION: Final[float] = 0.5


@dataclass(frozen=True)
class CorrectedAccuracy:
    """Verification-bias-corrected sensitivity and specificity.

    Attributes
    ----------
    sensitivity, sensitivity_ci : float, tuple of float
        Corrected ``P(T+ | D+)`` and its two-sided interval.
    specificity, specificity_ci : float, tuple of float
        Corrected ``P(T- | D-)`` and its two-sided interval.
    verification_fraction_positive_calls : float
        Share of positive calls that were verified, ``(tp + fp) / N1``.
    verification_fraction_negative_calls : float
        Share of negative calls that were verified, ``(fn + tn) / N0``.
    """

    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    verification_fraction_positive_calls: float
    verification_fraction_negative_calls: float



def _begg_greenes_arrays(
    tp: ArrayLike,
    fp: ArrayLike,
    fn: ArrayLike,
    tn: ArrayLike,
    calls_positive: ArrayLike,
    calls_negative: ArrayLike,
    confidence: float,
) -> dict[str, np.ndarray]:
    """Vectorised core of :func:`begg_greenes` (float64 arrays of the broadcast shape)."""
    counts = [
        _as_count_array(v, name)
        for v, name in (
            (tp, "tp"),
            (fp, "fp"),
            (fn, "fn"),
            (tn, "tn"),
            (calls_positive, "calls_positive"),
            (calls_negative, "calls_negative"),
        )
    ]
    try:
        a, b, c, d, n1_all, n0_all = (x.astype(np.float64) for x in np.broadcast_arrays(*counts))
    except ValueError as exc:
        raise ValueError("counts have incompatible shapes") from exc
    n1, n0 = a + b, c + d  # verified positive / negative calls
    if np.any(n1 > n1_all):
        raise ValueError("tp + fp (verified positive calls) must not exceed calls_positive")
    if np.any(n0 > n0_all):
        raise ValueError("fn + tn (verified negative calls) must not exceed calls_negative")
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))

    with np.errstate(divide="ignore", invalid="ignore"):
        # Estimated P(D+ | call) among verified cases, scaled up to all calls.
        # Equivalently: weight each verified case by 1 / (verification fraction of its call).
        w1 = n1_all / n1
        w0 = n0_all / n0
        pos1 = np.where(a > 0, a * w1, 0.0)  # estimated D+ among all positive calls (tp weight)
        pos0 = np.where(c > 0, c * w0, 0.0)  # estimated D+ among all negative calls (fn weight)
        neg1 = np.where(b > 0, b * w1, 0.0)
        neg0 = np.where(d > 0, d * w0, 0.0)
        # A call group that exists but has no verified case leaves P(D | call) unknown.
        unknown = ((n1_all > 0) & (n1 == 0)) | ((n0_all > 0) & (n0 == 0))
        se = np.where(unknown, np.nan, pos1 / (pos1 + pos0))
        sp = np.where(unknown, np.nan, neg0 / (neg0 + neg1))

        # Delta method on the logit scale (Begg & Greenes 1983; Zhou 1998):
        #   logit Se = logit P(T+) + log P(D+|T+) - log P(D+|T-)
        #   Var = 1/N1 + 1/N0 + (1/tp - 1/n1) + (1/fn - 1/n0), and symmetrically for Sp.
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        k = np.where(zero, _ZERO_CELL_CORRECTION, 0.0)
        ac, bc, cc, dc = a + k, b + k, c + k, d + k
        common = 1.0 / n1_all + 1.0 / n0_all
        var_se = common + (1.0 / ac - 1.0 / (ac + bc)) + (1.0 / cc - 1.0 / (cc + dc))
        var_sp = common + (1.0 / dc - 1.0 / (cc + dc)) + (1.0 / bc - 1.0 / (ac + bc))
        centre_se = np.log(n1_all / n0_all) + np.log(ac / (ac + bc)) - np.log(cc / (cc + dc))
        centre_sp = np.log(n0_all / n1_all) + np.log(dc / (cc + dc)) - np.log(bc / (ac + bc))
        half_se = z * np.sqrt(var_se)
        half_sp = z * np.sqrt(var_sp)
        se_lo, se_hi = expit(centre_se - half_se), expit(centre_se + half_se)
        sp_lo, sp_hi = expit(centre_sp - half_sp), expit(centre_sp + half_sp)
    # With a zero cell the corrected interval may not reach the 0 / 1 estimate: widen it.
    se_lo, se_hi = np.fmin(se_lo, se), np.fmax(se_hi, se)
    sp_lo, sp_hi = np.fmin(sp_lo, sp), np.fmax(sp_hi, sp)
    # No interval when a call group is empty (P(T+) is 0 or 1) or the estimate is undefined.
    no_ci_se = (n1_all == 0) | (n0_all == 0) | np.isnan(se)
    no_ci_sp = (n1_all == 0) | (n0_all == 0) | np.isnan(sp)
    se_lo, se_hi = np.where(no_ci_se, np.nan, se_lo), np.where(no_ci_se, np.nan, se_hi)
    sp_lo, sp_hi = np.where(no_ci_sp, np.nan, sp_lo), np.where(no_ci_sp, np.nan, sp_hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac1 = np.where(n1_all > 0, n1 / np.where(n1_all > 0, n1_all, 1.0), np.nan)
        frac0 = np.where(n0_all > 0, n0 / np.where(n0_all > 0, n0_all, 1.0), np.nan)
    return {
        "sensitivity": se,
        "sensitivity_lower": se_lo,
        "sensitivity_upper": se_hi,
        "specificity": sp,
        "specificity_lower": sp_lo,
        "specificity_upper": sp_hi,
        "verification_fraction_positive_calls": frac1,
        "verification_fraction_negative_calls": frac0,
    }


def begg_greenes(
    tp: int,
    fp: int,
    fn: int,
    tn: int,
    calls_positive: int,
    calls_negative: int,
    *,
    confidence: float = 0.95,
) -> CorrectedAccuracy:
    """Sensitivity and specificity corrected for partial verification (Begg & Greenes).

    Parameters
    ----------
    tp, fp, fn, tn : int
        Confusion counts among the **verified** cases only.
    calls_positive, calls_negative : int
        All positive / negative AI calls in the period, verified or not
        (``>= tp + fp`` and ``>= fn + tn``).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    CorrectedAccuracy
        Corrected estimates, their intervals and the verification fractions.

    Raises
    ------
    ValueError
        Negative or non-integral counts, more verified than total calls in a
        call group, or ``confidence`` outside (0, 1).

    Notes
    -----
    With ``p1 = tp / (tp + fp) = P(D+ | T+)`` and ``p0 = fn / (fn + tn) =
    P(D+ | T-)`` estimated in the verified cases and ``pi = N1 / N = P(T+)``
    from all calls, Bayes' theorem gives

    ``Se = pi p1 / (pi p1 + (1 - pi) p0)``,
    ``Sp = (1 - pi)(1 - p0) / ((1 - pi)(1 - p0) + pi (1 - p1))``.

    This equals inverse-probability weighting of each verified case by
    ``N1 / (tp + fp)`` or ``N0 / (fn + tn)`` (the inverse verification
    fraction of its call). It is unbiased (asymptotically) when verification
    depends only on the call (missing at random given the call); it does not
    correct for verification driven by other factors (e.g. a radiologist's
    suspicion beyond the AI call).

    Interval: Wald on the logit scale with the delta-method variance of
    Begg & Greenes (1983) / Zhou (1998),
    ``Var(logit Se) = 1/N1 + 1/N0 + (1/tp - 1/(tp + fp)) + (1/fn - 1/(fn + tn))``
    and ``Var(logit Sp) = 1/N1 + 1/N0 + (1/tn - 1/(fn + tn)) + (1/fp - 1/(tp + fp))``.
    With full verification it reduces to the logit interval of
    ``tp / (tp + fn)`` (variance ``1/tp + 1/fn``). When a verified cell is 0
    the variance is computed with 0.5 added to each of the four verified cells
    (Haldane-Anscombe) and the interval is widened to contain the 0 / 1 point
    estimate. Estimates are NaN when a call group has calls but no verified
    case; intervals are NaN when a call group is empty.

    References
    ----------
    Begg CB, Greenes RA. Assessment of diagnostic tests when disease
    verification is subject to selection bias. Biometrics 1983;39:207-215.
    Zhou XH. Correcting for verification bias in studies of a diagnostic
    test's accuracy. Stat Methods Med Res 1998;7:337-353.
    Zhou XH, Obuchowski NA, McClish DK. Statistical Methods in Diagnostic
    Medicine, 2nd ed. Wiley 2011, chapter 10.
    Alonzo TA, Pepe MS. Assessing accuracy of a continuous screening test in
    the presence of verification bias. J R Stat Soc C 2005;54:173-190 (IPW).

    Examples
    --------
    All 200 positive calls verified, 100 of 1,800 negative calls audited:

    >>> r = begg_greenes(tp=150, fp=50, fn=5, tn=95, calls_positive=200, calls_negative=1800)
    >>> round(r.sensitivity, 4), [round(x, 4) for x in r.sensitivity_ci]
    (0.625, [0.4111, 0.7992])
    >>> round(r.specificity, 4), round(r.verification_fraction_negative_calls, 4)
    (0.9716, 0.0556)
    >>> round(150 / (150 + 5), 4)  # naive sensitivity on verified cases: biased upward
    0.9677
    """
    for name, value in (
        ("tp", tp),
        ("fp", fp),
        ("fn", fn),
        ("tn", tn),
        ("calls_positive", calls_positive),
        ("calls_negative", calls_negative),
    ):
        if np.ndim(value) != 0:
            raise ValueError(f"begg_greenes takes scalar counts; got a non-scalar {name}")
    confidence = _check_confidence(confidence)
    r = _begg_greenes_arrays(tp, fp, fn, tn, calls_positive, calls_negative, confidence)
    f = {key: float(value) for key, value in r.items()}
    return CorrectedAccuracy(
        sensitivity=f["sensitivity"],
        sensitivity_ci=(f["sensitivity_lower"], f["sensitivity_upper"]),
        specificity=f["specificity"],
        specificity_ci=(f["specificity_lower"], f["specificity_upper"]),
        verification_fraction_positive_calls=f["verification_fraction_positive_calls"],
        verification_fraction_negative_calls=f["verification_fraction_negative_calls"],
    )


def _wilson_half_width(n: np.ndarray, p: float, z: float, population: int) -> np.ndarray:
    """Half-width of the Wilson interval at observed rate ``p``, finite-population corrected.

    Sampling ``n`` of ``population`` without replacement multiplies the binomial
    variance by ``(N - n) / (N - 1)``; the score interval then equals the Wilson
    interval with the effective size ``n_eff = n (N - 1) / (N - n)`` (``inf`` at a census).
    """
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if population > 1:
            n_eff = np.where(n >= population, np.inf, n * (population - 1) / (population - n))
        else:
            n_eff = np.where(n >= 1, np.inf, n)
        z2 = z * z
        hw = z * np.sqrt(p * (1.0 - p) * n_eff + z2 / 4.0) / (n_eff + z2)
    return np.where(np.isinf(n_eff), 0.0, hw)


def audit_sample_size(
    negative_calls: int,
    expected_fn_rate: float,
    *,
    half_width: float,
    confidence: float = 0.95,
) -> int:
    """Negative calls to over-read so the false-omission-rate interval is narrow enough.

    Parameters
    ----------
    negative_calls : int
        Number of negative AI calls in the stratum and period (the finite
        population the audit sample is drawn from, without replacement).
    expected_fn_rate : float
        Planning value of the false-omission rate ``1 - NPV = P(D+ | T-)``,
        in [0, 1] (e.g. the premarket value or last period's estimate).
    half_width : float
        Target half-width of the two-sided Wilson interval, > 0.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    int
        Smallest sample size ``n`` (``0 <= n <= negative_calls``) whose
        finite-population-corrected Wilson interval, evaluated at an observed
        rate equal to ``expected_fn_rate``, has half-width ``<= half_width``.
        0 when there are no negative calls.

    Raises
    ------
    ValueError
        ``negative_calls`` not a non-negative whole number, rate outside
        [0, 1], ``half_width <= 0`` or ``confidence`` outside (0, 1).

    Notes
    -----
    Wilson-width search: the Wilson half-width at rate ``p`` and size ``m``,
    ``z sqrt(p (1 - p) m + z^2 / 4) / (m + z^2)``, strictly decreases in
    ``m``, and the effective size ``m = n (N - 1) / (N - n)`` (finite
    population correction for sampling without replacement, Cochran 1977)
    strictly increases in ``n``, so a bisection returns the smallest ``n``:
    the half-width at ``n`` is ``<= half_width`` and at ``n - 1`` it is larger.
    A census (``n = N``) has half-width 0, so a solution always exists.

    This is the planning width at the expected rate, not a guarantee: the
    realised interval depends on the observed count. For rates well inside
    (0, 1) it is close to Buderer's normal-approximation size
    ``z^2 p (1 - p) / w^2`` with Cochran's correction
    ``n0 / (1 + (n0 - 1) / N)``; near 0 (a good model has few false
    negatives) the Wilson width is the sounder criterion.

    References
    ----------
    Wilson EB. J Am Stat Assoc 1927;22:209-212.
    Buderer NM. Statistical methodology: I. Incorporating the prevalence of
    disease into the sample size calculation for sensitivity and
    specificity. Acad Emerg Med 1996;3:895-900.
    Cochran WG. Sampling Techniques, 3rd ed. Wiley 1977, sections 3.4-3.5
    (finite population correction).
    Newcombe RG. Two-sided confidence intervals for the single proportion.
    Stat Med 1998;17:857-872.

    Examples
    --------
    >>> audit_sample_size(5000, 0.02, half_width=0.01)
    684
    >>> audit_sample_size(100_000_000, 0.02, half_width=0.01)  # ~ infinite population
    792
    >>> audit_sample_size(0, 0.02, half_width=0.01)
    0
    """
    if np.ndim(negative_calls) != 0:
        raise ValueError("negative_calls must be a scalar count")
    population = int(_as_count_array(negative_calls, "negative_calls"))
    p = float(expected_fn_rate)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"expected_fn_rate must lie in [0, 1], got {expected_fn_rate!r}")
    w = float(half_width)
    if not (math.isfinite(w) and w > 0.0):
        raise ValueError(f"half_width must be a positive number, got {half_width!r}")
    confidence = _check_confidence(confidence)
    if population == 0:
        return 0
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    # Bisection on n with the invariant width(lo) > w >= width(hi); width(0) = 0.5, width(N) = 0.
    lo, hi = 0, population
    if _wilson_half_width(np.array(0), p, z, population) <= w:
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wilson_half_width(np.array(mid), p, z, population) <= w:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- audit designs

#: The metrics :func:`design_corrected` returns, in this order.
DESIGN_METRICS: Final[tuple[str, ...]] = ("sensitivity", "specificity", "ppv", "npv")


def _logit_variance_terms(a: np.ndarray, c: np.ndarray, n1: np.ndarray, n0: np.ndarray,
                          n1_all: np.ndarray, n0_all: np.ndarray) -> np.ndarray:
    """``Var(logit)`` of ``pi p1 / (pi p1 + (1 - pi) p0)`` by the delta method: ``1/N1 + 1/N0`` for the call
    share plus the binomial ``(1 - p)/(n p)`` of each call group's verified rate (Begg & Greenes 1983)."""
    return 1.0 / n1_all + 1.0 / n0_all + (1.0 / a - 1.0 / n1) + (1.0 / c - 1.0 / n0)


def design_corrected(
    tp: ArrayLike,
    fp: ArrayLike,
    fn: ArrayLike,
    tn: ArrayLike,
    calls_positive: ArrayLike,
    calls_negative: ArrayLike,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Verification-corrected sensitivity, specificity, PPV and NPV with their variances (audit designs).

    Parameters
    ----------
    tp, fp, fn, tn : array_like of int
        Confusion counts among the **verified** cases.
    calls_positive, calls_negative : array_like of int
        All positive / negative AI calls (``N1``, ``N0``), verified or not.

    Returns
    -------
    dict
        ``metric -> (estimate, variance)`` for each of :data:`DESIGN_METRICS`, float64 arrays of the
        broadcast shape. NaN where the metric cannot be estimated (see Notes).

    Raises
    ------
    ValueError
        Negative or non-integral counts, incompatible shapes, or more verified than all calls of a call.

    Notes
    -----
    The design verifies calls of each kind (``T+``, ``T-``) at random at a known rate; within a
    stratum the verified cases of a call are a random sample of its ``N_c`` calls. Each verified case
    is weighted by the inverse of its call's verification fraction, calibrated to the known number of
    calls of that kind in the stratum, ``w_c = N_c / n_c`` (the ratio-of-totals, or Hajek, inverse
    probability weighted estimator of a two-phase sample stratified by the call; with a fixed-size
    audit sample ``n_c = f_c N_c`` it is weighting by the design's ``1 / f_c``). With
    ``pi = N1 / N``, ``p1 = tp / (tp + fp)`` and ``p0 = fn / (fn + tn)``:

    ``Se = pi p1 / (pi p1 + (1 - pi) p0)``, ``Sp = (1 - pi)(1 - p0) / ((1 - pi)(1 - p0) + pi (1 - p1))``,
    ``PPV = p1``, ``NPV = 1 - p0``: the Begg-Greenes estimates (verification missing at random given
    the call holds by design).

    Variance: delta method on the three independent estimates ``pi``, ``p1``, ``p0`` (the
    superpopulation variance of two-phase sampling; Begg & Greenes 1983, Zhou 1998), on the logit scale

    ``Var(logit Se) = 1/N1 + 1/N0 + (1/tp - 1/(tp + fp)) + (1/fn - 1/(fn + tn))``,
    ``Var(logit Sp) = 1/N1 + 1/N0 + (1/tn - 1/(fn + tn)) + (1/fp - 1/(tp + fp))``,

    returned on the estimate's scale, ``Var(Se) = [Se (1 - Se)]^2 Var(logit Se)``; for PPV and NPV the
    binomial variance of the verified calls, ``p (1 - p) / n_c``. With complete verification every
    variance is the binomial ``p (1 - p) / n`` of the naive proportion, so the effective sample size
    ``p (1 - p) / Var`` (Korn & Graubard 1998) is the plain count.

    Zero cells: when the cells a metric's variance divides by are 0 (``tp`` or ``fn`` for Se, ``tn``
    or ``fp`` for Sp; also when no case of a call was verified) its estimate and variance are those of
    the four verified cells with 0.5 added to each (Haldane 1956; Anscombe 1956), so that a stratum
    whose audit found no missed case is not read as a certain sensitivity of 1 but as one with the
    little information the audit gives. Se and Sp are NaN when a stratum has no call of one kind
    (then the naive proportions are exact); PPV / NPV are NaN when no call of their kind was verified.

    References
    ----------
    Begg CB, Greenes RA. Biometrics 1983;39:207-215.
    Zhou XH. Stat Methods Med Res 1998;7:337-353.
    Alonzo TA, Pepe MS. J R Stat Soc C 2005;54:173-190 (inverse probability weighting).
    Kohn MA. Studies of diagnostic test accuracy: partial verification bias and test result-based
    sampling. J Clin Epidemiol 2022;145:179-182 (verify all positives and a random sample of negatives,
    weight by the sampling fraction).
    Sarndal CE, Swensson B, Wretman J. Model Assisted Survey Sampling. Springer 1992, ch. 9 (two-phase
    sampling for stratification).
    Korn EL, Graubard BI. Survey Methodology 1998;24:193-201 (effective sample size).

    Examples
    --------
    All 300 referred calls verified, 170 of 1,700 low-risk calls audited:

    >>> r = design_corrected(270, 30, 2, 168, 300, 1700)
    >>> [round(float(x), 4) for x in r["sensitivity"]]  # estimate, variance
    [0.931, 0.0021]
    >>> round(float(r["specificity"][0]), 4), round(float(r["npv"][0]), 4)
    (0.9825, 0.9882)
    """
    counts = [_as_count_array(v, name) for v, name in ((tp, "tp"), (fp, "fp"), (fn, "fn"), (tn, "tn"),
                                                       (calls_positive, "calls_positive"),
                                                       (calls_negative, "calls_negative"))]
    try:
        a, b, c, d, n1_all, n0_all = (x.astype(np.float64) for x in np.broadcast_arrays(*counts))
    except ValueError as exc:
        raise ValueError("counts have incompatible shapes") from exc
    if np.any(a + b > n1_all) or np.any(c + d > n0_all):
        raise ValueError("verified calls of a kind must not exceed all calls of that kind")
    both_calls = (n1_all > 0) & (n0_all > 0)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for metric, (x, y) in (("sensitivity", (a, c)), ("specificity", (d, b))):
            zero = (x == 0) | (y == 0)
            k = np.where(zero, _ZERO_CELL_CORRECTION, 0.0)
            ac, bc, cc, dc = a + k, b + k, c + k, d + k
            n1, n0 = ac + bc, cc + dc
            pi, p1, p0 = n1_all / (n1_all + n0_all), ac / n1, cc / n0
            if metric == "sensitivity":
                value = pi * p1 / (pi * p1 + (1.0 - pi) * p0)
                v_logit = _logit_variance_terms(ac, cc, n1, n0, n1_all, n0_all)
            else:
                value = (1.0 - pi) * (1.0 - p0) / ((1.0 - pi) * (1.0 - p0) + pi * (1.0 - p1))
                v_logit = _logit_variance_terms(dc, bc, n0, n1, n0_all, n1_all)
            variance = (value * (1.0 - value)) ** 2 * v_logit
            out[metric] = (np.where(both_calls, value, np.nan), np.where(both_calls, variance, np.nan))
        for metric, (x, n) in (("ppv", (a, a + b)), ("npv", (d, c + d))):
            p = x / n
            out[metric] = (np.where(n > 0, p, np.nan), np.where(n > 0, p * (1.0 - p) / n, np.nan))
    return out


def _planned_counts(calls: float, prevalence: float, sensitivity: float, specificity: float
                    ) -> tuple[float, float, float, float]:
    """Expected ``N1, N0`` and the rates ``p1 = P(D+ | T+)``, ``p0 = P(D+ | T-)`` of ``calls`` AI calls."""
    positive = prevalence * sensitivity + (1.0 - prevalence) * (1.0 - specificity)
    n1_all, n0_all = calls * positive, calls * (1.0 - positive)
    p1 = prevalence * sensitivity / positive if positive > 0 else math.nan
    p0 = prevalence * (1.0 - sensitivity) / (1.0 - positive) if positive < 1 else math.nan
    return n1_all, n0_all, p1, p0


def _check_planning(calls: float, prevalence: float, sensitivity: float, specificity: float) -> None:
    if not (math.isfinite(float(calls)) and calls >= 0):
        raise ValueError("calls must be a non-negative number")
    for name, value in (("prevalence", prevalence), ("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0.0 < float(value) < 1.0:
            raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return float(value)


def planned_sensitivity_se(
    calls: float,
    prevalence: float,
    sensitivity: float,
    specificity: float,
    *,
    fraction_positive: float = 1.0,
    fraction_negative: float,
) -> float:
    """Standard error of the corrected sensitivity (:func:`design_corrected`) an audit design will give.

    Parameters
    ----------
    calls : float
        Expected AI calls in the stratum and period.
    prevalence, sensitivity, specificity : float
        Planning values (e.g. the claims and the corrected prevalence of earlier periods), in (0, 1).
    fraction_positive, fraction_negative : float
        The design's verification fractions of positive / negative calls, in (0, 1].

    Returns
    -------
    float
        ``Se (1 - Se) sqrt(Var(logit Se))`` at the expected counts (Notes of :func:`design_corrected`):
        ``Var(logit Se) = 1/N1 + 1/N0 + (1 - p1)/(f1 N1 p1) + (1 - p0)/(f0 N0 p0)``; ``inf`` for no calls.

    Notes
    -----
    The last term, ``(1 - p0) / (f0 N0 p0)`` (about one over the expected number of audited missed
    cases), dominates under a sparse audit: the corrected sensitivity is only as precise as the
    number of false negatives the audit finds.

    References
    ----------
    Begg CB, Greenes RA. Biometrics 1983;39:207-215. Zhou XH. Stat Methods Med Res 1998;7:337-353.

    Examples
    --------
    >>> round(planned_sensitivity_se(8000, 0.10, 0.90, 0.91, fraction_negative=0.10), 4)
    0.0318
    """
    _check_planning(calls, prevalence, sensitivity, specificity)
    f1, f0 = _check_fraction("fraction_positive", fraction_positive), _check_fraction("fraction_negative",
                                                                                       fraction_negative)
    if calls == 0:
        return math.inf
    n1_all, n0_all, p1, p0 = _planned_counts(calls, prevalence, sensitivity, specificity)
    v_logit = (1.0 / n1_all + 1.0 / n0_all + (1.0 - p1) / (f1 * n1_all * p1)
               + (1.0 - p0) / (f0 * n0_all * p0))
    return sensitivity * (1.0 - sensitivity) * math.sqrt(v_logit)


def audit_size_for_sensitivity(
    calls: float,
    prevalence: float,
    sensitivity: float,
    specificity: float,
    *,
    half_width: float,
    fraction_positive: float = 1.0,
    confidence: float = 0.95,
) -> int | None:
    """Negative calls to over-read so that the corrected sensitivity's interval is ``+/- half_width``.

    Returns
    -------
    int or None
        The smallest audit ``n0`` (negative calls verified in the stratum and period) whose planned
        Wald half-width ``z SE`` (:func:`planned_sensitivity_se` with ``f0 = n0 / N0``) is at most
        ``half_width``; ``None`` when not even a census of the negative calls reaches it (too few
        calls: the call share and the positive calls alone are less precise).

    Notes
    -----
    Solved in closed form: with ``A = 1/N1 + 1/N0 + (1 - p1)/(f1 N1 p1)`` and the target
    ``V = (half_width / (z Se (1 - Se)))^2`` on the logit scale, ``n0 = (1 - p0) / (p0 (V - A))``.

    References
    ----------
    Begg CB, Greenes RA. Biometrics 1983;39:207-215. Buderer NM. Acad Emerg Med 1996;3:895-900
    (precision-based sizing of sensitivity).

    Examples
    --------
    >>> audit_size_for_sensitivity(8000, 0.10, 0.90, 0.91, half_width=0.03)  # of 6,776 negative calls
    2991
    >>> audit_size_for_sensitivity(500, 0.10, 0.90, 0.91, half_width=0.03) is None
    True
    """
    _check_planning(calls, prevalence, sensitivity, specificity)
    f1 = _check_fraction("fraction_positive", fraction_positive)
    if not (math.isfinite(float(half_width)) and half_width > 0):
        raise ValueError(f"half_width must be a positive number, got {half_width!r}")
    z = float(stats.norm.ppf(0.5 + _check_confidence(confidence) / 2.0))
    if calls == 0:
        return None
    n1_all, n0_all, p1, p0 = _planned_counts(calls, prevalence, sensitivity, specificity)
    fixed = 1.0 / n1_all + 1.0 / n0_all + (1.0 - p1) / (f1 * n1_all * p1)
    target = (half_width / (z * sensitivity * (1.0 - sensitivity))) ** 2
    if target <= fixed:
        return None
    n0 = math.ceil((1.0 - p0) / (p0 * (target - fixed)) - 1e-9)
    return n0 if n0 <= n0_all else None


def audit_size_for_false_omission(false_omission: float, *, relative_half_width: float,
                                  confidence: float = 0.95) -> int:
    """Negative calls to over-read so that the false-omission rate is known within a relative half-width.

    Returns
    -------
    int
        ``ceil(z^2 (1 - p0) / (r^2 p0))``: the audit whose Wald half-width ``z sqrt(p0 (1 - p0) / n0)``
        is at most ``r p0`` at the planning rate ``p0 = P(D+ | T-)``. About ``z^2 / r^2`` missed cases
        must be found (15 for ``r = 0.5``), whatever the rate; an absolute half-width on a rate near 0
        (the earlier plan) asks for a handful.

    References
    ----------
    Cochran WG. Sampling Techniques, 3rd ed. Wiley 1977, section 4.4 (sample size for a relative error).

    Examples
    --------
    >>> audit_size_for_false_omission(0.012, relative_half_width=0.5)
    1266
    """
    p0 = float(false_omission)
    if not 0.0 < p0 < 1.0:
        raise ValueError(f"false_omission must lie strictly between 0 and 1, got {false_omission!r}")
    if not (math.isfinite(float(relative_half_width)) and relative_half_width > 0):
        raise ValueError(f"relative_half_width must be a positive number, got {relative_half_width!r}")
    z = float(stats.norm.ppf(0.5 + _check_confidence(confidence) / 2.0))
    return math.ceil(z * z * (1.0 - p0) / (relative_half_width ** 2 * p0) - 1e-9)


def detectable_sensitivity_drop(
    calls: float,
    prevalence: float,
    specificity: float,
    *,
    goal: float,
    fraction_negative: float,
    fraction_positive: float = 1.0,
    alpha: float = 0.025,
    power: float = 0.80,
) -> float | None:
    """The drop of the corrected sensitivity **below the goal** that the audit design detects with ``power``.

    Parameters
    ----------
    calls, prevalence, specificity : float
        Expected AI calls per period in the stratum and the planning prevalence and specificity.
    goal : float
        Performance goal (claim - margin) the one-sided bound is compared with.
    fraction_negative, fraction_positive : float
        The design's verification fractions.
    alpha : float
        One-sided level of the bound (after multiplicity, e.g. ``alpha / m`` for Bonferroni).
    power : float
        Target power.

    Returns
    -------
    float or None
        ``delta`` with ``goal - Se1 = (z_{1-alpha} + z_power) SE(Se1)`` and ``Se1 = goal - delta``, the
        standard error taken at the lower sensitivity (more missed cases); ``None`` when no drop is
        detectable (no calls).

    Notes
    -----
    The rule flags when ``Se_hat + z_{1-alpha} SE < goal``; with ``Se_hat ~ N(Se1, SE(Se1)^2)`` its
    power is ``Phi((goal - Se1) / SE(Se1) - z_{1-alpha})`` (normal approximation on the effective
    sample size; the exact rule on Korn-Graubard effective counts is checked by simulation in
    ``bench/bench_audit_plan.py``). Solved for ``Se1`` by Brent's method.

    References
    ----------
    Chow SC, Shao J, Wang H. Sample Size Calculations in Clinical Research, 2nd ed. 2008, section 4.1.
    Begg CB, Greenes RA. Biometrics 1983;39:207-215.

    Examples
    --------
    >>> round(detectable_sensitivity_drop(8000, 0.10, 0.91, goal=0.84, fraction_negative=0.10), 3)
    0.12
    """
    if not 0.0 < goal < 1.0:
        raise ValueError(f"goal must lie strictly between 0 and 1, got {goal!r}")
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0.0 < float(value) < 1.0:
            raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    _check_planning(calls, prevalence, goal, specificity)
    if calls == 0:
        return None
    k = float(stats.norm.ppf(1.0 - alpha) + stats.norm.ppf(power))

    def gap(se1: float) -> float:
        se = planned_sensitivity_se(calls, prevalence, se1, specificity, fraction_positive=fraction_positive,
                                    fraction_negative=fraction_negative)
        return goal - se1 - k * se

    low = 1e-6
    if gap(low) <= 0:
        return None
    return goal - float(optimize.brentq(gap, low, goal, xtol=1e-10))
