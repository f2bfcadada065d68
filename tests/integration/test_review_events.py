"""The review log and the review worklist on both engines (issue 17 item 3): versions, duplicates, conflicting
re-sends, events out of order, unknown cases, the audit record of each batch, and the worklist read model against a
recount of the generated data."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from monitor.adapters.db.tables import review_events
from monitor.service.ingest import ingest_predictions
from monitor.service.review_events import AUDIT_ACTION, ingest_review_events
from monitor.service.worklist import get_worklist
from monitor.synthetic.export import write_csv
from monitor.synthetic.hcc_review import HccScenario, generate

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["device_id", "prediction_id", "status", "reviewer", "reviewed_at", "field", "old_value", "new_value", "note"]
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def hcc(app: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``app`` with the HCC example registered and a small generated quarter of its predictions ingested."""
    from monitor.adapters.config_file import load_device_config
    from monitor.service.devices import register_device

    path = ROOT / "examples" / "hcc-segmentation-review.yaml"
    register_device(load_device_config(path), uow=app.uow, clock=app.clock, actor="pytest", source=str(path))
    data = generate(HccScenario(cases=300, seed=5))
    log = write_csv(data.predictions, tmp_path / "predictions.csv")
    ingest_predictions(app.open_log(log), source=str(log), uow=app.uow, hash_patient=app.patient_hasher(),
                       clock=app.clock, actor="pytest")
    return app, data


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([r.get(c, "") for c in COLUMNS] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _sent(data: Any) -> list[str]:
    p = data.predictions
    ai, reviewed = p["ai_volume_mm3"].to_numpy(float), p["reviewed_volume_mm3"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        fired = (np.abs(ai - reviewed) > 0.15 * reviewed) | p["result_status"].eq("failed").to_numpy()
    return p.loc[fired, "prediction_id"].tolist()


def _event(case: str, status: str, at: str, **extra: str) -> dict[str, str]:
    return {"device_id": "hcc-segmentation", "prediction_id": case, "status": status, "reviewer": "Wang Fang",
            "reviewed_at": at} | extra


def test_review_events_versioned_audited_and_read_by_the_worklist(hcc: Any, tmp_path: Path) -> None:
    app, data = hcc
    a, b = _sent(data)[:2]
    first = [
        _event(a, "in_review", "2025-10-01T09:00:00+08:00"),
        _event(a, "confirmed", "2025-10-01T10:00:00+08:00", note="agrees"),
        _event(b, "edited", "2025-10-02T09:00:00+08:00", field="reviewed_volume_mm3", old_value="100", new_value="120"),
        _event(a, "in_review", "2025-10-01T09:00:00+08:00"),  # the same event again: a duplicate
        _event("HCC-999999", "confirmed", "2025-10-01T09:00:00+08:00"),  # no such case
        _event(b, "approved", "2025-10-03T09:00:00+08:00"),  # not a status
    ]
    path = _write(tmp_path / "reviews.csv", first)
    one = ingest_review_events(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest")
    assert (one.rows, one.accepted, one.duplicates, one.rejected) == (6, 3, 1, 2)
    assert dict(one.reasons) == {"unknown_prediction": 1, "invalid_status": 1}
    again = ingest_review_events(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest")
    assert (again.accepted, again.duplicates) == (0, 4)

    second = [
        _event(a, "rejected", "2025-10-05T09:00:00+08:00", note="leaks into the portal vein"),  # version 3
        _event(a, "confirmed", "2025-10-01T10:00:00+08:00", note="changed later"),  # conflicting re-send
        _event(b, "confirmed", "2025-10-01T09:00:00+08:00"),  # before b's latest event
    ]
    path2 = _write(tmp_path / "reviews-2.csv", second)
    two = ingest_review_events(app.open_log(path2), source=str(path2), uow=app.uow, clock=app.clock, actor="pytest")
    assert (two.accepted, two.duplicates, two.rejected) == (1, 0, 2)
    assert dict(two.reasons) == {"conflicting_review": 1, "review_before_latest": 1}

    with app.engine.connect() as conn:
        stored = conn.execute(select(review_events.c.prediction_id, review_events.c.version, review_events.c.status)
                              .order_by(review_events.c.prediction_id, review_events.c.version)).all()
    assert sorted(tuple(r) for r in stored) == sorted([(a, 1, "in_review"), (a, 2, "confirmed"), (a, 3, "rejected"),
                                                       (b, 1, "edited")])
    with app.uow() as unit:
        audited = unit.queries.audit_records(action=AUDIT_ACTION, entity=None, entity_id=None, actor=None, since=None,
                                             limit=10, offset=0).items
    assert len(audited) == 3 and {r.entity_id for r in audited} == {str(one.batch_id), str(again.batch_id),
                                                                    str(two.batch_id)}

    worklist = get_worklist(app.uow, "hcc-segmentation", "2025Q3", clock=lambda: AS_OF)
    sent = _sent(data)
    assert [i.prediction_id for i in worklist.items] == sorted(sent, key=lambda c: data.predictions.set_index(
        "prediction_id").loc[c, "predicted_at"])
    status = {i.prediction_id: (i.status, i.review_version, i.reviewer) for i in worklist.items}
    assert status[a] == ("rejected", 3, "Wang Fang") and status[b] == ("edited", 1, "Wang Fang")
    assert worklist.counts == {"pending": len(sent) - 2, "in_review": 0, "confirmed": 0, "edited": 1, "rejected": 1}
    assert worklist.cases == len(data.predictions)  # the failure trigger is declared: failures are cases too
    pending = get_worklist(app.uow, "hcc-segmentation", "2025Q3", clock=lambda: AS_OF, status="pending")
    assert len(pending.items) == len(sent) - 2 and all(i.status == "pending" for i in pending.items)
    # As of a cut-off before the second file, the case's latest status is its second version.
    earlier = get_worklist(app.uow, "hcc-segmentation", "2025Q3", clock=lambda: AS_OF,
                           cutoff=_ingested_at(app, a, version=2))
    assert {i.prediction_id: i.status for i in earlier.items}[a] == "confirmed"


def _ingested_at(app: Any, case: str, *, version: int) -> datetime:
    with app.engine.connect() as conn:
        return conn.execute(select(review_events.c.ingested_at).where(review_events.c.prediction_id == case,
                                                                      review_events.c.version == version)).scalar_one()


def test_worklist_endpoint_pages_with_the_read_role(hcc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from monitor.entrypoints.api.app import create_api
    from monitor.service import access
    from monitor.service.access import create_token

    app, data = hcc
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap KDF: this test is about the endpoint
    auditor = create_token(app.uow, name="aud", role="auditor", clock=app.clock, actor="pytest")[1]
    gateway = create_token(app.uow, name="gw", role="device", device_id="hcc-segmentation", clock=app.clock,
                           actor="pytest")[1]
    client = TestClient(create_api(app), raise_server_exceptions=False)
    url = "/v1/devices/hcc-segmentation/worklist"
    page = client.get(url, params={"period": "2025Q3", "limit": 5}, headers={"Authorization": f"Bearer {auditor}"})
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["items"]) == 5 and body["next_offset"] == 5 and body["counts"]["pending"] == len(_sent(data))
    assert {"prediction_id", "study_uid", "triggers", "status"} <= set(body["items"][0]) and "patient_id" not in page.text
    assert client.get(url, params={"period": "last quarter"},
                      headers={"Authorization": f"Bearer {auditor}"}).status_code == 422
    assert client.get(url, params={"period": "2025Q3", "status": "done"},
                      headers={"Authorization": f"Bearer {auditor}"}).status_code == 422
    assert client.get(url, params={"period": "2025Q3"}, headers={"Authorization": f"Bearer {gateway}"}).status_code == 403
