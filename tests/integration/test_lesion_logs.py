"""The lesion logs on both engines (issue 17 item 2): findings and reference lesions with good, duplicate, conflicting,
unknown-study and invalid rows (row numbers and reasons, no value echoed); a correction and a withdrawal add
reference-lesion versions, and the window reads the latest version known by its cut-off."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.tables import rejected_rows, reference_lesions
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_predictions
from monitor.service.lesion_ingest import ingest_lesion_findings, ingest_reference_lesions
from monitor.synthetic.lesions import LesionScenario, generate

EXAMPLE = Path(__file__).parents[2] / "examples" / "lung-nodule-lesions.yaml"
START, END = datetime(2025, 6, 30, tzinfo=timezone.utc), datetime(2025, 10, 1, tzinfo=timezone.utc)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_lesion_logs_ingested_versioned_and_read_by_cutoff(app: Any, tmp_path: Path) -> None:
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="pytest", source=str(EXAMPLE))
    logs = generate(LesionScenario(scans_per_quarter=30))
    path = _csv(logs.predictions, tmp_path / "p.csv")
    ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                       clock=app.clock, actor="pytest")
    good = logs.findings.head(6)
    bad = pd.concat([good.iloc[[0]],  # identical re-send: duplicate
                     good.iloc[[1]].assign(score=0.01),  # other content: conflict
                     good.iloc[[2]].assign(prediction_id="NO-SUCH-SCAN", lesion_id="x1"),  # unknown study
                     good.iloc[[3]].assign(lesion_id="x2", score="1.7", centre_x_mm="PAT-0-00001")])  # invalid
    path = _csv(pd.concat([good, bad]), tmp_path / "f.csv")
    summary = ingest_lesion_findings(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock,
                                     actor="pytest")
    assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (10, 6, 1, 3)
    assert summary.reasons == {"conflicting_duplicate": 1, "unknown_prediction": 1, "invalid_centre_x_mm": 1}
    with app.uow() as unit:
        stored = unit.connection.execute(select(rejected_rows.c.row_number, rejected_rows.c.reason)
                                         .where(rejected_rows.c.batch_id == summary.batch_id)
                                         .order_by(rejected_rows.c.row_number)).all()
    assert [n for n, _ in stored] == [8, 9, 10]
    assert "score is not within 0..1" in stored[2][1] and "PAT-0-00001" not in stored[2][1]

    scan = logs.references["prediction_id"].iloc[0]
    lesion = logs.references.loc[logs.references["prediction_id"] == scan].iloc[[0]]
    path = _csv(logs.references.loc[logs.references["prediction_id"] == scan], tmp_path / "r1.csv")
    first = ingest_reference_lesions(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest")
    cutoff_first = app.clock()
    moved = lesion.assign(centre_x_mm=lesion["centre_x_mm"] + 1)
    rows = pd.concat([lesion,  # duplicate
                      moved,  # changed without a reason: conflict
                      moved.assign(correction_reason="re-measured by the panel"),  # version 2
                      moved.assign(withdrawn=1, correction_reason="not a nodule on review"),  # version 3
                      lesion.assign(withdrawn=1),  # a withdrawal without a reason: rejected
                      lesion.assign(diameter_mm="")])  # the rule needs the diameter: rejected
    path = _csv(rows, tmp_path / "r2.csv")
    second = ingest_reference_lesions(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock,
                                      actor="pytest")
    assert (second.accepted, second.duplicates, second.rejected) == (2, 1, 3)
    assert second.reasons == {"conflicting_duplicate": 1, "withdrawn_without_reason": 1, "missing_diameter_mm": 1}
    lesion_id = lesion["lesion_id"].iloc[0]
    with app.uow() as unit:
        versions = unit.connection.execute(select(reference_lesions.c.version, reference_lesions.c.withdrawn)
                                           .where(reference_lesions.c.lesion_id == lesion_id)
                                           .order_by(reference_lesions.c.version)).all()
        assert [tuple(v) for v in versions] == [(1, False), (2, False), (3, True)]
        now = unit.lesions.window_references("lung-nodule-lesions", start=START, end=END, cutoff=app.clock())
        before = unit.lesions.window_references("lung-nodule-lesions", start=START, end=END, cutoff=cutoff_first)
    assert first.accepted == len(before) and lesion_id in set(before["lesion_id"])
    assert lesion_id not in set(now["lesion_id"]) and len(now) == len(before) - 1  # withdrawn by version 3
