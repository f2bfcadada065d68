"""Seeded synthetic deployment of a nodule-growth model read beside Lung-RADS (the comparator example, issue 17).

The device ``nodule-growth`` (model ``1.0.0``, operating threshold 0.5) scores each screening CT's dominant
pulmonary nodule for clinically significant growth or malignancy within a year (``score`` in 0..1, call
``score >= 0.5``). The reading radiologist's Lung-RADS v2022 category is logged beside it as the comparator
(``comparator_score``: 1, 2, 3, 4 for 4A, 4.5 for 4B, 5 for 4X; its call is 4A and above). Every case is
verified: growth or malignancy by pathology (label source ``histopathology``), its absence by 12-month follow-up CT
(``follow_up``), both delivered by ``as_of``.

Strata: ``age`` (the configuration bins it at 65) and ``nodule_type`` (solid, part_solid, ground_glass). The
prevalence, the AI's sensitivity and specificity and Lung-RADS's category distributions are the same in every
stratum. With ``sensitivity_drop`` set, the AI's sensitivity falls by that much in ``drop_nodule_type`` (the
planted problem, e.g. a retrained model that misses growing part-solid nodules) while Lung-RADS is unchanged.
Random numbers are drawn in a fixed order whatever the parameters (common random numbers): planting the drop
changes only the calls and scores of the drop stratum's positives whose call flips, so ``sensitivity_drop=0``
is the null variant of the same cases.

Output: a :class:`~monitor.synthetic.lung_nodule.DemoData` (prediction log :data:`PREDICTION_COLUMNS`, ground
truth :data:`~monitor.synthetic.lung_nodule.GROUND_TRUTH_COLUMNS`), ready for :func:`monitor.synthetic.write_csv`.

Examples
--------
>>> data = generate(NoduleGrowthScenario(cases=1000))
>>> len(data.predictions), sorted(data.predictions["comparator_score"].unique().tolist())
(1000, [1.0, 2.0, 3.0, 4.0, 4.5, 5.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .lung_nodule import GROUND_TRUTH_COLUMNS, DemoData

__all__ = ["DEVICE_ID", "LUNG_RADS", "NODULE_TYPES", "OPERATING_THRESHOLD", "PREDICTION_COLUMNS", "TIMEZONE",
           "NoduleGrowthScenario", "generate"]

DEVICE_ID = "nodule-growth"
TIMEZONE = "Asia/Shanghai"
OPERATING_THRESHOLD = 0.5
#: Lung-RADS v2022 categories as logged numbers: 1, 2, 3, 4A = 4, 4B = 4.5, 4X = 5 (ordered; 4A and above positive).
LUNG_RADS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 4.5, 5.0)
NODULE_TYPES: tuple[str, ...] = ("solid", "part_solid", "ground_glass")
PREDICTION_COLUMNS: tuple[str, ...] = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                       "score", "predicted_label", "patient_id", "age", "nodule_type",
                                       "comparator_score")
SITE_IDS: tuple[str, ...] = ("site-sh-01", "site-hz-02")
_TYPE_SHARES = np.array([0.55, 0.20, 0.25])
#: Lung-RADS category probabilities given the truth (1, 2, 3, 4A, 4B, 4X): sensitivity 0.80, specificity 0.85.
_LUNG_RADS_POSITIVE = np.array([0.02, 0.06, 0.12, 0.30, 0.30, 0.20])
_LUNG_RADS_NEGATIVE = np.array([0.15, 0.50, 0.20, 0.10, 0.04, 0.01])
_AGE_MEAN, _AGE_SD, _AGE_MIN, _AGE_MAX = 62.0, 7.0, 50, 80
_NS_PER_DAY = 86_400 * 1_000_000_000
_LABEL_DAYS = {"histopathology": (20.0, 120.0), "follow_up": (365.0, 400.0)}


@dataclass(frozen=True)
class NoduleGrowthScenario:
    """Parameters of one synthetic quarter of the nodule-growth model beside Lung-RADS.

    Parameters
    ----------
    seed : int
        Root seed.
    quarter_start : pandas.Timestamp
        Local midnight of the quarter's first day (:data:`TIMEZONE`); cases fall in the following 90 days.
    cases : int
        Screening CTs in the quarter.
    prevalence, sensitivity, specificity : float
        Growth / malignancy prevalence and the AI's true accuracy at the operating threshold.
    sensitivity_drop : float
        Fall of the AI's sensitivity in ``drop_nodule_type`` (0: the null variant).
    drop_nodule_type : str
        The nodule type of the planted drop.
    as_of : pandas.Timestamp
        Instant of the ground-truth extract (every label is confirmed by then with the default quarter).
    """

    seed: int = 2022
    device_id: str = DEVICE_ID
    model_version: str = "1.0.0"
    quarter_start: pd.Timestamp = pd.Timestamp("2025-01-01")
    cases: int = 3000
    prevalence: float = 0.20
    sensitivity: float = 0.93
    specificity: float = 0.88
    sensitivity_drop: float = 0.0
    drop_nodule_type: str = "part_solid"
    as_of: pd.Timestamp = pd.Timestamp("2026-06-30T23:59:59")

    def __post_init__(self) -> None:
        if int(self.cases) < 1:
            raise ValueError("cases must be positive")
        for name in ("prevalence", "sensitivity", "specificity"):
            if not 0.0 < float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), got {getattr(self, name)!r}")
        if not 0.0 <= float(self.sensitivity_drop) <= float(self.sensitivity):
            raise ValueError("sensitivity_drop must lie between 0 and the sensitivity")
        if self.drop_nodule_type not in NODULE_TYPES:
            raise ValueError(f"drop_nodule_type must be one of {NODULE_TYPES}")
        for name in ("quarter_start", "as_of"):
            value = pd.Timestamp(getattr(self, name))
            object.__setattr__(self, name, value.tz_localize(TIMEZONE) if value.tzinfo is None else value)


def _ai_scores(label: np.ndarray, call: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Scores on a 0.001 grid: called positives 0.55..1 (growing nodules higher), called negatives below 0.5
    (missed growing nodules 0.30..0.50, just under the threshold; non-growing ones mostly low)."""
    score = np.where(call, np.where(label, 0.55 + 0.45 * u ** 0.7, 0.50 + 0.20 * u),
                     np.where(label, 0.30 + 0.199 * u, 0.45 * u ** 1.5))
    return np.round(score, 3)


