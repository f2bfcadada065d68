"""``samd-monitor audit``: verify and list the hash-chained audit log."""

from __future__ import annotations

import json
from typing import Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, moment, out, say, verification

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    as_json: bool = typer.Option(False, "--json", help='Print {"ok": ..., "records": ..., "head": ...}.'),
) -> None:
    """Recompute the hash chain; name the first broken link (edited, deleted or reordered record).

    Exit status 1 when the chain is broken."""
    from monitor.service.audit import verify_audit

    application = build_app()
    with verification(as_json):
        report = verify_audit(uow=application.uow)
    if as_json:
        emit_json({"ok": True, "records": report.records, "head": report.head})
        return
    say(f"audit chain intact: {report.records} records, head {report.head}")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(50, "--limit", min=1),
    actor: Optional[str] = typer.Option(None, "--actor"),
    action: Optional[str] = typer.Option(None, "--action", help="Exact action, or a prefix ending in '.' (e.g. ticket.)."),
    entity: Optional[str] = typer.Option(None, "--entity", help="e.g. ticket, report, analysis_run, device"),
    entity_id: Optional[str] = typer.Option(None, "--entity-id"),
    since: Optional[str] = typer.Option(None, "--since", help="ISO-8601 with offset."),
    until: Optional[str] = typer.Option(None, "--until", help="ISO-8601 with offset (exclusive)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of records, with details and hashes."),
) -> None:
    """List audit records, newest first."""
    from monitor.service.audit import list_audit

    application = build_app()
    records = list_audit(uow=application.uow, limit=limit, actor=actor, action=action, entity=entity,
                         entity_id=entity_id, since=moment(since, "--since"), until=moment(until, "--until"))
    if as_json:
        emit_json([dict(sorted(r.items())) for r in records])
        return
    table = DataTable("seq", "at (UTC)", "actor", "action", "entity", "details", ids=("entity",))
    for r in records:
        table.add_row(str(r["seq"]), r["at"].strftime("%Y-%m-%d %H:%M:%S"), r["actor"], r["action"],
                      f"{r['entity']} {r['entity_id']}",
                      json.dumps(r["details"], ensure_ascii=False, sort_keys=True)[:120])
    out.print(table)
