"""Seeded synthetic deployment of a referable diabetic-retinopathy (DR) triage device with audit-sampled labels.

The device ``dr-triage`` (model ``1.0.0``, operating threshold 0.5) reads fundus photographs in
primary-care clinics and calls each patient *refer* (referable DR suspected, ``predicted_label`` 1) or
*low risk* (0). Its verification is an **audit design**, as in the seed's deployments: every referred
patient is examined by an ophthalmologist (label source ``clinical_diagnosis``, 2-10 weeks later),
while of the low-risk calls only a random audit sample (``audit_fraction``, 10% by default) is
over-read by a reading centre after the quarter closes (label source ``audit_sample``, 1-6 weeks after
the quarter's end). The other low-risk calls are never verified. The device configuration of
``examples/dr-triage.yaml`` declares this design (``labels.sampling_fractions``).

In the stable state prevalence, sensitivity and specificity are the same in every stratum and quarter.
With ``drop_quarter`` set, sensitivity falls by ``sensitivity_drop`` in that quarter: more referable
cases are called low risk, which only the audit sample of low-risk calls can reveal. Random numbers are
drawn in a fixed order whatever the performance parameters (common random numbers), so planting the
drop changes only the calls and scores of that quarter's positives whose call flips.

Output has the shape of :mod:`monitor.synthetic.lung_nodule`: a :class:`~monitor.synthetic.lung_nodule.DemoData`
with the prediction log (:data:`PREDICTION_COLUMNS`) and the ground truth delivered by ``as_of``
(:data:`GROUND_TRUTH_COLUMNS`), ready for :func:`monitor.synthetic.write_csv` and ingestion.

Examples
--------
>>> data = generate(DrTriageScenario(cases_per_quarter=2000, quarters=("2025Q1",)))
>>> len(data.predictions), sorted(data.ground_truth["source"].unique())
(2000, ['audit_sample', 'clinical_diagnosis'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.synthetic.calendar import parse_quarter as _parse_quarter
from monitor.synthetic.calendar import quarter_bounds_in
from monitor.synthetic.calendar import seeded_rng as _rng
from .lung_nodule import GROUND_TRUTH_COLUMNS, DemoData

__all__ = ["DEVICE_ID", "GROUND_TRUTH_COLUMNS", "OPERATING_THRESHOLD", "PREDICTION_COLUMNS", "TIMEZONE",
           "DrTriageScenario", "generate", "quarter_bounds"]

DEVICE_ID = "dr-triage"
TIMEZONE = "America/Chicago"
"""Local time zone of the clinics (periods are calendar quarters there)."""
OPERATING_THRESHOLD = 0.5
PREDICTION_COLUMNS: tuple[str, ...] = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                       "score", "predicted_label", "patient_id", "age", "sex", "camera")
SITE_IDS: tuple[str, ...] = ("clinic-01", "clinic-02", "clinic-03", "clinic-04")
CAMERAS: tuple[str, ...] = ("Topcon", "Canon")

_NS_PER_DAY = 86_400 * 1_000_000_000
_AGE_MEAN, _AGE_SD, _AGE_MIN, _AGE_MAX = 58.0, 13.0, 22, 95
_P_CANON = 0.4
_P_MALE = 0.5
_REFERRAL_DAYS = (14.0, 70.0)  # ophthalmologist examination after a referral
_AUDIT_DAYS = (7.0, 42.0)  # reading-centre over-read after the quarter closes
_WORK_START_S, _WORK_SECONDS = 8 * 3600, 9 * 3600


@dataclass(frozen=True)
class DrTriageScenario:
    """Parameters of one synthetic DR-triage deployment.

    Parameters
    ----------
    seed : int
        Root seed (non-negative).
    quarters : tuple of str
        Calendar quarters (``YYYYQn`` in :data:`TIMEZONE`).
    cases_per_quarter : int
        Patients screened per quarter.
    prevalence, sensitivity, specificity : float
        Referable DR prevalence and the device's true accuracy in the stable state.
    audit_fraction : float
        Share of low-risk calls over-read by the audit (each independently, Bernoulli sampling).
    drop_quarter : str or None
        Quarter in which sensitivity falls by ``sensitivity_drop``; ``None`` for no drop.
    sensitivity_drop : float
        Absolute fall of sensitivity in ``drop_quarter``.
    as_of : pandas.Timestamp
        Instant of the data extract (labels confirmed later are not delivered); naive = :data:`TIMEZONE`.
    """

    seed: int = 20190
    device_id: str = DEVICE_ID
    model_version: str = "1.0.0"
    quarters: tuple[str, ...] = ("2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3")
    cases_per_quarter: int = 8_000
    prevalence: float = 0.10
    sensitivity: float = 0.90
    specificity: float = 0.91
    audit_fraction: float = 0.10
    drop_quarter: str | None = None
    sensitivity_drop: float = 0.25
    as_of: pd.Timestamp = pd.Timestamp("2026-01-31T23:59:59")

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        quarters = tuple(self.quarters)
        if not quarters or len(set(quarters)) != len(quarters):
            raise ValueError("quarters must be one or more distinct quarters")
        for q in quarters:
            _parse_quarter(q)
        object.__setattr__(self, "quarters", quarters)
        if self.drop_quarter is not None and self.drop_quarter not in quarters:
            raise ValueError(f"drop_quarter {self.drop_quarter!r} is not one of the quarters")
        for name in ("prevalence", "sensitivity", "specificity", "audit_fraction"):
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= float(self.sensitivity_drop) <= float(self.sensitivity):
            raise ValueError("sensitivity_drop must lie between 0 and the sensitivity")
        if int(self.cases_per_quarter) < 1:
            raise ValueError("cases_per_quarter must be positive")
        as_of = pd.Timestamp(self.as_of)
        object.__setattr__(self, "as_of", as_of.tz_localize(TIMEZONE) if as_of.tzinfo is None else as_of)


def quarter_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the quarter's first day (e.g. ``"2025Q3"``) and of the next quarter's first day, in
    :data:`TIMEZONE`."""
    return quarter_bounds_in(label, TIMEZONE)


