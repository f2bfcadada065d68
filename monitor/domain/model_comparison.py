"""Paired comparison of two model versions that scored the same studies (shadow or A/B deployment).

The database matches the two versions' predictions on ``study_uid`` and returns the joint
histogram of their score bins (0.001 wide) and calls, by the study's ground truth. From it, for
each pair of versions with labelled studies in common:

* **AUC**: the DeLong et al. (1988) paired comparison, computed from the joint histogram; it is
  exactly ``paired_delong`` on the scores rounded to 0.001 (ties within a bin count one half), so it
  can differ from the per-case computation on raw scores only through that rounding;
* **sensitivity** (reference-positive studies) and **specificity** (reference-negative studies):
  the paired difference with Newcombe's (1998b) hybrid score interval and McNemar's exact test of
  the discordant studies (version A right and B wrong, and the reverse). These are exact in the
  counts (no binning is involved: they use the stored calls).

Differences are version A - version B, with A the lower version string. Studies whose two
predictions carry different ground-truth labels are counted (``label_conflicts``) and left out.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845. Sun X, Xu W. IEEE Signal
Process Lett 2014;21:1389-1393. Newcombe RG. Stat Med 1998;17:2635-2650. McNemar Q. Psychometrika
1947;12:153-157.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.domain.numbers import finite_or_none
from monitor.stats.paired import compare_paired_proportions, paired_auc_from_histogram

__all__ = ["MIN_CASES_PER_CLASS", "compare_model_versions"]

#: The paired AUC needs at least this many positive and negative studies (as the discrimination section).
MIN_CASES_PER_CLASS = 10


def _count(part: pd.DataFrame, mask: pd.Series) -> int:
    return int(part.loc[mask, "n"].sum())


def _proportion_row(base: dict[str, Any], metric: str, part: pd.DataFrame, right: int,
                    confidence: float) -> dict[str, Any]:
    a_right, b_right = part["call_a"] == right, part["call_b"] == right
    result = compare_paired_proportions(_count(part, a_right & b_right), _count(part, a_right & ~b_right),
                                        _count(part, ~a_right & b_right), _count(part, ~a_right & ~b_right),
                                        confidence=confidence)
    return base | {"metric": metric, "cases": result.n, "estimate_a": finite_or_none(result.estimate_a),
                   "estimate_b": finite_or_none(result.estimate_b), "difference": finite_or_none(result.difference),
                   "ci_low": finite_or_none(result.ci_low), "ci_high": finite_or_none(result.ci_high),
                   "p_value": finite_or_none(result.p_value), "test": "mcnemar_exact",
                   "a_only": result.a_only, "b_only": result.b_only}


def _auc_row(base: dict[str, Any], labelled: pd.DataFrame, confidence: float) -> dict[str, Any]:
    positives = int(labelled.loc[labelled["label"] == 1, "n"].sum())
    negatives = int(labelled.loc[labelled["label"] == 0, "n"].sum())
    row = base | {"metric": "auc", "cases": positives + negatives, "estimate_a": None, "estimate_b": None,
                  "difference": None, "ci_low": None, "ci_high": None, "p_value": None, "test": "delong_paired",
                  "a_only": None, "b_only": None}
    if positives < MIN_CASES_PER_CLASS or negatives < MIN_CASES_PER_CLASS:
        return row
    r = paired_auc_from_histogram(labelled["bin_a"].to_numpy(), labelled["bin_b"].to_numpy(),
                                  labelled["label"].to_numpy(), labelled["n"].to_numpy(), confidence=confidence)
    return row | {"estimate_a": finite_or_none(r.auc_a), "estimate_b": finite_or_none(r.auc_b),
                  "difference": finite_or_none(r.difference), "ci_low": finite_or_none(r.ci_low),
                  "ci_high": finite_or_none(r.ci_high), "p_value": finite_or_none(r.p_value)}


def compare_model_versions(histogram: pd.DataFrame, *, confidence: float) -> list[dict[str, Any]]:
    """AUC, sensitivity and specificity of each pair of model versions on their common studies.

    Parameters
    ----------
    histogram
        Columns ``version_a``, ``version_b``, ``bin_a``, ``bin_b`` (0..1000), ``call_a``, ``call_b``,
        ``label`` (1, 0, -1 pending, -2 conflicting) and ``n``.
    confidence
        Two-sided confidence level of the intervals.
    """
    rows: list[dict[str, Any]] = []
    if histogram.empty:
        return rows
    for (version_a, version_b), part in histogram.groupby(["version_a", "version_b"], sort=True):
        labelled = part.loc[part["label"] >= 0]
        base = {"version_a": str(version_a), "version_b": str(version_b), "matched_studies": int(part["n"].sum()),
                "labelled_studies": int(labelled["n"].sum()),
                "label_conflicts": _count(part, part["label"] == -2)}
        if labelled.empty:
            continue
        rows.append(_auc_row(base, labelled, confidence))
        rows.append(_proportion_row(base, "sensitivity", labelled.loc[labelled["label"] == 1], 1, confidence))
        rows.append(_proportion_row(base, "specificity", labelled.loc[labelled["label"] == 0], 0, confidence))
    return rows
