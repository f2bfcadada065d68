"""Seeded synthetic deployment of a lung-nodule CT detector with one planted drift.

The scenario simulates the detector ``lung-nodule-ct`` (model ``2.1.0``,
operating threshold 0.5) at five Chinese hospitals over five calendar quarters
(Asia/Shanghai local time). Each case is one CT study with one prediction;
ground truth (histopathology, imaging follow-up or expert adjudication)
arrives weeks to months later, or never.

In the stable state sensitivity is 0.91 and specificity 0.86 in every stratum.
In ``drift_quarter`` the sensitivity of the intersection ``age >= 75`` and
``emphysema_grade == "severe"`` (the *drift target*) drops by ``drift_drop``;
nothing else changes. Random numbers are drawn in a fixed order whatever the
scenario's performance parameters (common random numbers), so turning the
drift off changes only the calls and scores of the target's positives in the
drift quarter.

Determinism
-----------
All randomness comes from :class:`numpy.random.Generator` objects seeded by
:class:`numpy.random.SeedSequence` with ``entropy=seed`` and a spawn key that
names the stream: the patient register (seed, its size and the scenario's
span) and each quarter (seed and quarter). A quarter's rows therefore depend only on the scenario and that
quarter: ``generate(s, quarters=["2025Q1"])`` returns exactly the 2025Q1 rows
of ``generate(s)``.

Patients
--------
Each patient of a seeded register has a centre date and is scanned, if at
all, within half a year of it; at any time about three patients per quarterly
case are active, so patients recur within and across quarters (about a third
of cases are repeat scans) with a consistent sex, birth date (age advances
with the scan date) and emphysema propensity (the grade never regresses as
the patient ages). Because the centres are spread evenly over the scenario,
the case mix is stationary: no quarter is older than another.

Examples
--------
>>> data = generate(DemoScenario(scale=0.002), quarters=["2025Q3"])
>>> list(data.predictions.columns[:4])
['prediction_id', 'device_id', 'model_version', 'site_id']
>>> bool((data.predictions["predicted_label"] == (data.predictions["score"] >= 0.5)).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from monitor.synthetic.calendar import parse_quarter as _parse_quarter
from monitor.synthetic.calendar import quarter_bounds_in
from monitor.synthetic.calendar import seeded_rng as _rng

from . import population as pop

__all__ = [
    "DEFAULT_CASES_PER_QUARTER",
    "DRIFT_TARGET",
    "GROUND_TRUTH_COLUMNS",
    "OPERATING_THRESHOLD",
    "PREDICTION_COLUMNS",
    "STRATUM_ATTRIBUTES",
    "TIMEZONE",
    "DemoData",
    "DemoScenario",
    "drift_target_mask",
    "generate",
    "iter_prediction_chunks",
    "quarter_bounds",
]

TIMEZONE = "Asia/Shanghai"
"""Local time zone of the deployment (UTC+08:00, no daylight saving time)."""
OPERATING_THRESHOLD = 0.5
"""``predicted_label == (score >= OPERATING_THRESHOLD)``."""
DEFAULT_CASES_PER_QUARTER = 300_000
"""Cases per quarter at ``scale=1``: about 1,800 confirmed drift-target positives."""
STRATUM_ATTRIBUTES: tuple[str, ...] = ("age", "sex", "emphysema_grade", "scanner_vendor")
"""Prediction columns the monitoring stratifies by (``age`` is binned at 45/65/75)."""
DRIFT_TARGET: dict[str, str] = {"age_band": ">=75", "emphysema_grade": "severe"}
"""The stratum whose sensitivity drops in the drift quarter."""
PREDICTION_COLUMNS: tuple[str, ...] = (
    "prediction_id",
    "device_id",
    "model_version",
    "site_id",
    "predicted_at",
    "score",
    "predicted_label",
    "patient_id",
    "age",
    "sex",
    "emphysema_grade",
    "scanner_vendor",
)
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "prediction_id",
    "device_id",
    "label",
    "confirmed_at",
    "source",
    "intervention_at",
)

_NS_PER_SECOND = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_SECOND
_NS_PER_YEAR = 365.2425 * _NS_PER_DAY

# SeedSequence spawn-key stream ids
_STREAM_PATIENTS = 1
_STREAM_QUARTER = 2
_STREAM_CHUNK = 3

# working hours 08:00-18:00 local time, every day of the quarter
_WORK_START_S = 8 * 3600
_WORK_SECONDS = 10 * 3600

# patient register: each patient is seen around a "centre" date, at most half a year either side
_PATIENT_HALF_WINDOW_NS = 0.5 * 365.2425 * 86_400 * 1_000_000_000
_ACTIVE_PATIENTS_PER_QUARTERLY_CASE = 3.0  # patients active at any time per case of a quarter
_MAX_PATIENTS = 4_000_000
_PATIENT_ID_MULTIPLIER = 61_803_399  # odd and not a multiple of 5: a bijection modulo 10**8

# score model: Kumaraswamy(a, b) shapes within each side of the threshold, indexed [call, label]
_SCORE_SHAPE_A = np.array([[1.0, 1.5], [1.0, 1.8]])
_SCORE_SHAPE_B = np.array([[1.9, 1.0], [1.3, 1.0]])

# ground-truth process
_P_NO_TRUTH_POS = 0.05
_P_NO_TRUTH_NEG = 0.10
_P_HISTO_POS = 0.88  # else imaging follow-up
_P_BIOPSY_FALSE_POS = 0.12  # false positives sent to biopsy (benign histopathology)
_P_ADJUDICATION_NEG = 0.85  # else 9-15 month follow-up
_P_TREATED_FOLLOW_UP_POS = 0.80
_SOURCES = np.array(["histopathology", "follow_up", "adjudication"], dtype=object)


@dataclass(frozen=True)
class DemoScenario:
    """Parameters of one synthetic deployment.

    Parameters
    ----------
    seed : int
        Root seed (non-negative).
    device_id, model_version : str
        Identity written to every row.
    quarters : tuple of str
        Calendar quarters (``YYYYQn``, Asia/Shanghai local time), in output order.
    drift_quarter : str or None
        Quarter in which the drift target's sensitivity drops; ``None`` for no drift.
    drift_drop : float
        Absolute sensitivity drop of the drift target in ``drift_quarter`` (default 0.08: true sensitivity
        0.91 -> 0.83, a drop the pre-specified decision rule detects in one quarter at this volume, about
        1,850 positives in the stratum; a drop of 0.05 would be found in about a quarter of seeds).
    cases_per_quarter : int
        Cases per quarter at ``scale=1``.
    scale : float
        Multiplies ``cases_per_quarter`` (e.g. 0.02 in unit tests).
    as_of : pandas.Timestamp
        Instant of the data extract; ground truth confirmed later has not
        arrived. A naive timestamp is read as Asia/Shanghai local time.
    """

    seed: int = 20251
    device_id: str = "lung-nodule-ct"
    model_version: str = "2.1.0"
    quarters: tuple[str, ...] = ("2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3")
    drift_quarter: str | None = "2025Q3"
    drift_drop: float = 0.08
    cases_per_quarter: int = DEFAULT_CASES_PER_QUARTER
    scale: float = 1.0
    as_of: pd.Timestamp = pd.Timestamp("2026-01-31T23:59:59+08:00")

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        quarters = tuple(self.quarters)
        if not quarters:
            raise ValueError("a scenario needs at least one quarter")
        for q in quarters:
            _parse_quarter(q)
        if len(set(quarters)) != len(quarters):
            raise ValueError(f"quarters must be distinct, got {quarters}")
        object.__setattr__(self, "quarters", quarters)
        if self.drift_quarter is not None and self.drift_quarter not in quarters:
            raise ValueError(f"drift_quarter {self.drift_quarter!r} is not one of the quarters {quarters}")
        if not 0.0 <= float(self.drift_drop) <= pop.SENSITIVITY:
            raise ValueError(f"drift_drop must be in [0, {pop.SENSITIVITY}], got {self.drift_drop}")
        if int(self.cases_per_quarter) < 1:
            raise ValueError(f"cases_per_quarter must be positive, got {self.cases_per_quarter}")
        if not (float(self.scale) > 0.0 and math.isfinite(float(self.scale))):
            raise ValueError(f"scale must be a positive number, got {self.scale}")
        as_of = pd.Timestamp(self.as_of)
        if as_of.tzinfo is None:
            as_of = as_of.tz_localize(TIMEZONE)
        object.__setattr__(self, "as_of", as_of)

    @property
    def cases_in_quarter(self) -> int:
        """Cases generated per quarter: ``round(cases_per_quarter * scale)``, at least 1."""
        return max(1, round(self.cases_per_quarter * self.scale))


@dataclass(frozen=True)
class DemoData:
    """Generated prediction log and delivered ground truth.

    Attributes
    ----------
    predictions : pandas.DataFrame
        One row per case, columns :data:`PREDICTION_COLUMNS`.
    ground_truth : pandas.DataFrame
        Ground truth confirmed at or before the scenario's ``as_of``, columns
        :data:`GROUND_TRUTH_COLUMNS`, rows in prediction order.
    pending : int
        Cases without delivered ground truth (not arrived by ``as_of``, or never).
    """

    predictions: pd.DataFrame
    ground_truth: pd.DataFrame
    pending: int


# --------------------------------------------------------------------------- helpers


def quarter_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the quarter's first day (e.g. ``"2025Q3"``) and of the next quarter's first day, in
    :data:`TIMEZONE`."""
    return quarter_bounds_in(label, TIMEZONE)


