"""``samd-monitor audit``: verify and list the hash-chained audit log."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, moment, out, say
from monitor.service.audit import list_audit, verify_audit

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; name the first broken link (edited, deleted or reordered record)."""
    application = build_app()
    report = verify_audit(uow=application.uow)
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
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, with details and hashes."),
) -> None:
    """List audit records, newest first."""
    application = build_app()
    records = list_audit(uow=application.uow, limit=limit, actor=actor, action=action, entity=entity,
                         entity_id=entity_id, since=moment(since, "--since"), until=moment(until, "--until"))
    if as_json:
        for r in records:
            sys.stdout.write(json.dumps(r | {"at": r["at"].isoformat().replace("+00:00", "Z")},
                                        ensure_ascii=False, sort_keys=True, default=str) + "\n")
        return
    table = DataTable("seq", "at (UTC)", "actor", "action", "entity", "details")
    for r in records:
        table.add_row(str(r["seq"]), r["at"].strftime("%Y-%m-%d %H:%M:%S"), r["actor"], r["action"],
                      f"{r['entity']} {r['entity_id']}",
                      json.dumps(r["details"], ensure_ascii=False, sort_keys=True)[:120])
    out.print(table)
