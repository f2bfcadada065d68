"""The comparator section through the database on both engines: the repository's paired counts equal a recount of
the rows inserted (the comparator call from comparator_label when logged, else the score's cut; retracted, late,
unlabelled and comparator-less rows left out; the latest ground-truth version), and an analysis stores the section
(valid against the generated schema) with no finding, ticket or model version of the comparator's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import text

from monitor.adapters.db.repositories.comparator import ComparatorRepository
from monitor.adapters.db.tables import ground_truth, ingestion_batches, prediction_retractions, predictions
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device

ROOT = Path(__file__).resolve().parents[3]
DEVICE = "nodule-growth"
START = datetime(2025, 1, 2, tzinfo=UTC)  # inside 2025Q1 in Asia/Shanghai
INGESTED = datetime(2025, 4, 5, tzinfo=UTC)
CUTOFF = datetime(2026, 1, 31, tzinfo=UTC)
RADS = [1.0, 2.0, 3.0, 4.0, 4.5, 5.0]


def _cases(n: int = 300, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.3).astype(int)
    score = np.round(np.clip(rng.normal(0.35 + 0.3 * label, 0.18), 0, 1), 4)
    rads = np.array(RADS)[np.clip(np.round(rng.normal(1.5 + 2.0 * label, 1.2)), 0, 5).astype(int)]
    i = np.arange(n)
    frame = pd.DataFrame({
        "prediction_id": [f"p-{k:04d}" for k in i], "model_version": np.where(i % 5 == 0, "1.1.0", "1.0.0"),
        "score": score, "predicted_label": (score >= 0.5).astype(int), "age": 50 + i % 30,
        "nodule_type": np.array(["solid", "part_solid", "ground_glass"])[i % 3],
        "comparator_score": rads, "comparator_label": None, "truth": label,
        "predicted_at": [START + timedelta(hours=3 * int(k)) for k in i]})
    frame["comparator_label"] = frame["comparator_label"].astype(object)
    frame.loc[i % 11 == 3, "comparator_label"] = 1                    # a logged call wins over the score's cut
    frame.loc[i % 13 == 4, ["comparator_score", "comparator_label"]] = [None, 0]  # a call without a score
    frame.loc[i % 17 == 6, ["comparator_score", "comparator_label"]] = [None, None]  # no comparator: left out
    return frame


def _insert(engine: Any, cases: pd.DataFrame) -> pd.DataFrame:
    """Insert the cases; return those the section must count (labelled, active, ingested by the cut-off)."""
    common = {"device_id": DEVICE, "site_id": "site-sh-01", "patient_hash": "0" * 64, "row_hash": "1" * 64,
              "batch_id": 1, "sex": None, "study_uid": None}
    late = cases.index % 29 == 8
    with engine.begin() as conn:
        conn.execute(ingestion_batches.insert().values(
            batch_id=1, kind="predictions", source_name="test", source_format="csv", source_sha256="2" * 64,
            rows_total=0, accepted=0, duplicates=0, rejected=0, started_at=INGESTED, finished_at=INGESTED, actor="t"))
        rows = []
        for k, r in enumerate(cases.to_dict("records")):
            rows.append(common | {
                "prediction_id": r["prediction_id"], "model_version": r["model_version"], "score": r["score"],
                "predicted_label": int(r["predicted_label"]), "age": float(r["age"]), "predicted_at": r["predicted_at"],
                "attributes": {"nodule_type": r["nodule_type"]},
                "comparator_score": None if pd.isna(r["comparator_score"]) else float(r["comparator_score"]),
                "comparator_label": None if r["comparator_label"] is None else int(r["comparator_label"]),
                "ingested_at": CUTOFF + timedelta(days=1) if late[k] else INGESTED})
        conn.execute(predictions.insert(), rows)
        unlabelled = cases.index % 19 == 2
        revised = cases.index % 7 == 1  # a first, wrong version then the latest one
        truth = [{"device_id": DEVICE, "prediction_id": r["prediction_id"], "version": 2 if revised[k] else 1,
                  "label": int(r["truth"]), "confirmed_at": INGESTED, "source": "histopathology", "row_hash": "3" * 64,
                  "batch_id": 1, "ingested_at": INGESTED, "is_latest": True}
                 for k, r in enumerate(cases.to_dict("records")) if not unlabelled[k]]
        truth += [t | {"version": 1, "label": 1 - t["label"], "is_latest": False} for t in truth if t["version"] == 2]
        conn.execute(ground_truth.insert(), truth)
        conn.execute(prediction_retractions.insert(), [
            {"device_id": DEVICE, "prediction_id": "p-0010", "retracted_at": INGESTED, "reason": "test", "batch_id": 1,
             "ingested_at": INGESTED}])
        if conn.dialect.name == "postgresql":  # planner statistics, as autovacuum would gather them
            conn.execute(text("ANALYZE"))
    keep = ~late & ~unlabelled & (cases["prediction_id"] != "p-0010") & (
        cases["comparator_score"].notna() | cases["comparator_label"].notna())
    return cases.loc[keep]


@pytest.fixture
def config(app) -> DeviceConfig:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "examples" / "nodule-growth-lung-rads.yaml").read_text(encoding="utf-8"))
    data["model_versions"].append(data["model_versions"][0] | {"version": "1.1.0", "full_version": "1.1.0"})
    loaded = DeviceConfig.model_validate(data)
    register_device(loaded, uow=app.uow, clock=app.clock, actor="t", source="test")
    return loaded


def test_paired_counts_equal_a_recount_of_the_rows(app, config: DeviceConfig) -> None:  # type: ignore[no-untyped-def]
    counted = _insert(app.engine, _cases())
    with app.engine.connect() as conn:
        frame = ComparatorRepository(conn).paired_counts(
            DEVICE, start=START - timedelta(days=1), end=START + timedelta(days=80), cutoff=CUTOFF,
            attributes=config.strata.attributes, positive_from=4.0)
    expected = counted.assign(
        ai_bin=np.floor(counted["score"] * 1000 + 0.5).astype(int),
        comparator_call=np.where(counted["comparator_label"].notna(), counted["comparator_label"],
                                 (counted["comparator_score"] >= 4).astype(int)).astype(float),
        age_band=np.where(counted["age"] >= 65, ">=65", "<65"))
    keys = ["model_version", "ai_bin", "comparator_score", "predicted_label", "comparator_call", "truth"]
    for grouping in ("", "age_band", "nodule_type"):
        got = frame.loc[frame["grouping"] == grouping].rename(columns={"ai_call": "predicted_label", "label": "truth"})
        by = keys + ([grouping] if grouping else [])
        mine = expected.groupby(by, dropna=False).size().rename("n").reset_index().sort_values(by, ignore_index=True)
        theirs = got[by + ["n"]].sort_values(by, ignore_index=True)
        pd.testing.assert_frame_equal(theirs, mine, check_dtype=False)
    assert frame.loc[frame["grouping"] == "", "n"].sum() == len(counted)


def test_analysis_stores_the_section_and_no_comparator_finding(  # type: ignore[no-untyped-def]
        app, config: DeviceConfig, analysis_validator) -> None:
    counted = _insert(app.engine, _cases())
    outcome = analyze_period(DEVICE, Period.parse("2025Q1"), uow=app.uow, clock=app.clock, actor="t", cutoff=CUTOFF)
    document = json.loads(json.dumps(outcome.document))
    errors = [f"{e.json_path}: {e.message}" for e in analysis_validator.iter_errors(document)]
    assert not errors, errors[:5]
    section = document["comparator"]
    assert section["name"] == "Lung-RADS v2022" and section["studies"] == len(counted)
    assert {r["model_version"] for r in section["rows"]} == {"1.0.0", "1.1.0"}
    versions = {r["model_version"] for key in ("counts", "results", "findings") for r in document[key]}
    assert versions <= {"1.0.0", "1.1.0"}
    assert all(f["metric"] in ("sensitivity", "specificity", "ppv", "npv") for f in document["findings"])
    assert "Lung-RADS" not in json.dumps(document["findings"])


def test_no_section_without_a_configured_comparator(app) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "examples" / "nodule-growth-lung-rads.yaml").read_text(encoding="utf-8"))
    del data["comparator"]
    register_device(DeviceConfig.model_validate(data), uow=app.uow, clock=app.clock, actor="t", source="test")
    _insert(app.engine, _cases(n=90))
    outcome = analyze_period(DEVICE, Period.parse("2025Q1"), uow=app.uow, clock=app.clock, actor="t", cutoff=CUTOFF)
    assert "comparator" not in outcome.document
