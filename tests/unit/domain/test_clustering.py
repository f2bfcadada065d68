"""The design effect of every monitored stratum-metric (monitor.domain.clustering) from the confusion cells
and the repeated patients' cells equals statsmodels' GEE on the cases themselves, stratum by stratum,
also for patients whose cases fall in different cells; its keys are those the decision rule looks up."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from monitor.domain.clustering import design_effects, stratum_clustering
from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import stratum_counts
from monitor.domain.evidence import Adjustments, combine
from monitor.domain.strata import assign_labels
from monitor.stats.metrics import METRIC_NAMES, metric_fraction

CONFIG = DeviceConfig.model_validate({
    "schema_version": 1,
    "device": {"id": "d", "name": "Test device", "manufacturer": "test", "intended_use": "test",
               "target_population": "adults"},
    "operating_threshold": 0.5,
    "strata": {"attributes": [{"name": "age_band", "column": "age", "bins": [45, 65]},
                              {"name": "sex", "values": ["F", "M"]},
                              {"name": "site", "column": "site_id", "values": ["a", "b", "c"]}],
               "intersections": "all_pairs"},
    "claims": {"sensitivity": {"value": 0.9, "margin": 0.02}, "specificity": {"value": 0.85, "margin": 0.02}},
    "monitoring": {"period": "quarter", "timezone": "UTC"},
})
NAMES = ["age_band", "sex", "site"]
COUNTS = ["tp", "fp", "fn", "tn"]


def _cases(seed: int, patients: int = 400) -> pd.DataFrame:
    """One row per confirmed case: patients with 1-5 cases, a patient-level disease and detection
    propensity (clustering), ages that cross a band edge, sites that change, two model versions."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3, 5], patients)
    patient = np.repeat(np.arange(patients), sizes)
    age0, sex = rng.uniform(30, 80, patients), rng.choice(["F", "M"], patients)
    diseased, detected = rng.beta(1, 2, patients), rng.beta(4, 1, patients)
    cases = len(patient)
    truth = (rng.random(cases) < diseased[patient]).astype(int)
    call = np.where(truth == 1, rng.random(cases) < detected[patient], rng.random(cases) < 1 - detected[patient])
    frame = pd.DataFrame({"patient": patient, "model_version": rng.choice(["1.0", "2.0"], cases, p=[0.8, 0.2]),
                          "age": age0[patient] + rng.uniform(0, 3, cases), "sex": sex[patient],
                          "site_id": np.where(rng.random(cases) < 0.8, np.array(["a", "b", "c"])[patient % 3],
                                              rng.choice(["a", "b", "c"], cases)),
                          "truth": truth, "call": call.astype(int)})
    frame[NAMES] = assign_labels(frame, CONFIG.strata.attributes)
    for name, (t, c) in zip(COUNTS, [(1, 1), (0, 1), (1, 0), (0, 0)], strict=True):
        frame[name] = ((frame["truth"] == t) & (frame["call"] == c)).astype(np.int64)
    return frame


def _inputs(frame: pd.DataFrame, *, singles: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confusion cells, and the repeated patients' cells (as the repository reads them)."""
    keys = ["model_version", *NAMES]
    cells = frame.groupby(keys, as_index=False)[COUNTS].sum()
    several = frame.groupby("patient")["patient"].transform("size") >= 2
    chosen = frame if singles else frame.loc[several]
    return cells, chosen.groupby(["patient", *keys], as_index=False)[COUNTS].sum()


def _gee_design_effect(patient: np.ndarray, outcome: np.ndarray) -> float | None:
    """statsmodels' robust variance (with G/(G-1)) over the same with every case its own cluster."""
    groups, n = len(np.unique(patient)), len(outcome)
    if groups < 2 or outcome.min() == outcome.max():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = sm.GEE(outcome.astype(float), np.ones((n, 1)), groups=patient,
                        family=sm.families.Binomial(link=sm.families.links.Identity()),
                        cov_struct=sm.cov_struct.Independence()).fit()
    return float(fitted.cov_robust[0, 0] * groups / (groups - 1) / (fitted.cov_naive[0, 0] * n / (n - 1)))


_DENOMINATOR = {"sensitivity": ("truth", 1), "specificity": ("truth", 0), "ppv": ("call", 1), "npv": ("call", 0)}


def test_every_stratum_matches_gee_on_the_cases() -> None:
    frame = _cases(seed=1)
    moved = frame.groupby("patient")["age_band"].nunique()
    assert (moved > 1).sum() >= 5  # some patients' cases fall in two age bands
    rows = stratum_clustering(*_inputs(frame), CONFIG)
    assert len({r.stratum.level for r in rows}) == 3
    checked = 0
    for row in rows:
        inside = frame.loc[frame["model_version"] == row.model_version]
        for name, label in row.stratum.assignments:
            inside = inside.loc[inside[name] == label]
        assert row.cases == len(inside)
        assert row.patients == inside["patient"].nunique()
        assert row.patients_with_several_cases == int((inside.groupby("patient").size() >= 2).sum())
        for metric in METRIC_NAMES:
            column, value = _DENOMINATOR[metric]
            trials = inside.loc[inside[column] == value]
            outcome = (trials["truth"] == trials["call"]).to_numpy().astype(int)
            expected = _gee_design_effect(trials["patient"].to_numpy(), outcome)
            if expected is None:
                assert row.design_effects[metric] is None
            else:
                assert row.design_effects[metric] == pytest.approx(expected, rel=1e-9)
                checked += 1
    assert checked > 200
    assert max(d for r in rows for d in r.design_effects.values() if d is not None) > 1.2


def test_patients_seen_once_may_be_read_or_not() -> None:
    frame = _cases(seed=2)
    cells, repeated = _inputs(frame)
    _, everyone = _inputs(frame, singles=True)
    assert len(everyone) > len(repeated)
    assert ([r.as_dict() for r in stratum_clustering(cells, repeated, CONFIG)]
            == [r.as_dict() for r in stratum_clustering(cells, everyone, CONFIG)])


def test_no_repeated_patient_means_design_effect_one_and_no_adjustment() -> None:
    frame = _cases(seed=3)
    frame["patient"] = np.arange(len(frame))
    cells, repeated = _inputs(frame)
    assert repeated.empty
    rows = stratum_clustering(cells, repeated, CONFIG)
    assert all(d == pytest.approx(1.0, abs=1e-12) for r in rows for d in r.design_effects.values() if d is not None)
    assert all(r.patients == r.cases and r.patients_with_several_cases == 0 for r in rows)
    key, effects = next(iter(design_effects(rows).items())), design_effects(rows)
    assert combine(key[0], 10, 20, Adjustments(design_effects=effects)).basis == ()


def test_keys_are_the_decision_rules_and_shrink_the_evidence() -> None:
    frame = _cases(seed=4)
    cells, repeated = _inputs(frame)
    effects = design_effects(stratum_clustering(cells, repeated, CONFIG))
    fractions = {(c.model_version, c.stratum.key, metric): metric_fraction(metric, c.tp, c.fp, c.fn, c.tn)
                 for c in stratum_counts(cells, CONFIG) for metric in METRIC_NAMES}  # what the rule evaluates
    assert set(effects) <= set(fractions)
    assert len(effects) > 0.9 * len(fractions)
    key, deff = max(effects.items(), key=lambda item: item[1])
    successes, trials = (int(v) for v in fractions[key])
    evidence = combine(key, successes, trials, Adjustments(design_effects=effects))
    assert evidence.basis == ("cluster_robust",)
    assert evidence.trials == pytest.approx(trials / deff)
    assert evidence.estimate == pytest.approx(successes / trials)
