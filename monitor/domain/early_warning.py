"""Early warning without labels: a confidence-based estimate (CBPE) for cases still awaiting ground truth.

Scores are calibrated on the labelled cases of the reference window (isotonic regression), then the
expected confusion matrix of the unlabelled cases follows from their calibrated probabilities and
calls. Valid under covariate shift only; labelled as an estimate, never used as audit evidence.

References
----------
NannyML, "Confidence-based Performance Estimation (CBPE)", documentation, 2023.
Zadrozny B, Elkan C. KDD 2002 (isotonic calibration).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.discrimination import SCORE_BIN_COUNT
from monitor.domain.grouping import iter_strata, overall_rows
from monitor.stats.cbpe import cbpe_from_bins, fit_isotonic_calibration

__all__ = ["estimated_performance_by_stratum"]

MIN_REFERENCE_PER_CLASS = 30



def estimated_performance_by_stratum(current: pd.DataFrame, reference: pd.DataFrame, config: DeviceConfig
                                     ) -> list[dict[str, Any]]:
    """CBPE of the unlabelled cases of each overall and single stratum.

    Both frames are score histograms (``score_bin``, ``label`` with -1 for unknown, ``predicted_label``,
    ``n``), by every attribute or as grouping sets (:mod:`monitor.domain.grouping`); the reference
    window's labelled cases calibrate the scores.
    """
    reference = overall_rows(reference)  # every case once (a grouping-sets frame has each case per grouping)
    labelled = reference.loc[reference["label"] >= 0]
    per_class = labelled.groupby("label")["n"].sum().to_dict()
    if per_class.get(0, 0) < MIN_REFERENCE_PER_CLASS or per_class.get(1, 0) < MIN_REFERENCE_PER_CLASS:
        return []
    cal = labelled.groupby(["score_bin", "label"])["n"].sum().reset_index()
    calibrate = fit_isotonic_calibration(cal["score_bin"].to_numpy() / (SCORE_BIN_COUNT - 1), cal["label"].to_numpy(),
                                         counts=cal["n"].to_numpy(dtype=np.int64))  # as repeating each bin n times
    unlabelled = current.loc[current["label"] < 0]
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(unlabelled, config, max_level=1):
        by_bin = part.groupby(["score_bin", "predicted_label"])["n"].sum().unstack(fill_value=0)
        by_bin = by_bin.reindex(columns=[0, 1], fill_value=0)
        probabilities = np.clip(calibrate(by_bin.index.to_numpy() / (SCORE_BIN_COUNT - 1)), 0.0, 1.0)
        est = cbpe_from_bins(probabilities, by_bin[1].to_numpy(), by_bin[0].to_numpy())
        rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
                     "unlabelled": int(est.n), "estimated_sensitivity": finite_or_none(est.sensitivity),
                     "estimated_specificity": finite_or_none(est.specificity), "estimated_ppv": finite_or_none(est.ppv),
                     "estimated_npv": finite_or_none(est.npv), "is_estimate": True})
    return rows
