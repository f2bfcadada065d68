"""The DR-triage generator: its audit design, its rates, determinism and the planted drop (common random numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.synthetic.dr_triage import (
    OPERATING_THRESHOLD,
    PREDICTION_COLUMNS,
    DrTriageScenario,
    generate,
    quarter_bounds,
)
from monitor.synthetic.lung_nodule import GROUND_TRUTH_COLUMNS


@pytest.fixture(scope="module")
def stable():  # type: ignore[no-untyped-def]
    return generate(DrTriageScenario(cases_per_quarter=20_000))


def _cases(data) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return data.predictions.merge(data.ground_truth, on=["prediction_id", "device_id"], how="left")


def test_columns_and_calls(stable) -> None:  # type: ignore[no-untyped-def]
    assert tuple(stable.predictions.columns) == PREDICTION_COLUMNS
    assert tuple(stable.ground_truth.columns) == GROUND_TRUTH_COLUMNS
    p = stable.predictions
    assert bool(((p["score"] >= OPERATING_THRESHOLD) == (p["predicted_label"] == 1)).all())
    assert p["prediction_id"].is_unique and p["predicted_at"].is_monotonic_increasing  # in time order
    for quarter in DrTriageScenario().quarters:
        start, end = quarter_bounds(quarter)
        assert ((p["predicted_at"] >= start) & (p["predicted_at"] < end)).sum() == 20_000


def test_audit_design(stable) -> None:  # type: ignore[no-untyped-def]
    cases = _cases(stable)
    positive, negative = cases.loc[cases["predicted_label"] == 1], cases.loc[cases["predicted_label"] == 0]
    assert positive["label"].notna().all() and (positive["source"] == "clinical_diagnosis").all()
    audited = negative["label"].notna()
    assert audited.mean() == pytest.approx(0.10, abs=0.005)
    assert (negative.loc[audited, "source"] == "audit_sample").all()
    # Audit over-reads come after the quarter closes; referrals 2-10 weeks after the screening.
    delay = (positive["confirmed_at"] - positive["predicted_at"]).dt.days
    assert delay.between(14, 70).all()
    assert stable.pending == int((~audited).sum())


def test_rates_are_the_parameters(stable) -> None:  # type: ignore[no-untyped-def]
    s = DrTriageScenario()
    # Every case's truth is drawn; the stored ground truth is the verified part only, so check on the audit design:
    cases = _cases(stable)
    p1 = cases.loc[cases["predicted_label"] == 1, "label"].mean()
    p0 = cases.loc[(cases["predicted_label"] == 0) & cases["label"].notna(), "label"].mean()
    call = cases["predicted_label"].mean()
    prevalence = call * p1 + (1 - call) * p0
    assert prevalence == pytest.approx(s.prevalence, abs=0.01)
    assert call * p1 / prevalence == pytest.approx(s.sensitivity, abs=0.03)
    assert (1 - call) * (1 - p0) / (1 - prevalence) == pytest.approx(s.specificity, abs=0.005)


def test_deterministic_and_the_drop_changes_only_its_quarter() -> None:
    base = DrTriageScenario(cases_per_quarter=3000)
    a, b = generate(base), generate(base)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.ground_truth, b.ground_truth)
    dropped = generate(DrTriageScenario(cases_per_quarter=3000, drop_quarter="2025Q2", sensitivity_drop=0.3))
    start, end = quarter_bounds("2025Q2")
    inside = (a.predictions["predicted_at"] >= start) & (a.predictions["predicted_at"] < end)
    pd.testing.assert_frame_equal(a.predictions.loc[~inside], dropped.predictions.loc[~inside])
    changed = a.predictions["predicted_label"] != dropped.predictions["predicted_label"]
    assert changed.any() and not changed[~inside].any()
    assert (a.predictions.loc[changed, "predicted_label"] == 1).all()  # referable cases now called low risk
    flipped = set(a.predictions.loc[changed, "prediction_id"])
    truth = a.ground_truth.set_index("prediction_id").loc[sorted(flipped), "label"]
    assert (truth == 1).all()


def test_scenario_is_checked() -> None:
    with pytest.raises(ValueError):
        DrTriageScenario(drop_quarter="2030Q1")
    with pytest.raises(ValueError):
        DrTriageScenario(audit_fraction=0.0)
    with pytest.raises(ValueError):
        DrTriageScenario(quarters=("2025-Q1",))
    assert np.isclose(DrTriageScenario().audit_fraction, 0.10)
