"""The low-confidence section's core (monitor.domain.low_confidence) on a hand-made count table: hand counts of
the flag rate and of sensitivity / specificity within flagged and unflagged results, intervals against statsmodels
(proportion_confint) and the Newcombe difference interval recomputed from its definition (Newcombe 1998, method
10: from the two Wilson intervals), the evidence handed to claims.metrics."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from monitor.domain.analysis_document.low_confidence import LowConfidenceRow
from monitor.domain.device import DeviceConfig
from monitor.domain.low_confidence import low_confidence_by_stratum

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "breast-mri-low-confidence.yaml"
COLUMNS = ["model_version", "age_band", "scanner_vendor", "field_strength", "breast_density", "low_confidence",
           "predicted_label", "label", "n"]


def _config(**monitoring: object) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["monitoring"].update(monitoring)
    return DeviceConfig.model_validate(data)


def _counts() -> pd.DataFrame:
    """Two scanners. Philips: 20 flagged (positives 8: 5 called; negatives 10: 7 right; 2 pending), 80 unflagged
    (positives 20: 19 called; negatives 60: 55 right), 10 not logged (positives, all called). Siemens: 3 flagged
    (negatives, all right), 97 unflagged (positives 17: 16 called; negatives 80: 74 right)."""
    rows = [
        ("Philips", 1, 1, 1, 5), ("Philips", 1, 0, 1, 3), ("Philips", 1, 0, 0, 7), ("Philips", 1, 1, 0, 3),
        ("Philips", 1, 1, None, 2),
        ("Philips", 0, 1, 1, 19), ("Philips", 0, 0, 1, 1), ("Philips", 0, 0, 0, 55), ("Philips", 0, 1, 0, 5),
        ("Philips", None, 1, 1, 10),
        ("Siemens", 1, 0, 0, 3),
        ("Siemens", 0, 1, 1, 16), ("Siemens", 0, 0, 1, 1), ("Siemens", 0, 0, 0, 74), ("Siemens", 0, 1, 0, 6),
    ]
    return pd.DataFrame([("3.2.0", "50-59", vendor, "3T", "c", flag, call, label, n)
                         for vendor, flag, call, label, n in rows], columns=COLUMNS)


def _wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def _newcombe(ka: int, na: int, kb: int, nb: int) -> tuple[float, float, float]:
    """Newcombe's method 10 from its definition: d -/+ the root sum of squares of the Wilson arms."""
    pa, pb = ka / na, kb / nb
    (la, ua), (lb, ub) = _wilson(ka, na), _wilson(kb, nb)
    d = pa - pb
    return d, d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def _rows(config: DeviceConfig | None = None) -> dict[str, LowConfidenceRow]:
    return {r.stratum: r for r in low_confidence_by_stratum(_counts(), config or _config()).rows}


def test_the_flag_rate_counts_logged_results_only_with_the_devices_interval() -> None:
    rows = _rows()
    philips, overall = rows["scanner_vendor=Philips"], rows["overall"]
    assert (philips.results, philips.not_logged, philips.assessed, philips.flagged) == (110, 10, 100, 20)
    assert (overall.results, overall.not_logged, overall.assessed, overall.flagged) == (210, 10, 200, 23)
    assert philips.rate == pytest.approx(0.2) and overall.rate == pytest.approx(23 / 200)
    assert (philips.ci_low, philips.ci_high) == pytest.approx(_wilson(20, 100), abs=1e-12)
    assert (overall.ci_low, overall.ci_high) == pytest.approx(_wilson(23, 200), abs=1e-12)
    exact = _rows(_config(interval_method="clopper-pearson", confidence=0.90))["scanner_vendor=Philips"]
    assert (exact.ci_low, exact.ci_high) == pytest.approx(
        proportion_confint(20, 100, alpha=0.10, method="beta"), abs=1e-12)
    assert (philips.maximum, philips.goal) == pytest.approx((0.05, 0.08))  # claims.metrics, not decided here


