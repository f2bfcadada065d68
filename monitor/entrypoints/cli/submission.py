"""``samd-monitor export``: the submission archive and its verification."""

from __future__ import annotations

from pathlib import Path

import typer

from monitor.entrypoints.cli._common import app, build_app, emit_json, say, verification
from monitor.errors import InputError

export_app = typer.Typer(help="Submission archives for regulators and notified bodies.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("submission")
def export_submission_command(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="Period of the report, e.g. 2025Q3."),
    output: Path = typer.Option(..., "--out", help="The ZIP file to write."),
    allow_draft: bool = typer.Option(False, "--allow-draft", help="Export a revision that is not approved yet."),
) -> None:
    """Write one deterministic ZIP: the newest report revision (both languages; an approved one's signed edition),
    tables, README and manifest. The export is audited (report.export)."""
    from monitor.domain.periods import Period
    from monitor.service.submission import export_submission

    application = build_app()
    manifest = export_submission(device, Period.parse(period).label, output, uow=application.uow,
                                 clock=application.clock, actor=application.actor, allow_draft=allow_draft)
    report = manifest["report"]
    say(f"{output}: report {report['report_id']} revision {report['revision']} ({report['status']}), "
        f"{report['edition']} edition, {len(manifest['files'])} files + manifest.json")


@export_app.command("verify")
def export_verify(
    archive: Path = typer.Argument(..., help="A submission ZIP."),
    as_json: bool = typer.Option(False, "--json", help='Print {"ok": ..., "files": ..., "report": ...}.'),
) -> None:
    """Re-check every file of a submission archive against its manifest.

    Exit status 1 when the archive fails the check (a file changed, missing or added)."""
    from monitor.service.submission import verify_submission

    if not archive.is_file():  # nothing to verify: a mistake in the command, not a failed check
        raise InputError(f"{archive}: no such file" if not archive.exists() else f"{archive}: not a file")
    with verification(as_json):
        manifest = verify_submission(archive)
    report = manifest["report"]
    if as_json:
        emit_json({"ok": True, "archive": str(archive), "files": len(manifest["files"]),
                   "report": {k: report.get(k) for k in ("report_id", "revision", "status")}})
        return
    say(f"{archive}: intact ({len(manifest['files'])} files match manifest.json; report "
        f"{report['report_id']} revision {report['revision']})")
