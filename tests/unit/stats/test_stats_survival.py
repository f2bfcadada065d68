"""Kaplan-Meier time-to-event summaries (monitor.stats.survival) against oracles.

What is compared with what:

* point estimates (median, 90th percentile, 1 - S(sla)) against lifelines
  ``KaplanMeierFitter`` (``median_survival_time_``, ``percentile``,
  ``survival_function_at_times``) to 1e-9, on data where the KM curve never sits
  exactly on 0.5 / 0.1 (on such a flat the conventions differ, tested separately);
* the within-SLA interval against lifelines' ``confidence_interval_survival_function_``
  (exponential Greenwood = log-log) at the SLA, to 1e-9;
* quantile intervals: lifelines has no Brookmeyer-Crowley quantile interval of its
  own; inverting its log-log band with ``median_survival_times`` /
  ``qth_survival_time`` gives the same limits on continuous data (checked to 1e-9);
  the absolute oracles are R ``survival`` printed output (lung data by sex,
  ``conf.type = "log-log"``) and SAS PROC LIFETEST's documented BMT example (the
  one statsmodels tests against).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from monitor.stats.survival import (
    TimeToEventSummary,
    _fit,
    _km_quantile_ci,
    durations_from_timestamps,
    time_to_event_summary,
)

lifelines = pytest.importorskip("lifelines")
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.datasets import load_lung  # noqa: E402
from lifelines.utils import qth_survival_time  # noqa: E402

# SAS/STAT User's Guide, PROC LIFETEST, Example "Enhanced Survival Plot and
# Multiple-Comparison Adjustments": BMT data (Klein & Moeschberger 1997), group ALL.
# The same rows are statsmodels' duration/tests/results/bmt.csv (Group == "ALL").
BMT_ALL_T = [
    2081, 1602, 1496, 1462, 1433, 1377, 1330, 996, 226, 1199, 1111, 530, 1182, 1167, 418,
    383, 276, 104, 609, 172, 487, 662, 194, 230, 526, 122, 129, 74, 122, 86,
    466, 192, 109, 55, 1, 107, 110, 332,
]  # fmt: skip
BMT_ALL_STATUS = [0] * 14 + [1] * 24


def _kmf(durations: np.ndarray, observed: np.ndarray) -> KaplanMeierFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KaplanMeierFitter().fit(durations, observed)


def _lifelines_quantile(kmf: KaplanMeierFitter, q_surv: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(kmf.percentile(q_surv))
    return math.nan if math.isinf(value) else value


def _random_sample(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous times (days) with independent uniform censoring: no exact ties at a level."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    event = rng.exponential(30.0, n)
    censor = rng.uniform(0.0, 150.0, n)
    return np.minimum(event, censor), (event <= censor).astype(np.int64)


# --------------------------------------------------------------------------- lifelines


@pytest.mark.parametrize("seed", range(25))
def test_point_estimates_match_lifelines(seed: int) -> None:
    d, e = _random_sample(seed)
    sla = 25.0
    s = time_to_event_summary(d, e, sla=sla)
    kmf = _kmf(d, e)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy()
    # Precondition for a convention-free comparison: no KM value on a quantile level.
    assert np.min(np.abs(surv - 0.5)) > 1e-9 and np.min(np.abs(surv - 0.1)) > 1e-9
    lifelines_median = _lifelines_quantile(kmf, 0.5)
    lifelines_p90 = _lifelines_quantile(kmf, 0.1)
    assert s.median == pytest.approx(lifelines_median, abs=1e-9, nan_ok=True)
    assert s.p90 == pytest.approx(lifelines_p90, abs=1e-9, nan_ok=True)
    lifelines_within = 1.0 - float(kmf.survival_function_at_times(sla).iloc[0])
    assert s.within_sla == pytest.approx(lifelines_within, abs=1e-9)
    assert (s.n, s.events, s.censored) == (d.size, int(e.sum()), int(d.size - e.sum()))


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("confidence", [0.95, 0.80])
def test_within_sla_ci_matches_lifelines_exponential_greenwood(seed: int, confidence: float) -> None:
    d, e = _random_sample(seed)
    sla = 25.0
    s = time_to_event_summary(d, e, sla=sla, confidence=confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf = KaplanMeierFitter(alpha=1.0 - confidence).fit(d, e)
    band = kmf.confidence_interval_survival_function_
    row = band.loc[:sla].iloc[-1]  # the step in force at t = sla
    s_lower, s_upper = float(row.iloc[0]), float(row.iloc[1])
    assert s.within_sla_ci[0] == pytest.approx(1.0 - s_upper, abs=1e-9)
    assert s.within_sla_ci[1] == pytest.approx(1.0 - s_lower, abs=1e-9)
    assert s.within_sla_ci[0] <= s.within_sla <= s.within_sla_ci[1]


@pytest.mark.parametrize("seed", range(25))
def test_quantile_ci_equals_inverted_lifelines_band(seed: int) -> None:
    """Brookmeyer-Crowley test inversion = crossing times of the log-log band (R's rule)."""
    d, e = _random_sample(seed)
    s = time_to_event_summary(d, e)
    kmf = _kmf(d, e)
    band = kmf.confidence_interval_
    lower_band, upper_band = band.iloc[:, 0], band.iloc[:, 1]
    for (lo, hi), level in ((s.median_ci, 0.5), (s.p90_ci, 0.1)):
        expected_lo = qth_survival_time(level, lower_band)
        expected_hi = qth_survival_time(level, upper_band)
        if math.isinf(expected_lo):
            assert math.isnan(lo)
        else:
            assert lo == pytest.approx(expected_lo, abs=1e-9)
        if math.isinf(expected_hi):
            assert math.isinf(hi) or math.isnan(hi)
        else:
            assert hi == pytest.approx(expected_hi, abs=1e-9)


# --------------------------------------------------------------------- R and SAS values


@pytest.mark.parametrize(
    ("sex", "n", "events", "median", "lcl", "ucl"),
    [(1, 138, 112, 270, 210, 306), (2, 90, 53, 426, 345, 524)],
)
def test_median_ci_matches_r_survival_loglog(
    sex: int, n: int, events: int, median: float, lcl: float, ucl: float
) -> None:
    """R: ``survfit(Surv(time, status == 2) ~ sex, data = lung, conf.type = "log-log")``.

    Printed output (survival package, lung data) as published in a public R blog post
    found with the search tool: sex=1 138 112 270 210 306; sex=2 90 53 426 345 524.
    lifelines' ``load_lung`` is R's ``survival::lung`` with status recoded to 0/1.
    """
    lung = load_lung()
    part = lung[lung["sex"] == sex]
    s = time_to_event_summary(part["time"].to_numpy(), part["status"].to_numpy())
    assert (s.n, s.events) == (n, events)
    assert s.median == median
    assert s.median_ci == (lcl, ucl)


def test_median_matches_r_survival_default_log_interval() -> None:
    """R: ``survfit(Surv(time, status) ~ 1, data = lung)`` prints 228 165 310 285 363 (log CI).

    Our summary uses the log-log transform; the same statsmodels test inversion with
    ``method="log"`` reproduces R's default interval, i.e. the inversion is R's rule.
    """
    lung = load_lung()
    t, e = lung["time"].to_numpy(), lung["status"].to_numpy()
    s = time_to_event_summary(t, e)
    assert (s.n, s.events, s.median) == (228, 165, 310)
    assert _fit(t, e).quantile_ci(0.5, method="log") == (285, 363)


def test_first_quartile_ci_matches_sas_bmt_example() -> None:
    """SAS PROC LIFETEST documentation (statsmodels' own test): ALL group, 25th
    percentile, CONFTYPE=LOGLOG -> [86, 230]."""
    sf = _fit(np.array(BMT_ALL_T, dtype=float), np.array(BMT_ALL_STATUS))
    assert _km_quantile_ci(sf, 0.25, 0.95) == (86.0, 230.0)


# ------------------------------------------------------------------ quantile conventions


@pytest.mark.parametrize("n", [2, 4, 6, 10, 12, 20, 40, 100])
def test_uncensored_median_is_the_sample_median(n: int) -> None:
    """On a flat exactly at 0.5 the midpoint is used (R, SAS); floating-point KM products
    (0.5000000000000001 or 0.49999999999999994) must not change the answer."""
    t = np.arange(1.0, n + 1.0)
    s = time_to_event_summary(t, np.ones(n))
    assert s.median == pytest.approx(float(np.median(t)), abs=1e-12)


def test_p90_flat_uses_midpoint_like_r() -> None:
    # 1..10 uncensored: S = 0.1 exactly on [9, 10): R quantile(..., 0.9) = 9.5.
    s = time_to_event_summary(np.arange(1.0, 11.0), np.ones(10))
    assert s.p90 == 9.5


def test_flat_on_last_step_runs_to_end_of_follow_up() -> None:
    # S = 0.5 from t = 2 until the last (censored) time 4: midpoint (2 + 4) / 2 (R rule).
    s = time_to_event_summary([1, 2, 3, 4], [1, 1, 0, 0])
    assert s.median == 3.0


def test_lifelines_convention_differs_only_on_exact_flats() -> None:
    d = np.arange(1.0, 11.0)
    kmf = _kmf(d, np.ones(10))
    # lifelines: first t with S(t) <= 0.5, here 5; we (and R / SAS) give 5.5.
    assert _lifelines_quantile(kmf, 0.5) == 5.0
    assert time_to_event_summary(d, np.ones(10)).median == 5.5


# ------------------------------------------------------------------------ censoring


def test_censoring_handled_by_hand_computed_km() -> None:
    # times 1 2 3 4 5 6, events at 1, 3, 4, 6; censored at 2 and 5.
    # S: 1 -> 5/6; 3 -> 5/6 * 3/4 = 0.625; 4 -> 0.625 * 2/3 = 0.41667; 6 -> 0.
    s = time_to_event_summary([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1], sla=3.5)
    assert (s.n, s.events, s.censored) == (6, 4, 2)
    assert s.median == 4.0
    assert s.p90 == 6.0
    assert s.within_sla == pytest.approx(1 - 0.625, abs=1e-12)
    # Dropping the censored cases would give a different (wrong) answer.
    naive = time_to_event_summary([1, 3, 4, 6], [1, 1, 1, 1], sla=3.5)
    assert naive.within_sla == pytest.approx(0.5)


def test_median_not_reached_gives_nan_and_open_interval() -> None:
    # Everyone still waiting is censored at day 45; S(45) ~ 0.53 > 0.5: median not reached,
    # but the log-log band already dips below 0.5, so the lower limit is known (upper: inf).
    rng = np.random.default_rng(1)
    event = rng.exponential(70.0, 300)
    censor = np.full(300, 45.0)
    s = time_to_event_summary(np.minimum(event, censor), (event <= censor).astype(int), sla=30)
    assert math.isnan(s.median) and math.isnan(s.p90)
    assert 0.0 < s.median_ci[0] < 45.0 and math.isinf(s.median_ci[1])
    assert all(math.isnan(x) for x in s.p90_ci)  # 0.1 is nowhere inside the band
    assert 0.0 < s.within_sla < 1.0


def test_all_censored() -> None:
    s = time_to_event_summary([3.0, 5.0, 8.0], [0, 0, 0], sla=4)
    assert (s.n, s.events, s.censored) == (3, 0, 3)
    assert math.isnan(s.median) and math.isnan(s.p90)
    assert all(math.isnan(x) for x in (*s.median_ci, *s.p90_ci))
    # No event by the SLA: estimate 0 with the degenerate Greenwood interval (as R / lifelines).
    assert s.within_sla == 0.0 and s.within_sla_ci == (0.0, 0.0)


def test_no_data_gives_nan() -> None:
    s = time_to_event_summary([], [], sla=10)
    assert isinstance(s, TimeToEventSummary)
    assert (s.n, s.events, s.censored) == (0, 0, 0)
    for value in (s.median, s.p90, s.within_sla, *s.median_ci, *s.p90_ci, *s.within_sla_ci):
        assert math.isnan(value)
    assert s.sla == 10.0


def test_within_sla_not_identified_beyond_follow_up() -> None:
    s = time_to_event_summary([1, 2, 3, 10], [1, 0, 1, 0], sla=30)
    assert math.isnan(s.within_sla) and all(math.isnan(x) for x in s.within_sla_ci)
    # Curve already at 0: P(T <= sla) = 1 at any later sla.
    s = time_to_event_summary([1, 2, 3], [1, 1, 1], sla=30)
    assert s.within_sla == 1.0 and s.within_sla_ci == (1.0, 1.0)


def test_sla_none_and_before_first_event() -> None:
    s = time_to_event_summary([5, 6, 7], [1, 1, 1])
    assert s.sla is None and math.isnan(s.within_sla)
    s = time_to_event_summary([5, 6, 7], [1, 1, 1], sla=2)
    assert s.within_sla == 0.0


def test_booleans_and_pandas_accepted() -> None:
    d = pd.Series([1.0, 2.0, 3.0, 4.0])
    e = pd.Series([True, False, True, True])
    assert time_to_event_summary(d, e).events == 3


@pytest.mark.parametrize(
    ("durations", "observed", "kwargs"),
    [
        ([1, -2], [1, 1], {}),
        ([1, math.nan], [1, 1], {}),
        ([1, 2], [1, 2], {}),
        ([1, 2], [1], {}),
        ([1, 2], [1, 1], {"confidence": 1.0}),
        ([1, 2], [1, 1], {"sla": math.inf}),
    ],
)
def test_invalid_input_raises(
    durations: list[float], observed: list[int], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        time_to_event_summary(durations, observed, **kwargs)


def test_within_sla_interval_coverage_by_simulation() -> None:
    """Pointwise log-log interval for F(sla): coverage close to 95% (n = 150, 30% censored)."""
    rng = np.random.default_rng(20240611)
    scale, sla, reps, n = 40.0, 30.0, 600, 150
    truth = 1.0 - math.exp(-sla / scale)
    hits = 0
    for _ in range(reps):
        event = rng.exponential(scale, n)
        censor = rng.uniform(0.0, 200.0, n)
        s = time_to_event_summary(np.minimum(event, censor), (event <= censor).astype(int), sla=sla)
        hits += s.within_sla_ci[0] <= truth <= s.within_sla_ci[1]
    assert 0.93 <= hits / reps <= 0.97


# ----------------------------------------------------------------- timestamps to days


def test_durations_from_timestamps_censor_at_cutoff() -> None:
    start = np.array(
        ["2024-01-01T00:00", "2024-01-01T00:00", "2024-01-10T00:00", "2024-01-20T06:00"], dtype="datetime64[ns]"
    )
    end = np.array(
        ["2024-01-03T12:00", "NaT", "2024-03-01T00:00", "2024-02-01T00:00"], dtype="datetime64[ns]"
    )
    d, e = durations_from_timestamps(start, end, np.datetime64("2024-02-01T00:00"))
    # event; missing -> censored; after cut-off -> censored; exactly at cut-off -> event
    assert e.tolist() == [1, 0, 0, 1]
    assert d.tolist() == pytest.approx([2.5, 31.0, 22.0, 11.75])
    assert d.dtype == np.float64 and e.dtype == np.int64


def test_durations_from_timestamps_pandas_and_timezones() -> None:
    start = pd.Series(pd.to_datetime(["2024-01-01 01:00", "2024-01-02 01:00"]).tz_localize("Europe/Berlin"))
    end = pd.Series([pd.Timestamp("2024-01-02 01:00", tz="Europe/Berlin"), pd.NaT])
    d, e = durations_from_timestamps(start, end, pd.Timestamp("2024-01-05 00:00", tz="UTC"))
    assert e.tolist() == [1, 0]
    # 01:00 Berlin = 00:00 UTC: exactly 3 days to the UTC cut-off (2.958 if the zone were ignored)
    assert d.tolist() == pytest.approx([1.0, 3.0], abs=1e-12)


def test_durations_from_timestamps_empty() -> None:
    d, e = durations_from_timestamps([], [], "2024-01-01")
    assert d.size == 0 and e.size == 0
    assert math.isnan(time_to_event_summary(d, e).median)


@pytest.mark.parametrize(
    ("start", "end", "cutoff"),
    [
        (["2024-01-05"], ["2024-01-01"], "2024-02-01"),  # end before start
        (["2024-03-01"], [None], "2024-02-01"),  # start after cut-off
        ([None], ["2024-01-01"], "2024-02-01"),  # missing start
        (["2024-01-01", "2024-01-02"], [None], "2024-02-01"),  # length mismatch
        (["not a date"], [None], "2024-02-01"),
        (["2024-01-01"], [None], None),  # missing cut-off
    ],
)
def test_durations_from_timestamps_invalid(
    start: list[str | None], end: list[str | None], cutoff: str | None
) -> None:
    with pytest.raises(ValueError):
        durations_from_timestamps(start, end, cutoff)


@pytest.mark.parametrize("seed", range(40))
def test_counts_give_the_summary_of_the_repeated_cases(seed: int) -> None:
    """A table of (days, event flag, count) gives exactly (bit for bit) the summary of its rows
    repeated ``count`` times: the analysis reads day-count tables from the database."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 80))
    days = rng.integers(0, int(rng.integers(2, 400)), k).astype(float)
    observed = (rng.random(k) < rng.random()).astype(int)
    counts = rng.integers(0, int(rng.choice([2, 10, 5000])), k)
    for sla in (None, 30.0, 1000.0):
        repeated = time_to_event_summary(np.repeat(days, counts), np.repeat(observed, counts), sla=sla)
        tabled = time_to_event_summary(days, observed, sla=sla, counts=counts)
        assert repr(tabled) == repr(repeated)


def test_counts_must_be_whole_non_negative_numbers() -> None:
    with pytest.raises(ValueError, match="counts"):
        time_to_event_summary([1.0, 2.0], [1, 0], counts=[1, -1])
    with pytest.raises(ValueError, match="counts"):
        time_to_event_summary([1.0, 2.0], [1, 0], counts=[1.5, 1.0])
    assert time_to_event_summary([1.0, 2.0], [1, 0], counts=[0, 0]).n == 0


@pytest.mark.parametrize("seed", range(20))
def test_counted_fit_equals_statsmodels_on_the_repeated_cases(seed: int) -> None:
    """The fit from a count table is statsmodels' public ``SurvfuncRight`` of the repeated cases, number for
    number: curve, Greenwood errors, risk sets, and the Brookmeyer-Crowley interval of several quantiles."""
    from statsmodels.duration.survfunc import SurvfuncRight

    from monitor.stats.survival import _fit_counts

    rng = np.random.default_rng(1000 + seed)
    k = int(rng.integers(1, 60))
    days = rng.integers(0, int(rng.integers(2, 300)), k).astype(float)
    observed = (rng.random(k) < rng.random()).astype(np.int64)
    counts = rng.integers(0, int(rng.choice([2, 10, 3000])), k).astype(np.int64)
    if counts.sum() == 0:
        counts[0] = 1
    reference = SurvfuncRight(np.repeat(days, counts), np.repeat(observed, counts))
    counted = _fit_counts(days, observed, counts)
    for name in ("surv_times", "surv_prob", "surv_prob_se", "n_risk", "n_events"):
        np.testing.assert_array_equal(getattr(counted, name), np.asarray(getattr(reference, name), dtype=float))
    with np.errstate(all="ignore"):
        for p in (0.25, 0.5, 0.9):
            for alpha in (0.05, 0.1):
                np.testing.assert_array_equal(counted.quantile_ci(p, alpha), reference.quantile_ci(p, alpha))


def test_no_private_statsmodels_construction() -> None:
    """Kaplan-Meier goes through statsmodels' public constructor only (no ``object.__new__`` of its class)."""
    import inspect

    from monitor.stats import survival

    assert "__new__" not in inspect.getsource(survival)
