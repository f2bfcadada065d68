"""``samd-monitor signoff``: electronic signatures of report revisions and revisions that supersede them."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from monitor.domain.periods import Period
from monitor.domain.signatures import manifestation
from monitor.entrypoints.cli._common import DataTable, app, build_app, err, out, say
from monitor.errors import InputError
from monitor.service.access import verify_password
from monitor.service.report import write_report
from monitor.service.signoff import get_revision, list_revisions, sign_report, supersede_report

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
    meaning: str = typer.Option(..., "--meaning", help="authored, reviewed or approved."),
    user: str = typer.Option(..., "--user", help="Your user id."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Sign a report revision: re-authenticate, check the files, freeze the revision, record the signature."""
    application = build_app()
    password = _password(password_stdin)
    revision = sign_report(report_id, meaning=meaning, user_id=user, password=password,
                           authenticate=partial(verify_password, application.uow, clock=application.clock),
                           uow=application.uow, clock=application.clock)
    signature = revision["signatures"][-1]
    shown = manifestation(signature["printed_name"], signature["signed_at"].isoformat().replace("+00:00", "Z"),
                          signature["meaning"], signature["content_sha256"])
    say(f"signed report {report_id} revision {revision['revision']}: {shown} (status {revision['status']})")


@signoff_app.command("show")
def signoff_show(report_id: str = typer.Option(..., "--report-id")) -> None:
    """Show a revision: status, frozen time, files and signatures."""
    application = build_app()
    revision = get_revision(report_id, uow=application.uow)
    sys.stdout.write(json.dumps(revision, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n")


@signoff_app.command("revise")
def signoff_revise(
    report_id: str = typer.Option(..., "--report-id", help="The revision to supersede."),
    reason: str = typer.Option(..., "--reason", help="What changed and why."),
    formats: str = typer.Option("html,json", "--format", help="Comma-separated: html, pdf, json, csv, xlsx."),
    languages: str = typer.Option("en,zh-CN", "--language", help="Comma-separated: en, zh-CN, both."),
    out_dir: Path = typer.Option(Path("reports-out"), "--out", help="Output folder."),
) -> None:
    """Generate the next revision of a report from the newest analysis run; it supersedes ``--report-id``."""
    application = build_app()
    old = get_revision(report_id, uow=application.uow)
    files = write_report(old["device_id"], Period.parse(old["period"]).label,
                         formats=[f.strip() for f in formats.split(",") if f.strip()], out_dir=out_dir,
                         uow=application.uow, clock=application.clock, actor=application.settings.actor,
                         renderer=application.report_renderer,
                         languages=[x.strip() for x in languages.split(",") if x.strip()])
    new = supersede_report(report_id, files.report_id, reason=reason, actor=application.settings.actor,
                           uow=application.uow, clock=application.clock)
    say(f"report {files.report_id} (revision {new['revision']}) supersedes {report_id}")


@signoff_app.command("list")
def signoff_list(device: str = typer.Option(..., "--device"),
                 period: Optional[str] = typer.Option(None, "--period")) -> None:
    """List report revisions of a device, newest first."""
    application = build_app()
    revisions = list_revisions(device, Period.parse(period).label if period else None, uow=application.uow)
    table = DataTable("report", "period", "revision", "status", "supersedes", "frozen at", "content SHA-256")
    for r in revisions:
        table.add_row(r["report_id"], r["period"], str(r["revision"]), r["status"], r["supersedes"] or "",
                      r["frozen_at"].isoformat() if r["frozen_at"] else "", r["content_sha256"][:16])
    out.print(table)
    if not revisions:
        say("no report revisions", console=err)
