"""``samd-monitor tickets``: corrective-action tickets, their lifecycle and the webhook outbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from monitor.adapters.notifications.webhook import webhook_poster
from monitor.entrypoints.cli._common import DataTable, app, build_app, out, say
from monitor.errors import ConfigError, InputError
from monitor.service.tickets import (
    comment_ticket,
    get_ticket,
    list_tickets,
    tickets_as_csv,
    tickets_as_json,
    transition_ticket,
    transitions_as_csv,
)
from monitor.service.webhook import deliver_pending, outbox

tickets_app = typer.Typer(help="Corrective-action (retraining) tickets.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@tickets_app.command("list")
def tickets_list(
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[str] = typer.Option(None, "--status", help="open, triaged, in_progress, validating, closed, rejected"),
) -> None:
    """List tickets."""
    application = build_app()
    table = DataTable("ticket", "status", "severity", "device", "model", "stratum", "metric", "evidence runs",
                      "latest estimate", "target n")
    for t in list_tickets(uow=application.uow, device_id=device, status=status):
        latest = t["evidence"][-1]["evidence"] if t["evidence"] else {}
        estimate = f"{latest['estimate']:.3f} vs {latest['claim']:.3f}" if latest else ""
        table.add_row(t["ticket_id"], t["status"], t["severity"] or "", t["device_id"], t["model_version"],
                      t["stratum"], t["metric"], str(len(t["evidence"])), estimate,
                      "" if t["data_collection_target"] is None else str(t["data_collection_target"]))
    out.print(table)


@tickets_app.command("show")
def tickets_show(ticket_id: str = typer.Argument(..., help="e.g. RT-000001")) -> None:
    """Show one ticket as JSON (plan, evidence, transitions, comments)."""
    application = build_app()
    text = tickets_as_json([get_ticket(ticket_id, uow=application.uow)])
    sys.stdout.write(json.dumps(json.loads(text)["tickets"][0], indent=2, ensure_ascii=False, sort_keys=True) + "\n")


@tickets_app.command("move")
def tickets_move(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    to: str = typer.Option(..., "--to", help="triaged, in_progress, validating, closed or rejected"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with the transition and in the audit log)."),
    run: Optional[str] = typer.Option(None, "--run", help="Closing: the analysis run of the newer model version."),
) -> None:
    """Move a ticket through its lifecycle (closing checks the acceptance criteria on --run)."""
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
    application = build_app()
    comment_ticket(ticket_id, body, actor=application.settings.actor, uow=application.uow, clock=application.clock)
    say(f"comment added to {ticket_id}")


@tickets_app.command("export")
def tickets_export(
    fmt: str = typer.Option("json", "--format", help="json or csv."),
    output: Optional[Path] = typer.Option(None, "--out", help="File to write (default: standard output)."),
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[str] = typer.Option(None, "--status"),
    transitions: bool = typer.Option(False, "--transitions", help="CSV: one row per transition instead of per ticket."),
) -> None:
    """Export tickets with their evidence and transitions as JSON or CSV."""
    if fmt not in ("json", "csv"):
        raise InputError(f"--format {fmt!r}: use json or csv")
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
def tickets_outbox(all_events: bool = typer.Option(False, "--all", help="Include delivered events.")) -> None:
    """List queued webhook events: pending, failed (with the last error and next attempt) or delivered."""
    application = build_app()
    table = DataTable("id", "ticket", "event", "state", "attempts", "next attempt", "last error")
    for e in outbox(application.uow, include_delivered=all_events):
        table.add_row(str(e["id"]), e["ticket_id"], e["event"], e["state"], str(e["attempts"]),
                      "" if e["delivered_at"] else _when(e["next_attempt_at"]), e["last_error"] or "")
    out.print(table)


@tickets_app.command("deliver")
def tickets_deliver() -> None:
    """POST the due webhook events to MONITOR_TICKET_WEBHOOK_URL once (failures are retried later)."""
    application = build_app()
    url = application.settings.ticket_webhook_url
    if not url:
        raise ConfigError("MONITOR_TICKET_WEBHOOK_URL is not set: there is nowhere to deliver ticket events")
    summary = deliver_pending(application.uow, post=webhook_poster(url, secret=application.settings.ticket_webhook_secret),
                              clock=application.clock)
    say(f"{len(summary.delivered)} delivered, {len(summary.failed)} failed (will be retried)")
    for event_id, error in summary.failed.items():
        say(f"  event {event_id}: {error}")
