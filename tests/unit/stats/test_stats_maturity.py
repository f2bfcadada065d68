"""Label maturity (monitor.stats.maturity): window rule, completeness rule, counts, delays."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from monitor.stats.maturity import MaturitySummary, maturity_summary, mostly_pending
from monitor.stats.survival import durations_from_timestamps, time_to_event_summary

CUTOFF = np.datetime64("2024-07-01T00:00", "ns")


def _days_before(cutoff: np.datetime64, days: np.ndarray) -> np.ndarray:
    return cutoff - (np.asarray(days, dtype=np.float64) * 86_400e9).astype("timedelta64[ns]")


def _cohort(
    seed: int, n: int, oldest_days: float, youngest_days: float, mean_delay: float
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions spread over [cutoff - oldest, cutoff - youngest]; labels after an exponential delay."""
    rng = np.random.default_rng(seed)
    pred = _days_before(CUTOFF, rng.uniform(youngest_days, oldest_days, n))
    delay = (rng.exponential(mean_delay, n) * 86_400e9).astype("timedelta64[ns]")
    conf = pred + delay
    conf = np.where(conf <= CUTOFF, conf, np.datetime64("NaT"))  # not known at the cut-off
    return pred, conf


# ---------------------------------------------------------------------------- rules


def test_window_rule_makes_old_cohort_mature_despite_pending_labels() -> None:
    pred, conf = _cohort(1, 500, oldest_days=500, youngest_days=400, mean_delay=600)
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.completeness < 0.95
    assert s.mature is True
    assert s.reason.startswith("mature: age") and "window 365 d" in s.reason


def test_completeness_rule_makes_young_cohort_mature() -> None:
    pred, conf = _cohort(2, 500, oldest_days=120, youngest_days=90, mean_delay=5)
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.completeness >= 0.95
    assert s.mature is True
    assert s.reason.startswith("mature: completeness")


def test_neither_rule_is_provisional() -> None:
    pred, conf = _cohort(3, 500, oldest_days=90, youngest_days=1, mean_delay=120)
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.mature is False
    assert s.reason.startswith("provisional:")
    assert "< window 365 d" in s.reason and "< 0.950" in s.reason


def test_rules_use_greater_or_equal() -> None:
    pred = _days_before(CUTOFF, [400.0, 365.0])  # youngest case exactly 365 days old
    conf = np.array(["NaT", "NaT"], dtype="datetime64[ns]")
    assert maturity_summary(pred, conf, CUTOFF, window_days=365).mature is True
    assert maturity_summary(pred, conf, CUTOFF, window_days=366).mature is False
    # 19 of 20 labelled = 0.95 exactly.
    pred = _days_before(CUTOFF, np.full(20, 10.0))
    conf = np.where(np.arange(20) < 19, pred + np.timedelta64(1, "D"), np.datetime64("NaT"))
    s = maturity_summary(pred, conf, CUTOFF, window_days=365, completeness_threshold=0.95)
    assert s.completeness == 0.95 and s.mature is True


def test_cohort_age_is_that_of_the_youngest_case() -> None:
    pred = _days_before(CUTOFF, [1000.0, 10.0])
    conf = np.array(["NaT", "NaT"], dtype="datetime64[ns]")
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.mature is False and "age 10.0 d" in s.reason


# ---------------------------------------------------------------------------- counts


def test_pending_counts_include_missing_and_post_cutoff_labels() -> None:
    pred = np.array(
        ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], dtype="datetime64[ns]"
    )
    conf = np.array(["2024-02-01", "NaT", "2024-08-01", "2024-07-01", "NaT"], dtype="datetime64[ns]")
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    # labelled: 2024-02-01 and exactly at the cut-off; pending: two NaT and one after the cut-off
    assert (s.predictions, s.labelled, s.pending) == (5, 2, 3)
    assert s.completeness == pytest.approx(0.4)


