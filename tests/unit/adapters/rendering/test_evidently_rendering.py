"""The Evidently report files from a drift sample, without a database: the banner and the JSON comparison,
a column without values left out of Evidently's run, and the page of a sample without a reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitor.service.evidently_report import DECIDING_METHOD, DriftSample

pytest.importorskip("evidently")

from monitor.adapters.rendering.evidently import render_evidently  # noqa: E402


def _sample(reference: pd.DataFrame, current: pd.DataFrame) -> DriftSample:
    kinds = {"site_id": "categorical", "age": "numeric", "density": "numeric"}
    ours = {name: {"feature": name, "kind": kind, "method": "wasserstein" if kind == "numeric" else "jensenshannon",
                   "value": 0.05, "threshold": 0.1, "drifted": False, "reason": "distance_below_threshold",
                   "reference_n": len(reference), "current_n": len(current)} for name, kind in kinds.items()}
    side = {"start_utc": None, "end_utc": None, "population": 0, "rows": 0, "by_site": []}
    return DriftSample(device_id="dev-<1>", period="2025Q3", run_id="run-1", kinds=kinds,
                       methods={n: r["method"] for n, r in ours.items()}, thresholds={n: 0.1 for n in kinds},
                       reference=reference, current=current, ours=ours,
                       sample={"max_rows_per_side": 5000, "seed": 1, "stratified_by": "site_id",
                               "allocation": "proportional", "data_cutoff": "2026-01-31T00:00:00Z",
                               "reference_periods": ["2025Q2"], "current": side, "reference": side})


def test_a_column_without_values_is_left_out_and_ours_is_said_to_decide() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"site_id": rng.choice(["a", "b"], 300), "age": rng.integers(40, 90, 300).astype(float),
                              "density": np.nan})
    current = pd.DataFrame({"site_id": rng.choice(["a", "b"], 200), "age": rng.integers(50, 90, 200).astype(float),
                            "density": rng.random(200)})
    html, text = render_evidently(_sample(reference, current), {"report_id": "r-1", "revision": 2})
    report = json.loads(text)
    by_feature = {c["feature"]: c for c in report["columns"]}
    assert by_feature["density"]["evidently"] is None and by_feature["density"]["same_verdict"] is None
    assert by_feature["age"]["evidently"]["method"] == "wasserstein" and by_feature["site_id"]["evidently"]
    assert report["deciding_method"] == DECIDING_METHOD and report["evidently"]["metrics"]
    assert html.count('id="samd-monitor-banner"') == 1 and "dev-&lt;1&gt;" in html and "dev-<1>" not in html
    again, _ = render_evidently(_sample(reference, current), {"report_id": "r-1", "revision": 2})
    assert again == html  # Evidently's random element ids replaced: the same sample, the same page


def test_without_a_reference_the_page_says_not_compared() -> None:
    empty = pd.DataFrame(columns=["site_id", "age", "density"])
    current = pd.DataFrame({"site_id": ["a"], "age": [60.0], "density": [0.5]})
    html, text = render_evidently(_sample(empty, current), {"report_id": "r-1", "revision": 1})
    assert json.loads(text)["evidently"] is None and "Not compared" in html
