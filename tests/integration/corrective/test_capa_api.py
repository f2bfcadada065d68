"""The CAPA record over HTTP (both engines): auditors read it (JSON and PDF), QA changes a section, freezes the
acceptance criteria and is told what is missing; other roles and computed fields are refused."""

from __future__ import annotations

from tests.e2e.test_api import api, auth  # noqa: F401  (the fixture)
from tests.unit.domain.test_capa import _record


def test_capa_endpoints_are_role_checked_and_audited(api, app) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    record = _record()
    with app.uow() as unit:
        ticket_id = unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0",
                                        stratum="emphysema_grade=severe", metric="sensitivity", title="t",
                                        at=app.clock(), acceptance_criteria=record.acceptance.rule.model_dump())
        unit.tickets.set_capa(ticket_id, record.model_copy(update={"ticket_id": ticket_id}).model_dump(mode="json"),
                              at=app.clock())
    qa, auditor = auth(api.tokens["qa"]), auth(api.tokens["auditor"])
    base = f"/v1/tickets/{ticket_id}/capa"
    assert api.get(base, headers=auditor).json()["trigger"]["stratum"] == "emphysema_grade=severe"
    pdf = api.get(f"{base}/pdf", params={"language": "zh-CN"}, headers=auditor)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert api.patch(f"{base}/risk", json={"hazard": "missed nodule"}, headers=auditor).status_code == 403
    changed = api.patch(f"{base}/risk", json={"hazard": "missed nodule"}, headers=qa)
    assert changed.status_code == 200 and changed.json()["risk"]["hazard"] == "missed nodule"
    assert api.patch(f"{base}/modification", json={"pathway": {}}, headers=qa).status_code == 422
    assert api.post(f"{base}/freeze", headers=qa).status_code == 409  # item 9 not filled yet
    moved = api.post(f"/v1/tickets/{ticket_id}/transitions", json={"to_status": "triaged", "reason": "r"}, headers=qa)
    assert moved.status_code == 409 and "item 3 risk.harm" in moved.json()["detail"]
    with app.uow() as unit:
        (audit,) = unit.audit.records(10, action="ticket.capa.update", entity_id=ticket_id)
    assert audit["details"]["section"] == "risk" and audit["details"]["new"]["hazard"] == "missed nodule"
    assert audit["details"]["old"]["hazard"] is None
