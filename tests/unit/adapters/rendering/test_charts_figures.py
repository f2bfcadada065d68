"""The figures' inputs (issue 16, item 6): what is handed to matplotlib and Altair, not pixels.

An alarmed CUSUM chart is drawn as its statistic against h with the alarm dates; the trend follows the flagged
stratum against its claim and goal; drift shows the rule that decided; the report and the dashboard share
one visual grammar."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import pandas as pd

from dashboards import charts as dashboard_charts
from monitor.adapters.rendering import charts
from monitor.adapters.rendering.normalise import drift_comparisons
from monitor.domain.sequential_monitoring import CusumMonitor
from tests.unit.domain.test_sequential_monitoring import _chunk, _config


def _alarmed_chart() -> dict:
    segment = (datetime(2025, 6, 30, 16, tzinfo=timezone.utc), datetime(2025, 9, 30, 16, tzinfo=timezone.utc))
    monitor = CusumMonitor(_config(), "2.1.0", {}, segment=segment, timezone=ZoneInfo("Asia/Shanghai"))
    known = ["2025-07-03T02:00:00"] * 30 + ["2025-08-10T02:00:00"] * 200 + ["2025-09-05T02:00:00"] * 40
    calls = [1] * 30 + [0] * 200 + [1] * 40
    monitor.update(_chunk([1] * len(calls), calls, known))
    return next(r for r in monitor.results() if r["stratum"] == "overall" and r["metric"] == "sensitivity")


def test_an_alarmed_charts_figure_input_has_its_alarm_dates_and_reaches_h() -> None:
    chart = _alarmed_chart()
    drawn = charts.cusum_path_input(chart)
    assert drawn is not None and chart["alarms_in_period"] >= 2
    assert [d for d, _ in drawn["alarms"]] == [a["known_on"] for a in chart["alarms"]] and drawn["alarms"][0][0] == "2025-08-10"
    assert max(drawn["max"]) >= drawn["h"] == chart["h"]
    assert all(v >= drawn["h"] for _, v in drawn["alarms"])
    day = drawn["days"].index("2025-08-10")
    assert drawn["end"][day] < drawn["h"] <= drawn["max"][day]  # the restart is visible: the day ends below h
    png = charts.cusum_path_chart([drawn | {"title": "overall"}], title="CUSUM",
                                  labels={"statistic": "S", "h": "h", "alarm": "alarm", "day_peak": "peak"})
    assert png.startswith(b"\x89PNG")


def test_a_chart_without_a_recorded_path_has_no_path_figure() -> None:
    assert charts.cusum_path_input({"h": 4.0, "alarms": []}) is None  # a document before issue 16


def test_the_trend_input_follows_the_stratum_against_its_claim_and_goal() -> None:
    point = {"claim": 0.9, "performance_goal": 0.85, "ci_low": 0.8, "ci_high": 0.9}
    series = {"points": [point | {"period": "2025Q2", "estimate": 0.86, "status": "inconclusive"},
                         point | {"period": "2025Q3", "estimate": 0.79, "ci_low": 0.75, "status": "flagged"}]}
    drawn = charts.stratum_trend_input(series)
    assert drawn["periods"] == ["2025Q2", "2025Q3"] and drawn["estimate"] == [0.86, 0.79]
    assert (drawn["claim"], drawn["goal"], drawn["flagged"]) == (0.9, 0.85, [False, True])
    assert drawn["ci_low"] == [0.8, 0.75]


def test_the_drift_rows_carry_the_rule_that_decided() -> None:
    row = {"feature": "positive_call_rate", "kind": "rate", "method": "two-proportion-z", "value": 0.0001,
           "threshold": 0.05, "effect_size": 0.03, "effect_floor": 0.1, "drifted": False,
           "reason": "significant_effect_below_floor", "reference_n": 10, "current_n": 10}
    shown = drift_comparisons({"data_drift": [{"reference": "preceding", "periods": ["2025Q2"], "rows": [row]}]})
    decided = shown[0]["rows"][0]
    assert (decided["effect"], decided["floor"], decided["p"], decided["alpha"]) == (0.03, 0.1, 0.0001, 0.05)
    assert decided["verdict"] == "not_drifted"


def test_the_dashboard_drift_figure_draws_each_condition_against_its_own_line() -> None:
    frame = pd.DataFrame([
        {"reference": "preceding", "feature": "positive_call_rate", "method": "two-proportion-z", "value": 0.0001,
         "threshold": 0.05, "effect_size": 0.03, "effect_floor": 0.1, "drifted": False,
         "reason": "significant_effect_below_floor"},
        {"reference": "preceding", "feature": "age", "method": "wasserstein", "value": 0.47, "threshold": 0.1,
         "effect_size": 0.47, "effect_floor": 0.1, "drifted": True, "reason": "distance_reached_threshold"}])
    drawn = dashboard_charts.drift_frame(frame)
    rate = drawn[drawn["feature"] == "positive_call_rate"].iloc[0]
    assert rate["effect_ratio"] < 1 and rate["verdict"] == "not drifted" and "below floor" in rate["why"]
    assert rate["p_value"] == 0.0001 and rate["alpha"] == 0.05
    distance = drawn[drawn["feature"] == "age"].iloc[0]
    assert distance["effect_ratio"] > 1 and np.isnan(distance["p_value"])
    assert dashboard_charts.drift_title(frame) == "1 of 2 comparisons drifted: age"


def test_the_report_and_the_dashboard_share_one_visual_grammar() -> None:
    assert dashboard_charts.GRAMMAR == charts.GRAMMAR


def test_the_trends_section_follows_the_flagged_stratum_over_the_runs_known_to_the_report() -> None:
    """Each period by its newest run created by the report's run; later runs and periods are not shown."""
    from types import SimpleNamespace

    from monitor.service.read_models import Page
    from monitor.service.report_sections.trends import SECTION

    def run(run_id: str, period: str, month: int, created: int) -> SimpleNamespace:
        return SimpleNamespace(run_id=run_id, device_id="d", period=period,
                               period_start=datetime(2025, month, 1, tzinfo=timezone.utc),
                               created_at=datetime(2026, 1, created, tzinfo=timezone.utc))

    runs = [run("q2-old", "2025Q2", 4, 1), run("q2", "2025Q2", 4, 2), run("q3", "2025Q3", 7, 3),
            run("q2-later", "2025Q2", 4, 9), run("q4", "2025Q4", 10, 4)]
    key = ("2.1.0", "age_band=>=75", "sensitivity")

    def result(run_id: str, estimate: float, status: str) -> SimpleNamespace:
        return SimpleNamespace(run_id=run_id, model_version=key[0], stratum=key[1], metric=key[2], successes=80,
                               trials=100, estimate=estimate, ci_low=estimate - 0.05, ci_high=estimate + 0.05,
                               claim=0.9, margin=0.05, status=status)

    stored = [result("q2-old", 0.5, "flagged"), result("q2", 0.88, "inconclusive"), result("q3", 0.8, "flagged"),
              result("q2-later", 0.1, "flagged")]
    queries = SimpleNamespace(
        runs=lambda **kw: Page(items=runs, limit=kw["limit"], offset=kw["offset"], has_more=False),
        results_of_runs=lambda ids, metric, stratum: [r for r in stored if r.run_id in ids])
    source = SimpleNamespace(rollup=False, run=runs[2], unit=SimpleNamespace(queries=queries),
                             document={"findings": [dict(zip(("model_version", "stratum", "metric"), key, strict=True))],
                                       "sequential_alarms": []})
    section = SECTION.build(source)  # type: ignore[arg-type]
    assert section is not None and section.not_drawn == 0
    (series,) = section.series
    assert series.reasons == ["flagged"]
    assert [(p.period, p.run_id, p.estimate, p.performance_goal) for p in series.points] == [
        ("2025Q2", "q2", 0.88, pytest.approx(0.85)), ("2025Q3", "q3", 0.8, pytest.approx(0.85))]
    assert SECTION.build(SimpleNamespace(**vars(source) | {"rollup": True})) is None  # type: ignore[arg-type]
