"""A ticket opened by an analysis of model A carries its plan, moves through its lifecycle with transitions,
audit records and webhook events, cannot close on model A's own analysis and closes on the analysis of a
recovered model B (both engines)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from monitor.errors import ConflictError, InputError
from monitor.service.audit import verify_audit
from monitor.service.tickets import (
    comment_ticket,
    get_ticket,
    list_tickets,
    tickets_as_json,
    transition_ticket,
    transitions_as_csv,
)
from monitor.service.webhook import outbox
from monitor.stats.power import required_trials


def _move(app, ticket_id: str, *statuses: str) -> None:  # type: ignore[no-untyped-def]
    for status in statuses:
        transition_ticket(ticket_id, status, reason=f"to {status}", actor="qa-lead", uow=app.uow, clock=app.clock)


def test_ticket_closes_only_on_a_qualifying_analysis_of_a_newer_model(wide_margin_app, load_model, analyse) -> None:  # type: ignore[no-untyped-def]
    app = wide_margin_app
    load_model("A")
    first = analyse()
    assert first.opened_tickets
    ticket = get_ticket("RT-000001", uow=app.uow)
    assert (ticket["stratum"], ticket["metric"], ticket["status"]) == ("emphysema_grade=severe", "sensitivity", "open")
    # the plan fixed at creation
    assert ticket["severity"] == "major"  # sensitivity (high risk), drop 0.14 < two margins (0.20)
    assert ticket["data_collection_target"] == required_trials(0.90, 0.80) == 78
    assert "double read" in ticket["containment"] and "emphysema_grade=severe" in ticket["containment"]
    criteria = ticket["acceptance_criteria"]
    assert criteria["stratum_lower_bound_at_least"] == pytest.approx(0.80) and criteria["min_trials"] == 78
    assert [(t["from_status"], t["to_status"], t["run_id"]) for t in ticket["transitions"]] == [(None, "open", first.run_id)]

    with pytest.raises(ConflictError, match="cannot move to 'closed'"):
        transition_ticket("RT-000001", "closed", reason="too early", actor="qa", uow=app.uow, clock=app.clock,
                          run_id=first.run_id)
    _move(app, "RT-000001", "triaged", "in_progress", "validating")
    with pytest.raises(InputError, match="--run"):
        transition_ticket("RT-000001", "closed", reason="fixed", actor="qa", uow=app.uow, clock=app.clock)
    with pytest.raises(ConflictError, match="no model version registered after 2.1.0"):
        transition_ticket("RT-000001", "closed", reason="fixed", actor="qa", uow=app.uow, clock=app.clock,
                          run_id=first.run_id)

    load_model("B")
    second = analyse()
    assert "RT-000001" in second.updated_tickets  # model A is still flagged: evidence added, no new ticket
    comment_ticket("RT-000001", "Model 2.2.0 retrained with 2024 data from site 3.", actor="ml-owner",
                   uow=app.uow, clock=app.clock)
    closed = transition_ticket("RT-000001", "closed", reason="retrained model validated", actor="qa-lead",
                               uow=app.uow, clock=app.clock, run_id=second.run_id)
    assert closed["status"] == "closed" and closed["closed_run_id"] == second.run_id
    assert "model 2.2.0" in closed["resolution"]
    assert [t["to_status"] for t in closed["transitions"]] == ["open", "triaged", "in_progress", "validating", "closed"]
    assert closed["comments"][0]["actor"] == "ml-owner"
    with pytest.raises(ConflictError, match="cannot move"):
        _move(app, "RT-000001", "rejected")

    # a closed ticket frees its key: the next analysis flagging model A there opens a new ticket
    third = analyse()
    assert any(get_ticket(t, uow=app.uow)["stratum"] == "emphysema_grade=severe" for t in third.opened_tickets)

    with app.uow() as unit:
        records = unit.audit.records(500, entity_id="RT-000001")
    actions = [r["action"] for r in reversed(records)]
    assert actions == ["ticket.open", "ticket.transition", "ticket.transition", "ticket.transition",
                       "ticket.comment", "ticket.transition"]
    assert records[0]["details"]["old"] == {"status": "validating"} and records[0]["details"]["new"] == {"status": "closed"}
    verify_audit(uow=app.uow)
    events = [e for e in outbox(app.uow) if e["ticket_id"] == "RT-000001"]
    assert [e["event"] for e in events] == ["ticket.opened", "ticket.triaged", "ticket.in_progress",
                                            "ticket.validating", "ticket.closed"]
    assert all(e["state"] == "pending" for e in events)

    exported = json.loads(tickets_as_json(list_tickets(uow=app.uow)))
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
    _move(app, "RT-000002", "triaged")
    rejected = transition_ticket("RT-000002", "rejected", reason="scanner recalibrated; not a model issue",
                                 actor="qa", uow=app.uow, clock=app.clock)
    assert rejected["status"] == "rejected" and rejected["resolution"] == "scanner recalibrated; not a model issue"
    with app.uow() as unit:
        assert unit.tickets.find_open("lung-nodule-ct", "2.1.0", rejected["stratum"], "sensitivity") is None
