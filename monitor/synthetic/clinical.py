"""Optional clinical context for a generated deployment: studies, clinician calls, volumes, failures
and a shadow model version.

:func:`add_clinical_context` takes the output of :func:`monitor.synthetic.generate` and returns a
copy with the optional prediction-log columns filled (``study_uid``, ``human_label``,
``ai_volume_mm3``, ``reviewed_volume_mm3``, ``result_status``, ``failure_reason``), some studies
turned into AI failures, and a shadow model version scoring part of the studies again (with the
same ground truth). The default demo does not call it, so its output is unchanged.

Examples
--------
>>> from monitor.synthetic import DemoScenario, generate
>>> data = add_clinical_context(generate(DemoScenario(scale=0.001)), seed=3)
>>> sorted(data.predictions["model_version"].unique())
['2.1.0', '2.2.0-shadow']
>>> int((data.predictions["result_status"] != "ok").sum()) > 0
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lung_nodule import OPERATING_THRESHOLD, DemoData

__all__ = ["STUDY_UID_ROOT", "add_clinical_context"]

#: DICOM UID root of the synthetic studies (digits and dots only).
STUDY_UID_ROOT = "1.2.826.0.1.3680043.10.543"
_HUMAN_SENSITIVITY, _HUMAN_SPECIFICITY = 0.86, 0.90
_FAILURE_REASONS = np.array(["timeout", "series_incomplete", "no_lung_window"], dtype=object)


def add_clinical_context(data: DemoData, *, seed: int, shadow_version: str = "2.2.0-shadow",
                         shadow_share: float = 0.4, human_share: float = 0.6, failure_rate: float = 0.02,
                         volume_log_bias: float = 0.03, volume_log_sd: float = 0.12) -> DemoData:
    """A copy of ``data`` with clinical context, failures and a shadow model version.

    Parameters
    ----------
    data
        A generated deployment (predictions and delivered ground truth).
    seed
        Seed of the added randomness.
    shadow_version, shadow_share
        Model version that re-scores a random ``shadow_share`` of the studies one minute later,
        with a score correlated to the deployed one.
    human_share
        Share of cases read by a clinician (``human_label``; right with probability 0.86 on
        positives and 0.90 on negatives when the truth is known, else agreeing with the AI).
    failure_rate
        Share of the deployed studies turned into AI failures (``result_status`` failed or
        no_result with a reason code; no score, call or ground truth).
    volume_log_bias, volume_log_sd
        ``ln(AI / reviewed)`` of the volumes given for positive calls is normal with these
        parameters.
    """
    rng = np.random.default_rng(seed)
    p = data.predictions.copy().reset_index(drop=True)
    n = len(p)
    truth = p["prediction_id"].map(data.ground_truth.set_index("prediction_id")["label"])
    p["study_uid"] = [f"{STUDY_UID_ROOT}.{i + 1}" for i in range(n)]
    ai = p["predicted_label"].to_numpy()
    right = rng.random(n) < np.where(truth.fillna(-1).to_numpy() == 1, _HUMAN_SENSITIVITY, _HUMAN_SPECIFICITY)
    known = truth.notna().to_numpy()
    human = np.where(known, np.where(right, truth.fillna(0), 1 - truth.fillna(0)),
                     np.where(rng.random(n) < 0.85, ai, 1 - ai)).astype(np.int64)
    p["human_label"] = pd.array(np.where(rng.random(n) < human_share, human, -1), dtype="Int64").astype(object)
    p.loc[p["human_label"] == -1, "human_label"] = None
    reviewed = np.round(np.exp(rng.normal(np.log(300.0), 0.8, n)), 1)
    ai_volume = np.round(reviewed * np.exp(rng.normal(volume_log_bias, volume_log_sd, n)), 1)
    positive = ai == 1
    p["ai_volume_mm3"] = np.where(positive, ai_volume, np.nan)
    p["reviewed_volume_mm3"] = np.where(positive, reviewed, np.nan)
    p["result_status"], p["failure_reason"] = "ok", None

    shadow_rows = np.flatnonzero(rng.random(n) < shadow_share)
    shadow = p.iloc[shadow_rows].copy()
    noisy = np.clip(shadow["score"].to_numpy() + rng.normal(0.0, 0.08, shadow_rows.size), 0.0, 1.0)
    shadow["score"] = np.round(noisy, 4)
    shadow["predicted_label"] = (shadow["score"] >= OPERATING_THRESHOLD).astype(np.int64)
    shadow["model_version"] = shadow_version
    shadow["prediction_id"] = "SH-" + shadow["prediction_id"].astype(str)
    shadow["predicted_at"] = shadow["predicted_at"] + pd.Timedelta(minutes=1)
    shadow["human_label"] = None
    shadow_truth = data.ground_truth.merge(p.iloc[shadow_rows][["prediction_id"]], on="prediction_id")
    shadow_truth["prediction_id"] = "SH-" + shadow_truth["prediction_id"].astype(str)

    failed = rng.random(n) < failure_rate
    p.loc[failed, "result_status"] = np.where(rng.random(int(failed.sum())) < 0.7, "failed", "no_result")
    p.loc[failed, "failure_reason"] = rng.choice(_FAILURE_REASONS, int(failed.sum()))
    p["score"] = p["score"].astype(object)
    p["predicted_label"] = p["predicted_label"].astype(object)
    for column in ("score", "predicted_label", "human_label", "ai_volume_mm3", "reviewed_volume_mm3"):
        p.loc[failed, column] = None
    truth_kept = data.ground_truth.loc[~data.ground_truth["prediction_id"].isin(p.loc[failed, "prediction_id"])]
    predictions = pd.concat([p, shadow], ignore_index=True)
    ground_truth = pd.concat([truth_kept, shadow_truth], ignore_index=True)
    return DemoData(predictions=predictions, ground_truth=ground_truth,
                    pending=len(predictions) - int(failed.sum()) - len(ground_truth))
