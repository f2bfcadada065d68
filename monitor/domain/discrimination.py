"""Discrimination (AUC with DeLong intervals) and calibration per stratum, from score histograms.

The database returns cases by stratum labels, score bin (0.001 wide), label and call; AUC and its
DeLong variance are computed from the bin counts (ties within a bin count 1/2), calibration by a
frequency-weighted logistic model on the bin centres. Overall and single strata only (pairwise
intersections rarely have enough positives for a useful AUC interval).

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
Van Calster B et al. J Clin Epidemiol 2016;74:167-176 (calibration hierarchy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.grouping import iter_strata
from monitor.stats.auc import auc_from_histograms
from monitor.stats.calibration import calibration

__all__ = ["SCORE_BIN_COUNT", "discrimination_by_stratum"]

SCORE_BIN_COUNT = 1001
MIN_CASES_PER_CLASS = 10



def discrimination_by_stratum(histogram: pd.DataFrame, config: DeviceConfig) -> list[dict[str, Any]]:
    """AUC (DeLong) and calibration of every overall and single stratum with labelled cases.

    Parameters
    ----------
    histogram
        Columns ``model_version``, stratum label columns, ``score_bin`` (0..1000), ``label``
        (0, 1, or -1 when unknown), ``predicted_label`` and ``n``.
    """
    labelled = histogram.loc[histogram["label"] >= 0]
    confidence = config.monitoring.confidence
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(labelled, config, max_level=1):
        by_bin = part.groupby(["score_bin", "label"])["n"].sum().unstack(fill_value=0)
        by_bin = by_bin.reindex(index=range(SCORE_BIN_COUNT), columns=[0, 1], fill_value=0)
        positives, negatives = by_bin[1].to_numpy(), by_bin[0].to_numpy()
        row: dict[str, Any] = {"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
                               "positives": int(positives.sum()), "negatives": int(negatives.sum())}
        if row["positives"] < MIN_CASES_PER_CLASS or row["negatives"] < MIN_CASES_PER_CLASS:
            rows.append(row | {"auc": None, "auc_ci_low": None, "auc_ci_high": None, "brier": None,
                               "calibration_in_the_large": None, "citl_ci_low": None, "citl_ci_high": None,
                               "calibration_slope": None, "slope_ci_low": None, "slope_ci_high": None})
            continue
        auc = auc_from_histograms(positives, negatives, confidence=confidence)
        cells = part.groupby(["score_bin", "label"])["n"].sum().reset_index()
        cal = calibration(cells["label"].to_numpy(), cells["score_bin"].to_numpy() / (SCORE_BIN_COUNT - 1),
                          confidence=confidence, weights=cells["n"].to_numpy())
        rows.append(row | {
            "auc": finite_or_none(auc.auc), "auc_ci_low": finite_or_none(auc.ci_low), "auc_ci_high": finite_or_none(auc.ci_high),
            "brier": finite_or_none(cal.brier), "calibration_in_the_large": finite_or_none(cal.citl),
            "citl_ci_low": finite_or_none(cal.citl_ci[0]), "citl_ci_high": finite_or_none(cal.citl_ci[1]),
            "calibration_slope": finite_or_none(cal.slope), "slope_ci_low": finite_or_none(cal.slope_ci[0]),
            "slope_ci_high": finite_or_none(cal.slope_ci[1]),
        })
    return rows
