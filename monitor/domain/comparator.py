"""The AI against its comparator (a guideline score or a reference reader logged on the same studies), per model
version, overall and in each single stratum: paired comparisons that describe and decide nothing.

From the database's paired counts (:meth:`monitor.adapters.db.repositories.comparator.ComparatorRepository.
paired_counts`: labelled studies by AI score bin, comparator score, both calls and truth):

* **AUC** of the AI (score binned to 0.001) and of the comparator (its score values, e.g. the Lung-RADS
  category, exact): each with its DeLong interval (:func:`monitor.stats.auc.auc_from_histograms`) and their
  paired difference with the DeLong covariance (:func:`monitor.stats.paired.paired_auc_from_histogram`) on the
  studies that carry both scores, when at least :data:`MIN_CASES_PER_CLASS` positives and negatives do;
* **sensitivity** (reference positives) and **specificity** (reference negatives) of both calls: the paired
  2x2 table of who was right, each proportion with the configured interval, the difference with Newcombe's
  hybrid score interval for paired proportions and McNemar's exact test
  (:func:`monitor.stats.paired.compare_paired_proportions`).

The comparator call is ``comparator_label`` when logged, else ``comparator_score >= comparator.positive_from``.
Differences are AI - comparator. Error rates: none is controlled here, because nothing is decided; each p-value
is a two-sided per-comparison test (type I error ``1 - rules.confidence`` for that one comparison), not adjusted
for the number of strata, and the section opens no finding and no ticket.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated receiver operating
characteristic curves: a nonparametric approach. Biometrics 1988;44:837-845.
McNemar Q. Note on the sampling error of the difference between correlated proportions or percentages.
Psychometrika 1947;12:153-157.
Newcombe RG. Improved confidence intervals for the difference between binomial proportions based on paired data.
Stat Med 1998;17:2635-2650 (method 10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.domain.analysis_document.comparator import ComparatorRow, ComparatorSection
from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import iter_strata, overall_rows
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.stats.auc import auc_from_histograms
from monitor.stats.intervals import proportion_interval
from monitor.stats.paired import compare_paired_proportions, paired_auc_from_histogram

__all__ = ["AI_SCORE_BINS", "MIN_CASES_PER_CLASS", "compare_with_comparator"]

#: AI scores arrive binned to 1 / AI_SCORE_BINS (the analysis's one score binning).
AI_SCORE_BINS = 1000
#: An AUC comparison needs at least this many reference positives and negatives (as the discrimination section).
MIN_CASES_PER_CLASS = 10


def _marginal_auc(scores: pd.Series, labels: pd.Series, counts: pd.Series, confidence: float
                  ) -> tuple[float | None, float | None, float | None]:
    """AUC and DeLong interval of one score from its histogram (each distinct value one ordered bin)."""
    table = (pd.DataFrame({"s": scores.to_numpy(), "y": labels.to_numpy(), "n": counts.to_numpy()})
             .groupby(["s", "y"])["n"].sum().unstack(fill_value=0).reindex(columns=[0, 1], fill_value=0)
             .sort_index())
    r = auc_from_histograms(table[1].to_numpy(), table[0].to_numpy(), confidence=confidence)
    return finite_or_none(r.auc), finite_or_none(r.ci_low), finite_or_none(r.ci_high)


def _auc_row(base: dict[str, object], part: pd.DataFrame, confidence: float) -> ComparatorRow:
    scored = part.loc[part["comparator_score"].notna()]
    positives = int(scored.loc[scored["label"] == 1, "n"].sum())
    negatives = int(scored.loc[scored["label"] == 0, "n"].sum())
    values: dict[str, object] = dict.fromkeys(("ai", "ai_ci_low", "ai_ci_high", "comparator", "comparator_ci_low",
                                               "comparator_ci_high", "difference", "ci_low", "ci_high", "p_value"))
    if positives >= MIN_CASES_PER_CLASS and negatives >= MIN_CASES_PER_CLASS:
        ai_score = scored["ai_bin"] / AI_SCORE_BINS
        values["ai"], values["ai_ci_low"], values["ai_ci_high"] = _marginal_auc(
            ai_score, scored["label"], scored["n"], confidence)
        values["comparator"], values["comparator_ci_low"], values["comparator_ci_high"] = _marginal_auc(
            scored["comparator_score"], scored["label"], scored["n"], confidence)
        paired = paired_auc_from_histogram(ai_score.to_numpy(), scored["comparator_score"].to_numpy(),
                                           scored["label"].to_numpy(), scored["n"].to_numpy(), confidence=confidence)
        values |= {"difference": finite_or_none(paired.difference), "ci_low": finite_or_none(paired.ci_low),
                   "ci_high": finite_or_none(paired.ci_high), "p_value": finite_or_none(paired.p_value)}
    return ComparatorRow(**base, metric="auc", cases=positives + negatives, positives=positives, negatives=negatives,
                         test="delong_paired", both_right=None, ai_only_right=None, comparator_only_right=None,
                         neither_right=None, **values)


def _proportion_row(base: dict[str, object], part: pd.DataFrame, truth: int, config: DeviceConfig) -> ComparatorRow:
    rules = config.monitoring
    called = part.loc[part["comparator_call"].notna() & (part["label"] == truth)]
    ai_right = called["ai_call"].to_numpy() == truth
    comparator_right = called["comparator_call"].to_numpy() == truth
    n = called["n"].to_numpy()
    cells = [int(n[mask].sum()) for mask in (ai_right & comparator_right, ai_right & ~comparator_right,
                                             ~ai_right & comparator_right, ~ai_right & ~comparator_right)]
    result = compare_paired_proportions(*cells, confidence=rules.confidence)
    ai_low, ai_high = proportion_interval(cells[0] + cells[1], result.n, confidence=rules.confidence,
                                          method=rules.interval_method)
    cmp_low, cmp_high = proportion_interval(cells[0] + cells[2], result.n, confidence=rules.confidence,
                                            method=rules.interval_method)
    return ComparatorRow(
        **base, metric="sensitivity" if truth == 1 else "specificity", cases=result.n, positives=None,
        negatives=None, ai=finite_or_none(result.estimate_a), ai_ci_low=finite_or_none(ai_low),
        ai_ci_high=finite_or_none(ai_high), comparator=finite_or_none(result.estimate_b),
        comparator_ci_low=finite_or_none(cmp_low), comparator_ci_high=finite_or_none(cmp_high),
        difference=finite_or_none(result.difference), ci_low=finite_or_none(result.ci_low),
        ci_high=finite_or_none(result.ci_high), p_value=finite_or_none(result.p_value), test="mcnemar_exact",
        both_right=cells[0], ai_only_right=cells[1], comparator_only_right=cells[2], neither_right=cells[3])


def _base(model_version: str, stratum: StratumDefinition) -> dict[str, object]:
    return {"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
            "attributes": stratum.as_dict()}


def compare_with_comparator(counts: pd.DataFrame, config: DeviceConfig) -> ComparatorSection | None:
    """AUC, sensitivity and specificity of the AI and of the comparator, paired, per model version, overall and
    in each single stratum; None without a configured comparator or without labelled studies carrying one.

    Parameters
    ----------
    counts
        A grouping-sets frame (:mod:`monitor.domain.grouping`) summed to the whole population and each single
        attribute, with columns ``model_version``, the stratum label columns, ``ai_bin`` (0..1000),
        ``comparator_score`` (NaN when only a call was logged), ``ai_call``, ``comparator_call`` (NaN when no
        call can be made), ``label`` (0 / 1) and ``n``.
    config
        The device configuration (its ``comparator`` and ``monitoring.confidence`` / ``interval_method``).
    """
    comparator = config.comparator
    if comparator is None or counts.empty:
        return None
    confidence = config.monitoring.confidence
    rows: list[ComparatorRow] = []
    for model_version, stratum, part in iter_strata(counts, config, max_level=1):
        base = _base(model_version, stratum)
        rows.append(_auc_row(base, part, confidence))
        rows.append(_proportion_row(base, part, 1, config))
        rows.append(_proportion_row(base, part, 0, config))
    positive_from = None if comparator.positive_from is None else float(comparator.positive_from)
    return ComparatorSection(name=comparator.name, name_zh=comparator.name_zh, kind=comparator.kind,
                             positive_from=positive_from,
                             studies=int(np.asarray(overall_rows(counts)["n"]).sum()),
                             min_cases_per_class=MIN_CASES_PER_CLASS, confidence=float(confidence), rows=rows)
