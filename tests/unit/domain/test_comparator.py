"""The comparator section's pure core (monitor.domain.comparator) against independent oracles: scikit-learn's AUC,
a direct O(m n) DeLong paired comparison, statsmodels' exact McNemar test and Newcombe's paired interval computed
by hand from the paper's formulas."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar

from monitor.domain.comparator import MIN_CASES_PER_CLASS, compare_with_comparator
from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import GROUPING_COLUMN

ROOT = Path(__file__).resolve().parents[3]
RADS = np.array([1.0, 2.0, 3.0, 4.0, 4.5, 5.0])


def _config(**changes: object) -> DeviceConfig:
    data = yaml.safe_load((ROOT / "examples" / "nodule-growth-lung-rads.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    return DeviceConfig.model_validate(data)


def _cases(n: int = 400, seed: int = 11) -> pd.DataFrame:
    """Per-case rows: two model versions, AI scores on the 0.001 grid (ties), Lung-RADS categories (many ties),
    a few studies with only a logged comparator call (no score)."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.3).astype(int)
    score = np.round(np.clip(rng.normal(0.35 + 0.3 * label, 0.18), 0, 1), 3)
    rads = RADS[np.clip(np.round(rng.normal(1.5 + 2.0 * label, 1.2)), 0, 5).astype(int)]
    frame = pd.DataFrame({
        "model_version": np.where(np.arange(n) % 4 == 0, "2.0.0", "1.0.0"),
        "age_band": np.where(rng.random(n) < 0.4, ">=65", "<65"),
        "nodule_type": np.array(["solid", "part_solid", "ground_glass"])[rng.integers(0, 3, n)],
        "ai_bin": np.round(score * 1000).astype(int), "score": score, "comparator_score": rads,
        "ai_call": (score >= 0.5).astype(int), "comparator_call": (rads >= 4).astype(float), "label": label})
    only_call = np.arange(n) % 23 == 5
    frame.loc[only_call, "comparator_score"] = np.nan
    frame.loc[only_call, "comparator_call"] = (rng.random(only_call.sum()) < 0.5).astype(float)
    return frame


