"""Data drift rows and the fixed baseline (monitor.domain.data_drift): no reference is never "not drifted",
every compared row carries the effect-size floor and the reason that decided it, and the baseline windows
resolve as configured. Oracles: scipy (Jensen-Shannon), statsmodels (two-proportion z test)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance
from statsmodels.stats.proportion import proportions_ztest

from monitor.domain.data_drift import (
    MODEL_VERSION_START,
    REASONS,
    baseline_period,
    baseline_windows,
    drift_comparison,
    drift_of_feature,
    drift_of_rate,
    effect_floor,
    period_containing,
)
from monitor.domain.periods import Period
from monitor.errors import ConfigError

SITES = pd.DataFrame({"value": ["a", "b", "c"], "n": [500, 300, 200]})
EMPTY = SITES.iloc[0:0]


def test_no_reference_is_not_compared_rather_than_not_drifted() -> None:
    row = drift_of_feature("site_id", "categorical", EMPTY, SITES)
    assert row["drifted"] is None and row["reason"] == "no_reference"
    assert (row["reference_n"], row["current_n"]) == (0, 1000)
    assert row["method"] is row["value"] is row["threshold"] is row["effect_floor"] is row["effect_size"] is None
    assert drift_of_feature("site_id", "categorical", SITES, EMPTY)["reason"] == "no_current_cases"
    assert drift_of_feature("site_id", "categorical", EMPTY, EMPTY)["reason"] == "no_reference"
    rate = drift_of_rate("confirmed_prevalence", (0, 0), (12, 100))
    assert rate["drifted"] is None and rate["reason"] == "no_reference" and rate["kind"] == "rate"
    assert drift_of_rate("confirmed_prevalence", (12, 100), (0, 0))["reason"] == "no_current_cases"


def test_a_distance_row_carries_its_threshold_as_the_floor() -> None:
    shifted = SITES.assign(n=[200, 300, 500])
    row = drift_of_feature("site_id", "categorical", SITES, shifted)
    expected = distance.jensenshannon([0.5, 0.3, 0.2], [0.2, 0.3, 0.5])
    assert row["value"] == pytest.approx(expected, abs=1e-12) and row["effect_size"] == row["value"]
    assert row["drifted"] is True and row["reason"] == "distance_reached_threshold"
    assert row["effect_floor"] == row["threshold"] == 0.1
    close = drift_of_feature("site_id", "categorical", SITES, SITES.assign(n=[480, 310, 210]))
    assert close["drifted"] is False and close["reason"] == "distance_below_threshold"


@pytest.mark.parametrize(
    ("reference", "current", "reason", "drifted"),
    [
        ((100_000, 1_000_000), (101_000, 1_000_000), "significant_effect_below_floor", False),  # p ~ 0.01
        ((100, 1_000), (150, 1_000), "significant_effect_reached_floor", True),
        ((100, 1_000), (110, 1_000), "not_significant", False),
    ],
)
def test_a_rate_row_names_the_floor_and_the_reason(reference, current, reason, drifted) -> None:  # type: ignore[no-untyped-def]
    row = drift_of_rate("positive_call_rate", reference, current)
    _, p = proportions_ztest([current[0], reference[0]], [current[1], reference[1]])
    assert row["value"] == pytest.approx(p, rel=1e-9)
    assert row["effect_size"] == pytest.approx(current[0] / current[1] - reference[0] / reference[1], abs=1e-15)
    assert (row["reason"], row["drifted"], row["effect_floor"], row["threshold"]) == (reason, drifted, 0.02, 0.05)


def test_the_stated_reason_always_agrees_with_the_verdict() -> None:
    rng = np.random.default_rng(19)
    for _ in range(300):
        ref, cur = rng.integers(0, 400, 4), rng.integers(0, 400, 4)
        row = drift_of_feature("x", "numeric", pd.DataFrame({"value": [1, 2, 3, 4], "n": ref}),
                               pd.DataFrame({"value": [1, 2, 3, 4], "n": cur}))
        assert REASONS[row["reason"]] is row["drifted"]
        n_ref, n_cur = int(rng.integers(0, 5_000)), int(rng.integers(0, 5_000))
        k_ref, k_cur = int(rng.integers(0, n_ref + 1)), int(rng.integers(0, n_cur + 1))
        rate = drift_of_rate("r", (k_ref, n_ref), (k_cur, n_cur))
        assert REASONS[rate["reason"]] is rate["drifted"]


def test_effect_floors_by_method() -> None:
    assert effect_floor("chisquare", 0.05) == 0.05 and effect_floor("two-proportion-z", 0.05) == 0.02
    assert effect_floor("psi", 0.25) == 0.25 and effect_floor("wasserstein", 0.1) == 0.1


def test_a_persisting_shift_against_the_preceding_window_and_the_baseline() -> None:
    """The pure form of the integration test: quarter 1 is the baseline, the shift starts in quarter 2."""
    before, after = SITES, SITES.assign(n=[150, 300, 550])
    quarter_2 = (drift_of_feature("site_id", "categorical", before, after),  # preceding = baseline = Q1
                 drift_of_feature("site_id", "categorical", before, after))
    quarter_3 = (drift_of_feature("site_id", "categorical", after, after),  # preceding = Q2 (shifted too)
                 drift_of_feature("site_id", "categorical", before, after))  # baseline = Q1
    assert [r["drifted"] for r in quarter_2] == [True, True]
    assert [r["drifted"] for r in quarter_3] == [False, True]


# --------------------------------------------------------------------------- the baseline windows
Q3 = Period.parse("2025Q3")


def test_no_baseline_configured_gives_no_window() -> None:
    assert baseline_windows(None, Q3, {"2.1.0": date(2025, 1, 2)}) == []


@pytest.mark.parametrize(
    ("baseline", "label"),
    [("2025-Q1", "2025Q1"), ("2025q1", "2025Q1"), ("2025-02", "2025-02"), ("2025Q3", None), ("2025Q4", None),
     ("2025", None), ("2024", "2024"), ("2025-01-01..2025-02-15", "2025-01-01..2025-02-15")],
)
def test_a_fixed_baseline_is_used_only_when_it_ends_before_the_period(baseline: str, label: str | None) -> None:
    (window,) = baseline_windows(baseline, Q3, {})
    assert window.baseline == baseline_period(baseline).label and window.model_versions == ()
    assert (window.period.label if window.period else None) == label


def test_model_version_start_is_each_versions_first_period() -> None:
    first = {"2.2.0": date(2025, 8, 20), "2.1.0": date(2024, 11, 3), "2.1.1": date(2024, 12, 30)}
    windows = baseline_windows(MODEL_VERSION_START, Q3, first)
    assert [(w.period.label if w.period else None, w.model_versions) for w in windows] == [
        ("2024Q4", ("2.1.0", "2.1.1")), (None, ("2.2.0",))]
    monthly = baseline_windows(MODEL_VERSION_START, Period.parse("2025-09"), first)
    assert [w.period.label if w.period else None for w in monthly] == ["2024-11", "2024-12", "2025-08"]


def test_period_containing_and_an_unreadable_baseline() -> None:
    assert period_containing(date(2024, 12, 31), "quarter").label == "2024Q4"
    assert period_containing(date(2024, 12, 31), "window").label == "2024Q4"
    assert period_containing(date(2024, 12, 31), "year").label == "2024"
    with pytest.raises(ConfigError, match="drift_baseline"):
        baseline_windows("last quarter", Q3, {})


def test_a_comparison_without_a_window_has_no_bounds() -> None:
    row = drift_of_feature("site_id", "categorical", EMPTY, SITES)
    empty = drift_comparison("baseline", [row], periods=[], start_utc="2025-06-30T16:00:00Z",
                             end_utc="2025-06-30T16:00:00Z", baseline="2025Q3")
    assert empty == {"reference": "baseline", "baseline": "2025Q3", "model_versions": [], "periods": [],
                     "start_utc": None, "end_utc": None, "rows": [row]}
    with pytest.raises(ValueError, match="reference"):
        drift_comparison("previous", [], periods=[], start_utc=None, end_utc=None)
