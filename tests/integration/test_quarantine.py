"""The quarantine of rejected rows: filters, export in the log's layout, re-submission and dismissal (both engines)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.adapters.db.tables import audit_log, predictions
from monitor.errors import InputError, NotFoundError
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.service.quarantine import dismiss_rejections, export_rejections, list_rejections, resubmit

DEVICE = "lung-nodule-ct"
COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
           "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor", "notes"]


def row(pid: str, **changes: str) -> dict[str, str]:
    values = {"prediction_id": pid, "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
              "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
              "patient_id": f"PAT-{pid}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE",
              "notes": "free text, never stored"}
    return values | changes


def write(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(c, "") for c in columns] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def ingest(app: Any, path: Path) -> Any:
    return ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest")


def test_export_fix_resubmit_and_dismiss(app: Any, tmp_path: Path) -> None:
    first = ingest(app, write(tmp_path / "p.csv", [
        row("Q1"), row("Q2", score="1.7"), row("Q3", predicted_label="yes"), row("=HYPERLINK(1)", score="2"),
        row("Q5", age="95", score="x"), row("", score="0.1")]))
    assert (first.accepted, first.rejected) == (1, 5)
    truth = ingest_ground_truth(app.open_log(write(tmp_path / "g.csv", [
        {"prediction_id": "Q1", "device_id": DEVICE, "label": "3", "confirmed_at": "2025-09-01T10:00:00+08:00",
         "source": "other"}], ["prediction_id", "device_id", "label", "confirmed_at", "source"])),
        source="g.csv", uow=app.uow, clock=app.clock, actor="pytest")
    assert truth.rejected == 1

    # filters
    assert len(list_rejections(app.uow, limit=None)) == 6
    assert [r["record_id"] for r in list_rejections(app.uow, kind="ground_truth")] == ["Q1"]
    assert len(list_rejections(app.uow, status="open", kind="predictions")) == 5
    assert list_rejections(app.uow, since=app.clock() + timedelta(days=1)) == []
    with pytest.raises(InputError):
        list_rejections(app.uow, status="closed")

    # export: the prediction-log layout, pseudonymised, ages aggregated, free text absent, formulas neutralised
    with pytest.raises(InputError, match="export one kind at a time"):
        export_rejections(app.uow, clock=app.clock, actor="pytest")
    text, n = export_rejections(app.uow, clock=app.clock, actor="pytest", kind="predictions", status="open",
                                destination="fix.csv")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert n == len(exported) == 5
    assert list(exported[0])[:8] == ["prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                     "score", "predicted_label", "patient_id"]
    assert "notes" not in exported[0] and "free text" not in text and "PAT-" not in text
    assert exported[0]["patient_id"] == f"hmac-sha256:{app.patient_hasher()('PAT-Q2')}"
    assert exported[2]["prediction_id"] == "'=HYPERLINK(1)"
    assert exported[3]["age"] == "90"

    # correct two rows and re-send them: the pseudonymised patient id is taken as is
    fixed = [dict(r) for r in exported[:2]]
    fixed[0]["score"], fixed[1]["predicted_label"] = "0.7", "0"
    outcome = resubmit(app.open_log(write(tmp_path / "fix.csv", fixed, list(exported[0]))), batch_id=first.batch_id,
                       source="fix.csv", uow=app.uow, clock=app.clock, actor="qa-lead",
                       hash_patient=app.patient_hasher())
    assert (outcome.summary.accepted, outcome.resolved_rows) == (2, [2, 3])
    with app.uow() as unit:
        stored = {r.prediction_id: r.patient_hash for r in unit.connection.execute(select(predictions))}
    assert stored["Q2"] == app.patient_hasher()("PAT-Q2")
    resolved = {r["row_number"]: r for r in list_rejections(app.uow, batch_id=first.batch_id)}
    assert [resolved[n]["status"] for n in (2, 3, 4, 5, 6)] == ["resubmitted", "resubmitted", "open", "open", "open"]
    assert (resolved[2]["resolved_batch_id"], resolved[2]["resolved_by"]) == (outcome.summary.batch_id, "qa-lead")

    # dismiss one row, then the rest; nothing left to dismiss afterwards
    assert dismiss_rejections(app.uow, batch_id=first.batch_id, row_number=4, note="test record", clock=app.clock,
                              actor="qa-lead") == [4]
    assert dismiss_rejections(app.uow, batch_id=first.batch_id, note="sender retired", clock=app.clock,
                              actor="qa-lead") == [5, 6]
    with pytest.raises(NotFoundError):
        dismiss_rejections(app.uow, batch_id=first.batch_id, note="again", clock=app.clock, actor="qa-lead")
    with pytest.raises(NotFoundError):
        dismiss_rejections(app.uow, batch_id=999, note="x", clock=app.clock, actor="qa-lead")
    with pytest.raises(InputError):
        dismiss_rejections(app.uow, batch_id=first.batch_id, note="  ", clock=app.clock, actor="qa-lead")
    assert {r["status"] for r in list_rejections(app.uow, batch_id=first.batch_id)} == {"resubmitted", "dismissed"}
    assert list_rejections(app.uow, batch_id=first.batch_id, status="dismissed")[0]["resolution_note"] == "test record"
    with app.uow() as unit:
        actions = [r.action for r in unit.connection.execute(select(audit_log.c.action).order_by(audit_log.c.seq))]
    assert actions[-5:] == ["quarantine.export", "ingest.predictions", "quarantine.resubmit", "quarantine.dismiss",
                            "quarantine.dismiss"]
    with pytest.raises(NotFoundError):
        resubmit(app.open_log(tmp_path / "fix.csv"), batch_id=999, source="fix.csv", uow=app.uow, clock=app.clock,
                 actor="qa-lead", hash_patient=app.patient_hasher())
