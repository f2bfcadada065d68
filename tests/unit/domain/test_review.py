"""Review triggers, review rates and Dice / IoU (issue 17 item 3; monitor.domain.review) against hand counts and
formulas computed another way."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.domain.device_kinds import ReviewTriggers
from monitor.domain.review import (
    fired_triggers,
    mean_t_interval,
    median_interval,
    overlap_by_stratum,
    overlap_scores,
    review_rate_evidence,
    review_rates,
    trigger_flags,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "hcc-segmentation-review.yaml"
ALL = ReviewTriggers(volume_disagreement=0.15, reader_disagreement=True, low_confidence=True, failure=True)
NAN = float("nan")


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    from monitor.adapters.config_file import load_device_config

    return load_device_config(EXAMPLE)


def _case(**values: object) -> dict[str, object]:
    base = {"model_version": "1.0.0", "failed": False, "predicted_label": 1.0, "human_label": NAN,
            "low_confidence": NAN, "ai_volume_mm3": NAN, "reviewed_volume_mm3": NAN, "overlap_volume_mm3": NAN}
    return base | values


@pytest.mark.parametrize(("case", "expected"), [
    (_case(ai_volume_mm3=115.0, reviewed_volume_mm3=100.0), ()),  # exactly 15%: not more than the tolerance
    (_case(ai_volume_mm3=115.1, reviewed_volume_mm3=100.0), ("volume_disagreement",)),
    (_case(ai_volume_mm3=84.9, reviewed_volume_mm3=100.0), ("volume_disagreement",)),
    (_case(ai_volume_mm3=5.0, reviewed_volume_mm3=0.0), ("volume_disagreement",)),  # reviewer found nothing
    (_case(ai_volume_mm3=0.0, reviewed_volume_mm3=0.0), ()),
    (_case(ai_volume_mm3=300.0), ()),  # no reviewed volume: the trigger cannot be decided
    (_case(human_label=0.0), ("reader_disagreement",)),
    (_case(human_label=1.0), ()),
    (_case(low_confidence=1.0), ("low_confidence",)),
    (_case(low_confidence=0.0), ()),
    (_case(failed=True, predicted_label=NAN), ("failure",)),
    (_case(ai_volume_mm3=200.0, reviewed_volume_mm3=100.0, human_label=0.0, low_confidence=1.0),
     ("volume_disagreement", "reader_disagreement", "low_confidence")),
])
def test_each_trigger_fires_by_its_rule(case: dict[str, object], expected: tuple[str, ...]) -> None:
    scalar = fired_triggers(ALL, failed=bool(case["failed"]), predicted_label=case["predicted_label"],  # type: ignore[arg-type]
                            human_label=case["human_label"], low_confidence=case["low_confidence"],  # type: ignore[arg-type]
                            ai_volume_mm3=case["ai_volume_mm3"], reviewed_volume_mm3=case["reviewed_volume_mm3"])  # type: ignore[arg-type]
    assert scalar == expected
    flags = trigger_flags(pd.DataFrame([case]), ALL).iloc[0]
    assert tuple(t for t in ("volume_disagreement", "reader_disagreement", "low_confidence", "failure")
                 if flags[t]) == expected
    assert bool(flags["any"]) == bool(expected)


def test_undeclared_triggers_never_fire_and_failures_count_only_with_the_failure_trigger() -> None:
    volume_only = ReviewTriggers(volume_disagreement=0.15)
    cases = pd.DataFrame([_case(human_label=0.0, low_confidence=1.0), _case(failed=True, predicted_label=NAN)])
    flags = trigger_flags(cases, volume_only)
    assert list(flags.columns) == ["volume_disagreement", "any", "counted"]
    assert not flags["any"].any() and flags["counted"].tolist() == [True, False]
    assert fired_triggers(volume_only, failed=True) == ()


def test_vectorised_flags_agree_with_the_scalar_rule_case_by_case() -> None:
    rng = np.random.default_rng(3)
    n = 400
    cases = pd.DataFrame({
        "model_version": "1.0.0", "failed": rng.random(n) < 0.05, "predicted_label": rng.integers(0, 2, n).astype(float),
        "human_label": np.where(rng.random(n) < 0.5, rng.integers(0, 2, n), np.nan),
        "low_confidence": np.where(rng.random(n) < 0.7, rng.integers(0, 2, n), np.nan),
        "ai_volume_mm3": np.where(rng.random(n) < 0.8, rng.uniform(0, 200, n), np.nan),
        "reviewed_volume_mm3": np.where(rng.random(n) < 0.8, rng.uniform(0, 200, n), np.nan),
        "overlap_volume_mm3": np.nan})
    flags = trigger_flags(cases, ALL)
    for i, row in cases.iterrows():
        fired = fired_triggers(ALL, failed=bool(row["failed"]), predicted_label=row["predicted_label"],
                               human_label=row["human_label"], low_confidence=row["low_confidence"],
                               ai_volume_mm3=row["ai_volume_mm3"], reviewed_volume_mm3=row["reviewed_volume_mm3"])
        assert tuple(t for t in fired) == tuple(t for t in ALL_ORDER if flags.at[i, t]), i


ALL_ORDER = ("volume_disagreement", "reader_disagreement", "low_confidence", "failure")


def _wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927), written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = x / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def test_review_rates_by_stratum_match_a_hand_count(config) -> None:  # type: ignore[no-untyped-def]
    # 10 GE cases: 4 volume disagreements, 1 failure; 10 Siemens cases: 1 volume disagreement.
    rows = []
    for i in range(10):
        rows.append(_case(scanner="GE", child_pugh="A", age_band="50-69", sex="M", ai_volume_mm3=130.0 if i < 4 else 100.0,
                          reviewed_volume_mm3=100.0) if i < 9 else
                    _case(scanner="GE", child_pugh="A", age_band="50-69", sex="M", failed=True, predicted_label=NAN))
        rows.append(_case(scanner="Siemens", child_pugh="B", age_band="<50", sex="F",
                          ai_volume_mm3=50.0 if i == 0 else 100.0, reviewed_volume_mm3=100.0))
    rates = {(r.stratum.key): r for r in review_rates(pd.DataFrame(rows), config)}
    assert (rates["overall"].events, rates["overall"].trials) == (6, 20)
    assert rates["overall"].by_trigger == {"volume_disagreement": 5, "failure": 1}
    assert (rates["scanner=GE"].events, rates["scanner=GE"].trials) == (5, 10)
    assert (rates["scanner=Siemens"].events, rates["scanner=Siemens"].trials) == (1, 10)
    assert (rates["child_pugh=A & scanner=GE"].events, rates["child_pugh=A & scanner=GE"].trials) == (5, 10)
    low, high = _wilson(6, 20)
    assert rates["overall"].ci_low == pytest.approx(low, abs=1e-12)
    assert rates["overall"].ci_high == pytest.approx(high, abs=1e-12)
    evidence = {e.stratum.key: e for e in review_rate_evidence(list(rates.values()))}
    assert evidence["scanner=GE"].metric == "review_rate" and evidence["scanner=GE"].kind == "proportion"
    assert (evidence["scanner=GE"].events, evidence["scanner=GE"].trials) == (5, 10)


def test_dice_and_iou_against_a_hand_computation() -> None:
    ai = np.array([100.0, 80.0, 50.0, 10.0, 0.0, 40.0])
    reviewed = np.array([100.0, 120.0, 50.0, 5.0, 0.0, 40.0])
    overlap = np.array([90.0, 60.0, 0.0, 8.0, 0.0, np.nan])  # 8 > min(10, 5): impossible; 0+0: undefined
    dice, iou, valid = overlap_scores(ai, reviewed, overlap)
    assert valid.tolist() == [True, True, True, False, False, False]
    assert dice[:3].tolist() == pytest.approx([180 / 200, 120 / 200, 0.0])
    assert iou[:3].tolist() == pytest.approx([90 / 110, 60 / 140, 0.0])
    # IoU = Dice / (2 - Dice) for every valid case (an identity, not the code's formula)
    assert iou[:3] == pytest.approx(dice[:3] / (2 - dice[:3]))


def test_mean_t_interval_equals_scipy_and_median_interval_the_order_statistic_table() -> None:
    values = np.array([0.81, 0.92, 0.77, 0.88, 0.85, 0.90, 0.69, 0.95, 0.83, 0.86])
    mean, low, high = mean_t_interval(values, confidence=0.95)
    expected = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean()) and (low, high) == pytest.approx(expected)
    # n = 10 at 95%: the interval of the median is (x(2), x(9)) (coverage 1 - 2 P(Bin(10, 1/2) <= 1) = 0.9785)
    median, m_low, m_high = median_interval(values, confidence=0.95)
    ordered = np.sort(values)
    assert median == pytest.approx(np.median(values)) and (m_low, m_high) == (ordered[1], ordered[8])
    assert 1 - 2 * stats.binom.cdf(1, 10, 0.5) == pytest.approx(0.978515625)
    assert median_interval(values[:5], confidence=0.95)[1:] == (None, None)  # n = 5: P(B <= 0) = 1/32 > 0.025
    assert mean_t_interval(values[:1], confidence=0.95) == (values[0], None, None)


def test_overlap_summary_by_stratum(config) -> None:  # type: ignore[no-untyped-def]
    cases = pd.DataFrame([
        _case(scanner="GE", child_pugh="A", age_band="<50", sex="M", ai_volume_mm3=100.0, reviewed_volume_mm3=100.0,
              overlap_volume_mm3=90.0),
        _case(scanner="GE", child_pugh="A", age_band="<50", sex="M", ai_volume_mm3=80.0, reviewed_volume_mm3=120.0,
              overlap_volume_mm3=60.0),
        _case(scanner="Siemens", child_pugh="A", age_band="<50", sex="M", ai_volume_mm3=10.0, reviewed_volume_mm3=5.0,
              overlap_volume_mm3=8.0),
        _case(scanner="Siemens", child_pugh="A", age_band="<50", sex="M", failed=True, predicted_label=NAN)])
    rows = {r.stratum.key: r for r in overlap_by_stratum(cases, config)}
    assert (rows["overall"].cases, rows["overall"].invalid_overlap) == (2, 1)
    assert rows["scanner=GE"].dice[0] == pytest.approx((0.9 + 0.6) / 2)
    assert rows["scanner=GE"].iou[0] == pytest.approx((90 / 110 + 60 / 140) / 2)
    assert rows["scanner=Siemens"].cases == 0 and rows["scanner=Siemens"].dice == (None, None, None)