def test_performance_within_flagged_and_unflagged_results() -> None:
    philips = _rows()["scanner_vendor=Philips"]
    sensitivity, specificity = philips.performance
    assert sensitivity.metric == "sensitivity" and specificity.metric == "specificity"
    # pending labels (2 flagged) and results without the flag logged (10) are in neither group
    assert (sensitivity.flagged_successes, sensitivity.flagged_trials) == (5, 8)
    assert (sensitivity.unflagged_successes, sensitivity.unflagged_trials) == (19, 20)
    assert (specificity.flagged_successes, specificity.flagged_trials) == (7, 10)
    assert (specificity.unflagged_successes, specificity.unflagged_trials) == (55, 60)
    assert sensitivity.flagged_estimate == pytest.approx(5 / 8)
    assert (sensitivity.flagged_ci_low, sensitivity.flagged_ci_high) == pytest.approx(_wilson(5, 8), abs=1e-12)
    assert (specificity.unflagged_ci_low, specificity.unflagged_ci_high) == pytest.approx(_wilson(55, 60), abs=1e-12)
    for p, (ka, na, kb, nb) in ((sensitivity, (5, 8, 19, 20)), (specificity, (7, 10, 55, 60))):
        assert (p.difference, p.difference_ci_low, p.difference_ci_high) == pytest.approx(
            _newcombe(ka, na, kb, nb), abs=1e-9)
    # Newcombe (1998) Table II example (a), 56/70 vs 48/80: 0.2 (0.0524, 0.3339) -- the oracle itself
    assert _newcombe(56, 70, 48, 80) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)


def test_an_empty_group_gives_null_estimates_not_errors() -> None:
    siemens = _rows()["scanner_vendor=Siemens"]
    sensitivity, specificity = siemens.performance
    assert (sensitivity.flagged_trials, sensitivity.flagged_estimate, sensitivity.flagged_ci_low) == (0, None, None)
    assert (sensitivity.difference, sensitivity.difference_ci_low, sensitivity.difference_ci_high) == (None, None,
                                                                                                       None)
    assert (specificity.flagged_successes, specificity.flagged_trials) == (3, 3)
    assert specificity.difference == pytest.approx(1 - 74 / 80)


def test_every_monitored_stratum_and_its_evidence() -> None:
    found = low_confidence_by_stratum(_counts(), _config())
    keys = [r.stratum for r in found.rows]
    assert keys == ["overall", "age_band=50-59", "scanner_vendor=Siemens", "scanner_vendor=Philips",
                    "field_strength=3T", "breast_density=c", "age_band=50-59 & breast_density=c"]
    assert [r.level for r in found.rows] == [0, 1, 1, 1, 1, 1, 2]
    assert len(found.evidence) == len(found.rows)
    for row, evidence in zip(found.rows, found.evidence, strict=True):
        assert (evidence.metric, evidence.kind, evidence.source) == ("low_confidence_rate", "proportion",
                                                                      "low_confidence")
        assert (evidence.model_version, evidence.stratum.key) == (row.model_version, row.stratum)
        assert (evidence.events, evidence.trials) == (row.flagged, row.assessed)
        assert (evidence.ci_low, evidence.ci_high) == (row.ci_low, row.ci_high)
    # the JSON the document stores validates back into the strict model unchanged
    for row in found.rows:
        dumped = row.model_dump(mode="json")
        assert LowConfidenceRow.model_validate(dumped).model_dump(mode="json") == dumped


def test_no_logged_flag_gives_a_null_rate() -> None:
    counts = _counts().assign(low_confidence=None)
    overall = low_confidence_by_stratum(counts, _config()).rows[0]
    assert (overall.assessed, overall.flagged, overall.not_logged, overall.rate, overall.ci_low) == (0, 0, 210, None,
                                                                                                     None)
    assert all(p.flagged_trials == 0 and p.unflagged_trials == 0 for p in overall.performance)
