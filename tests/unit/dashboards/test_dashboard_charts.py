"""Pure pieces of the dashboard: the heat map's cell texts and marks, and the `streamlit run` command."""

from __future__ import annotations

import pandas as pd

from dashboards.charts import heatmap, heatmap_frame
from monitor.entrypoints.cli.dashboard import DASHBOARD_APP, streamlit_command
from monitor.service.dashboard import GRID_COLUMNS


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
