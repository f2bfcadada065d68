"""Pure pieces of the dashboard: the heat map's cell texts and marks (the decision rule's outcomes), the CUSUM
chart of an alarmed period, the drift verdicts, and the `streamlit run` command."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards.charts import GRAMMAR, cusum_chart, drift_chart, drift_ratio, drift_verdicts, heatmap, heatmap_frame
from monitor.entrypoints.cli.dashboard import DASHBOARD_APP, streamlit_command
from monitor.service.queries import GRID_COLUMNS


def _grid() -> pd.DataFrame:
    rows = [
        {"row": ">=75", "column": "severe", "stratum": "s1", "successes": 63, "trials": 91, "estimate": 63 / 91,
         "ci_low": 0.59, "ci_high": 0.78, "claim": 0.9, "margin": 0.02, "difference": 63 / 91 - 0.9,
         "q_value": 6e-6, "status": "flagged"},
        {"row": ">=75", "column": "none", "stratum": "s2", "successes": 20, "trials": 21, "estimate": 20 / 21,
         "ci_low": 0.77, "ci_high": 0.99, "claim": 0.9, "margin": 0.02, "difference": 20 / 21 - 0.9,
         "q_value": None, "status": "insufficient"},
        {"row": "<45", "column": "none", "stratum": "s3", "successes": 0, "trials": 0, "status": "no_data"},
    ]
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def test_heatmap_cells_show_estimate_and_n_and_mark_flagged_and_low_n() -> None:
    frame = heatmap_frame(_grid())
    assert list(frame["label"]) == ["69.2% ⚑", "95.2%", "—"]
    assert list(frame["n_label"]) == ["n=91", "n=21 · low n", "no data"]
    assert frame["colour"].iloc[0] < 0 and frame["colour"].iloc[1:].isna().all()  # untested cells get no colour


def test_heatmap_colour_scale_is_diverging_and_centred_at_zero() -> None:
    spec = heatmap(_grid(), rows="age_band", columns="emphysema_grade", metric="sensitivity").to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domainMid"] == 0 and scale["domain"][0] == -scale["domain"][1] and scale["scheme"] == "redblue"


def test_dashboard_command_runs_streamlit_headless_on_the_app() -> None:
    command = streamlit_command(port=8765, address="127.0.0.1")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == str(DASHBOARD_APP) and DASHBOARD_APP.is_file()
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.port"] == "8765" and options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


def _decided_grid() -> pd.DataFrame:
    rows = [
        {"row": ">=75", "column": "severe", "stratum": "s1", "successes": 63, "trials": 91, "estimate": 63 / 91,
         "ci_low": 0.59, "ci_high": 0.78, "claim": 0.9, "margin": 0.02, "difference": 63 / 91 - 0.9,
         "q_value": 6e-6, "status": "flagged", "family": "exploratory", "provisional": False},
        {"row": ">=75", "column": "none", "stratum": "s2", "successes": 180, "trials": 200, "estimate": 0.9,
         "ci_low": 0.85, "ci_high": 0.93, "claim": 0.9, "margin": 0.02, "difference": 0.0, "q_value": 0.6,
         "status": "inconclusive", "family": "exploratory", "provisional": True},
        {"row": "<45", "column": "none", "stratum": "s3", "successes": 950, "trials": 1000, "estimate": 0.95,
         "ci_low": 0.93, "ci_high": 0.96, "claim": 0.9, "margin": 0.02, "difference": 0.05, "q_value": 1.0,
         "status": "conforming", "family": "exploratory", "provisional": False},
        {"row": "<45", "column": "mild", "stratum": "s4", "successes": 95, "trials": 100, "estimate": 0.95,
         "ci_low": 0.89, "ci_high": 0.98, "claim": 0.9, "margin": 0.02, "difference": 0.05, "q_value": 0.9,
         "status": "ok"},  # a run stored before the decision rule
    ]
    return pd.DataFrame(rows, columns=GRID_COLUMNS if "family" in GRID_COLUMNS else [*GRID_COLUMNS, "family",
                                                                                        "provisional"])


def test_heatmap_marks_each_outcome_of_the_rule_and_provisional_cells() -> None:
    frame = heatmap_frame(_decided_grid())
    assert list(frame["label"]) == ["69.2% ⚑", "90.0% ?", "95.0% ✓", "95.0%"]
    assert list(frame["n_label"]) == ["n=91", "n=200 · provisional", "n=1000", "n=100"]
    assert frame["colour"].notna().all()  # every outcome reached by a test is coloured, the old "ok" too
    layers = heatmap(_decided_grid(), rows="age_band", columns="emphysema_grade", metric="sensitivity").to_dict()
    dashed = [layer for layer in layers["layer"] if layer.get("transform") and
              layer["transform"][0].get("filter") == "(datum.status === 'inconclusive')"]
    assert len(dashed) == 1 and dashed[0]["mark"]["strokeDash"] == [2, 2]


def test_an_alarmed_cusum_period_is_drawn_at_its_alarm_not_at_its_restarted_end() -> None:
    cusum = pd.DataFrame([{"period": "2025Q2", "statistic": 1.2, "h": 4.0, "alarms": 0, "cases": 900, "peak": None,
                           "alarm_dates": ""},
                          {"period": "2025Q3", "statistic": 0.4, "h": 4.0, "alarms": 1, "cases": 950, "peak": 4.3,
                           "alarm_dates": "2025-08-14 (case 1,712)"}])
    spec = cusum_chart(cusum).to_dict()
    values = next(iter(spec["datasets"].values()))
    shown = {v["period"]: (v["shown"], v["alarmed"]) for v in values}
    assert shown == {"2025Q2": (1.2, False), "2025Q3": (4.3, True)}
    bars = spec["layer"][0]["encoding"]
    assert bars["y"]["field"] == "shown" and bars["color"]["scale"]["range"][1] == GRAMMAR["alarm"]["colour"]
    assert any(t.get("field") == "alarm_dates" for t in bars["tooltip"])
    # a run stored before dated alarms (no peak column) still draws its end values
    old = cusum_chart(cusum.drop(columns=["peak", "alarm_dates"])).to_dict()
    assert [v["shown"] for v in next(iter(old["datasets"].values()))] == [1.2, 0.4]


def test_a_drift_row_without_reference_reads_no_reference_never_not_drifted() -> None:
    drift = pd.DataFrame([
        {"reference": "preceding", "feature": "age", "value": 0.2, "threshold": 0.1, "drifted": True, "reason": None},
        {"reference": "baseline", "feature": "age", "value": None, "threshold": None, "drifted": None,
         "reason": "no_reference"},
        {"reference": "preceding", "feature": "sex", "value": 0.01, "threshold": 0.1, "drifted": False,
         "reason": "distance_below_threshold"},
        {"reference": "preceding", "feature": "site_id", "value": None, "threshold": None, "drifted": None,
         "reason": "no_current_cases"}])
    assert drift_verdicts(drift) == ["drifted", "no reference", "not drifted", "not compared"]
    spec = drift_chart(drift).to_dict()
    values = next(iter(spec["datasets"].values()))
    assert [v["label"] for v in values] == ["age · preceding", "age · baseline", "sex · preceding",
                                           "site_id · preceding"]
    assert [v["text"] for v in values] == ["", "no reference", "", "not compared"]
    assert drift_verdicts(pd.DataFrame({"drifted": [True, False]})) == ["drifted", "not drifted"]  # old flat rows


def test_a_large_p_value_is_not_drawn_as_a_long_drift_bar() -> None:
    rate = {"method": "two-proportion-z", "value": 0.63, "threshold": 0.05, "effect_size": -0.0011,
            "effect_floor": 0.02}
    assert drift_ratio(rate) == pytest.approx(0.055)  # |effect| / floor, not 0.63 / 0.05 = 12.6
    assert drift_ratio({"method": "two-proportion-z", "value": 0.01, "threshold": 0.05}) == pytest.approx(5.0)
    assert drift_ratio({"method": "two-proportion-z", "value": 0.63, "threshold": 0.05}) < 1  # stored before floors
    assert drift_ratio({"method": "wasserstein", "value": 0.2, "threshold": 0.1}) == pytest.approx(2.0)
    assert drift_ratio({"method": "wasserstein", "value": None, "threshold": None}) is None