def _quarter_days(label: str) -> tuple[np.int64, int]:
    """Local-naive nanoseconds of the quarter's first midnight and its number of days."""
    year, q = _parse_quarter(label)
    first = date(year, 3 * (q - 1) + 1, 1)
    nxt = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return np.datetime64(first, "ns").astype(np.int64), (nxt - first).days


def _quarter_code(label: str) -> int:
    year, q = _parse_quarter(label)
    return 4 * year + q - 1


def _scenario_span_ns(scenario: DemoScenario) -> tuple[float, float]:
    """Local-naive ns of the start of the scenario's first quarter and the end of its last."""
    first = min(scenario.quarters, key=_quarter_code)
    last = max(scenario.quarters, key=_quarter_code)
    start_ns, _ = _quarter_days(first)
    last_ns, ndays = _quarter_days(last)
    return float(start_ns), float(last_ns) + ndays * _NS_PER_DAY


def drift_target_mask(predictions: pd.DataFrame) -> pd.Series:
    """Rows of the drift target: ``age >= 75`` and ``emphysema_grade == "severe"``.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Frame with ``age`` and ``emphysema_grade`` columns.

    Returns
    -------
    pandas.Series
        Boolean mask aligned with ``predictions``.
    """
    return (predictions["age"] >= pop.AGE_BAND_EDGES[-1]) & (predictions["emphysema_grade"] == "severe")


