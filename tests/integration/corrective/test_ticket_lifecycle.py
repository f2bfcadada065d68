"""A ticket opened by an analysis of model A carries its plan and its CAPA record, and moves through the CAPA
workflow (both engines): each transition is refused while the record lacks what it needs, naming the items;
frozen acceptance criteria and a closed ticket's record refuse edits; it cannot close on model A's own analysis
and closes on the analysis of a recovered model B once verified and approved; every change is audited with old and
new and queued for the webhook with the record; after closing, the checklist finds every one of the 12 items of
regulatory.md section 3 filled (the table printed with -s is the closing note's)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.adapters.db import tables
from monitor.domain.capa import CHECKLIST, checklist
from monitor.errors import ConflictError, InputError
from monitor.service.audit import verify_audit
from monitor.service.tickets import (
    capa_record,
    comment_ticket,
    freeze_capa_acceptance,
    get_ticket,
    list_tickets,
    sign_capa,
    tickets_as_json,
    transition_ticket,
    transitions_as_csv,
    update_capa,
    verify_capa,
)
from monitor.service.webhook import outbox
from monitor.stats.power import required_trials
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


def _move(app, ticket_id: str, *statuses: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    for status in statuses:
        moved = transition_ticket(ticket_id, status, reason=f"to {status}", actor="qa-lead", uow=app.uow,
                                  clock=app.clock, **kwargs)
    return moved


def test_capa_workflow_closes_on_a_newer_model_with_all_twelve_items(wide_margin_app, load_model, analyse,  # type: ignore[no-untyped-def]
                                                                     signers, make_revision) -> None:
    app = wide_margin_app
    load_model("A")
    first = analyse()
    assert first.opened_tickets == ["RT-000001"]
    ticket = get_ticket("RT-000001", uow=app.uow)
    assert (ticket["stratum"], ticket["metric"], ticket["status"]) == ("emphysema_grade=severe", "sensitivity", "open")
    # the plan fixed at creation
    assert ticket["severity"] == "major"  # sensitivity (high risk), drop 0.14 < two margins (0.20)
    assert ticket["data_collection_target"] == required_trials(0.90, 0.80) == 78
    assert "double read" in ticket["containment"] and "emphysema_grade=severe" in ticket["containment"]
    criteria = ticket["acceptance_criteria"]
    assert criteria["stratum_lower_bound_at_least"] == pytest.approx(0.80) and criteria["min_trials"] == 78
    assert [(t["from_status"], t["to_status"], t["run_id"]) for t in ticket["transitions"]] == [(None, "open", first.run_id)]
    # ... and the CAPA record: items 1 and 2 from the finding and its run, the analysis' root-cause evidence
    record = capa_record("RT-000001", uow=app.uow)
    assert record.trigger.run_id == first.run_id and record.trigger.input_fingerprint == \
        get_ticket("RT-000001", uow=app.uow)["capa"]["trigger"]["input_fingerprint"]
    assert record.identification.registrations and record.root_cause.evidence.error_review.errors > 0
    assert record.acceptance.rule is not None and record.acceptance.rule.min_trials == 78
    # a ticket opened before records were kept (migration 0011: capa NULL) gets the same record on its first edit
    with app.engine.begin() as conn:
        conn.execute(sa.update(tables.tickets).where(tables.tickets.c.ticket_id == "RT-000001").values(capa=None))
    _fill(app, "RT-000001", {"risk": {"harm": "delayed diagnosis of lung cancer"}})
    rebuilt = capa_record("RT-000001", uow=app.uow)
    assert rebuilt.trigger == record.trigger and rebuilt.identification == record.identification
    assert rebuilt.risk.harm == "delayed diagnosis of lung cancer"

    with pytest.raises(ConflictError, match="cannot move to 'closed'"):
        transition_ticket("RT-000001", "closed", reason="too early", actor="qa", uow=app.uow, clock=app.clock,
                          run_id=first.run_id)
    with pytest.raises(ConflictError, match=r"item 3 risk.hazard.*item 5 containment.effective_at"):
        _move(app, "RT-000001", "triaged")
    _fill(app, "RT-000001", TRIAGE)
    _move(app, "RT-000001", "triaged")
    with pytest.raises(ConflictError, match=r"item 6 root_cause.plan"):
        _move(app, "RT-000001", "in_progress")
    _fill(app, "RT-000001", INVESTIGATION)
    _move(app, "RT-000001", "in_progress")
    _fill(app, "RT-000001", IMPLEMENTATION)
    with pytest.raises(ConflictError, match=r"item 9 acceptance.frozen_at"):
        _move(app, "RT-000001", "validating")
    freeze_capa_acceptance("RT-000001", actor="qa-lead", uow=app.uow, clock=app.clock)
    with pytest.raises(ConflictError, match="frozen"):
        update_capa("RT-000001", "acceptance", {"primary_endpoint": "moved goalposts"}, actor="x", uow=app.uow,
                    clock=app.clock)
    with pytest.raises(ConflictError, match="immutable"):
        update_capa("RT-000001", "trigger", {"observed": 0.99}, actor="x", uow=app.uow, clock=app.clock)
    _move(app, "RT-000001", "validating")
    with pytest.raises(ConflictError, match=r"item 11 verification.result.*'approved' signature"):
        transition_ticket("RT-000001", "closed", reason="fixed", actor="qa", uow=app.uow, clock=app.clock)
    with pytest.raises(ConflictError, match="no model version registered after 2.1.0"):
        verify_capa("RT-000001", first.run_id, actor="qa", uow=app.uow, clock=app.clock)

    load_model("B")
    second = analyse()
    assert "RT-000001" in second.updated_tickets  # model A is still flagged: evidence added, no new ticket
    comment_ticket("RT-000001", "Model 2.2.0 retrained with 2024 data from site 3.", actor="ml-owner",
                   uow=app.uow, clock=app.clock)
    update_capa("RT-000001", "modification", {"validation_run_id": second.run_id}, actor="qa-lead", uow=app.uow,
                clock=app.clock)
    verify_capa("RT-000001", second.run_id, actor="qa-lead", uow=app.uow, clock=app.clock)
    _fill(app, "RT-000001", CLOSING)
    verify_audit(uow=app.uow)  # (make_revision below writes a report revision outside the application)
    update_capa("RT-000001", "identification", {"report_ids": [make_revision()]}, actor="qa-lead", uow=app.uow,
                clock=app.clock)
    with pytest.raises(ConflictError, match=r"no 'approved' signature"):
        _move(app, "RT-000001", "closed")
    sign = dict(uow=app.uow, clock=app.clock, authenticate=signers)
    sign_capa("RT-000001", meaning="reviewed", user_id="bob", password=PASSWORDS["bob"], **sign)
    sign_capa("RT-000001", meaning="approved", user_id="alice", password=PASSWORDS["alice"], **sign)
    closed = transition_ticket("RT-000001", "closed", reason="retrained model validated", actor="qa-lead",
                               uow=app.uow, clock=app.clock)
    assert closed["status"] == "closed" and closed["closed_run_id"] == second.run_id
    assert "model 2.2.0" in closed["resolution"]
    assert [t["to_status"] for t in closed["transitions"]] == ["open", "triaged", "in_progress", "validating", "closed"]
    assert closed["comments"][0]["actor"] == "ml-owner"
    assert closed["capa"]["approvals"]["signatures"][1]["printed_name"] == "Alice Zhang 张爱丽"
    with pytest.raises(ConflictError, match="cannot move"):
        _move(app, "RT-000001", "rejected")
    with pytest.raises(ConflictError, match="closed"):
        update_capa("RT-000001", "impact", {"labeling": "late"}, actor="x", uow=app.uow, clock=app.clock)

    # the checklist: every one of the 12 items carried by a filled field
    record = capa_record("RT-000001", uow=app.uow)
    assert record.modification.pathway is not None and record.modification.pathway.comparison.model_version == "2.2.0"
    # the example device's PCCP covers a data-driven retrain: the FDA pathway names its modification
    assert (record.modification.pathway.fda, record.modification.pathway.pccp_modification_id) == (
        "within_pccp", "PCCP-LN-1.0/M2")
    rows = checklist(record)
    print("\nitem | where | example value")
    for row in rows:
        print(f"{row['item']} {row['title']} | {', '.join(row['fields'])} | {json.dumps(row['example'])[:70]}")
    assert [r["item"] for r in rows] == list(range(1, 13)) == [n for n, _, _ in CHECKLIST]
    assert {r["item"]: r["empty"] for r in rows if r["empty"]} == {}

    # a closed ticket frees its key: the next analysis flagging model A there opens a new ticket
    third = analyse()
    assert any(get_ticket(t, uow=app.uow)["stratum"] == "emphysema_grade=severe" for t in third.opened_tickets)

    with app.uow() as unit:
        records = unit.audit.records(500, entity_id="RT-000001")
    actions = [r["action"] for r in reversed(records) if not r["action"].startswith("ticket.capa.")]
    assert actions == ["ticket.open", "ticket.transition", "ticket.transition", "ticket.transition",
                       "ticket.comment", "ticket.transition"]
    assert records[0]["details"]["old"] == {"status": "validating"} and records[0]["details"]["new"] == {"status": "closed"}
    changes = [r for r in records if r["action"].startswith("ticket.capa.")]
    assert {r["action"] for r in changes} == {"ticket.capa.open", "ticket.capa.update", "ticket.capa.freeze",
                                              "ticket.capa.sign", "ticket.capa.verify"}
    assert all("old" in r["details"] and "new" in r["details"] for r in changes)
    events = [e for e in outbox(app.uow) if e["ticket_id"] == "RT-000001"]
    assert [e["event"] for e in events if e["event"] != "ticket.capa_updated"] == [
        "ticket.opened", "ticket.triaged", "ticket.in_progress", "ticket.validating", "ticket.closed"]
    assert events[-1]["payload"]["capa"]["approvals"]["signatures"]  # the webhook carries the record
    assert all(e["state"] == "pending" for e in events)

    exported = json.loads(tickets_as_json(list_tickets(uow=app.uow)))
    assert_valid("tickets", exported)
    assert exported["tickets"][0]["transitions"][-1]["to_status"] == "closed"
    rows = list(csv.DictReader(io.StringIO(transitions_as_csv(list_tickets(uow=app.uow)))))
    assert [r["to_status"] for r in rows if r["ticket_id"] == "RT-000001"][-1] == "closed"


def test_reject_needs_a_reason_and_ends_the_ticket(app) -> None:  # type: ignore[no-untyped-def]
    with app.uow() as unit:
        for stratum in ("sex=F", "site_id=H2"):
            unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0", stratum=stratum,
                                metric="sensitivity", title="t", at=app.clock())
    with pytest.raises(InputError, match="reason"):
        transition_ticket("RT-000002", "rejected", reason="  ", actor="qa", uow=app.uow, clock=app.clock)
    _move(app, "RT-000002", "triaged")  # no CAPA record (opened before records were kept): no gate but closing
    rejected = transition_ticket("RT-000002", "rejected", reason="scanner recalibrated; not a model issue",
                                 actor="qa", uow=app.uow, clock=app.clock)
    assert rejected["status"] == "rejected" and rejected["resolution"] == "scanner recalibrated; not a model issue"
    with app.uow() as unit:
        assert unit.tickets.find_open("lung-nodule-ct", "2.1.0", rejected["stratum"], "sensitivity") is None
