"""CUSUM chart design in the service's sequential monitoring (monitor.domain.sequential_monitoring)."""

from __future__ import annotations

import pytest

from monitor.domain.sequential_monitoring import _design
from monitor.stats.sequential import design_bernoulli_cusum


def test_an_arl0_beyond_what_the_chain_resolves_falls_back_to_the_largest_it_resolves() -> None:
    """At extreme volumes the budget can ask for ARL0 ~ 2e9, which the exact chain cannot reach for
    p0 = 0.10: the design halves the target until it can, and reports the ARL0 it attains."""
    with pytest.raises(ValueError):
        design_bernoulli_cusum(0.1, 0.12, arl0=2_097_152_000.0, grid=4_000)
    design = _design(0.1, 0.12, 2_097_152_000.0)
    assert 524_288_000.0 <= design.arl0 < 1_048_576_000.0
    assert design.h == design_bernoulli_cusum(0.1, 0.12, arl0=524_288_000.0, grid=4_000).h


# --- issue 19: reference level of the EWMA, charts under an audit design, dated alarms -------------------

from datetime import date, datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from monitor.domain.device import DeviceConfig  # noqa: E402
from monitor.domain.sequential_monitoring import (  # noqa: E402
    CusumMonitor,
    charted_rate,
    ewma_by_stratum,
    reference_periods,
)
from monitor.stats.sequential import ewma_proportion_chart, rate_among_verified, rate_from_verified  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"


def _config(**changes: dict) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["strata"]["intersections"] = "none"
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    return DeviceConfig.model_validate(data)


def _cells(tp: int, fp: int, fn: int, tn: int) -> pd.DataFrame:
    return pd.DataFrame([{"model_version": "2.1.0", "age_band": "65-74", "sex": "F", "emphysema_grade": "none",
                          "scanner_vendor": "GE", "tp": tp, "fp": fp, "fn": fn, "tn": tn}])


def _overall(rows: list[dict], metric: str) -> dict:
    return next(r for r in rows if r["stratum"] == "overall" and r["metric"] == metric)


def test_the_ewma_is_centred_on_the_configured_then_the_established_level_then_the_claim() -> None:
    history = [("2025Q1", _cells(950, 100, 50, 900)), ("2025Q2", _cells(940, 100, 60, 900)),
               ("2025Q3", _cells(900, 100, 100, 900))]
    claim = _overall(ewma_by_stratum(history, _config()), "sensitivity")
    assert (claim["reference"], claim["reference_source"]) == (0.90, "claim")
    established = _overall(ewma_by_stratum(history, _config(), {"2.1.0": (["2025Q1", "2025Q2"],
                                                                          pd.concat([history[0][1], history[1][1]]))}),
                           "sensitivity")
    assert established["reference_source"] == "established" and established["reference_trials"] == 2000
    assert established["reference"] == pytest.approx(1890 / 2000)
    oracle = ewma_proportion_chart([950, 940, 900], [1000, 1000, 1000], p0=1890 / 2000, lam=0.2, L=2.962)
    assert established["ewma"] == pytest.approx(oracle.statistic.tolist())
    assert established["lower"] == pytest.approx(oracle.lower.tolist())
    assert established["periods_below_lower_limit"] == ["2025Q3"]  # 0.90 meets the claim, not the level
    assert claim["periods_below_lower_limit"] == []
    configured = _overall(ewma_by_stratum(history, _config(monitoring={"ewma_reference": 0.93})), "sensitivity")
    assert (configured["reference"], configured["reference_source"]) == (0.93, "configured")


def test_under_an_audit_design_the_ewma_runs_on_verified_cases_and_reports_the_corrected_scale() -> None:
    audit = {"verification": "audit_sample", "sampling_fractions": {"positive_calls": 1.0, "negative_calls": 0.1}}
    config = _config(labels=audit)
    # Verified cells: all positive calls, 10% of negative calls (specificity truly 0.90, naive ~0.47).
    history = [("2025Q1", _cells(900, 100, 10, 90)), ("2025Q2", _cells(900, 100, 10, 90))]
    spec = _overall(ewma_by_stratum(history, config), "specificity")
    assert spec["rates"] == pytest.approx([0.9, 0.9])  # Begg-Greenes corrected, not 90/190
    naive_centre = rate_among_verified(0.85, 0.1, 1.0)  # the claim's image among verified negatives
    oracle = ewma_proportion_chart([90, 90], [190, 190], p0=naive_centre, lam=0.2, L=2.962)
    assert spec["ewma"] == pytest.approx(rate_from_verified(oracle.statistic, 0.1, 1.0).tolist())
    assert spec["reference"] == pytest.approx(0.85) and spec["periods_below_lower_limit"] == []
    assert spec["verification"] == "audit_sample"


def test_audit_design_charts_use_the_verified_case_rates() -> None:
    audit = {"verification": "audit_sample", "sampling_fractions": {"positive_calls": 1.0, "negative_calls": 0.1}}
    config = _config(labels=audit)
    assert charted_rate("sensitivity", 0.10, config) == pytest.approx(0.01 / 0.91)
    assert charted_rate("specificity", 0.15, config) == pytest.approx(0.15 / (0.15 + 0.085))
    assert charted_rate("sensitivity", 0.10, _config()) == 0.10


