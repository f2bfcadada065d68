"""Agreement of two binary raters (the AI and the reading clinician) on the same cases.

From the 2x2 table of calls ``[[both positive, AI only], [human only, both negative]]``:

* **Cohen's kappa** (Cohen 1960) with the large-sample standard error of Fleiss, Cohen & Everitt
  (1969), computed by :func:`statsmodels.stats.inter_rater.cohens_kappa`, and a Wald interval
  ``kappa -/+ z * se`` at the requested confidence;
* **positive and negative percent agreement** of the AI against the clinician (FDA 2007 statistical
  guidance: PPA = both positive / clinician positive, NPA = both negative / clinician negative),
  with binomial intervals (:mod:`monitor.stats.intervals`);
* **McNemar's exact test** (McNemar 1947; exact conditional binomial form) of the two discordant
  cells, :func:`statsmodels.stats.contingency_tables.mcnemar` with ``exact=True``: among the
  discordant cases whose ground truth is known, exactly one rater is right, so the test compares
  how often the AI was right with how often the clinician was right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa

from monitor.stats._checks import check_confidence
from monitor.stats.intervals import IntervalMethod, proportion_interval
from monitor.stats.metrics import _as_count_array

__all__ = ["KappaResult", "PercentAgreement", "cohen_kappa", "mcnemar_exact", "percent_agreement"]


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of a 2x2 table.

    Attributes
    ----------
    n : int
        Cases in the table.
    observed_agreement, expected_agreement : float
        ``p_o`` (share of concordant cases) and ``p_e`` (agreement expected by chance from the margins).
    kappa : float
        ``(p_o - p_e) / (1 - p_e)``; NaN when ``p_e == 1`` (both raters constant and equal) or ``n == 0``.
    se : float
        Large-sample standard error (Fleiss, Cohen & Everitt 1969), not assuming kappa = 0.
    ci_low, ci_high : float
        Wald interval ``kappa -/+ z * se``, clipped to [-1, 1].
    """

    n: int
    observed_agreement: float
    expected_agreement: float
    kappa: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class PercentAgreement:
    """Positive and negative percent agreement of rater A (the AI) against rater B (the clinician).

    ``ppa = both positive / B positive`` and ``npa = both negative / B negative``, each with its
    binomial interval; NaN when B has no positive (negative) call.
    """

    ppa: float
    ppa_ci_low: float
    ppa_ci_high: float
    npa: float
    npa_ci_low: float
    npa_ci_high: float


def _table(both_positive: int, a_only: int, b_only: int, both_negative: int) -> np.ndarray:
    table = _as_count_array([both_positive, a_only, b_only, both_negative], "2x2 table")
    if table.ndim != 1:
        raise ValueError("the 2x2 table takes four scalar counts")
    return table.reshape(2, 2)


def cohen_kappa(both_positive: int, a_only: int, b_only: int, both_negative: int, *,
                confidence: float = 0.95) -> KappaResult:
    """Cohen's kappa with the Fleiss-Cohen-Everitt standard error and a Wald interval.

    Parameters
    ----------
    both_positive, a_only, b_only, both_negative : int
        The 2x2 table: rows are rater A positive / negative, columns rater B positive / negative
        (``a_only`` = A positive and B negative).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    KappaResult
        NaN kappa, SE and interval for an empty table or when chance agreement is 1.

    Raises
    ------
    ValueError
        Negative or non-integral counts, or ``confidence`` outside (0, 1).

    References
    ----------
    Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20:37-46.
    Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa.
    Psychol Bull 1969;72:323-327.

    Examples
    --------
    >>> r = cohen_kappa(20, 5, 10, 15)
    >>> round(r.kappa, 4), round(r.se, 4), round(r.ci_low, 4), round(r.ci_high, 4)
    (0.4, 0.127, 0.1511, 0.6489)
    """
    confidence = check_confidence(confidence)
    table = _table(both_positive, a_only, b_only, both_negative)
    n = int(table.sum())
    nan = float("nan")
    if n == 0:
        return KappaResult(0, nan, nan, nan, nan, nan, nan)
    p_o = float(np.trace(table)) / n
    p_e = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if p_e >= 1.0:
        return KappaResult(n, p_o, p_e, nan, nan, nan, nan)
    result = cohens_kappa(table.astype(np.float64), return_results=True)
    kappa, se = float(result["kappa"]), float(result["std_kappa"])
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    return KappaResult(n, p_o, p_e, kappa, se, max(-1.0, kappa - z * se), min(1.0, kappa + z * se))


def percent_agreement(both_positive: int, a_only: int, b_only: int, both_negative: int, *,
                      confidence: float = 0.95, method: IntervalMethod = "wilson") -> PercentAgreement:
    """Positive / negative percent agreement of rater A against rater B, with binomial intervals.

    References
    ----------
    FDA CDRH. Statistical Guidance on Reporting Results from Studies Evaluating Diagnostic Tests,
    2007 (section 7: agreement with a non-reference standard). Wilson EB. JASA 1927;22:209-212.

    Examples
    --------
    >>> r = percent_agreement(20, 5, 10, 15)
    >>> round(r.ppa, 4), round(r.npa, 4), round(r.ppa_ci_low, 4)
    (0.6667, 0.75, 0.4878)
    """
    table = _table(both_positive, a_only, b_only, both_negative)
    (tp, fp), (fn, tn) = (int(x) for x in table[0]), (int(x) for x in table[1])
    ppa_n, npa_n = tp + fn, fp + tn
    ppa_lo, ppa_hi = proportion_interval(tp, ppa_n, confidence=confidence, method=method)
    npa_lo, npa_hi = proportion_interval(tn, npa_n, confidence=confidence, method=method)
    nan = float("nan")
    return PercentAgreement(tp / ppa_n if ppa_n else nan, ppa_lo, ppa_hi,
                            tn / npa_n if npa_n else nan, npa_lo, npa_hi)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value of the discordant counts (binomial test of b vs c at 1/2).

    NaN when there are no discordant cases.

    References
    ----------
    McNemar Q. Note on the sampling error of the difference between correlated proportions or
    percentages. Psychometrika 1947;12:153-157. statsmodels ``mcnemar(exact=True)``; R
    ``binom.test(b, b + c)``.

    Examples
    --------
    >>> round(mcnemar_exact(2, 10), 5)
    0.03857
    >>> mcnemar_exact(0, 0)
    nan
    """
    counts = _as_count_array([a_only, b_only], "discordant counts")
    if counts.ndim != 1:
        raise ValueError("mcnemar_exact takes two scalar counts")
    b, c = (int(x) for x in counts)
    if b + c == 0:
        return float("nan")
    return float(min(1.0, mcnemar(np.array([[0, b], [c, 0]]), exact=True).pvalue))
