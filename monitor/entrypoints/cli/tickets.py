"""``samd-monitor tickets``: corrective-action tickets, their lifecycle and the webhook outbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, out, say
from monitor.errors import ConfigError

#: Ticket states (monitor.domain.tickets.STATUSES; that module imports the statistics: a test checks they agree).
TicketStatus = Literal["open", "triaged", "in_progress", "validating", "closed", "rejected"]
MoveTarget = Literal["triaged", "in_progress", "validating", "closed", "rejected"]
ExportFormat = Literal["json", "csv"]

tickets_app = typer.Typer(help="Corrective-action (retraining) tickets.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@tickets_app.command("list")
def tickets_list(
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[TicketStatus] = typer.Option(None, "--status", help="Only tickets in this state."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of tickets (as `tickets export`)."),
) -> None:
    """List tickets."""
    from monitor.service.tickets import list_tickets, tickets_as_json

    application = build_app()
    tickets = list_tickets(uow=application.uow, device_id=device, status=status)
    if as_json:
        emit_json(json.loads(tickets_as_json(tickets))["tickets"])
        return
    table = DataTable("ticket", "status", "severity", "device", "model", "stratum", "metric", "evidence runs",
                      "latest estimate", "target n", ids=("ticket", "device"))
    for t in tickets:
        latest = t["evidence"][-1]["evidence"] if t["evidence"] else {}
        estimate = f"{latest['estimate']:.3f} vs {latest['claim']:.3f}" if latest else ""
        table.add_row(t["ticket_id"], t["status"], t["severity"] or "", t["device_id"], t["model_version"],
                      t["stratum"], t["metric"], str(len(t["evidence"])), estimate,
                      "" if t["data_collection_target"] is None else str(t["data_collection_target"]))
    out.print(table)


@tickets_app.command("show")
def tickets_show(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    as_json: bool = typer.Option(False, "--json", help="Print the whole ticket as one JSON object."),
) -> None:
    """Show one ticket: state, plan, evidence, transitions and comments (all of it with --json)."""
    from monitor.service.tickets import get_ticket, tickets_as_json

    application = build_app()
    ticket = json.loads(tickets_as_json([get_ticket(ticket_id, uow=application.uow)]))["tickets"][0]
    if as_json:
        emit_json(ticket)
        return
    _print_ticket(ticket)


def _print_ticket(t: dict[str, Any]) -> None:
    say(f"{t['ticket_id']}: {t['status']}" + (f", severity {t['severity']}" if t.get("severity") else "")
        + f"; {t['device_id']} model {t['model_version']}, {t['metric']} in {t['stratum']}")
    for item in t.get("evidence") or []:
        e = item.get("evidence") or {}
        if isinstance(e.get("estimate"), (int, float)) and isinstance(e.get("claim"), (int, float)):
            say(f"  evidence {item.get('run_id', '')}: {e['estimate']:.3f} vs claim {e['claim']:.3f}"
                + (f", n={e['trials']}" if "trials" in e else ""))
    if t.get("title"):
        say(f"  {t['title']}")
    criteria = t.get("acceptance_criteria") or {}
    if criteria.get("text"):
        say(f"  acceptance: {criteria['text']}")
    if t.get("data_collection_target") is not None:
        say(f"  data collection target: {t['data_collection_target']} cases")
    for tr in t.get("transitions") or []:
        say(f"  {tr.get('at', '')} {tr.get('from_status', '')} -> {tr.get('to_status', '')} by {tr.get('actor', '')}: "
            f"{tr.get('reason', '')}")
    for c in t.get("comments") or []:
        say(f"  comment {c.get('at', '')} by {c.get('actor', '')}: {c.get('body', '')}")
    say(f"  (everything: samd-monitor tickets show {t['ticket_id']} --json)")


@tickets_app.command("move")
def tickets_move(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    to: MoveTarget = typer.Option(..., "--to", help="The new state."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the transition and in the audit log)."),
    run: Optional[str] = typer.Option(None, "--run", help="Closing: the analysis run of the newer model version."),
) -> None:
    """Move a ticket through its lifecycle (closing checks the acceptance criteria on --run)."""
    from monitor.service.tickets import transition_ticket

    application = build_app()
    ticket = transition_ticket(ticket_id, to, reason=reason, actor=application.settings.actor, uow=application.uow,
                               clock=application.clock, run_id=run)
    say(f"{ticket_id}: {ticket['transitions'][-1]['from_status']} -> {ticket['status']}")


@tickets_app.command("comment")
def tickets_comment(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    body: str = typer.Argument(..., help="The comment."),
) -> None:
    """Add a comment to a ticket."""
    from monitor.service.tickets import comment_ticket

    application = build_app()
    comment_ticket(ticket_id, body, actor=application.settings.actor, uow=application.uow, clock=application.clock)
    say(f"comment added to {ticket_id}")


@tickets_app.command("export")
def tickets_export(
    fmt: ExportFormat = typer.Option("json", "--format", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--out", help="File to write (default: standard output)."),
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[TicketStatus] = typer.Option(None, "--status"),
    transitions: bool = typer.Option(False, "--transitions", help="CSV: one row per transition instead of per ticket."),
) -> None:
    """Export tickets with their evidence and transitions as JSON (schemas/tickets.schema.json) or CSV."""
    from monitor.service.tickets import list_tickets, tickets_as_csv, tickets_as_json, transitions_as_csv

    application = build_app()
    tickets = list_tickets(uow=application.uow, device_id=device, status=status)
    if fmt == "json":
        text = tickets_as_json(tickets)
    else:
        text = transitions_as_csv(tickets) if transitions else tickets_as_csv(tickets)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"{len(tickets)} tickets written to {output}")


@tickets_app.command("outbox")
def tickets_outbox(
    all_events: bool = typer.Option(False, "--all", help="Include delivered events."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of events."),
) -> None:
    """List queued webhook events: pending, failed (with the last error and next attempt) or delivered."""
    from monitor.service.webhook import outbox

    application = build_app()
    events = outbox(application.uow, include_delivered=all_events)
    if as_json:
        emit_json(events)
        return
    table = DataTable("id", "ticket", "event", "state", "attempts", "next attempt", "last error",
                      ids=("id", "ticket"))
    for e in events:
        table.add_row(str(e["id"]), e["ticket_id"], e["event"], e["state"], str(e["attempts"]),
                      "" if e["delivered_at"] else _when(e["next_attempt_at"]), e["last_error"] or "")
    out.print(table)


@tickets_app.command("deliver")
def tickets_deliver() -> None:
    """POST the due webhook events to MONITOR_TICKET_WEBHOOK_URL once (failures are retried later)."""
    from monitor.adapters.notifications.webhook import webhook_poster
    from monitor.service.webhook import deliver_pending

    application = build_app()
    url = application.settings.ticket_webhook_url
    if not url:
        raise ConfigError("MONITOR_TICKET_WEBHOOK_URL is not set: there is nowhere to deliver ticket events")
    summary = deliver_pending(application.uow, post=webhook_poster(url, secret=application.settings.ticket_webhook_secret),
                              clock=application.clock)
    say(f"{len(summary.delivered)} delivered, {len(summary.failed)} failed (will be retried)")
    for event_id, error in summary.failed.items():
        say(f"  event {event_id}: {error}")
