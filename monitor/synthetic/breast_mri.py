"""Seeded synthetic deployment of a breast-MRI lesion classifier that flags low-confidence (out-of-distribution)
studies, with one planted rise of the flag rate on one scanner.

The device ``breast-mri`` (model ``3.2.0``, operating threshold 0.5) reads dynamic contrast-enhanced breast MRI
at four hospitals, each with one scanner (:data:`SITES`: vendor and field strength), and calls each study
*suspicious* (``predicted_label`` 1) or not. When a study looks unlike its training data it also sets
``low_confidence`` = 1 ("low confidence, recommend review"); the result keeps its score and call.

In the stable state the flag rate is :attr:`BreastMriScenario.flag_rate` (higher in extremely dense breasts,
:attr:`BreastMriScenario.dense_flag_rate`), and flagged studies are read less accurately than unflagged ones
(:attr:`BreastMriScenario.flagged_sensitivity` / ``flagged_specificity`` against ``sensitivity`` /
``specificity``). With ``planted_quarter`` set, the flag rate of the :data:`PLANTED_SITE` scanner (Philips 3T, a new
breast coil installed that quarter) rises to :attr:`BreastMriScenario.planted_flag_rate`: the problem the
``low_confidence_rate`` claim of ``examples/breast-mri-low-confidence.yaml`` is there to catch. Flagged studies
stay in sensitivity and specificity, which remain above their goals.

Ground truth (histopathology after biopsy for suspicious calls, else imaging follow-up) arrives 2 to 12 weeks
after the study; a few studies never get one (lost to follow-up). Random numbers are drawn in a fixed order
whatever the parameters (common random numbers): planting the rise changes only the flags of that quarter's
studies at the planted site whose draw falls between the two rates, and their calls.

Output has the shape of :mod:`monitor.synthetic.lung_nodule`: a :class:`~monitor.synthetic.lung_nodule.DemoData`
with the prediction log (:data:`PREDICTION_COLUMNS`) and the ground truth delivered by ``as_of``, ready for
:func:`monitor.synthetic.write_csv` and ingestion.

Examples
--------
>>> data = generate(BreastMriScenario(cases_per_quarter=1000, quarters=("2025Q3",)))
>>> len(data.predictions), sorted(data.predictions["low_confidence"].unique().tolist())
(1000, [0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.synthetic.calendar import parse_quarter as _parse_quarter
from monitor.synthetic.calendar import quarter_bounds_in
from monitor.synthetic.calendar import seeded_rng as _rng
from .lung_nodule import GROUND_TRUTH_COLUMNS, DemoData

__all__ = ["DEVICE_ID", "GROUND_TRUTH_COLUMNS", "OPERATING_THRESHOLD", "PLANTED_SITE", "PREDICTION_COLUMNS", "SITES",
           "TIMEZONE", "BreastMriScenario", "generate", "quarter_bounds"]

DEVICE_ID = "breast-mri"
TIMEZONE = "Europe/Berlin"
"""Local time zone of the hospitals (periods are calendar quarters there)."""
OPERATING_THRESHOLD = 0.5
PREDICTION_COLUMNS: tuple[str, ...] = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                       "score", "predicted_label", "low_confidence", "patient_id", "age", "sex",
                                       "scanner_vendor", "field_strength", "breast_density")
#: site id -> (share of the studies, scanner vendor, field strength)
SITES: dict[str, tuple[float, str, str]] = {
    "hospital-01": (0.35, "Siemens", "3T"),
    "hospital-02": (0.20, "GE", "3T"),
    "hospital-03": (0.25, "Siemens", "1.5T"),
    "hospital-04": (0.20, "Philips", "3T"),
}
PLANTED_SITE = "hospital-04"
"""The site whose scanner (Philips 3T, new breast coil) sends its flag rate up in the planted quarter."""
DENSITIES: tuple[str, ...] = ("a", "b", "c", "d")  # BI-RADS breast composition
_DENSITY_SHARES = (0.10, 0.40, 0.40, 0.10)

_NS_PER_DAY = 86_400 * 1_000_000_000
_AGE_MEAN, _AGE_SD, _AGE_MIN, _AGE_MAX = 52.0, 11.0, 25, 85
_TRUTH_DAYS = {True: (14.0, 42.0), False: (42.0, 84.0)}  # biopsy after a suspicious call, else follow-up imaging
_P_NO_TRUTH = 0.03
_WORK_START_S, _WORK_SECONDS = 7 * 3600, 12 * 3600


@dataclass(frozen=True)
class BreastMriScenario:
    """Parameters of one synthetic breast-MRI deployment.

    Parameters
    ----------
    seed : int
        Root seed (non-negative).
    quarters : tuple of str
        Calendar quarters (``YYYYQn`` in :data:`TIMEZONE`).
    cases_per_quarter : int
        Studies read per quarter.
    prevalence : float
        Share of malignant studies.
    sensitivity, specificity : float
        True accuracy of the unflagged studies.
    flagged_sensitivity, flagged_specificity : float
        True accuracy of the flagged studies (out of distribution: read less well).
    flag_rate, dense_flag_rate : float
        Stable flag rate (breast density a-c) and in extremely dense breasts (d).
    planted_quarter : str or None
        Quarter in which the :data:`PLANTED_SITE` scanner's flag rate rises to ``planted_flag_rate``; ``None``: the
        null variant (no rise).
    planted_flag_rate : float
        The planted site's flag rate in ``planted_quarter``.
    as_of : pandas.Timestamp
        Instant of the data extract (labels confirmed later are not delivered); naive = :data:`TIMEZONE`.
    """

    seed: int = 20253
    device_id: str = DEVICE_ID
    model_version: str = "3.2.0"
    quarters: tuple[str, ...] = ("2025Q2", "2025Q3")
    cases_per_quarter: int = 3_000
    prevalence: float = 0.20
    sensitivity: float = 0.93
    specificity: float = 0.89
    flagged_sensitivity: float = 0.85
    flagged_specificity: float = 0.80
    flag_rate: float = 0.03
    dense_flag_rate: float = 0.05
    planted_quarter: str | None = "2025Q3"
    planted_flag_rate: float = 0.15
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
        if self.planted_quarter is not None and self.planted_quarter not in quarters:
            raise ValueError(f"planted_quarter {self.planted_quarter!r} is not one of the quarters")
        for name in ("prevalence", "sensitivity", "specificity", "flagged_sensitivity", "flagged_specificity",
                     "flag_rate", "dense_flag_rate", "planted_flag_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if int(self.cases_per_quarter) < 1:
            raise ValueError("cases_per_quarter must be positive")
        as_of = pd.Timestamp(self.as_of)
        object.__setattr__(self, "as_of", as_of.tz_localize(TIMEZONE) if as_of.tzinfo is None else as_of)


def quarter_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the quarter's first day (e.g. ``"2025Q3"``) and of the next quarter's first day, in
    :data:`TIMEZONE`."""
    return quarter_bounds_in(label, TIMEZONE)