def generate(scenario: NoduleGrowthScenario) -> DemoData:
    """The scenario's prediction log (with the Lung-RADS category in ``comparator_score``) and ground truth."""
    n = int(scenario.cases)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(scenario.seed))))
    # ---- draws (fixed order and sizes: common random numbers) ----
    u_time, u_site, u_age, u_type = rng.random(n), rng.random(n), rng.standard_normal(n), rng.random(n)
    u_label, u_call, u_score, u_rads, u_delay = (rng.random(n) for _ in range(5))

    order = np.argsort(u_time, kind="stable")
    u_time, u_site, u_age, u_type, u_label, u_call, u_score, u_rads, u_delay = (
        u[order] for u in (u_time, u_site, u_age, u_type, u_label, u_call, u_score, u_rads, u_delay))
    start = scenario.quarter_start
    seconds = np.floor(u_time * 90 * 86_400).astype(np.int64)
    predicted_at = pd.DatetimeIndex(start.value + seconds * 1_000_000_000).tz_localize("UTC").tz_convert(TIMEZONE)

    nodule_type = np.asarray(NODULE_TYPES, dtype=object)[np.searchsorted(np.cumsum(_TYPE_SHARES), u_type, side="right")
                                                         .clip(0, len(NODULE_TYPES) - 1)]
    label = u_label < scenario.prevalence
    dropped = nodule_type == scenario.drop_nodule_type
    sensitivity = scenario.sensitivity - np.where(dropped, scenario.sensitivity_drop, 0.0)
    call = u_call < np.where(label, sensitivity, 1.0 - scenario.specificity)
    score = _ai_scores(label, call, u_score)
    rads = np.where(label, np.searchsorted(np.cumsum(_LUNG_RADS_POSITIVE), u_rads, side="right"),
                    np.searchsorted(np.cumsum(_LUNG_RADS_NEGATIVE), u_rads, side="right")).clip(0, len(LUNG_RADS) - 1)

    ids = np.array([f"NG-{i:06d}" for i in range(1, n + 1)], dtype=object)
    predictions = pd.DataFrame({
        "prediction_id": ids,
        "device_id": scenario.device_id,
        "model_version": scenario.model_version,
        "site_id": np.where(u_site < 0.5, SITE_IDS[0], SITE_IDS[1]).astype(object),
        "predicted_at": predicted_at,
        "score": score,
        "predicted_label": call.astype(np.int64),
        "patient_id": np.array([f"NGP{i:06d}" for i in range(1, n + 1)], dtype=object),
        "age": np.clip(np.round(_AGE_MEAN + _AGE_SD * u_age), _AGE_MIN, _AGE_MAX).astype(np.int64),
        "nodule_type": nodule_type,
        "comparator_score": np.asarray(LUNG_RADS)[rads],
    }, columns=list(PREDICTION_COLUMNS))

    source = np.where(label, "histopathology", "follow_up").astype(object)
    low = np.where(label, _LABEL_DAYS["histopathology"][0], _LABEL_DAYS["follow_up"][0])
    high = np.where(label, _LABEL_DAYS["histopathology"][1], _LABEL_DAYS["follow_up"][1])
    confirmed = predicted_at.asi8 + ((low + (high - low) * u_delay) * _NS_PER_DAY).astype(np.int64)
    confirmed -= confirmed % 1_000_000_000  # whole seconds
    keep = np.flatnonzero(confirmed <= scenario.as_of.value)
    ground_truth = pd.DataFrame({
        "prediction_id": ids[keep],
        "device_id": scenario.device_id,
        "label": label[keep].astype(np.int64),
        "confirmed_at": pd.DatetimeIndex(confirmed[keep]).tz_localize("UTC").tz_convert(TIMEZONE),
        "source": source[keep],
        "intervention_at": pd.DatetimeIndex([pd.NaT] * keep.size).tz_localize(TIMEZONE),
    }, columns=list(GROUND_TRUTH_COLUMNS))
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=int(n - keep.size))
