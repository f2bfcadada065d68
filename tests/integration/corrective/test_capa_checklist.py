"""The CAPA workflow walked through on the corrective seed (model A with a planted sensitivity drop, model B
recovered), both engines: each transition is refused while the record lacks what it needs, naming the items;
frozen acceptance criteria and a closed ticket's record refuse edits; every change is audited with old and new
and queued for the webhook with the record; and after closing, the checklist finds every one of the 12 items of
regulatory.md section 3 filled (the table printed is the closing note's)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.domain.capa import CHECKLIST, checklist
from monitor.errors import ConflictError
from monitor.service.tickets import (
    capa_record,
    freeze_capa_acceptance,
    get_ticket,
    list_tickets,
    sign_capa,
    tickets_as_json,
    transition_ticket,
    update_capa,
    verify_capa,
)
from monitor.service.webhook import outbox
from tests.integration.corrective.conftest import PASSWORDS
from tests.unit.test_schemas import assert_valid

TRIAGE = {
    "risk": {"hazard": "missed actionable nodule", "harm": "delayed diagnosis of lung cancer",
             "risk_file_item": "RMF-H-012", "iec62304_class": "B", "probability_before": "P3 occasional",
             "probability_after": "P2 remote", "triage_decision": "contain_and_investigate",
             "triage_rationale": "sensitivity shortfall in a high-risk subgroup"},
    "reportability": {"assessments": [
        {"jurisdiction": "NMPA", "event_class": "not_reportable", "rationale": "no patient harm reported"},
        {"jurisdiction": "FDA", "event_class": "not_reportable", "rationale": "no death or serious injury"}]},
    "containment": {"measures": "double read of severe-emphysema studies at every site",
                    "effective_at": "2026-02-02T00:00:00Z"},
}
INVESTIGATION = {"root_cause": {"plan": "review input drift, the stratum against the rest and the false negatives"}}
IMPLEMENTATION = {
    "root_cause": {"category": "population_mix", "findings": "under-represented severe emphysema in training",
                   "error_review": {"reviewed": 10, "summary": "sub-solid nodules in bullous lungs"}},
    "modification": {"modification_type": "data_driven_retrain", "description": "retrain with 2024 severe cases"},
    "data_management": {"training_data": "site 3 and 5, 2024-01..2024-12", "inclusion_exclusion": "LAA-950 > 25%",
                        "annotation_protocol": "AP-7 v2", "annotator": "dr.wang", "reviewer": "dr.li",
                        "arbitrator": "dr.chen", "test_set_sequestration": "2025 cases never used for training",
                        "representativeness": "matches the 2025Q3 case mix"},
    "acceptance": {"primary_endpoint": "stratum sensitivity lower bound >= goal", "statistical_methods":
                   "exact binomial, 78 positives for 80% power", "regression_tests": "full V&V suite",
                   "robustness_checks": "noise and kernel perturbation", "no_stratum_degrades_beyond": 0.02},
    "impact": {"benefits_risks": "restores sensitivity", "other_strata": "none expected to drop",
               "labeling": "IFU 4.2 updated", "user_training": "none", "communication_plan": "customer letter"},
}
CLOSING = {
    "verification": {"monitoring_plan": "CUSUM restarted on 2.2.0", "window": "two quarters",
                     "success_criterion": "no alarm and the lower bound >= goal"},
    "approvals": {"raci": [{"role": "algorithm_owner", "user_id": "ml.owner"}, {"role": "clinical_lead",
                  "user_id": "dr.li"}, {"role": "statistician", "user_id": "stat"}, {"role": "qa", "user_id": "alice"},
                           {"role": "ra", "user_id": "ra.zhou"}],
                  "links": ["git:4f2a9c1", "registry:lung-nodule/2.2.0"],
                  "closure_rationale": "2.2.0 meets the frozen criteria"},
}


def _fill(app: Any, ticket_id: str, sections: dict[str, dict[str, Any]]) -> None:
    for section, values in sections.items():
        update_capa(ticket_id, section, values, actor="qa-lead", uow=app.uow, clock=app.clock)


def _move(app: Any, ticket_id: str, status: str, **kwargs: Any) -> dict[str, Any]:
    return transition_ticket(ticket_id, status, reason=f"to {status}", actor="qa-lead", uow=app.uow,
                             clock=app.clock, **kwargs)


def test_the_workflow_walked_through_fills_all_twelve_items(wide_margin_app, load_model, analyse, signers,  # type: ignore[no-untyped-def]
                                                              make_revision) -> None:
    app = wide_margin_app
    load_model("A")
    first = analyse()
    ticket_id = first.opened_tickets[0]
    record = capa_record(ticket_id, uow=app.uow)
    assert record.trigger.run_id == first.run_id and record.trigger.stratum == "emphysema_grade=severe"
    assert record.identification.registrations and record.root_cause.evidence.error_review.errors > 0

    with pytest.raises(ConflictError, match=r"item 3 risk.hazard.*item 5 containment.effective_at"):
        _move(app, ticket_id, "triaged")
    _fill(app, ticket_id, TRIAGE)
    _move(app, ticket_id, "triaged")
    with pytest.raises(ConflictError, match=r"item 6 root_cause.plan"):
        _move(app, ticket_id, "in_progress")
    _fill(app, ticket_id, INVESTIGATION)
    _move(app, ticket_id, "in_progress")
    _fill(app, ticket_id, IMPLEMENTATION)
    with pytest.raises(ConflictError, match=r"item 9 acceptance.frozen_at"):
        _move(app, ticket_id, "validating")
    freeze_capa_acceptance(ticket_id, actor="qa-lead", uow=app.uow, clock=app.clock)
    with pytest.raises(ConflictError, match="frozen"):
        update_capa(ticket_id, "acceptance", {"primary_endpoint": "moved goalposts"}, actor="x", uow=app.uow,
                    clock=app.clock)
    with pytest.raises(ConflictError, match="immutable"):
        update_capa(ticket_id, "trigger", {"observed": 0.99}, actor="x", uow=app.uow, clock=app.clock)
    _move(app, ticket_id, "validating")

    load_model("B")
    second = analyse()
    update_capa(ticket_id, "modification", {"validation_run_id": second.run_id}, actor="qa-lead", uow=app.uow,
                clock=app.clock)
    verify_capa(ticket_id, second.run_id, actor="qa-lead", uow=app.uow, clock=app.clock)
    _fill(app, ticket_id, CLOSING)
    update_capa(ticket_id, "identification", {"report_ids": [make_revision()]}, actor="qa-lead", uow=app.uow,
                clock=app.clock)
    with pytest.raises(ConflictError, match=r"no 'approved' signature"):
        _move(app, ticket_id, "closed")
    sign = dict(uow=app.uow, clock=app.clock, authenticate=signers)
    sign_capa(ticket_id, meaning="reviewed", user_id="bob", password=PASSWORDS["bob"], **sign)
    sign_capa(ticket_id, meaning="approved", user_id="alice", password=PASSWORDS["alice"], **sign)
    closed = _move(app, ticket_id, "closed")
    assert closed["status"] == "closed" and closed["closed_run_id"] == second.run_id
    with pytest.raises(ConflictError, match="closed"):
        update_capa(ticket_id, "impact", {"labeling": "late"}, actor="x", uow=app.uow, clock=app.clock)

    record = capa_record(ticket_id, uow=app.uow)
    assert record.modification.pathway is not None and record.modification.pathway.comparison.model_version == "2.2.0"
    assert [a.deadline for a in record.reportability.assessments] == [None, None]
    rows = checklist(record)
    print("\nitem | where | example value")
    for row in rows:
        print(f"{row['item']} {row['title']} | {', '.join(row['fields'])} | {json.dumps(row['example'])[:70]}")
    assert [r["item"] for r in rows] == list(range(1, 13)) == [n for n, _, _ in CHECKLIST]
    assert {r["item"]: r["empty"] for r in rows if r["empty"]} == {}

    with app.uow() as unit:
        audited = unit.audit.records(500, entity_id=ticket_id)
    updates = [r for r in audited if r["action"].startswith("ticket.capa.")]
    assert {r["action"] for r in updates} >= {"ticket.capa.open", "ticket.capa.update", "ticket.capa.freeze",
                                               "ticket.capa.sign", "ticket.capa.verify"}
    assert all("old" in r["details"] and "new" in r["details"] for r in updates)
    events = [e for e in outbox(app.uow) if e["ticket_id"] == ticket_id]
    assert events[-1]["event"] == "ticket.closed" and events[-1]["payload"]["capa"]["approvals"]["signatures"]
    exported = json.loads(tickets_as_json(list_tickets(uow=app.uow)))
    assert_valid("tickets", exported)
    assert get_ticket(ticket_id, uow=app.uow)["capa"]["approvals"]["signatures"][1]["printed_name"] == "Alice Zhang 张爱丽"
