"""Evidence of accuracy, AUC, agreement with the reader and the share within the SLA (monitor.domain.claimed_metrics)
against hand counts and independent oracles (sklearn roc_auc_score / cohen_kappa_score, a simulation of the
verification-corrected accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from monitor.domain.claimed_metrics import (
    accuracy_evidence, agreement_evidence, auc_evidence, corrected_accuracy, within_sla_evidence,
)
from monitor.domain.device import DeviceConfig
from monitor.domain.tickets import acceptance_criteria, plan_ticket, unmet_criteria

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "multi-scanner-agreement.yaml"


def _config(**monitoring) -> DeviceConfig:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["monitoring"] |= monitoring
    return DeviceConfig.model_validate(raw)


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"model_version": "2.1.0", "scanner_vendor": rng.choice(["GE", "Canon"], n),
                         "age_band": "<40", "sex": "F"})


def _by(evidence, metric: str) -> dict[str, object]:
    return {e.stratum.key: e for e in evidence if e.metric == metric}


def test_accuracy_is_the_share_of_correct_calls_in_every_stratum():
    cells = pd.DataFrame({"model_version": "2.1.0", "scanner_vendor": ["GE", "Canon"], "age_band": "<40", "sex": "F",
                          "tp": [40, 10], "fp": [2, 5], "fn": [3, 1], "tn": [55, 84]})
    found = _by(accuracy_evidence(cells, None, _config()), "accuracy")
    assert (found["overall"].events, found["overall"].trials) == (40 + 55 + 10 + 84, 200)
    assert (found["scanner_vendor=Canon"].events, found["scanner_vendor=Canon"].trials) == (94, 100)


def test_corrected_accuracy_recovers_the_population_accuracy_under_audit_sampling():
    # population: 30% positive calls (PPV 0.9), 70% negative calls (NPV 0.98); all positive calls and 10% of the
    # negative calls verified. True accuracy 0.3*0.9 + 0.7*0.98 = 0.956; the naive verified-only accuracy is biased.
    rng = np.random.default_rng(7)
    estimates, variances = [], []
    for _ in range(400):
        pos, neg = 3000, 7000
        tp = rng.binomial(pos, 0.9)
        verified_neg = rng.binomial(neg, 0.1)
        tn = rng.binomial(verified_neg, 0.98)
        a, v = corrected_accuracy(tp, pos - tp, verified_neg - tn, tn, pos, neg)
        estimates.append(a)
        variances.append(v)
    assert np.mean(estimates) == pytest.approx(0.956, abs=5e-4)
    assert np.mean(variances) == pytest.approx(np.var(estimates), rel=0.2)  # delta-method variance vs simulation


def test_audit_sampled_accuracy_is_corrected_with_effective_counts():
    cells = pd.DataFrame({"model_version": "2.1.0", "scanner_vendor": ["GE"], "age_band": "<40", "sex": "F",
                          "tp": [270], "fp": [30], "fn": [14], "tn": [686]})
    verification = pd.DataFrame({"model_version": "2.1.0", "scanner_vendor": "GE", "age_band": "<40", "sex": "F",
                                 "predicted_label": [1, 0, 0], "verified": [1, 1, 0], "n": [300, 700, 6300]})
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["labels"] = {"verification": "audit_sample",
                     "sampling_fractions": {"positive_calls": 1.0, "negative_calls": 0.1}}
    config = DeviceConfig.model_validate(raw)
    overall = _by(accuracy_evidence(cells, verification, config), "accuracy")["overall"]
    a, v = corrected_accuracy(270, 30, 14, 686, 300, 7000)
    assert a == pytest.approx(300 / 7300 * 0.9 + 7000 / 7300 * 686 / 700)
    assert overall.events / overall.trials == pytest.approx(a)
    assert overall.trials == pytest.approx(a * (1 - a) / v)


def test_auc_is_delong_from_the_histogram_against_sklearn():
    rng = np.random.default_rng(3)
    n = 400
    frame = _frame(rng, n)
    label = rng.random(n) < 0.4
    bins = np.clip(np.round(1000 * np.clip(rng.normal(np.where(label, 0.65, 0.4), 0.15), 0, 1)), 0, 1000).astype(int)
    histogram = frame.assign(score_bin=bins, label=label.astype(int), predicted_label=(bins >= 500).astype(int), n=1)
    overall = _by(auc_evidence(histogram, _config()), "auc")["overall"]
    assert overall.estimate == pytest.approx(roc_auc_score(label, bins))
    assert overall.standard_error > 0 and overall.ci_low < overall.estimate < overall.ci_high


def test_agreement_with_the_reader_against_sklearn_and_hand_counts():
    rng = np.random.default_rng(5)
    n = 500
    frame = _frame(rng, n)
    ai = (rng.random(n) < 0.3).astype(int)
    human = np.where(rng.random(n) < 0.9, ai, 1 - ai)
    table = frame.assign(predicted_label=ai, human_label=human, label=-1, n=1)
    found = agreement_evidence(table, _config())
    kappa, ppa, npa, overall = (_by(found, m)["overall"] for m in ("kappa", "ppa", "npa", "overall_agreement"))
    assert kappa.estimate == pytest.approx(cohen_kappa_score(ai, human))
    assert (ppa.events, ppa.trials) == (int(((ai == 1) & (human == 1)).sum()), int((human == 1).sum()))
    assert (npa.events, npa.trials) == (int(((ai == 0) & (human == 0)).sum()), int((human == 0).sum()))
    assert (overall.events, overall.trials) == (int((ai == human).sum()), n)
    assert {e.metric for e in agreement_evidence(table, _config(), frozenset({"kappa"}))} == {"kappa"}


def test_within_sla_counts_only_closed_windows():
    config = _config(intervention_sla_days=30)
    days = pd.DataFrame({"model_version": "2.1.0", "scanner_vendor": "GE", "age_band": "<40", "sex": "F",
                         "days": [10, 30, 45, 12, 30, 60], "observed": [1, 1, 1, 0, 0, 0], "n": [5, 2, 3, 7, 1, 4]})
    overall = _by(within_sla_evidence(days, config), "within_sla")["overall"]
    # met: 5 + 2 (by day 30); missed: 3 (after 30) + 1 + 4 (followed 30+ days without one); open: 7 left out
    assert (overall.events, overall.trials) == (7, 15)


def test_a_maximum_claim_ticket_reads_at_most_the_goal():
    plan = plan_ticket(metric="review_rate", stratum="overall", claim=0.10, margin=0.02, estimate=0.2, alpha=0.05,
                       power=0.8, confidence=0.95, direction="maximum")
    criteria = plan.acceptance_criteria
    assert criteria["stratum_upper_bound_at_most"] == pytest.approx(0.12) and "at most 0.120" in criteria["text"]
    assert "stratum_lower_bound_at_least" not in criteria and plan.severity == "major"  # 2 margins above
    assert plan.data_collection_target > 0
    row = {"stratum": "overall", "metric": "review_rate", "trials": 5000, "ci_low": 0.09, "ci_high": 0.115,
           "status": "conforming", "claim": 0.10, "margin": 0.02, "estimate": 0.105, "direction": "maximum"}
    assert unmet_criteria(criteria, [row]) == []
    assert unmet_criteria(criteria, [row | {"ci_high": 0.13}])[0].startswith("upper confidence bound")
    other = row | {"stratum": "sex=F", "estimate": 0.2}
    assert unmet_criteria(criteria, [row, other])[0].startswith("other stratum above maximum")
    minimum = acceptance_criteria(metric="accuracy", stratum="overall", claim=0.974, margin=0.014, min_trials=10,
                                  confidence=0.95)
    assert minimum["stratum_lower_bound_at_least"] == pytest.approx(0.96)