def _chunk(labels: list[int], calls: list[int], known: list[str]) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame({"age_band": pd.Categorical(["65-74"] * n), "sex": pd.Categorical(["F"] * n),
                         "emphysema_grade": pd.Categorical(["none"] * n), "scanner_vendor": pd.Categorical(["GE"] * n),
                         "label": np.asarray(labels, dtype=np.int8), "predicted_label": np.asarray(calls, dtype=np.int8),
                         "known_at": pd.DatetimeIndex(known, tz="UTC").as_unit("ns").asi8,
                         "corrected": np.zeros(n, dtype=np.int8)})


def test_alarms_are_dated_by_the_known_at_instant_and_numbered_since_the_chart_start() -> None:
    segment = (datetime(2025, 6, 30, 16, tzinfo=timezone.utc), datetime(2025, 9, 30, 16, tzinfo=timezone.utc))
    monitor = CusumMonitor(_config(), "2.1.0", {}, segment=segment, timezone=ZoneInfo("Asia/Shanghai"))
    misses = 80  # a run of misses: the chart (ARL0 1000) must alarm within it
    known = ["2025-06-01T00:00:00"] * 10 + ["2025-08-31T17:30:00"] * misses
    monitor.update(_chunk([1] * (10 + misses), [1] * 10 + [0] * misses, known))
    chart = next(r for r in monitor.results() if r["stratum"] == "overall" and r["metric"] == "sensitivity")
    first = chart["first_alarm"]
    assert chart["cases_since_start"] == 90 and chart["cases_in_period"] == misses
    assert first["known_at_utc"] == "2025-08-31T17:30:00Z" and first["known_on"] == "2025-09-01"  # Shanghai
    assert first["case_index"] == first["case_in_period"] + 10 and first["statistic"] >= chart["h"]
    assert chart["design_basis"] == "minimum_arl0" and 1000 <= chart["arl0"] < 1001


def test_the_reference_periods_start_with_the_period_of_the_first_prediction() -> None:
    assert [p.label for p in reference_periods(date(2025, 5, 17), "quarter", 3)] == ["2025Q2", "2025Q3", "2025Q4"]
    assert [p.label for p in reference_periods(date(2025, 12, 2), "month", 2)] == ["2025-12", "2026-01"]


# --- issue 16: each chart's path over the period, per local day (drawn as S_t against h) ------------------

def _path_monitor() -> tuple[CusumMonitor, pd.DataFrame]:
    segment = (datetime(2025, 6, 30, 16, tzinfo=timezone.utc), datetime(2025, 9, 30, 16, tzinfo=timezone.utc))
    monitor = CusumMonitor(_config(), "2.1.0", {}, segment=segment, timezone=ZoneInfo("Asia/Shanghai"))
    # history (June), then hits on 2 July, then a run of misses on 1 Sept (Shanghai) that alarms, then hits
    known = (["2025-06-01T00:00:00"] * 10 + ["2025-07-01T18:00:00"] * 20 + ["2025-08-31T17:30:00"] * 80
             + ["2025-09-02T03:00:00"] * 5)
    calls = [1] * 10 + [1] * 20 + [0] * 80 + [1] * 5
    return monitor, _chunk([1] * len(calls), calls, known)


def _sensitivity(monitor: CusumMonitor) -> dict:
    return next(r for r in monitor.results() if r["stratum"] == "overall" and r["metric"] == "sensitivity")


def test_a_chart_records_its_path_per_local_day_with_the_peak_at_each_alarm_and_the_restart() -> None:
    monitor, chunk = _path_monitor()
    monitor.update(chunk)
    chart = _sensitivity(monitor)
    path = chart["path"]
    assert path["days"] == ["2025-07-02", "2025-09-01", "2025-09-02"]  # local days with cases, at most one each
    assert sum(path["cases"]) == chart["cases_in_period"] == 105
    alarm_day = path["days"].index(chart["first_alarm"]["known_on"])
    assert path["max"][alarm_day] >= chart["h"] and chart["alarms_in_period"] >= 1
    assert path["max"][alarm_day] == round(max(a["statistic"] for a in chart["alarms"]), 4)
    assert path["end"][alarm_day] < chart["h"]  # restarted after the alarm: below h at the day's end
    assert path["end"][-1] == round(chart["statistic"], 4)  # the last day ends at the period's end statistic
    assert chart["statistic_at_segment_start"] == 0.0  # ten hits before the period: the chart sits at 0


def test_the_path_does_not_depend_on_how_the_cases_are_chunked() -> None:
    whole, chunk = _path_monitor()
    whole.update(chunk)
    parts, _ = _path_monitor()
    for start in range(0, len(chunk), 7):
        parts.update(chunk.iloc[start:start + 7])
    assert _sensitivity(parts) == _sensitivity(whole)
