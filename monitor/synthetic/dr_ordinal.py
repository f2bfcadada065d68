"""Seeded synthetic deployment of a diabetic-retinopathy triage device with three ordered outputs and
audit-sampled verification of its low-risk calls (examples/dr-triage-ordinal.yaml, docs/dr-ordinal.md).

The device ``dr-triage-ordinal`` (model ``2.0.0``) calls each screened patient ``low_risk`` (rescreen in 12
months), ``monitor`` (rescreen in 3 months) or ``refer_now``; the reference grade has the same three levels
(ETDRS: no or mild DR; moderate NPDR; severe NPDR, PDR or macular edema). The binary call is ``level >=
monitor`` (referable). Every ``monitor`` and ``refer_now`` call is examined (label source
``clinical_diagnosis``, 2-10 weeks later); of the ``low_risk`` calls only a random audit sample
(``audit_fraction``) is graded by a reading centre after the quarter closes (``audit_sample``, 1-6 weeks after
the quarter's end), as in :mod:`monitor.synthetic.dr_triage`, whose calendar, sites and cameras it reuses.

Stable state: the AI level given the grade follows ``confusion`` in every stratum; the false-negative rate of
the lowest level (referable grade called ``low_risk``) is about 0.6%. With ``problem_quarter`` set, the rate
rises to ``problem_fnr`` for the ``problem_camera`` in that quarter (a camera firmware whose images the model
under-calls). The draws do not depend on the parameters (common random numbers): the null variant
(``problem_quarter=None``) differs only in the calls that the problem flips to ``low_risk``.

Logs name the levels: ``predicted_label`` and the ground truth's ``label`` are ``low_risk``, ``monitor`` or
``refer_now``.

Examples
--------
>>> data = generate(DrOrdinalScenario(cases_per_quarter=1000))
>>> len(data.predictions), sorted(data.predictions["predicted_label"].unique())
(1000, ['low_risk', 'monitor', 'refer_now'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.synthetic.calendar import seeded_rng as _rng

from .dr_triage import CAMERAS, SITE_IDS, TIMEZONE, quarter_bounds
from .lung_nodule import GROUND_TRUTH_COLUMNS, DemoData

__all__ = ["DEVICE_ID", "LEVELS", "PREDICTION_COLUMNS", "DrOrdinalScenario", "generate"]

DEVICE_ID = "dr-triage-ordinal"
LEVELS: tuple[str, ...] = ("low_risk", "monitor", "refer_now")
PREDICTION_COLUMNS: tuple[str, ...] = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                       "score", "predicted_label", "patient_id", "age", "sex", "camera")
_SCORE_BANDS = (0.0, 0.4, 0.7, 1.0)  # score band of each level (the device's score is its risk)
_NS_PER_DAY = 86_400 * 1_000_000_000
_REFERRAL_DAYS = (14.0, 70.0)
_AUDIT_DAYS = (7.0, 42.0)
_WORK_START_S, _WORK_SECONDS = 8 * 3600, 9 * 3600


@dataclass(frozen=True)
class DrOrdinalScenario:
    """Parameters of one synthetic ordinal DR-triage deployment.

    Parameters
    ----------
    seed : int
        Root seed.
    quarters : tuple of str
        Calendar quarters (``YYYYQn`` in the clinics' time zone).
    cases_per_quarter : int
        Patients screened per quarter.
    grades : tuple of float
        Share of each reference grade (lowest first).
    confusion : tuple of tuple of float
        Row g: P(AI level | grade g), lowest level first.
    canon_share : float
        Share of patients photographed with the Canon camera.
    audit_fraction : float
        Share of ``low_risk`` calls graded by the audit (each independently).
    problem_quarter, problem_camera, problem_fnr : str or None, str, float
        Where the false-negative rate of the lowest level rises, and to what; ``problem_quarter=None``: the
        null variant.
    as_of : pandas.Timestamp
        Instant of the data extract (later labels are not delivered); naive = the clinics' time zone.
    """

    seed: int = 20251
    device_id: str = DEVICE_ID
    model_version: str = "2.0.0"
    quarters: tuple[str, ...] = ("2025Q3",)
    cases_per_quarter: int = 4_000
    grades: tuple[float, float, float] = (0.72, 0.16, 0.12)
    confusion: tuple[tuple[float, float, float], ...] = ((0.86, 0.11, 0.03), (0.008, 0.82, 0.172),
                                                         (0.004, 0.10, 0.896))
    canon_share: float = 0.35
    audit_fraction: float = 0.25
    problem_quarter: str | None = "2025Q3"
    problem_camera: str = "Canon"
    problem_fnr: float = 0.15
    as_of: pd.Timestamp = pd.Timestamp("2026-01-31T23:59:59")

    def __post_init__(self) -> None:
        if self.problem_quarter is not None and self.problem_quarter not in self.quarters:
            raise ValueError(f"problem_quarter {self.problem_quarter!r} is not one of the quarters")
        if abs(sum(self.grades) - 1.0) > 1e-9 or any(abs(sum(row) - 1.0) > 1e-9 for row in self.confusion):
            raise ValueError("grades and each row of confusion must sum to 1")
        for name in ("canon_share", "audit_fraction", "problem_fnr"):
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")
        as_of = pd.Timestamp(self.as_of)
        object.__setattr__(self, "as_of", as_of.tz_localize(TIMEZONE) if as_of.tzinfo is None else as_of)


def _levels(u: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Level drawn from each row's probabilities (inverse CDF of one uniform)."""
    return (u[:, None] >= np.cumsum(rows, axis=1)[:, :-1]).sum(axis=1)


def _quarter(scenario: DrOrdinalScenario, quarter: str) -> DemoData:
    n = int(scenario.cases_per_quarter)
    start, end = quarter_bounds(quarter)  # checks the form
    rng = _rng(scenario.seed, 4 * int(quarter[:4]) + int(quarter[-1]) - 1)
    u_day, u_second, u_site, u_age, u_sex, u_camera = (rng.random(n), rng.random(n), rng.random(n),
                                                       rng.standard_normal(n), rng.random(n), rng.random(n))
    u_grade, u_call, u_miss, u_score, u_audit, u_delay = (rng.random(n) for _ in range(6))
    days = (end.tz_localize(None) - start.tz_localize(None)).days
    wall = np.sort(start.tz_localize(None).value + np.floor(u_day * days).astype(np.int64) * _NS_PER_DAY
                   + ((_WORK_START_S + np.floor(u_second * _WORK_SECONDS)) * 1e9).astype(np.int64))
    predicted_at = pd.DatetimeIndex(wall.astype("datetime64[ns]")).tz_localize(TIMEZONE)
    camera = np.where(u_camera < scenario.canon_share, CAMERAS[1], CAMERAS[0]).astype(object)

    grade = _levels(u_grade, np.tile(scenario.grades, (n, 1)))
    level = _levels(u_call, np.asarray(scenario.confusion)[grade])
    if scenario.problem_quarter == quarter:
        baseline = np.asarray([row[0] for row in scenario.confusion])[grade]
        extra = np.clip((scenario.problem_fnr - baseline) / (1.0 - baseline), 0.0, 1.0)
        missed = (grade >= 1) & (camera == scenario.problem_camera) & (u_miss < extra)
        level = np.where(missed, 0, level)
    low, high = np.asarray(_SCORE_BANDS[:-1])[level], np.asarray(_SCORE_BANDS[1:])[level]
    score = np.round(low + (high - low) * u_score * 0.9999, 4)

    positive = level >= 1
    verified = positive | (u_audit < scenario.audit_fraction)
    days_low = np.where(positive, _REFERRAL_DAYS[0], _AUDIT_DAYS[0])
    days_high = np.where(positive, _REFERRAL_DAYS[1], _AUDIT_DAYS[1])
    base = np.where(positive, predicted_at.asi8, end.value)
    confirmed = base + ((days_low + (days_high - days_low) * u_delay) * _NS_PER_DAY).astype(np.int64)
    confirmed -= confirmed % 1_000_000_000
    keep = np.flatnonzero(verified & (confirmed <= scenario.as_of.value))

    tag = quarter.replace("Q", "q")
    ids = np.array([f"DRO-{tag}-{i:06d}" for i in range(1, n + 1)], dtype=object)
    names = np.asarray(LEVELS, dtype=object)
    predictions = pd.DataFrame({
        "prediction_id": ids, "device_id": scenario.device_id, "model_version": scenario.model_version,
        "site_id": np.asarray(SITE_IDS, dtype=object)[np.minimum((u_site * len(SITE_IDS)).astype(int),
                                                                  len(SITE_IDS) - 1)],
        "predicted_at": predicted_at, "score": score, "predicted_label": names[level],
        "patient_id": np.array([f"DROP{tag}{i:06d}" for i in range(1, n + 1)], dtype=object),
        "age": np.clip(np.round(58.0 + 13.0 * u_age), 22, 95).astype(np.int64),
        "sex": np.where(u_sex < 0.5, "M", "F").astype(object), "camera": camera,
    }, columns=list(PREDICTION_COLUMNS))
    confirmed_at = pd.DatetimeIndex(confirmed[keep].astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TIMEZONE)
    ground_truth = pd.DataFrame({
        "prediction_id": ids[keep], "device_id": scenario.device_id, "label": names[grade[keep]],
        "confirmed_at": confirmed_at,
        "source": np.where(positive[keep], "clinical_diagnosis", "audit_sample").astype(object),
        "intervention_at": pd.DatetimeIndex([pd.NaT] * keep.size).tz_localize(TIMEZONE),
    }, columns=list(GROUND_TRUTH_COLUMNS))
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=int(n - keep.size))


def generate(scenario: DrOrdinalScenario) -> DemoData:
    """The scenario's prediction log and delivered ground truth, quarter by quarter."""
    parts = [_quarter(scenario, q) for q in scenario.quarters]
    return DemoData(predictions=pd.concat([p.predictions for p in parts], ignore_index=True),
                    ground_truth=pd.concat([p.ground_truth for p in parts], ignore_index=True),
                    pending=sum(p.pending for p in parts))
