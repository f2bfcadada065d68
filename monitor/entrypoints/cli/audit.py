"""``samd-monitor audit``: verify, checkpoint and list the keyed, hash-chained audit log (docs/audit.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, moment, out, say, verification

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    key_file: Optional[list[Path]] = typer.Option(
        None, "--key-file", help="Key file of the chain (repeatable, for records keyed with an earlier key); "
                                 "default: the configured key (MONITOR_AUDIT_KEY_FILE) when its file exists."),
    head: Optional[list[str]] = typer.Option(
        None, "--head", help="A chain head recorded elsewhere (a report's 'audit trail head', a manifest's "
                             "audit_chain_head; 64 hex digits, or at least 12); repeatable."),
    checkpoint: Optional[list[Path]] = typer.Option(
        None, "--checkpoint", help="A checkpoint file (samd-monitor audit checkpoint) or a submission archive "
                                   "(.zip); repeatable."),
    as_json: bool = typer.Option(False, "--json", help='Print {"ok": ..., "records": ..., "head": ..., "mode": ...}.'),
) -> None:
    """Recompute the keyed hash chain (HMAC-SHA256 with the key; its links only without it) and check the
    heads and checkpoints recorded outside the database and every regulated row (signatures, revisions,
    tickets, device configurations) against its audited digest (docs/audit.md).

    Exit status 1 when anything fails; each problem is named (table and key for rows, never data values)."""
    from monitor.adapters.audit_key import read_checkpoint, read_key_file
    from monitor.service.audit import verify_audit

    keys = [read_key_file(path) for path in key_file] if key_file else None
    checkpoints = [read_checkpoint(path) for path in checkpoint or []]
    application = build_app()
    with verification(as_json):
        report = verify_audit(uow=application.uow, keys=keys, heads=head or [], checkpoints=checkpoints)
    if as_json:
        emit_json(report.model_dump(mode="json") | {"caveat": report.caveat})
        return
    checked = f"; {report.anchors} heads and {report.checkpoints} checkpoints found, {report.rows} regulated rows match"
    say(f"audit chain intact: {report.records} records, head {report.head} (record {report.head_seq}), "
        f"{report.mode}{checked}")
    if report.caveat:
        say(f"note: {report.caveat}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out_file: Path = typer.Option(..., "--out", help="Checkpoint file to write (JSON); keep it outside the "
                                                     "database's host."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Verify the chain, then write its head (sequence number, hash, record count, time, key id, HMAC) to a
    file: `audit verify --checkpoint FILE` later detects records deleted or recomputed up to it."""
    from monitor.adapters.audit_key import write_checkpoint
    from monitor.service.audit import take_checkpoint

    application = build_app()
    written = write_checkpoint(take_checkpoint(uow=application.uow), out_file, force=force)
    say(f"checkpoint written: {written}")


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