def _quarter(scenario: DrTriageScenario, quarter: str) -> DemoData:
    year, q = _parse_quarter(quarter)
    n = int(scenario.cases_per_quarter)
    rng = _rng(scenario.seed, 4 * year + q - 1)
    # ---- draws (fixed order and sizes: common random numbers) ----
    u_day, u_second = rng.random(n), rng.random(n)
    u_site, u_age, u_sex, u_camera = rng.random(n), rng.standard_normal(n), rng.random(n), rng.random(n)
    u_label, u_call, u_score, u_audit, u_delay = (rng.random(n) for _ in range(5))

    start, end = quarter_bounds(quarter)
    days = (end.tz_localize(None) - start.tz_localize(None)).days
    wall = (start.tz_localize(None).value + np.floor(u_day * days).astype(np.int64) * _NS_PER_DAY
            + ((_WORK_START_S + np.floor(u_second * _WORK_SECONDS)) * 1e9).astype(np.int64))
    order = np.argsort(wall, kind="stable")
    wall = wall[order]
    u_site, u_age, u_sex, u_camera = u_site[order], u_age[order], u_sex[order], u_camera[order]
    u_label, u_call, u_score, u_audit, u_delay = (u[order] for u in (u_label, u_call, u_score, u_audit, u_delay))
    predicted_at = pd.DatetimeIndex(wall.astype("datetime64[ns]")).tz_localize(TIMEZONE)

    label = u_label < scenario.prevalence
    sensitivity = scenario.sensitivity - (scenario.sensitivity_drop if scenario.drop_quarter == quarter else 0.0)
    call = u_call < np.where(label, sensitivity, 1.0 - scenario.specificity)
    t = OPERATING_THRESHOLD
    # Scores: referable cases sit higher on either side of the threshold.
    shape = np.where(label, 0.6, 1.6)
    score = np.where(call, t + (1.0 - t) * u_score ** shape, t * u_score ** (1.0 / shape))
    score = np.where(call, np.maximum(np.round(score, 4), t), np.minimum(np.round(score, 4), t - 1e-4))

    audited = ~call & (u_audit < scenario.audit_fraction)
    verified = call | audited
    low, high = np.where(call, _REFERRAL_DAYS[0], _AUDIT_DAYS[0]), np.where(call, _REFERRAL_DAYS[1], _AUDIT_DAYS[1])
    base = np.where(call, predicted_at.asi8, end.value)
    confirmed = base + ((low + (high - low) * u_delay) * _NS_PER_DAY).astype(np.int64)
    confirmed -= confirmed % 1_000_000_000  # whole seconds
    delivered = verified & (confirmed <= scenario.as_of.value)

    ids = np.array([f"DR-{year}Q{q}-{i:06d}" for i in range(1, n + 1)], dtype=object)
    predictions = pd.DataFrame({
        "prediction_id": ids,
        "device_id": scenario.device_id,
        "model_version": scenario.model_version,
        "site_id": np.asarray(SITE_IDS, dtype=object)[np.minimum((u_site * len(SITE_IDS)).astype(int),
                                                                  len(SITE_IDS) - 1)],
        "predicted_at": predicted_at,
        "score": score,
        "predicted_label": call.astype(np.int64),
        "patient_id": np.array([f"DRP{year}{q}{i:06d}" for i in range(1, n + 1)], dtype=object),
        "age": np.clip(np.round(_AGE_MEAN + _AGE_SD * u_age), _AGE_MIN, _AGE_MAX).astype(np.int64),
        "sex": np.where(u_sex < _P_MALE, "M", "F").astype(object),
        "camera": np.where(u_camera < _P_CANON, CAMERAS[1], CAMERAS[0]).astype(object),
    })
    keep = np.flatnonzero(delivered)
    confirmed_at = pd.DatetimeIndex(confirmed[keep].astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TIMEZONE)
    ground_truth = pd.DataFrame({
        "prediction_id": ids[keep],
        "device_id": scenario.device_id,
        "label": label[keep].astype(np.int64),
        "confirmed_at": confirmed_at,
        "source": np.where(call[keep], "clinical_diagnosis", "audit_sample").astype(object),
        "intervention_at": pd.DatetimeIndex([pd.NaT] * keep.size).tz_localize(TIMEZONE),
    }, columns=list(GROUND_TRUTH_COLUMNS))
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=int(n - keep.size))


def generate(scenario: DrTriageScenario) -> DemoData:
    """The scenario's prediction log and delivered ground truth, quarter by quarter in ``scenario.quarters``
    order (a quarter's rows depend only on the seed and the quarter)."""
    parts = [_quarter(scenario, q) for q in scenario.quarters]
    return DemoData(predictions=pd.concat([p.predictions for p in parts], ignore_index=True),
                    ground_truth=pd.concat([p.ground_truth for p in parts], ignore_index=True),
                    pending=sum(p.pending for p in parts))
