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
    ticket = transition_ticket(ticket_id, to, reason=reason, actor=application.actor, uow=application.uow,
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
    comment_ticket(ticket_id, body, actor=application.actor, uow=application.uow, clock=application.clock)
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


# --- CAPA record (regulatory.md section 3; docs/tickets.md) ----------------------------------------------------
capa_app = typer.Typer(help="The CAPA record of a ticket: show, set a section, freeze, sign, verify, export.",
                       no_args_is_help=True)
tickets_app.add_typer(capa_app, name="capa")
CapaSection = Literal["identification", "risk", "reportability", "containment", "root_cause", "modification",
                      "data_management", "acceptance", "impact", "verification", "approvals"]
CapaMeaning = Literal["reviewed", "approved"]


def _values(pairs: list[str], json_text: Optional[str], file: Optional[Path]) -> dict[str, Any]:
    """FIELD=VALUE pairs, a JSON object (--json) or a JSON/YAML file (--file), merged in that order."""
    from monitor.errors import InputError

    values: dict[str, Any] = {}
    if file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read {file}: {type(exc).__name__}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"{file} must hold one object of field: value")
        values |= loaded
    if json_text:
        try:
            loaded = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise InputError(f"--json is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(loaded, dict):
            raise InputError("--json must be one object of field: value")
        values |= loaded
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field:
            raise InputError(f"expected FIELD=VALUE, got an argument without '=' ({len(pair)} characters)")
        values[field.strip()] = value
    if not values:
        raise InputError("nothing to set: give FIELD=VALUE pairs, --json or --file")
    return values


def _print_capa(record: Any, status: str) -> None:
    from monitor.domain.capa import checklist

    say(f"{record.ticket_id} ({status}): {record.trigger.metric} in {record.trigger.stratum}, model "
        f"{record.trigger.model_version}: {record.trigger.observed:.3f} vs registered {record.trigger.registered_value:.3f}")
    for row in checklist(record):
        state = "filled" if not row["empty"] else "empty: " + ", ".join(row["empty"])
        say(f"  {row['item']:>2}. {row['title']}: {state}")
    say(f"  (everything: samd-monitor tickets capa show {record.ticket_id} --json)")


@capa_app.command("show")
def capa_show(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    as_json: bool = typer.Option(False, "--json", help="Print the CAPA record as one JSON object."),
) -> None:
    """Show a ticket's CAPA record: the 12 items and which fields are still empty."""
    from monitor.service.tickets import capa_record, get_ticket

    application = build_app()
    record = capa_record(ticket_id, uow=application.uow)
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    _print_capa(record, get_ticket(ticket_id, uow=application.uow)["status"])


@capa_app.command("set")
def capa_set(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    section: CapaSection = typer.Argument(..., help="The section (item) to change."),
    pairs: list[str] = typer.Argument(None, help="FIELD=VALUE pairs (text fields)."),
    json_text: Optional[str] = typer.Option(None, "--json", help="A JSON object of fields (lists, numbers)."),
    file: Optional[Path] = typer.Option(None, "--file", help="A JSON or YAML file of fields."),
) -> None:
    """Set fields of one section of a ticket's CAPA record (audited with the old and new section)."""
    from monitor.service.tickets import update_capa

    application = build_app()
    values = _values(pairs or [], json_text, file)
    update_capa(ticket_id, section, values, actor=application.actor, uow=application.uow,
                clock=application.clock)
    say(f"{ticket_id}: {section} updated ({', '.join(sorted(values))})")


@capa_app.command("freeze")
def capa_freeze(ticket_id: str = typer.Argument(..., help="e.g. RT-000001")) -> None:
    """Freeze the acceptance criteria (item 9) before a newer model is evaluated; later edits are refused."""
    from monitor.service.tickets import freeze_capa_acceptance

    application = build_app()
    record = freeze_capa_acceptance(ticket_id, actor=application.actor, uow=application.uow,
                                    clock=application.clock)
    assert record.acceptance.frozen_at is not None
    say(f"{ticket_id}: acceptance criteria frozen at {record.acceptance.frozen_at.isoformat()}")


@capa_app.command("qualify")
def capa_qualify(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    run: str = typer.Option(..., "--run", help="The analysis run of the newer model version."),
) -> None:
    """Record the analysis run of a newer model version that meets the frozen acceptance criteria (item 11)."""
    from monitor.service.tickets import verify_capa

    application = build_app()
    record = verify_capa(ticket_id, run, actor=application.actor, uow=application.uow,
                         clock=application.clock)
    assert record.verification.result is not None
    say(f"{ticket_id}: model {record.verification.result.model_version} meets the acceptance criteria in run {run}")


@capa_app.command("sign")
def capa_sign(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    meaning: CapaMeaning = typer.Option(..., "--meaning", help="What the signature means."),
    user: str = typer.Option(..., "--user", help="Your user id."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Sign the CAPA record (re-authentication; bound to the record's SHA-256; 21 CFR 11.50, 11.70)."""
    from functools import partial

    from monitor.entrypoints.cli.signoff import _password
    from monitor.service.access import verify_password
    from monitor.service.tickets import sign_capa

    application = build_app()
    password = _password(password_stdin)
    record = sign_capa(ticket_id, meaning=meaning, user_id=user, password=password,
                       authenticate=partial(verify_password, application.uow, clock=application.clock),
                       uow=application.uow, clock=application.clock)
    s = record.approvals.signatures[-1]
    say(f"{ticket_id}: signed by {s.printed_name} as {s.meaning} at {s.signed_at.isoformat()} "
        f"(record SHA-256 {s.record_sha256[:12]})")


@capa_app.command("export")
def capa_export(
    ticket_id: str = typer.Argument(..., help="e.g. RT-000001"),
    output: Optional[Path] = typer.Option(None, "--out", help="File to write: .json, .pdf or .html by its suffix "
                                          "(default: JSON on standard output)."),
    language: Literal["en", "zh-CN"] = typer.Option("en", "--language", help="PDF/HTML language."),
) -> None:
    """Export a ticket's CAPA record as JSON (schemas/tickets.schema.json#/$defs/capa_record), PDF or HTML."""
    from monitor.errors import InputError
    from monitor.service.tickets import capa_record, get_ticket

    application = build_app()
    record = capa_record(ticket_id, uow=application.uow)
    kind = "json" if output is None else output.suffix.lower().lstrip(".")
    if kind == "json":
        data = (json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()
    elif kind in ("pdf", "html"):
        from monitor.adapters.rendering.ticket_pdf import ticket_html, ticket_pdf

        status = get_ticket(ticket_id, uow=application.uow)["status"]
        data = (ticket_pdf(record, status=status, language=language) if kind == "pdf"
                else ticket_html(record, status=status, language=language).encode())
    else:
        raise InputError("--out must end in .json, .pdf or .html")
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    say(f"{ticket_id}: CAPA record written to {output}")