def _grouping_sets(cases: pd.DataFrame) -> pd.DataFrame:
    """The frame the repository returns: counts per measure cell, summed to overall and each single attribute."""
    measures = ["ai_bin", "comparator_score", "ai_call", "comparator_call", "label"]
    parts = []
    for grouping in ((), ("age_band",), ("nodule_type",)):
        keys = ["model_version", *grouping, *measures]
        part = cases.groupby(keys, dropna=False).size().rename("n").reset_index()
        for name in ("age_band", "nodule_type"):
            if name not in grouping:
                part[name] = None
        part[GROUPING_COLUMN] = "|".join(grouping)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _delong(ai: np.ndarray, comparator: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """Paired DeLong difference and standard error from the kernel definition (DeLong et al. 1988, section 2)."""
    def placements(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = score[label == 1], score[label == 0]
        kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return kernel.mean(axis=1), kernel.mean(axis=0)
    (v10_a, v01_a), (v10_b, v01_b) = placements(ai), placements(comparator)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    variance = ((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / v10_a.size
                + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / v01_a.size)
    return float(v10_a.mean() - v10_b.mean()), math.sqrt(variance)


def _rows(section, model_version: str, stratum: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {r.metric: r for r in section.rows if r.model_version == model_version and r.stratum == stratum}


def _check_auc(auc, scored: pd.DataFrame, z: float) -> None:  # type: ignore[no-untyped-def]
    y = scored["label"].to_numpy()
    assert auc.ai == pytest.approx(roc_auc_score(y, scored["score"]), abs=1e-12)
    assert auc.comparator == pytest.approx(roc_auc_score(y, scored["comparator_score"]), abs=1e-12)
    difference, se = _delong(scored["score"].to_numpy(), scored["comparator_score"].to_numpy(), y)
    assert auc.difference == pytest.approx(difference, abs=1e-12)
    assert (auc.ci_low, auc.ci_high) == pytest.approx((difference - z * se, difference + z * se), abs=1e-9)
    assert auc.p_value == pytest.approx(2 * stats.norm.sf(abs(difference) / se), rel=1e-9)


def test_every_stratum_matches_sklearn_delong_and_statsmodels() -> None:
    cases = _cases()
    section = compare_with_comparator(_grouping_sets(cases), _config())
    assert section is not None and section.name == "Lung-RADS v2022" and section.studies == len(cases)
    strata = [("overall", None, None), ("age_band=<65", "age_band", "<65"), ("age_band=>=65", "age_band", ">=65"),
              ("nodule_type=solid", "nodule_type", "solid"), ("nodule_type=part_solid", "nodule_type", "part_solid"),
              ("nodule_type=ground_glass", "nodule_type", "ground_glass")]
    z = stats.norm.ppf(0.975)
    checked = 0
    for version in ("1.0.0", "2.0.0"):
        for key, name, label in strata:
            part = cases.loc[cases["model_version"] == version]
            if name is not None:
                part = part.loc[part[name] == label]
            rows = _rows(section, version, key)
            scored = part.loc[part["comparator_score"].notna()]
            y = scored["label"].to_numpy()
            auc = rows["auc"]
            assert (auc.positives, auc.negatives) == (int(y.sum()), int((1 - y).sum()))
            if min(auc.positives, auc.negatives) < MIN_CASES_PER_CLASS:
                assert auc.ai is None and auc.difference is None
            else:
                _check_auc(auc, scored, z)
            called = part.loc[part["comparator_call"].notna()]
            for metric, truth in (("sensitivity", 1), ("specificity", 0)):
                among = called.loc[called["label"] == truth]
                ai_right, cmp_right = among["ai_call"].to_numpy() == truth, among["comparator_call"].to_numpy() == truth
                table = [[int((ai_right & cmp_right).sum()), int((ai_right & ~cmp_right).sum())],
                         [int((~ai_right & cmp_right).sum()), int((~ai_right & ~cmp_right).sum())]]
                row = rows[metric]
                assert [[row.both_right, row.ai_only_right], [row.comparator_only_right, row.neither_right]] == table
                assert row.cases == len(among)
                assert row.ai == pytest.approx(ai_right.mean()) and row.comparator == pytest.approx(cmp_right.mean())
                assert row.difference == pytest.approx(ai_right.mean() - cmp_right.mean(), abs=1e-12)
                assert row.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
                checked += 1
    assert checked == 24


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def test_newcombe_paired_interval_by_hand_on_a_small_table() -> None:
    """Sensitivity among 16 positives: both right 8, AI only 5, comparator only 1, neither 2 (Newcombe 1998,
    method 10: Wilson limits of both margins, combined with the corrected phi of the table)."""
    cells = [(1, 1, 8), (1, 0, 5), (0, 1, 1), (0, 0, 2)]
    frame = _grouping_sets(pd.DataFrame(
        [{"model_version": "1.0.0", "age_band": "<65", "nodule_type": "solid", "ai_bin": 500,
          "comparator_score": np.nan, "ai_call": ai, "comparator_call": float(cmp), "label": 1}
         for ai, cmp, n in cells for _ in range(n)]))
    section = compare_with_comparator(frame, _config())
    row = _rows(section, "1.0.0", "overall")["sensitivity"]
    z = stats.norm.ppf(0.975)
    a, b, c, d, n = 8, 5, 1, 2, 16
    p1, p2 = (a + b) / n, (a + c) / n                        # 13/16 and 9/16
    l1, u1 = _wilson(a + b, n, z)
    l2, u2 = _wilson(a + c, n, z)
    cross = a * d - b * c                                    # 11 > n/2: Newcombe's correction subtracts n/2
    phi = (cross - n / 2) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    low = (p1 - p2) - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = (p1 - p2) + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    assert row.difference == pytest.approx(0.25)
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert (round(row.ci_low, 4), round(row.ci_high, 4)) == (-0.0589, 0.5042)  # by hand: phi = 3 / sqrt(2457)
    assert row.p_value == pytest.approx(0.21875)           # exact McNemar: 2 * P(Bin(6, 1/2) <= 1) = 2 * 7/64
    auc = _rows(section, "1.0.0", "overall")["auc"]
    assert auc.cases == 0 and auc.ai is None and auc.difference is None  # no comparator score: no AUC


def test_an_auc_needs_ten_positives_and_negatives() -> None:
    cases = _cases(n=60, seed=3)
    section = compare_with_comparator(_grouping_sets(cases), _config())
    for row in (r for r in section.rows if r.metric == "auc"):
        enough = min(row.positives, row.negatives) >= MIN_CASES_PER_CLASS
        assert (row.ai is not None) == enough and (row.difference is not None) == enough


def test_no_section_without_a_comparator_or_without_studies() -> None:
    cases = _grouping_sets(_cases(n=50))
    assert compare_with_comparator(cases, _config(comparator=None)) is None
    assert compare_with_comparator(cases.iloc[:0], _config()) is None


def test_the_comparator_is_never_a_model_version() -> None:
    section = compare_with_comparator(_grouping_sets(_cases()), _config())
    assert {r.model_version for r in section.rows} == {"1.0.0", "2.0.0"}
    assert all("Lung-RADS" not in r.model_version for r in section.rows)
