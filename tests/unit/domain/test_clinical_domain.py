"""The clinical sections' domain functions on hand-made count tables: strata sums, the failure-rate
flag rule, the back-transformed Bland-Altman ratios, and the paired comparison's bookkeeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests

from monitor.domain.device import DeviceConfig
from monitor.domain.failures import failure_rates_by_stratum
from monitor.domain.human_ai_agreement import human_ai_agreement_by_stratum
from monitor.domain.model_comparison import compare_model_versions
from monitor.domain.volume_agreement import volume_agreement_by_stratum

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
LABELS = {"age_band": "45-64", "emphysema_grade": "none", "scanner_vendor": "GE"}


def _config(**claims: object) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["claims"].update(claims)
    return DeviceConfig.model_validate(data)


def _failures() -> pd.DataFrame:
    rows = [("F", None, 480), ("M", None, 470), ("F", "failed:timeout", 30), ("M", "failed:timeout", 4),
            ("M", "no_result", 6)]
    return pd.DataFrame([{"model_version": "2.1.0", "sex": sex, **LABELS, "failure_code": code, "n": n}
                         for sex, code, n in rows])


def test_failure_rate_without_a_claim_is_reported_not_tested() -> None:
    rows = failure_rates_by_stratum(_failures(), _config())
    overall = rows[0]
    assert (overall["stratum"], overall["failures"], overall["attempts"]) == ("overall", 40, 990)
    assert overall["by_code"] == {"failed:timeout": 34, "no_result": 6}
    assert {r["status"] for r in rows} == {"not_tested"} and overall["p_value"] is None


def test_failure_rate_is_decided_on_the_goal_within_fixed_families() -> None:
    """The bound-vs-goal rule with the goal maximum + margin: exact test of H0: rate <= goal (scipy binomtest),
    Holm over the confirmatory family (overall + 4 age bands + 2 sexes = 7, padded with p = 1), BH over the
    exploratory one (4 grades + 4 vendors = 8); the registered-maximum test is reported as p_value."""
    rows = failure_rates_by_stratum(_failures(), _config(failure_rate={"maximum": 0.02, "margin": 0.01}))
    by_stratum = {r["stratum"]: r for r in rows}
    assert [r["p_value"] for r in rows] == pytest.approx(
        [stats.binomtest(r["failures"], r["attempts"], 0.02, alternative="greater").pvalue for r in rows])
    excess = {r["stratum"]: stats.binomtest(r["failures"], r["attempts"], 0.03, alternative="greater").pvalue
              for r in rows}
    confirmatory = ["overall", "age_band=45-64", "sex=F", "sex=M"]
    holm = multipletests([excess[k] for k in confirmatory] + [1.0] * 3, method="holm")[1]
    for key, q in zip(confirmatory, holm, strict=False):
        assert by_stratum[key]["q_value"] == pytest.approx(q) and by_stratum[key]["family"] == "confirmatory"
        assert by_stratum[key]["family_size"] == 7
    exploratory = ["emphysema_grade=none", "scanner_vendor=GE"]
    bh = multipletests([excess[k] for k in exploratory] + [1.0] * 6, method="fdr_bh")[1]
    for key, q in zip(exploratory, bh, strict=False):
        assert by_stratum[key]["q_value"] == pytest.approx(q) and by_stratum[key]["family_size"] == 8
    assert by_stratum["sex=F"]["rate"] == pytest.approx(30 / 510) and by_stratum["sex=F"]["status"] == "flagged"
    assert by_stratum["sex=M"]["status"] == "inconclusive"  # 10/480 = 2.1%: neither above nor below 3% shown
    assert by_stratum["overall"]["status"] == "inconclusive"  # 40/990 = 4.0%: above 3%, not at Holm's level
    assert by_stratum["emphysema_grade=none"]["status"] == "inconclusive"


def test_agreement_sums_the_cells_of_a_stratum() -> None:
    rows = []
    for sex, ai, human, label, n in [("F", 1, 1, 1, 30), ("F", 1, 0, 1, 5), ("F", 0, 1, 1, 7), ("M", 0, 0, 0, 40),
                                     ("M", 1, 0, 0, 6), ("M", 0, 1, -1, 3)]:
        rows.append({"model_version": "2.1.0", "sex": sex, **LABELS, "predicted_label": ai, "human_label": human,
                     "label": label, "n": n})
    overall = human_ai_agreement_by_stratum(pd.DataFrame(rows), _config())[0]
    assert (overall["both_positive"], overall["ai_only_positive"], overall["human_only_positive"],
            overall["both_negative"]) == (30, 11, 10, 40)
    assert (overall["ai_right"], overall["human_right"], overall["discordant_with_truth"]) == (5, 7 + 6, 18)
    assert overall["mcnemar_p_value"] == pytest.approx(stats.binomtest(5, 18).pvalue)


def test_volume_ratios_are_the_exponentials_of_the_log_scale() -> None:
    d = np.array([0.1, -0.05, 0.2, 0.0, 0.08, -0.12, 0.15, 0.03])
    sums = pd.DataFrame([{"model_version": "2.1.0", "sex": "F", **LABELS, "n": d.size, "sum_d": d.sum(),
                          "sum_d2": (d ** 2).sum(), "outside": 0}])
    row = volume_agreement_by_stratum(sums, _config())[0]
    assert row["ratio"] == pytest.approx(np.exp(d.mean()))
    assert row["ratio_loa_high"] == pytest.approx(np.exp(d.mean() + stats.norm.ppf(0.975) * d.std(ddof=1)))
    assert row["ratio_loa_high_ci_low"] < row["ratio_loa_high"] < row["ratio_loa_high_ci_high"]
    assert row["outside_share"] == 0.0 and row["tolerance"] == 0.25


def test_model_comparison_leaves_out_conflicts_and_needs_labels() -> None:
    cells = [(600, 610, 1, 1, 1, 20), (300, 550, 0, 1, 1, 4), (700, 400, 1, 0, 1, 9), (100, 120, 0, 0, 0, 25),
             (520, 450, 1, 0, 0, 3), (200, 560, 0, 1, 0, 6), (500, 500, 1, 1, -2, 2), (650, 640, 1, 1, -1, 5)]
    frame = pd.DataFrame([{"version_a": "2.1.0", "version_b": "2.2.0", "bin_a": a, "bin_b": b, "call_a": ca,
                           "call_b": cb, "label": y, "n": n} for a, b, ca, cb, y, n in cells])
    rows = {r["metric"]: r for r in compare_model_versions(frame, confidence=0.95)}
    assert rows["auc"]["matched_studies"] == 74 and rows["auc"]["labelled_studies"] == 67
    assert rows["auc"]["label_conflicts"] == 2
    sensitivity, specificity = rows["sensitivity"], rows["specificity"]
    assert (sensitivity["cases"], sensitivity["a_only"], sensitivity["b_only"]) == (33, 9, 4)
    assert (specificity["cases"], specificity["a_only"], specificity["b_only"]) == (34, 6, 3)
    assert rows["auc"]["estimate_a"] is not None and rows["auc"]["test"] == "delong_paired"
    unlabelled = frame.assign(label=-1)
    assert compare_model_versions(unlabelled, confidence=0.95) == []
