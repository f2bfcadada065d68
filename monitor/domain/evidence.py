"""What the decision rule decides on for one stratum-metric: the counts, adjusted for how the labels
arrived (final labels only, verification by design) and for patients counted more than once.

The analysis gathers three kinds of adjustment, each computed by its own module and keyed by
(model version, stratum key, metric):

* **label maturity** (:mod:`monitor.domain.labels`): the counts of final labels only, and the share of
  the labels expected by the cut-off that have arrived (provisional below ``min_expected_share``, or when
  some received labels are not final yet and no earlier cohort gives the expectation);
* **verification by design** (:mod:`monitor.domain.labels`): the inverse-probability-weighted estimate
  and its variance when only an audit sample of some AI calls is verified;
* **patient clustering** (:mod:`monitor.domain.clustering`): the design effect of patients with
  several cases in the stratum.

:func:`combine` turns them into one :class:`Evidence`: an estimate with an *effective* number of
trials, so that one exact binomial rule decides on every kind of evidence. The effective sample size
is that of Korn & Graubard: n* = p(1-p)/Var(p) for a corrected estimate, divided by the design effect
(truncated at 1) for clustering; with no adjustment the evidence is the plain counts.

References
----------
Korn EL, Graubard BI. Confidence intervals for proportions with small expected number of positive
counts estimated from survey data. Survey Methodology 1998;24:193-201. Kish L. Survey Sampling, 1965
(design effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

__all__ = ["Adjustments", "Basis", "Evidence", "EvidenceKey", "FinalCounts", "combine"]

#: (model version, stratum key, metric)
EvidenceKey = tuple[str, str, str]
#: The adjustments an evidence carries, in the order they were applied.
Basis = Literal["final_labels", "verification_corrected", "cluster_robust"]


@dataclass(frozen=True)
class FinalCounts:
    """The successes and trials of the labels final by the cut-off, and the share of the labels expected by
    the cut-off that have arrived (``None`` when no expectation can be formed)."""

    successes: int
    trials: int
    expected_share: float | None = None


@dataclass(frozen=True)
class Adjustments:
    """Every adjustment of a run's evidence; a key that is missing from a mapping is not adjusted."""

    final_counts: Mapping[EvidenceKey, FinalCounts] = field(default_factory=dict)
    #: (estimate, variance) of the verification-corrected metric
    corrected: Mapping[EvidenceKey, tuple[float, float]] = field(default_factory=dict)
    #: design effect of patient clustering (variance ratio, cluster-robust over binomial)
    design_effects: Mapping[EvidenceKey, float] = field(default_factory=dict)
    #: a decision is provisional below this share of expected labels (LabelPolicy.min_expected_share)
    min_expected_share: float = 0.8


@dataclass(frozen=True)
class Evidence:
    """One stratum-metric as the rule sees it: ``successes`` of ``trials`` (both possibly fractional)."""

    successes: float
    trials: float
    estimate: float | None
    basis: tuple[Basis, ...] = ()
    design_effect: float = 1.0
    expected_share: float | None = None
    provisional: bool = False


def combine(key: EvidenceKey, successes: int, trials: int, adjustments: Adjustments) -> Evidence:
    """The evidence of one stratum-metric from its raw counts and the run's adjustments (see the module
    docstring)."""
    basis: list[Basis] = []
    share: float | None = None
    final = adjustments.final_counts.get(key)
    x, n = float(successes), float(trials)
    if final is not None:
        share = final.expected_share
        if (final.successes, final.trials) != (successes, trials):
            x, n = float(final.successes), float(final.trials)
            basis.append("final_labels")
    estimate = x / n if n > 0 else None
    corrected = adjustments.corrected.get(key)
    if corrected is not None and n > 0:
        estimate, variance = corrected
        if variance > 0 and 0.0 < estimate < 1.0:
            n = estimate * (1.0 - estimate) / variance
        x = estimate * n
        basis.append("verification_corrected")
    deff = max(1.0, float(adjustments.design_effects.get(key, 1.0)))
    if deff > 1.0 and n > 0:
        n, x = n / deff, x / deff
        basis.append("cluster_robust")
    # Provisional: too few of the expected labels are final; or some labels received are not final yet and no
    # earlier cohort tells how many more to expect (the final ones may be an outcome-dependent subset).
    unknown_share = final is not None and share is None and final.trials < trials
    provisional = (share is not None and share < adjustments.min_expected_share) or unknown_share
    return Evidence(successes=x, trials=n, estimate=estimate, basis=tuple(basis), design_effect=deff,
                    expected_share=share, provisional=provisional)
