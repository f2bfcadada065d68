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
from scipy import stats
from scipy.special import expit

from monitor.stats._checks import check_confidence as _check_confidence
from monitor.stats.metrics import _as_count_array

__all__ = ["CorrectedAccuracy", "begg_greenes", "audit_sample_size"]

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