def test_pandas_series_with_nat_and_strings() -> None:
    pred = pd.Series(pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03"]))
    conf = pd.Series([pd.Timestamp("2024-05-10"), pd.NaT, None])
    s = maturity_summary(pred, conf, "2024-07-01", window_days=30)
    assert (s.labelled, s.pending) == (1, 2)
    assert s.mature is True  # youngest case is 59 days old


def test_empty_cohort() -> None:
    s = maturity_summary([], [], CUTOFF, window_days=365)
    assert isinstance(s, MaturitySummary)
    assert (s.predictions, s.labelled, s.pending) == (0, 0, 0)
    assert math.isnan(s.completeness) and math.isnan(s.median_delay_days) and math.isnan(s.p90_delay_days)
    assert s.mature is False and s.reason == "no predictions"


# ---------------------------------------------------------------------------- delays


def test_delay_quantiles_are_kaplan_meier_with_pending_censored() -> None:
    lifelines = pytest.importorskip("lifelines")
    pred, conf = _cohort(4, 800, oldest_days=200, youngest_days=0, mean_delay=60)
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    d, e = durations_from_timestamps(pred, conf, CUTOFF)
    ref = time_to_event_summary(d, e)
    assert s.median_delay_days == ref.median and s.p90_delay_days == pytest.approx(ref.p90, nan_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf = lifelines.KaplanMeierFitter().fit(d, e)
        assert s.median_delay_days == pytest.approx(float(kmf.percentile(0.5)), abs=1e-9)
    # Among labelled cases only, the delay looks shorter: the slow labels are still pending.
    naive_median = float(np.median(d[e == 1]))
    assert naive_median < s.median_delay_days
    true_median = 60.0 * math.log(2.0)
    assert abs(s.median_delay_days - true_median) < abs(naive_median - true_median)


def test_delays_when_all_labelled_are_sample_quantiles() -> None:
    pred = _days_before(CUTOFF, np.full(10, 100.0))
    conf = pred + (np.arange(1, 11) * 86_400e9).astype("timedelta64[ns]")  # 1..10 days
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.completeness == 1.0
    assert s.median_delay_days == pytest.approx(5.5)  # ordinary sample median
    assert s.p90_delay_days == pytest.approx(9.5)  # R quantile.survfit convention


def test_delay_not_yet_known_when_mostly_pending() -> None:
    pred = _days_before(CUTOFF, np.full(10, 30.0))
    conf = np.where(np.arange(10) < 3, pred + np.timedelta64(5, "D"), np.datetime64("NaT"))
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert s.labelled == 3
    assert math.isnan(s.median_delay_days) and math.isnan(s.p90_delay_days)


# ---------------------------------------------------------------------- mostly pending


def test_mostly_pending() -> None:
    pred = _days_before(CUTOFF, np.full(10, 30.0))
    conf = np.where(np.arange(10) < 3, pred + np.timedelta64(5, "D"), np.datetime64("NaT"))
    s = maturity_summary(pred, conf, CUTOFF, window_days=365)
    assert mostly_pending(s) is True
    assert mostly_pending(s, threshold=0.7) is False  # 7 of 10 is not more than 70%
    assert mostly_pending(s, threshold=0.69) is True
    half = MaturitySummary(10, 5, 5, 0.5, math.nan, math.nan, False, "provisional")
    assert mostly_pending(half) is False  # exactly half is not "mostly"
    empty = maturity_summary([], [], CUTOFF, window_days=365)
    assert mostly_pending(empty) is False
    with pytest.raises(ValueError):
        mostly_pending(s, threshold=1.5)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("pred", "conf", "kwargs"),
    [
        (["2024-03-01"], ["2024-02-01"], {"window_days": 365}),  # label before prediction
        (["2024-08-01"], [None], {"window_days": 365}),  # prediction after cut-off
        (["2024-03-01"], [None], {"window_days": -1}),
        (["2024-03-01"], [None], {"window_days": 30.5}),
        (["2024-03-01"], [None], {"window_days": 365, "completeness_threshold": 0.0}),
        (["2024-03-01"], [None], {"window_days": 365, "completeness_threshold": 1.1}),
    ],
)
def test_invalid_input_raises(pred: list[str], conf: list[str | None], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        maturity_summary(pred, conf, "2024-07-01", **kwargs)
