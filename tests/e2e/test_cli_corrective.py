"""The corrective-action, sign-off and submission commands as a user meets them, on both engines: move a ticket,
sign the report twice (password on standard input), export and verify the submission archive, verify and list
the audit trail; mistakes end with one `error:` line and status 2, a tampered archive with status 1.

The data are prepared through the services and the commands run in-process (Typer's runner; starting the CLI
costs seconds of imports), except one subprocess run that checks the user-facing error line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.domain.periods import Period
from monitor.entrypoints.cli import app as cli
from monitor.errors import MonitorError
from monitor.service.access import create_user
from monitor.service.analyze import analyze_period
from monitor.service.report import write_report
from monitor.synthetic import DemoScenario

CLI = str(Path(sys.executable).parent / "samd-monitor")
SCENARIO = DemoScenario(seed=5, scale=0.012, quarters=("2025Q3",), drift_quarter="2025Q3", drift_drop=0.6)
#: The CAPA items triage needs (docs/tickets.md): 3 risk, 4 reportability in every registered jurisdiction of the
#: example device (NMPA, FDA), 5 containment; one `tickets capa set ... --json` per section.
TRIAGE_RECORD = {
    "risk": {"hazard": "missed actionable nodule", "harm": "delayed diagnosis", "risk_file_item": "RMF-H-012",
             "iec62304_class": "B", "triage_decision": "contain_and_investigate"},
    "reportability": {"assessments": [{"jurisdiction": j, "event_class": "not_reportable",
                                       "rationale": "no harm reported"} for j in ("NMPA", "FDA")]},
    "containment": {"measures": "double read of the stratum's studies", "effective_at": "2025-10-01T00:00:00Z"},
}


def run(*args: str, env: dict[str, str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    """Invoke the CLI in-process; a MonitorError is what the console script turns into `error:` + status 2."""
    return CliRunner().invoke(cli, list(args), env=env, input=stdin)


def ok(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    result = run(*args, env=env, stdin=stdin)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return str(result.stdout)


def fails(message: str, *args: str, env: dict[str, str], stdin: str | None = None) -> None:
    result = run(*args, env=env, stdin=stdin)
    assert isinstance(result.exception, MonitorError), (args, result.output, result.exception)
    assert message in str(result.exception), (message, str(result.exception))


@pytest.fixture
def env(app, database_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    create_user(app.uow, user_id="e2e-tester", display_name="E2E tester", role="qa", password=None,
                clock=app.clock, actor="admin")  # the named user the commands act as (MONITOR_USER)
    return {"MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
            "MONITOR_USER": "e2e-tester", "COLUMNS": "200"}


def test_ticket_signoff_submission_and_audit_from_the_command_line(app, labels_final_on_arrival,  # type: ignore[no-untyped-def]
                                                                   ingest_scenario, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    ingest_scenario(SCENARIO)
    analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="analyst")
    ticket = json.loads(ok("tickets", "export", "--format", "json", env=env))["tickets"][0]
    assert ticket["severity"] in ("critical", "major", "minor") and ticket["acceptance_criteria"]["min_trials"] > 0
    triage = ("tickets", "move", ticket["ticket_id"], "--to", "triaged", "--reason", "confirmed by the QA lead")
    fails("the CAPA record lacks item 3 risk.hazard", *triage, env=env)  # the gate names what is missing
    for section, values in TRIAGE_RECORD.items():
        ok("tickets", "capa", "set", ticket["ticket_id"], section, "--json", json.dumps(values), env=env)
    shown = ok("tickets", "capa", "show", ticket["ticket_id"], env=env)
    assert all(f"{n}. {title}: filled" in shown for n, title in ((3, "Severity and risk linkage"),
                                                                 (4, "Reportability assessment"), (5, "Containment")))
    ok(*triage, env=env)
    fails("cannot move to 'closed'", "tickets", "move", ticket["ticket_id"], "--to", "closed", "--reason", "done",
          env=env)
    assert "ticket.triaged" in ok("tickets", "outbox", env=env)
    assert ",triaged," in ok("tickets", "export", "--format", "csv", "--transitions", env=env)

    for user, name in (("alice", "Alice Zhang"), ("bob", "Bob Li")):
        create_user(app.uow, user_id=user, display_name=name, role="qa", password=f"{user}-password-123",
                    clock=app.clock, actor="admin")
    report_id = write_report("lung-nodule-ct", "2025Q3", formats=["html", "json"], languages=["en", "zh-CN"],
                             out_dir=tmp_path / "reports", uow=app.uow, clock=app.clock, actor="writer",
                             renderer=app.report_renderer).report_id
    fails("wrong password", "signoff", "sign", "--report-id", report_id, "--meaning", "authored", "--user", "alice",
          "--password-stdin", env=env, stdin="not-her-password\n")
    signed = ok("signoff", "sign", "--report-id", report_id, "--meaning", "authored", "--user", "alice",
                "--password-stdin", env=env, stdin="alice-password-123\n")
    assert "Alice Zhang" in signed and "authored" in signed
    fails("not approved", "export", "submission", "--device", "lung-nodule-ct", "--period", "2025Q3", "--out",
          str(tmp_path / "s.zip"), env=env)
    ok("signoff", "sign", "--report-id", report_id, "--meaning", "approved", "--user", "bob", "--password-stdin",
       env=env, stdin="bob-password-123\n")

    archive = tmp_path / "submission.zip"
    assert "revision 1 (signed)" in ok("export", "submission", "--device", "lung-nodule-ct", "--period", "2025Q3",
                                       "--out", str(archive), env=env)
    assert "intact" in ok("export", "verify", str(archive), env=env)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(tampered, "w") as new:
        for info in old.infolist():
            body = old.read(info.filename)
            new.writestr(info.filename, body + b" " if info.filename.endswith(".en.signed.html") else body)
    fails(".en.signed.html: SHA-256 differs", "export", "verify", str(tampered), env=env)
    if "sqlite" in env["MONITOR_DATABASE_URL"]:  # once: what the user sees from the console script
        shown = subprocess.run([CLI, "export", "verify", str(tampered)], capture_output=True, text=True, timeout=600,
                               env={k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | env)
        assert shown.returncode == 1 and shown.stderr.startswith("error: ") and "Traceback" not in shown.stderr
        assert len(shown.stderr.strip().splitlines()) == 1

    assert "audit chain intact" in ok("audit", "verify", env=env)
    listed = json.loads(ok("audit", "list", "--action", "report.", "--json", env=env))
    assert [r["action"] for r in listed] == ["report.export", "report.sign", "report.sign", "report.generate"]
    assert listed[0]["actor"] == "e2e-tester" and listed[0]["details"]["file"] == str(archive)  # exports audited
    listed = listed[1:]
    assert re.fullmatch(r"[0-9a-f]{64}", listed[0]["hash"])
    assert listed[0]["actor"] == "bob" and listed[0]["details"]["meaning"] == "approved"
