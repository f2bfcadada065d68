"""Low-confidence / out-of-distribution flags (issue 17 item 4): the flag rate per model version and stratum, and
the device's performance within flagged and within unflagged results.

A result the AI flags "low confidence, recommend review" (prediction log ``low_confidence`` 1) keeps its score
and call: it counts in sensitivity and specificity like every other result (nothing here changes them). This
module adds the flag's own signal, for the whole population, each single stratum and each monitored
intersection (:func:`monitor.domain.grouping.iter_strata`):

* the **flag rate** ``flagged / assessed`` over the results that logged the flag (0 or 1; results whose flag is
  empty are counted as ``not_logged`` and left out, so a site that does not log it cannot dilute the rate), with
  the device's binomial interval (``monitoring.interval_method`` at ``monitoring.confidence``: Wilson 1927 by
  default, Clopper-Pearson 1934 or Jeffreys, Brown-Cai-DasGupta 2001);
* **sensitivity and specificity within flagged and within unflagged results** (those with ground truth by the
  cut-off) with the same interval, and the difference flagged - unflagged with the Newcombe (1998, method 10)
  hybrid score interval (:func:`monitor.stats.comparisons.newcombe_difference`; Wilson-based whatever the
  device's interval method). Descriptive: no test, no multiplicity, no finding.

It hands the rate over as :class:`~monitor.domain.metric_claims.MetricEvidence` of the metric
``low_confidence_rate`` (a proportion: events = flagged, trials = assessed) for every model version and stratum;
the claims of ``claims.metrics`` are decided from it by :mod:`monitor.domain.metric_claims`, not here.

References
----------
Wilson EB. J Am Stat Assoc 1927;22:209-212. Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.
Brown LD, Cai TT, DasGupta A. Stat Sci 2001;16:101-133. Newcombe RG. Stat Med 1998;17:873-890.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from monitor.domain.analysis_document.low_confidence import FlagPerformance, LowConfidenceRow
from monitor.domain.device import DeviceConfig, MonitoringRules
from monitor.domain.grouping import iter_strata
from monitor.domain.metric_claims import MetricEvidence
from monitor.domain.numbers import finite_or_none
from monitor.stats.comparisons import newcombe_difference
from monitor.stats.intervals import proportion_interval

__all__ = ["COUNT_COLUMNS", "METRIC", "SOURCE", "LowConfidence", "low_confidence_by_stratum"]

#: The claimable metric this section measures (claims.metrics[].metric).
METRIC = "low_confidence_rate"
#: The section's key in the analysis document (MetricEvidence.source).
SOURCE = "low_confidence"
#: The count columns of the input frame besides model_version and the stratum labels.
COUNT_COLUMNS = ("low_confidence", "predicted_label", "label", "n")


@dataclass(frozen=True)
class LowConfidence:
    """The section's rows and the evidence of the flag rate."""

    rows: list[LowConfidenceRow]
    evidence: list[MetricEvidence]


def _sum(part: pd.DataFrame, mask: pd.Series) -> int:
    return int(part.loc[mask, "n"].sum())


def _interval(successes: int, trials: int, rules: MonitoringRules) -> tuple[float | None, float | None]:
    low, high = proportion_interval(successes, trials, confidence=rules.confidence, method=rules.interval_method)
    return finite_or_none(low), finite_or_none(high)


def _share(successes: int, trials: int) -> float | None:
    return successes / trials if trials else None


def _performance(part: pd.DataFrame, rules: MonitoringRules) -> list[FlagPerformance]:
    flag, call, truth = part["low_confidence"], part["predicted_label"], part["label"]
    out = []
    for metric, positive in (("sensitivity", 1), ("specificity", 0)):
        counts = {}
        for group, value in (("flagged", 1), ("unflagged", 0)):
            of_class = (flag == value) & (truth == positive)
            successes, trials = _sum(part, of_class & (call == positive)), _sum(part, of_class)
            low, high = _interval(successes, trials, rules)
            counts |= {f"{group}_successes": successes, f"{group}_trials": trials,
                       f"{group}_estimate": _share(successes, trials), f"{group}_ci_low": low, f"{group}_ci_high": high}
        d, d_low, d_high = newcombe_difference(counts["flagged_successes"], counts["flagged_trials"],
                                               counts["unflagged_successes"], counts["unflagged_trials"],
                                               confidence=rules.confidence)
        out.append(FlagPerformance(metric=metric, **counts, difference=finite_or_none(d),  # type: ignore[arg-type]
                                   difference_ci_low=finite_or_none(d_low), difference_ci_high=finite_or_none(d_high)))
    return out


def low_confidence_by_stratum(counts: pd.DataFrame, config: DeviceConfig) -> LowConfidence:
    """The flag rate and the performance within flagged / unflagged results of every monitored stratum.

    Parameters
    ----------
    counts
        Columns ``model_version``, the stratum label columns, ``low_confidence`` (0, 1, or missing when not
        logged), ``predicted_label`` (0/1), ``label`` (the ground truth 0/1, or -1 / missing while pending) and
        ``n`` (results): one row per distinct combination, as
        :meth:`monitor.adapters.db.repositories.low_confidence.LowConfidenceRepository.counts` returns them.
    config
        The device configuration (strata, intersections, interval method and confidence, claims).
    """
    rules = config.monitoring
    frame = counts.assign(low_confidence=pd.to_numeric(counts["low_confidence"]).fillna(-1).astype("int64"),
                          label=pd.to_numeric(counts["label"]).fillna(-1).astype("int64"),
                          predicted_label=pd.to_numeric(counts["predicted_label"]).astype("int64"),
                          n=pd.to_numeric(counts["n"]).astype("int64"))
    rows, evidence = [], []
    for model_version, stratum, part in iter_strata(frame, config):
        flag = part["low_confidence"]
        results, flagged, assessed = int(part["n"].sum()), _sum(part, flag == 1), _sum(part, flag >= 0)
        low, high = _interval(flagged, assessed, rules)
        claim = config.claims.metric_claim_for(METRIC, stratum)
        rows.append(LowConfidenceRow(
            model_version=model_version, stratum=stratum.key, level=stratum.level,  # type: ignore[arg-type]
            attributes=stratum.as_dict(), results=results, not_logged=results - assessed, assessed=assessed,
            flagged=flagged, rate=_share(flagged, assessed), ci_low=low, ci_high=high,
            maximum=float(claim.value) if claim else None, goal=float(claim.goal) if claim else None,
            performance=_performance(part, rules)))
        evidence.append(MetricEvidence(metric=METRIC, model_version=model_version, stratum=stratum,
                                       kind="proportion", source=SOURCE, events=flagged, trials=assessed,
                                       estimate=_share(flagged, assessed), ci_low=low, ci_high=high))
    return LowConfidence(rows=rows, evidence=evidence)
