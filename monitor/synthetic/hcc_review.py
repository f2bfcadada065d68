"""Seeded synthetic deployment of an HCC (hepatocellular carcinoma) CT segmentation device with secondary review.

The device ``hcc-segmentation`` (``examples/hcc-segmentation-review.yaml``) segments liver tumours on contrast CT at
three hospitals, one scanner make each (hospital-01 Siemens, hospital-02 GE, hospital-03 Philips). For a positive
call (tumour found) it logs its tumour volume (``ai_volume_mm3``) beside the radiologist's reviewed volume
(``reviewed_volume_mm3``) and the overlap of the two masks (``overlap_volume_mm3``). The review trigger
``volume_disagreement: 0.15`` sends a case to secondary review when ``|AI - reviewed| > 0.15 x reviewed``; AI
failures (``result_status failed``) are sent too (``failure: true``).

Volumes: the reviewed volume is log-normal (median 8 cm3, log-sd 0.9); ``ln(AI / reviewed)`` is normal with mean 0
and sd ``volume_log_sd`` (0.08: about 6% of positive calls disagree by more than 15%). With ``planted`` the sd on
the ``planted_scanner`` (GE) is ``planted_log_sd`` (0.16: about 35% of its positive calls disagree): the review rate
of ``scanner=GE`` rises from about 4% to about 24%, above the example's goal (maximum 0.10 + margin 0.05). The
overlap is ``min(AI, reviewed) x u``, u uniform on [0.80, 0.98]. Random numbers are drawn in a fixed order whatever
``planted`` (common random numbers): the null variant differs only in the GE cases' AI volumes.

:func:`reviews` writes a review log for the worklist: of the cases sent to review, ``in_review`` for some, then
``confirmed``, ``edited`` (reviewed_volume_mm3) or ``rejected``, with a later second event for a few (version 2).

Examples
--------
>>> data = generate(HccScenario(cases=600))
>>> len(data.predictions), int(data.predictions["result_status"].eq("failed").sum()) > 0
(600, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .lung_nodule import DemoData

__all__ = ["DEVICE_ID", "PREDICTION_COLUMNS", "REVIEW_COLUMNS", "HccScenario", "generate", "reviews"]

DEVICE_ID = "hcc-segmentation"
TIMEZONE = "Asia/Shanghai"
PREDICTION_COLUMNS = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score",
                      "predicted_label", "patient_id", "age", "sex", "scanner", "child_pugh", "study_uid",
                      "ai_volume_mm3", "reviewed_volume_mm3", "overlap_volume_mm3", "result_status", "failure_reason")
REVIEW_COLUMNS = ("device_id", "prediction_id", "status", "reviewer", "reviewed_at", "field", "old_value",
                  "new_value", "note")
SITES = (("hospital-01", "Siemens"), ("hospital-02", "GE"), ("hospital-03", "Philips"))
CHILD_PUGH = (("A", 0.6), ("B", 0.3), ("C", 0.1))
REVIEWERS = ("Wang Fang", "Chen Jie", "Liu Yang")
_STUDY_ROOT = "1.2.826.0.1.3680043.10.1138"


@dataclass(frozen=True)
class HccScenario:
    """Parameters of a generated quarter (2025Q3 by default)."""

    cases: int = 2400
    seed: int = 17
    planted: bool = True
    planted_scanner: str = "GE"
    volume_log_sd: float = 0.08
    planted_log_sd: float = 0.16
    prevalence: float = 0.75
    failure_rate: float = 0.01
    start: str = "2025-07-01T00:00:00+08:00"
    days: int = 92
    model_version: str = "1.0.0"


def generate(scenario: HccScenario = HccScenario()) -> DemoData:
    """The quarter's prediction log and ground truth (every case's truth confirmed by pathology or follow-up)."""
    rng = np.random.default_rng(scenario.seed)
    n = scenario.cases
    site_index = rng.integers(0, len(SITES), n)
    child_pugh = rng.choice([c for c, _ in CHILD_PUGH], n, p=[p for _, p in CHILD_PUGH])
    age = np.clip(np.round(rng.normal(60, 11, n)), 25, 92).astype(int)
    sex = np.where(rng.random(n) < 0.78, "M", "F")
    truth = (rng.random(n) < scenario.prevalence).astype(int)
    score = np.round(np.clip(np.where(truth == 1, rng.beta(8, 2, n), rng.beta(2, 8, n)), 0, 1), 4)
    call = (score >= 0.5).astype(int)
    reviewed = np.round(np.exp(rng.normal(np.log(8000.0), 0.9, n)), 1)
    noise = rng.normal(0.0, 1.0, n)
    overlap_share = rng.uniform(0.80, 0.98, n)
    failed = rng.random(n) < scenario.failure_rate
    seconds = rng.uniform(0, scenario.days * 86_400, n)
    scanner = np.array([SITES[i][1] for i in site_index])
    sd = np.where(scenario.planted & (scanner == scenario.planted_scanner), scenario.planted_log_sd,
                  scenario.volume_log_sd)
    ai = np.round(reviewed * np.exp(noise * sd), 1)
    overlap = np.round(np.minimum(ai, reviewed) * overlap_share, 1)
    positive = (call == 1) & ~failed
    ids = [f"HCC-{i + 1:06d}" for i in range(n)]
    predictions = pd.DataFrame({
        "prediction_id": ids, "device_id": DEVICE_ID, "model_version": scenario.model_version,
        "site_id": [SITES[i][0] for i in site_index],
        "predicted_at": (pd.Timestamp(scenario.start) + pd.to_timedelta(np.sort(seconds), unit="s")).tz_convert("UTC")
        .floor("s"),
        "score": np.where(failed, np.nan, score), "predicted_label": call.astype(object),
        "patient_id": [f"P{rng.integers(10**7, 10**8)}" for _ in range(n)], "age": age, "sex": sex, "scanner": scanner,
        "child_pugh": child_pugh, "study_uid": [f"{_STUDY_ROOT}.{i + 1}" for i in range(n)],
        "ai_volume_mm3": np.where(positive, ai, np.nan), "reviewed_volume_mm3": np.where(positive, reviewed, np.nan),
        "overlap_volume_mm3": np.where(positive, overlap, np.nan),
        "result_status": np.where(failed, "failed", "ok"), "failure_reason": np.where(failed, "timeout", None),
    })
    predictions.loc[failed, "predicted_label"] = None
    confirmed = (predictions["predicted_at"] + pd.to_timedelta(rng.uniform(7, 40, n), unit="D")).dt.floor("s")
    ground_truth = pd.DataFrame({"prediction_id": ids, "device_id": DEVICE_ID, "label": truth,
                                 "confirmed_at": confirmed, "source": "histopathology"}).loc[~failed].reset_index(drop=True)
    return DemoData(predictions=predictions[list(PREDICTION_COLUMNS)], ground_truth=ground_truth, pending=0)


def reviews(data: DemoData, *, tolerance: float = 0.15, seed: int = 18, share: float = 0.6) -> pd.DataFrame:
    """A review log of ``share`` of the worklist's cases (volume disagreement or failure): events 2-10 days after
    the result by one of :data:`REVIEWERS`; a fifth of them get a second, later event (version 2)."""
    rng = np.random.default_rng(seed)
    p = data.predictions
    ai, rev = p["ai_volume_mm3"].to_numpy(float), p["reviewed_volume_mm3"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        sent = (np.abs(ai - rev) > tolerance * rev) | p["result_status"].eq("failed").to_numpy()
    rows = []
    for i in np.flatnonzero(sent):
        if rng.random() >= share:
            continue
        at = (p["predicted_at"].iloc[i] + pd.Timedelta(days=float(rng.uniform(2, 10)))).floor("s")
        who = REVIEWERS[int(rng.integers(len(REVIEWERS)))]
        base = {"device_id": DEVICE_ID, "prediction_id": p["prediction_id"].iloc[i], "reviewer": who,
                "field": None, "old_value": None, "new_value": None, "note": None}
        if rng.random() < 0.2:  # taken first, decided later: two versions
            rows.append(base | {"status": "in_review", "reviewed_at": at})
            at = (at + pd.Timedelta(hours=float(rng.uniform(1, 48)))).floor("s")
        u = rng.random()
        if np.isnan(rev[i]) or u < 0.5:
            rows.append(base | {"status": "confirmed", "reviewed_at": at})
        elif u < 0.85:
            rows.append(base | {"status": "edited", "reviewed_at": at, "field": "reviewed_volume_mm3",
                                "old_value": rev[i], "new_value": round(float(ai[i]), 1),
                                "note": "tumour margin redrawn"})
        else:
            rows.append(base | {"status": "rejected", "reviewed_at": at, "note": "segmentation leaks into vessel"})
    frame = pd.DataFrame(rows, columns=list(REVIEW_COLUMNS))
    return frame.sort_values(["reviewed_at", "prediction_id"], kind="stable").reset_index(drop=True)
