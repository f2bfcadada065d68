"""Stratified counts and rates cross-checked against fairlearn's MetricFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairlearn.metrics as fairlearn_metrics
import sklearn.metrics as sklearn_metrics

from monitor.stats.cells import confusion_cells, marginal_counts
from monitor.stats.metrics import estimate, metric_fraction


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    rng = np.random.default_rng(2024)
    n = 4000
    frame = pd.DataFrame(
        {
            "vendor": rng.choice(["GE", "Siemens", "Philips", "Canon"], size=n),
            "age_band": rng.choice(["<50", "50-75", ">75"], size=n, p=[0.2, 0.5, 0.3]),
            "label": rng.binomial(1, 0.15, size=n),
        }
    )
    se = np.where(frame["age_band"] == ">75", 0.85, 0.92)
    sp = np.where(frame["vendor"] == "Canon", 0.80, 0.90)
    p_call = np.where(frame["label"] == 1, se, 1 - sp)
    frame["predicted_label"] = rng.binomial(1, p_call)
    return frame


def _metric_frame(cases: pd.DataFrame, features: list[str]) -> fairlearn_metrics.MetricFrame:
    return fairlearn_metrics.MetricFrame(
        metrics={
            "sensitivity": sklearn_metrics.recall_score,
            "specificity": fairlearn_metrics.true_negative_rate,
            "selection_rate": fairlearn_metrics.selection_rate,
            "count": fairlearn_metrics.count,
        },
        y_true=cases["label"],
        y_pred=cases["predicted_label"],
        sensitive_features=cases[features],
    )


@pytest.mark.parametrize("features", [["vendor", "age_band"], ["vendor"], ["age_band"]])
def test_stratified_rates_match_metricframe(cases: pd.DataFrame, features: list[str]) -> None:
    cells = confusion_cells(cases, keys=["vendor", "age_band"])
    strata = marginal_counts(cells, features).set_index(features)
    by_group = _metric_frame(cases, features).by_group
    strata = strata.loc[by_group.index]

    counts = [strata[c].to_numpy() for c in ("tp", "fp", "fn", "tn")]
    se = estimate(*metric_fraction("sensitivity", *counts))
    sp = estimate(*metric_fraction("specificity", *counts))
    total = sum(counts)
    selection = (strata["tp"] + strata["fp"]).to_numpy() / total

    np.testing.assert_allclose(se, by_group["sensitivity"].to_numpy(dtype=float), rtol=1e-12)
    np.testing.assert_allclose(sp, by_group["specificity"].to_numpy(dtype=float), rtol=1e-12)
    np.testing.assert_allclose(selection, by_group["selection_rate"].to_numpy(dtype=float), rtol=1e-12)
    np.testing.assert_array_equal(total, by_group["count"].to_numpy(dtype=np.int64))


def test_overall_matches_metricframe(cases: pd.DataFrame) -> None:
    overall = marginal_counts(confusion_cells(cases, keys=["vendor", "age_band"]), [])
    mf = _metric_frame(cases, ["vendor"])
    counts = [overall[c].to_numpy() for c in ("tp", "fp", "fn", "tn")]
    assert float(estimate(*metric_fraction("sensitivity", *counts))[0]) == pytest.approx(
        mf.overall["sensitivity"], rel=1e-12
    )
    assert float(estimate(*metric_fraction("specificity", *counts))[0]) == pytest.approx(
        mf.overall["specificity"], rel=1e-12
    )
