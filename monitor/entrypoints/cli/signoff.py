"""``samd-monitor signoff``: electronic signatures of report revisions and revisions that supersede them."""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from monitor.domain.signature_text import MEANINGS, manifestation
from monitor.entrypoints.cli._common import (
    REPORT_FORMATS,
    REPORT_LANGUAGES,
    DataTable,
    app,
    build_app,
    complete_comma_list,
    emit_json,
    err,
    out,
    say,
    split_choices,
    verification,
    warn_deprecated,
)
from monitor.errors import InputError

#: What a signature means (monitor.domain.signatures.MEANINGS).
Meaning = StrEnum("Meaning", [(m, m) for m in MEANINGS])  # type: ignore[misc]

signoff_app = typer.Typer(help="Sign report revisions (21 CFR Part 11) and supersede signed ones.",
                          no_args_is_help=True)
app.add_typer(signoff_app, name="signoff")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: standard input held no password")
        return password
    return str(typer.prompt("Password (re-authentication for signing)", hide_input=True, err=True))


@signoff_app.command("sign")
def signoff_sign(
    report_id: str = typer.Option(..., "--report-id", help="The report revision to sign."),
    meaning: Meaning = typer.Option(..., "--meaning", help="What the signature means."),
    user: str = typer.Option(..., "--user", help="Your user id."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Sign a report revision: re-authenticate, check the files, freeze the revision, record the signature.

    Exit status 1 when a report file no longer matches the hash recorded for it."""
    from monitor.adapters.files.report_store import LocalReportStore
    from monitor.domain.signatures import report_status
    from monitor.service.access import verify_password
    from monitor.service.signoff import SIGNED_PREFIX, sign_report

    application = build_app()
    password = _password(password_stdin)
    revision = sign_report(report_id, meaning=meaning.value, user_id=user, password=password,
                           authenticate=partial(verify_password, application.uow, clock=application.clock),
                           uow=application.uow, clock=application.clock, renderer=application.report_renderer,
                           store=LocalReportStore())
    signature = revision["signatures"][-1]
    shown = manifestation(signature["printed_name"], signature["signed_at"].isoformat().replace("+00:00", "Z"),
                          signature["meaning"], signature["content_sha256"])
    say(f"signed report {report_id} revision {revision['revision']}: {shown} "
        f"(status {report_status(revision['status'])})")
    for f in revision["files"]:
        if f["format"].startswith(SIGNED_PREFIX):
            say(f"  signed edition {f['format'].removeprefix(SIGNED_PREFIX)}/{f['language']}: {f['path']} "
                f"(sha256 {f['sha256'][:12]})")


@signoff_app.command("verify")
def signoff_verify(
    report_id: str = typer.Option(..., "--report-id", help="An approved report revision."),
    as_json: bool = typer.Option(False, "--json", help='Print {"ok": ..., "files": {path: sha256}}.'),
) -> None:
    """Re-render the signed edition of an approved revision from its stored content and signatures and compare
    it byte for byte with the recorded files.

    Exit status 1 when a file differs or a recorded file was changed."""
    from monitor.adapters.files.report_store import LocalReportStore
    from monitor.service.signoff import check_signed_edition

    application = build_app()
    with verification(as_json):
        checked = check_signed_edition(report_id, uow=application.uow, renderer=application.report_renderer,
                                       store=LocalReportStore())
    if as_json:
        emit_json({"ok": True, "report_id": report_id, "files": checked})
        return
    say(f"report {report_id}: signed edition intact ({len(checked)} files re-render to the recorded bytes)")


@signoff_app.command("show")
def signoff_show(
    report_id: str = typer.Option(..., "--report-id"),
    as_json: bool = typer.Option(False, "--json", help="Print the revision as one JSON object."),
) -> None:
    """Show a revision: status, frozen time, files and signatures."""
    from monitor.service.signoff import get_revision

    application = build_app()
    revision = get_revision(report_id, uow=application.uow)
    if as_json:
        emit_json(dict(sorted(revision.items())))
        return
    say(f"report {revision['report_id']}: {revision['device_id']} {revision['period']} revision "
        f"{revision['revision']}, {revision['status']}"
        + (f", frozen at {revision['frozen_at'].isoformat()}" if revision.get("frozen_at") else "")
        + (f", supersedes {revision['supersedes']}" if revision.get("supersedes") else ""))
    say(f"  content sha256 {revision['content_sha256']}")
    for f in revision["files"]:
        say(f"  file {f['format']}{'/' + f['language'] if f.get('language') else ''}: {f['path']} "
            f"(sha256 {f['sha256'][:12]})")
    for signature in revision["signatures"]:
        say("  signed: " + manifestation(signature["printed_name"],
                                         signature["signed_at"].isoformat().replace("+00:00", "Z"),
                                         signature["meaning"], signature["content_sha256"]))
    if not revision["signatures"]:
        say("  not signed")


@signoff_app.command("revise")
def signoff_revise(
    report_id: str = typer.Option(..., "--report-id", help="The revision to supersede."),
    reason: str = typer.Option(..., "--reason", help="What changed and why."),
    formats: str = typer.Option("html,json", "--format", autocompletion=complete_comma_list(REPORT_FORMATS),
                                help=f"Comma-separated: {', '.join(REPORT_FORMATS)}."),
    languages: str = typer.Option("en,zh-CN", "--language", autocompletion=complete_comma_list(REPORT_LANGUAGES),
                                  help="Comma-separated: en, zh-CN, both."),
    out_dir: Path = typer.Option(Path("reports-out"), "--out-dir", help="Folder to write the report files to."),
    legacy_out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Deprecated name of --out-dir."),
) -> None:
    """Generate the next revision of a report from the newest analysis run; it supersedes ``--report-id``."""
    from monitor.domain.periods import Period
    from monitor.service.report import write_report
    from monitor.service.signoff import get_revision

    if legacy_out is not None:
        warn_deprecated("signoff revise --out DIR", "--out-dir DIR")
        out_dir = legacy_out
    chosen_formats = split_choices(formats, REPORT_FORMATS, "--format")
    chosen_languages = split_choices(languages, REPORT_LANGUAGES, "--language")
    application = build_app()
    old = get_revision(report_id, uow=application.uow)
    if old["status"] == "superseded":  # the new revision supersedes the period's newest one: this must be it
        raise InputError(f"report {report_id} is already superseded: revise the newest revision instead "
                         f"(samd-monitor signoff list --device {old['device_id']} --period {old['period']})")
    files = write_report(old["device_id"], Period.parse(old["period"]).label,
                         formats=chosen_formats, out_dir=out_dir,
                         uow=application.uow, clock=application.clock, actor=application.actor,
                         renderer=application.report_renderer, languages=chosen_languages, reason=reason)
    say(f"report {files.report_id} (revision {files.revision}) supersedes {report_id}")


@signoff_app.command("list")
def signoff_list(
    device: str = typer.Option(..., "--device"),
    period: Optional[str] = typer.Option(None, "--period"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of revisions."),
) -> None:
    """List report revisions of a device, newest first."""
    from monitor.domain.periods import Period
    from monitor.service.signoff import list_revisions

    application = build_app()
    revisions = list_revisions(device, Period.parse(period).label if period else None, uow=application.uow)
    if as_json:
        emit_json([dict(sorted(r.items())) for r in revisions])
        return
    table = DataTable("report", "period", "revision", "status", "supersedes", "frozen at", "content SHA-256",
                      ids=("report", "supersedes"))
    for r in revisions:
        table.add_row(r["report_id"], r["period"], str(r["revision"]), r["status"], r["supersedes"] or "",
                      r["frozen_at"].isoformat() if r["frozen_at"] else "", r["content_sha256"][:16])
    out.print(table)
    if not revisions:
        say("no report revisions", console=err)