@dataclass(frozen=True)
class _Patients:
    """Seeded patient register (depends only on the seed, its size and the scenario's span).

    Patient ``k`` has a centre date ``origin_ns + (k + 0.5) * step_ns`` and is
    seen by cases within half a year of it; the register is ordered by centre,
    so the case mix is stationary while each patient ages consistently.
    """

    male: np.ndarray  # bool
    age_at_centre: np.ndarray  # float64 years at the patient's centre date
    emphysema_u: np.ndarray  # float64 propensity in [0, 1)
    id_offset: int
    origin_ns: float
    step_ns: float

    @property
    def size(self) -> int:
        return int(self.male.size)

    def pick(self, u: np.ndarray, local_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patients for cases at ``local_ns`` (uniform ``u``) and their ages in years then."""
        lo = (local_ns - _PATIENT_HALF_WINDOW_NS - self.origin_ns) / self.step_ns
        index = np.floor(lo + u * (2.0 * _PATIENT_HALF_WINDOW_NS / self.step_ns))
        index = np.clip(index, 0, self.size - 1).astype(np.int64)
        centre_ns = self.origin_ns + (index + 0.5) * self.step_ns
        return index, self.age_at_centre[index] + (local_ns - centre_ns) / _NS_PER_YEAR


def _patients(seed: int, cases_per_quarter: int, span_ns: tuple[float, float]) -> _Patients:
    origin_ns = span_ns[0] - _PATIENT_HALF_WINDOW_NS
    length_ns = span_ns[1] - span_ns[0] + 2.0 * _PATIENT_HALF_WINDOW_NS
    per_year = _ACTIVE_PATIENTS_PER_QUARTERLY_CASE * cases_per_quarter * _NS_PER_YEAR / (
        2.0 * _PATIENT_HALF_WINDOW_NS
    )
    size = int(min(max(1_000, math.ceil(per_year * length_ns / _NS_PER_YEAR)), _MAX_PATIENTS))
    rng = _rng(seed, _STREAM_PATIENTS)
    male = rng.random(size) < pop.MALE_FRACTION
    band = np.searchsorted(np.cumsum(pop.AGE_BAND_PROBS)[:-1], rng.random(size), side="right")
    u = rng.random(size)
    lo = np.array([pop.AGE_MIN, *pop.AGE_BAND_EDGES], dtype=float)
    hi = np.array([*pop.AGE_BAND_EDGES, pop.AGE_MAX + 1], dtype=float)
    # uniform within the younger bands, thinning with age (triangular) from 75 on
    frac = np.where(band == len(lo) - 1, 1.0 - np.sqrt(1.0 - u), u)
    age = lo[band] + frac * (hi[band] - lo[band])
    emphysema_u = rng.random(size)
    id_offset = int(rng.integers(0, 10**8))
    return _Patients(
        male=male,
        age_at_centre=age,
        emphysema_u=emphysema_u,
        id_offset=id_offset,
        origin_ns=origin_ns,
        step_ns=length_ns / size,
    )


def _kumaraswamy(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a)


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in numbers.tolist()], dtype=object)


def _days_ns(days: np.ndarray) -> np.ndarray:
    """Durations in days as whole seconds, in nanoseconds."""
    return np.round(days * 86_400).astype(np.int64) * _NS_PER_SECOND


def _local_index(utc_ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(utc_ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TIMEZONE)


def _simulate(
    scenario: DemoScenario,
    quarter: str,
    n: int,
    rng: np.random.Generator,
    patients: _Patients,
    *,
    window: tuple[float, float] = (0.0, 1.0),
    id_start: int = 0,
    id_width: int = 7,
) -> DemoData:
    """Simulate ``n`` cases of ``quarter`` within a fraction ``window`` of its working time.

    Every draw below has a fixed size, so the stream positions never depend
    on the scenario's performance parameters.
    """
    # ---- draws (fixed order, fixed sizes) ----
    u_site = rng.random(n)
    u_vendor = rng.random(n)
    u_patient = rng.random(n)
    start_ns, ndays = _quarter_days(quarter)
    total_work = ndays * _WORK_SECONDS
    w_lo = int(math.floor(window[0] * total_work))
    w_hi = max(w_lo + 1, int(math.floor(window[1] * total_work)))
    work_s = rng.integers(w_lo, w_hi, n)
    u_label = rng.random(n)
    u_call = rng.random(n)
    u_score = rng.random(n)
    u_truth = rng.random(n)
    u_source = rng.random(n)
    u_delay = rng.random(n)
    u_step = rng.random(n)  # biopsy position within the delay / treatment delay
    u_treat = rng.random(n)

    # ---- time order ----
    order = np.argsort(work_s, kind="stable")
    u_site, u_vendor, u_patient, work_s = u_site[order], u_vendor[order], u_patient[order], work_s[order]
    u_label, u_call, u_score = u_label[order], u_call[order], u_score[order]
    u_truth, u_source, u_delay, u_step, u_treat = (
        u_truth[order],
        u_source[order],
        u_delay[order],
        u_step[order],
        u_treat[order],
    )

    local_ns = start_ns + (work_s // _WORK_SECONDS) * _NS_PER_DAY + (
        _WORK_START_S + work_s % _WORK_SECONDS
    ) * np.int64(_NS_PER_SECOND)
    predicted_at = pd.DatetimeIndex(local_ns.astype("datetime64[ns]")).tz_localize(TIMEZONE)
    predicted_utc = predicted_at.asi8

    # ---- site, vendor ----
    site = np.searchsorted(np.cumsum(pop.SITE_WEIGHTS)[:-1], u_site, side="right")
    vendor_cdf = np.cumsum(pop.SITE_VENDOR_MIX, axis=1)[:, :-1]
    vendor = (u_vendor[:, None] >= vendor_cdf[site]).sum(axis=1)

    # ---- patient attributes at the scan date ----
    patient, age_years = patients.pick(u_patient, local_ns.astype(np.float64))
    sex = patients.male[patient].astype(np.int64)
    age = np.clip(np.floor(age_years), pop.AGE_MIN, pop.AGE_MAX).astype(np.int64)
    band = pop.age_band_index(age).astype(np.int64)
    emph_cdf = np.cumsum(pop.EMPHYSEMA_BY_BAND, axis=2)[:, :, :-1]
    grade = (patients.emphysema_u[patient][:, None] >= emph_cdf[sex, band]).sum(axis=1)

    # ---- label, call, score ----
    label = u_label < pop.prevalence_table()[sex, band, grade]
    se = np.full(n, pop.SENSITIVITY)
    if scenario.drift_quarter == quarter and scenario.drift_drop > 0:
        target = (band == len(pop.AGE_BAND_LABELS) - 1) & (grade == len(pop.EMPHYSEMA_GRADES) - 1)
        se[target] -= scenario.drift_drop
    call = u_call < np.where(label, se, 1.0 - pop.SPECIFICITY)
    ci, li = call.astype(np.int64), label.astype(np.int64)
    k = _kumaraswamy(u_score, _SCORE_SHAPE_A[ci, li], _SCORE_SHAPE_B[ci, li])
    t = OPERATING_THRESHOLD
    score = np.round(np.where(call, t + (1.0 - t) * k, t * k), 4)
    score = np.where(call, np.maximum(score, t), np.minimum(score, t - 1e-4))  # rounding keeps the side

    # ---- ground truth ----
    has_truth = u_truth >= np.where(label, _P_NO_TRUTH_POS, _P_NO_TRUTH_NEG)
    pos_histo = label & (u_source < _P_HISTO_POS)
    pos_follow = label & ~pos_histo
    neg_biopsy = ~label & call & (u_source < _P_BIOPSY_FALSE_POS)
    # negatives not biopsied: adjudication or long follow-up (u_source rescaled above the biopsy share)
    neg_rest = ~label & ~neg_biopsy
    u_neg = np.where(call, (u_source - _P_BIOPSY_FALSE_POS) / (1.0 - _P_BIOPSY_FALSE_POS), u_source)
    neg_adjud = neg_rest & (u_neg < _P_ADJUDICATION_NEG)
    neg_follow = neg_rest & ~neg_adjud

    delay_days = np.select(
        [pos_histo, pos_follow, neg_biopsy, neg_adjud],
        [
            7.0 + 77.0 * u_delay**1.5,  # 1-12 weeks
            91.0 + 92.0 * u_delay,  # 3-6 months
            7.0 + 35.0 * u_delay**1.5,  # 1-6 weeks
            7.0 + 49.0 * u_delay**1.3,  # 1-8 weeks
        ],
        default=274.0 + 182.0 * u_delay,  # 9-15 months (negative follow-up)
    )
    source = np.select([pos_histo | neg_biopsy, pos_follow | neg_follow], [0, 1], default=2)
    confirmed_utc = predicted_utc + _days_ns(delay_days)

    as_of_ns = scenario.as_of.value
    biopsy = pos_histo | neg_biopsy
    biopsy_utc = predicted_utc + _days_ns(delay_days * (0.6 + 0.3 * u_step))  # before the report
    treat_utc = confirmed_utc + _days_ns(7.0 + 35.0 * u_step)  # 1-6 weeks after follow-up confirmation
    treated = pos_follow & (u_treat < _P_TREATED_FOLLOW_UP_POS) & (treat_utc <= as_of_ns)
    intervention_utc = np.where(biopsy, biopsy_utc, np.where(treated, treat_utc, np.iinfo(np.int64).min))

    delivered = has_truth & (confirmed_utc <= as_of_ns)

    # ---- frames ----
    year, q = _parse_quarter(quarter)
    ids = _format_ids(f"LN-{year}Q{q}-", np.arange(id_start + 1, id_start + n + 1), id_width)
    patient_no = (patient.astype(np.int64) * _PATIENT_ID_MULTIPLIER + patients.id_offset) % 10**8
    predictions = pd.DataFrame(
        {
            "prediction_id": ids,
            "device_id": np.full(n, scenario.device_id, dtype=object),
            "model_version": np.full(n, scenario.model_version, dtype=object),
            "site_id": np.asarray(pop.SITE_IDS, dtype=object)[site],
            "predicted_at": predicted_at,
            "score": score,
            "predicted_label": call.astype(np.int64),
            "patient_id": _format_ids("P", patient_no, 8),
            "age": age,
            "sex": np.asarray(pop.SEXES, dtype=object)[sex],
            "emphysema_grade": np.asarray(pop.EMPHYSEMA_GRADES, dtype=object)[grade],
            "scanner_vendor": np.asarray(pop.SCANNER_VENDORS, dtype=object)[vendor],
        }
    )
    keep = np.flatnonzero(delivered)
    ground_truth = pd.DataFrame(
        {
            "prediction_id": ids[keep],
            "device_id": np.full(keep.size, scenario.device_id, dtype=object),
            "label": label[keep].astype(np.int64),
            "confirmed_at": _local_index(confirmed_utc[keep]),
            "source": _SOURCES[source[keep]],
            "intervention_at": _local_index(intervention_utc[keep]),
        }
    )
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=int(n - keep.size))


def _concat(parts: list[DemoData]) -> DemoData:
    if len(parts) == 1:
        return parts[0]
    return DemoData(
        predictions=pd.concat([p.predictions for p in parts], ignore_index=True),
        ground_truth=pd.concat([p.ground_truth for p in parts], ignore_index=True),
        pending=sum(p.pending for p in parts),
    )


# --------------------------------------------------------------------------- public API


def generate(scenario: DemoScenario, *, quarters: Sequence[str] | None = None) -> DemoData:
    """Generate the scenario's prediction log and delivered ground truth.

    Parameters
    ----------
    scenario : DemoScenario
        The deployment to simulate.
    quarters : sequence of str, optional
        Quarters to generate (default: all of ``scenario.quarters``). Each
        quarter's rows are identical to its rows in the full run.

    Returns
    -------
    DemoData
        Predictions (``scenario.cases_in_quarter`` rows per quarter, in time
        order within each quarter), ground truth delivered by ``scenario.as_of``
        and the number of cases still pending.

    Examples
    --------
    >>> s = DemoScenario(scale=0.001)
    >>> full, q3 = generate(s), generate(s, quarters=["2025Q3"])
    >>> len(full.predictions), len(q3.predictions)
    (1500, 300)
    >>> full.predictions.iloc[1200:].reset_index(drop=True).equals(q3.predictions)
    True
    """
    if isinstance(quarters, str):
        raise TypeError("quarters must be a sequence of quarter labels, not a string")
    selected = scenario.quarters if quarters is None else tuple(quarters)
    for q in selected:
        _parse_quarter(q)
    n = scenario.cases_in_quarter
    width = max(7, len(str(n)))
    patients = _patients(scenario.seed, n, _scenario_span_ns(scenario))
    parts = [
        _simulate(
            scenario, q, n, _rng(scenario.seed, _STREAM_QUARTER, _quarter_code(q)), patients, id_width=width
        )
        for q in dict.fromkeys(selected)
    ]
    if not parts:  # no quarter selected: empty frames with the usual columns and dtypes
        return _simulate(scenario, scenario.quarters[0], 0, _rng(scenario.seed, 0), patients)
    return _concat(parts)


def iter_prediction_chunks(
    scenario: DemoScenario, total_rows: int, *, chunk_rows: int = 200_000
) -> Iterator[DemoData]:
    """Yield ``total_rows`` synthetic cases in bounded chunks (for benchmarks).

    The rows are spread evenly over ``scenario.quarters`` (``cases_per_quarter``
    and ``scale`` are ignored); each quarter is cut into consecutive time
    slices of at most ``chunk_rows`` cases, each drawn from its own seeded
    stream, so memory stays bounded by one chunk plus the patient register
    (at most four million patients). Prediction ids are unique across chunks;
    the rows differ from :func:`generate`'s.

    Parameters
    ----------
    scenario : DemoScenario
        Seed, quarters, drift and ``as_of`` to use.
    total_rows : int
        Total number of cases over all chunks.
    chunk_rows : int, default 200_000
        Upper bound on the rows of one chunk.

    Yields
    ------
    DemoData
        One chunk: its predictions, their delivered ground truth and pending count.
    """
    if total_rows < 0:
        raise ValueError(f"total_rows must be non-negative, got {total_rows}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    k = len(scenario.quarters)
    per_quarter = [total_rows // k + (1 if i < total_rows % k else 0) for i in range(k)]
    width = max(7, len(str(max(per_quarter))))
    patients = _patients(scenario.seed, max(per_quarter), _scenario_span_ns(scenario))
    for quarter, n_q in zip(scenario.quarters, per_quarter, strict=True):
        n_chunks = -(-n_q // chunk_rows)
        code = _quarter_code(quarter)
        for c in range(n_chunks):
            lo, hi = c * n_q // n_chunks, (c + 1) * n_q // n_chunks
            yield _simulate(
                scenario,
                quarter,
                hi - lo,
                _rng(scenario.seed, _STREAM_CHUNK, code, c),
                patients,
                window=(lo / n_q, hi / n_q),
                id_start=lo,
                id_width=width,
            )
