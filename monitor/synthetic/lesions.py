"""Seeded synthetic deployment of a lesion-level lung-nodule detector (``examples/lung-nodule-lesions.yaml``).

Each quarter ``scans_per_quarter`` low-dose CT scans at five sites (``site-a`` .. ``site-e``); about one patient in
six has two scans in the quarter (so lesions and false positives cluster within patients). A scan has 0 to 4
reference lesions (no lesion with probability 0.45; then 1, 2, 3, 4 with 0.55, 0.25, 0.13, 0.07), each with a
centre in a 300 mm box and a diameter of 4 to 30 mm. The detector finds a lesion at the operating point with
probability ``detection`` (a finding near its centre, scored 0.5..1); a missed lesion gets a low-scored finding
(0.05..0.5) half of the time, else none. False positives: Poisson(0.8) findings per scan far from every lesion,
scored uniformly 0.05..1 (so about 0.38 per scan at the operating point 0.5). The study-level call (patient level)
comes from its own score, sensitivity 0.95 and specificity 0.90.

The planted problem (``drop_site``): at that site a lesion is found with probability ``drop_detection`` (0.65)
instead of ``detection`` (0.95): lesion sensitivity there falls far below the claim (0.90, goal 0.85) while the
other sites, the overall figure and every patient-level metric stay within their claims. ``drop_site=None`` is the
null variant.

Examples
--------
>>> logs = generate(LesionScenario(scans_per_quarter=200))
>>> len(logs.predictions), logs.references["prediction_id"].isin(logs.predictions["prediction_id"]).all()
(200, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .dr_triage import quarter_bounds

__all__ = ["DEVICE_ID", "SITES", "LesionLogs", "LesionScenario", "generate"]

DEVICE_ID = "lung-nodule-lesions"
MODEL_VERSION = "3.0.0"
SITES = ("site-a", "site-b", "site-c", "site-d", "site-e")
_LESION_COUNTS, _LESION_P = np.array([0, 1, 2, 3, 4]), np.array([0.45, 0.55 * 0.55, 0.55 * 0.25, 0.55 * 0.13,
                                                                  0.55 * 0.07])
_FP_RATE, _REPEAT_SHARE = 0.8, 1 / 6


@dataclass(frozen=True)
class LesionScenario:
    """What to generate: quarters, scans per quarter, the detection probability and the planted drop."""

    quarters: tuple[str, ...] = ("2025Q3",)
    scans_per_quarter: int = 400
    detection: float = 0.95
    drop_site: str | None = "site-c"
    drop_detection: float = 0.65
    seed: int = 20250917


@dataclass(frozen=True)
class LesionLogs:
    """The four logs: predictions (one per scan), ground truth, lesion findings and reference lesions."""

    predictions: pd.DataFrame
    ground_truth: pd.DataFrame
    findings: pd.DataFrame
    references: pd.DataFrame

    def write(self, folder: Path) -> dict[str, Path]:
        """Write the logs as CSV files into ``folder``; their paths by log name."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name in ("predictions", "ground_truth", "findings", "references"):
            paths[name] = folder / f"{name}.csv"
            getattr(self, name).to_csv(paths[name], index=False)
        return paths


