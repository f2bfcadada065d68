"""The repeated patients' cells (PatientClusterRepository) on both engines: exactly the confirmed cases of the
patients with two or more of them in the window, per patient and cell, counted as the confusion cells are;
the service's design effects and ``clustering`` section from them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import jsonschema
import pandas as pd
import pytest

from monitor.domain.periods import Period
from monitor.domain.strata import assign_labels
from monitor.service.patient_clusters import patient_clustering
from monitor.service.sections import Window
from monitor.service.window import materialised_cases
from monitor.synthetic import DemoScenario

SCENARIO = DemoScenario(seed=5, scale=0.005)
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)
COUNTS = ["tp", "fp", "fn", "tn"]
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _window(app) -> Window:  # type: ignore[no-untyped-def]
    start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))
    return Window("lung-nodule-ct", start, end, max(CUTOFF, app.clock()))


def _expected(data, window: Window, attributes, hasher) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The same table from the generated frames, in pandas: the window's predictions with a label, the
    patients with two or more of them, numbered by the rank of their keyed hash."""
    cases = data.predictions.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    at = cases["predicted_at"].dt.tz_convert("UTC")
    cases = cases.loc[(at >= pd.Timestamp(window.start)) & (at < pd.Timestamp(window.end))].copy()
    cases = cases.loc[cases.groupby("patient_id")["patient_id"].transform("size") >= 2]
    names = [a.name for a in attributes]
    cases[names] = assign_labels(cases, attributes)
    for name, (truth, call) in zip(COUNTS, [(1, 1), (0, 1), (1, 0), (0, 0)], strict=True):
        cases[name] = ((cases["label"] == truth) & (cases["predicted_label"] == call)).astype("int64")
    hashes = cases["patient_id"].map(hasher)
    cases["patient"] = hashes.map({h: i for i, h in enumerate(sorted(hashes.unique()))}).astype("int64")
    keys = ["patient", "model_version", *names]
    return cases.groupby(keys, as_index=False)[COUNTS].sum().sort_values(keys).reset_index(drop=True)


def test_repeated_patient_cells_are_the_repeated_patients_confirmed_cases(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    data = ingest_scenario(SCENARIO)
    window = _window(app)
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
        attributes = config.strata.attributes
        with materialised_cases(unit, config, window) as cases:
            read = unit.patient_clusters.repeated_patient_cells(cases)
        cells = unit.results.confusion_cells("lung-nodule-ct", attributes=attributes, **window.kwargs())
    expected = _expected(data, window, attributes, app.patient_hasher())
    assert read["patient"].nunique() > 50
    assert (read.groupby("patient")[COUNTS].sum().sum(axis=1) >= 2).all()
    pd.testing.assert_frame_equal(read.sort_values(list(read.columns[:-4])).reset_index(drop=True), expected,
                                  check_dtype=False)
    # every case read is one the confusion cells count
    keys = ["model_version", *[a.name for a in attributes]]
    inside = read.groupby(keys)[COUNTS].sum().join(cells.set_index(keys), rsuffix="_cells")
    assert all((inside[c] <= inside[f"{c}_cells"]).all() for c in COUNTS)


def test_service_gives_the_rules_design_effects_and_a_valid_section(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    data = ingest_scenario(SCENARIO)
    window = _window(app)
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
        cells = unit.results.confusion_cells("lung-nodule-ct", attributes=config.strata.attributes,
                                             **window.kwargs())
        with materialised_cases(unit, config, window) as cases:
            effects, section = patient_clustering(unit, config, cells, cases)
    schema = json.loads((ROOT / "schemas" / "analysis.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(section, {"$defs": schema["$defs"], **schema["properties"]["clustering"]})
    overall = section["strata"][0]
    assert overall["stratum"] == "overall"
    assert overall["cases"] == int(cells[COUNTS].to_numpy().sum())
    assert overall["patients_with_several_cases"] == section["repeated_patients"] > 0
    confirmed = data.predictions.merge(data.ground_truth[["prediction_id"]], on="prediction_id")
    at = confirmed["predicted_at"].dt.tz_convert("UTC")
    confirmed = confirmed.loc[(at >= pd.Timestamp(window.start)) & (at < pd.Timestamp(window.end))]
    assert overall["patients"] == confirmed["patient_id"].nunique() < overall["cases"]
    assert effects[("2.1.0", "overall", "sensitivity")] == pytest.approx(overall["design_effects"]["sensitivity"])
    assert all(row["patients"] <= row["cases"] for row in section["strata"])
    defined = sum(d is not None for row in section["strata"] for d in row["design_effects"].values())
    assert len(effects) == defined > 2 * len(section["strata"])