def _pick(u: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    """Index of the category each uniform draw falls in (cumulative shares)."""
    return np.minimum(np.searchsorted(np.cumsum(shares), u, side="right"), len(shares) - 1)


def _quarter(scenario: BreastMriScenario, quarter: str) -> DemoData:
    year, q = _parse_quarter(quarter)
    n = int(scenario.cases_per_quarter)
    rng = _rng(scenario.seed, 4 * year + q - 1)
    # ---- draws (fixed order and sizes: common random numbers) ----
    u_day, u_second, u_site, u_age, u_density = (rng.random(n), rng.random(n), rng.random(n),
                                                 rng.standard_normal(n), rng.random(n))
    u_label, u_flag, u_call, u_score, u_truth, u_delay = (rng.random(n) for _ in range(6))

    start, end = quarter_bounds(quarter)
    days = (end.tz_localize(None) - start.tz_localize(None)).days
    wall = (start.tz_localize(None).value + np.floor(u_day * days).astype(np.int64) * _NS_PER_DAY
            + ((_WORK_START_S + np.floor(u_second * _WORK_SECONDS)) * 1e9).astype(np.int64))
    order = np.argsort(wall, kind="stable")
    wall = wall[order]
    u_site, u_age, u_density, u_label, u_flag, u_call, u_score, u_truth, u_delay = (
        u[order] for u in (u_site, u_age, u_density, u_label, u_flag, u_call, u_score, u_truth, u_delay))
    predicted_at = pd.DatetimeIndex(wall.astype("datetime64[ns]")).tz_localize(TIMEZONE)

    site_ids = np.array(list(SITES), dtype=object)
    site = site_ids[_pick(u_site, tuple(s[0] for s in SITES.values()))]
    vendor = np.array([SITES[s][1] for s in site], dtype=object)
    strength = np.array([SITES[s][2] for s in site], dtype=object)
    density = np.asarray(DENSITIES, dtype=object)[_pick(u_density, _DENSITY_SHARES)]

    rate = np.where(density == "d", scenario.dense_flag_rate, scenario.flag_rate)
    if scenario.planted_quarter == quarter:
        rate = np.where(site == PLANTED_SITE, scenario.planted_flag_rate, rate)
    flagged = u_flag < rate
    label = u_label < scenario.prevalence
    sensitivity = np.where(flagged, scenario.flagged_sensitivity, scenario.sensitivity)
    specificity = np.where(flagged, scenario.flagged_specificity, scenario.specificity)
    call = u_call < np.where(label, sensitivity, 1.0 - specificity)
    t = OPERATING_THRESHOLD
    shape = np.where(label, 0.6, 1.6)  # malignant studies sit higher on either side of the threshold
    score = np.where(call, t + (1.0 - t) * u_score ** shape, t * u_score ** (1.0 / shape))
    score = np.where(call, np.maximum(np.round(score, 4), t), np.minimum(np.round(score, 4), t - 1e-4))

    low, high = (np.where(call, _TRUTH_DAYS[True][i], _TRUTH_DAYS[False][i]) for i in (0, 1))
    confirmed = predicted_at.asi8 + ((low + (high - low) * u_delay) * _NS_PER_DAY).astype(np.int64)
    confirmed -= confirmed % 1_000_000_000  # whole seconds
    delivered = (u_truth >= _P_NO_TRUTH) & (confirmed <= scenario.as_of.value)

    ids = np.array([f"BMR-{year}Q{q}-{i:06d}" for i in range(1, n + 1)], dtype=object)
    predictions = pd.DataFrame({
        "prediction_id": ids,
        "device_id": scenario.device_id,
        "model_version": scenario.model_version,
        "site_id": site,
        "predicted_at": predicted_at,
        "score": score,
        "predicted_label": call.astype(np.int64),
        "low_confidence": flagged.astype(np.int64),
        "patient_id": np.array([f"BMP{year}{q}{i:06d}" for i in range(1, n + 1)], dtype=object),
        "age": np.clip(np.round(_AGE_MEAN + _AGE_SD * u_age), _AGE_MIN, _AGE_MAX).astype(np.int64),
        "sex": "F",
        "scanner_vendor": vendor,
        "field_strength": strength,
        "breast_density": density,
    }, columns=list(PREDICTION_COLUMNS))
    keep = np.flatnonzero(delivered)
    confirmed_at = pd.DatetimeIndex(confirmed[keep].astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TIMEZONE)
    ground_truth = pd.DataFrame({
        "prediction_id": ids[keep],
        "device_id": scenario.device_id,
        "label": label[keep].astype(np.int64),
        "confirmed_at": confirmed_at,
        "source": np.where(call[keep], "histopathology", "follow_up").astype(object),
        "intervention_at": pd.DatetimeIndex([pd.NaT] * keep.size).tz_localize(TIMEZONE),
    }, columns=list(GROUND_TRUTH_COLUMNS))
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=int(n - keep.size))


def generate(scenario: BreastMriScenario) -> DemoData:
    """The scenario's prediction log and delivered ground truth, quarter by quarter in ``scenario.quarters``
    order (a quarter's rows depend only on the seed and the quarter)."""
    parts = [_quarter(scenario, q) for q in scenario.quarters]
    return DemoData(predictions=pd.concat([p.predictions for p in parts], ignore_index=True),
                    ground_truth=pd.concat([p.ground_truth for p in parts], ignore_index=True),
                    pending=sum(p.pending for p in parts))