def _quarter(scenario: LesionScenario, quarter: str, index: int) -> LesionLogs:
    rng = np.random.default_rng([scenario.seed, index])
    start, end = quarter_bounds(quarter)
    n = scenario.scans_per_quarter
    patients = n - int(n * _REPEAT_SHARE)
    patient = np.concatenate([np.arange(patients), rng.integers(0, patients, n - patients)])
    site = np.array(SITES)[rng.integers(0, len(SITES), patients)][patient]  # a patient's scans are at one site
    sex = np.array(["F", "M"])[rng.integers(0, 2, patients)][patient]
    age = rng.integers(50, 81, patients)[patient]
    seconds = rng.uniform(0, (end - start).total_seconds() - 86_400 * 40, n)
    at = [start + pd.Timedelta(seconds=int(s)) for s in seconds]
    scan_ids = [f"{quarter}-S{i:05d}" for i in range(n)]
    lesion_counts = rng.choice(_LESION_COUNTS, size=n, p=_LESION_P)
    label = (lesion_counts > 0).astype(int)
    study_positive = np.where(label == 1, rng.random(n) < 0.95, rng.random(n) >= 0.90)
    study_score = np.where(study_positive, rng.uniform(0.5, 1, n), rng.uniform(0, 0.5, n)).round(4)
    findings, references = [], []
    for i in range(n):
        detection = scenario.drop_detection if site[i] == scenario.drop_site else scenario.detection
        for k in range(lesion_counts[i]):
            centre = rng.uniform(-150, 150, 3)
            diameter = float(np.clip(rng.lognormal(np.log(8), 0.45), 4, 30))
            lesion_id = f"{scan_ids[i]}-L{k}"
            references.append((scan_ids[i], lesion_id, *centre.round(2), round(diameter, 1)))
            found, low = rng.random() < detection, rng.random() < 0.5
            offset = rng.normal(0, diameter / 10, 3)
            if found or low:
                score = rng.uniform(0.5, 1) if found else rng.uniform(0.05, 0.5)
                findings.append((scan_ids[i], f"1.2.826.0.1.3680043.10.{index}.{i}.{k}", f"Nodule {k + 1}",
                                 *(centre + offset).round(2), round(diameter, 1), round(score, 4)))
        for k in range(rng.poisson(_FP_RATE)):
            centre = rng.uniform(-150, 150, 3) + np.array([1000.0, 0, 0])  # far from every lesion
            findings.append((scan_ids[i], f"1.2.826.0.1.3680043.10.{index}.{i}.9{k}", f"Candidate {k + 1}",
                             *centre.round(2), 5.0, round(float(rng.uniform(0.05, 1)), 4)))
    iso = [t.isoformat() for t in at]
    predictions = pd.DataFrame({
        "prediction_id": scan_ids, "device_id": DEVICE_ID, "model_version": MODEL_VERSION, "site_id": site,
        "predicted_at": iso, "score": study_score, "predicted_label": (study_score >= 0.5).astype(int),
        "patient_id": [f"PAT-{index}-{p:05d}" for p in patient], "age": age, "sex": sex})
    ground_truth = pd.DataFrame({
        "prediction_id": scan_ids, "device_id": DEVICE_ID, "label": label,
        "confirmed_at": [(t + pd.Timedelta(days=30)).isoformat() for t in at], "source": "adjudication"})
    finding_frame = pd.DataFrame(findings, columns=["prediction_id", "lesion_id", "tracking_id", "centre_x_mm",
                                                    "centre_y_mm", "centre_z_mm", "diameter_mm", "score"])
    finding_frame.insert(0, "device_id", DEVICE_ID)
    finding_frame["finding_type"] = "SCT:786838002"
    confirmed = dict(zip(scan_ids, ground_truth["confirmed_at"], strict=True))
    reference_frame = pd.DataFrame(references, columns=["prediction_id", "lesion_id", "centre_x_mm", "centre_y_mm",
                                                        "centre_z_mm", "diameter_mm"])
    reference_frame.insert(0, "device_id", DEVICE_ID)
    reference_frame["confirmed_at"] = reference_frame["prediction_id"].map(confirmed)
    reference_frame["source"] = "adjudication"
    return LesionLogs(predictions, ground_truth, finding_frame, reference_frame)


def generate(scenario: LesionScenario) -> LesionLogs:
    """The logs of every quarter of ``scenario`` (seeded: the same scenario gives the same logs)."""
    parts = [_quarter(scenario, quarter, i) for i, quarter in enumerate(scenario.quarters)]
    return LesionLogs(*(pd.concat([getattr(p, name) for p in parts], ignore_index=True)
                        for name in ("predictions", "ground_truth", "findings", "references")))
