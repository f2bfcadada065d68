"""The conventions every command of ``samd-monitor`` follows (docs/cli.md), checked over the whole command tree.

* ``--help`` works for every command and group;
* every list, show and verify command takes ``--json`` and prints one valid JSON document on standard output
  (lists an array of objects, shows one object, verifications ``{"ok": ...}``), here on a seeded database on
  both engines;
* identifiers are whole in tables at 100 columns;
* exit status 2 for a usage or input mistake, 1 for a failed verification (a tampered archive, an edited audit
  record), each with one ``error:`` line;
* ``--help`` and ``--version`` import nothing heavy (the CLI starts at once; the time itself is measured in
  the notes, not here);
* the choices the CLI offers are the ones the domain and services accept.

The commands run in this process through the console script's entry point (the ``cli`` fixture of
tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from functools import partial
from pathlib import Path
from typing import Any, get_args

import pytest
import typer
from sqlalchemy import create_engine, text

from monitor.entrypoints.cli import app as root_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
REVIEW_EXAMPLE = ROOT / "examples" / "hcc-segmentation-review.yaml"
DEVICE = "lung-nodule-ct"

#: Command names that list, show or verify: each must take --json.
READ_NAMES = {"list", "show", "verify", "validate", "status", "bundles", "batches", "outbox", "rejected"}
#: Modules that must not be imported for --help / --version.
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "sqlalchemy", "pyarrow", "fastapi", "uvicorn", "streamlit",
         "evidently", "yaml", "monitor.service", "monitor.adapters.db", "monitor.entrypoints.bootstrap",
         "monitor.entrypoints.api")


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, child in sorted(getattr(command, "commands", {}).items()):
        found += _walk(child, (*path, name))
    return found


COMMANDS = _walk(typer.main.get_command(root_app))
READ_COMMANDS = sorted(path for path, command in COMMANDS if path and path[-1] in READ_NAMES)


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_the_tree_is_walked() -> None:
    paths = {path for path, _ in COMMANDS}
    assert {("tickets", "list"), ("audit", "verify"), ("export", "verify"), ("analyze",), ("ingest", "watch")} <= paths
    assert len(READ_COMMANDS) >= 17


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "samd-monitor")
def test_every_command_has_help(cli, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and result.stderr == ""


def test_every_list_show_and_verify_command_takes_json() -> None:
    missing = [" ".join(path) for path, command in COMMANDS if path and path[-1] in READ_NAMES
               and "--json" not in _options(command)]
    assert missing == []


def test_format_and_out_mean_one_thing_everywhere() -> None:
    """``--format`` picks an output format among fixed choices; ``--out`` is a file to write; ``--out-dir`` a
    folder. The input format of a file is ``--input-format``. Old names stay hidden."""
    for path, command in COMMANDS:
        for param in command.params:
            if "--format" in param.opts and not param.hidden:
                assert path in {("report",), ("signoff", "revise"), ("tickets", "export")}, path
            if "--out" in param.opts and not param.hidden:
                assert "file" in (param.help or "").lower() or "zip" in (param.help or "").lower(), (path, param.help)
            if "--out-dir" in param.opts:
                assert "folder" in (param.help or "").lower(), (path, param.help)


def test_the_offered_choices_are_the_accepted_ones() -> None:
    from monitor.adapters.files.readers import LOG_FORMATS
    from monitor.domain.site_summary import DEFAULT_MIN_CELL_SIZE
    from monitor.domain.tickets import STATUSES
    from monitor.entrypoints.cli import _common, ingest, site, tickets
    from monitor.service.quarantine import QUARANTINE_STATUSES
    from monitor.service.report import REPORT_FORMATS, REPORT_LANGUAGES

    assert (_common.REPORT_FORMATS, _common.REPORT_LANGUAGES) == (REPORT_FORMATS, REPORT_LANGUAGES)
    assert get_args(ingest.LogFormat) == LOG_FORMATS
    assert set(get_args(ingest.TableFormat)) <= set(LOG_FORMATS)
    assert get_args(ingest.QuarantineStatus) == QUARANTINE_STATUSES
    assert get_args(tickets.TicketStatus) == STATUSES
    assert set(get_args(tickets.MoveTarget)) == set(STATUSES) - {"open"}
    assert site.DEFAULT_MIN_CELL_SIZE == DEFAULT_MIN_CELL_SIZE


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["tickets", "list", "--help"], ["ingest"]],
                         ids=" ".join)
def test_help_and_version_import_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    probe = ("import sys\n"
             f"sys.argv = ['samd-monitor', *{args!r}]\n"
             "from monitor.entrypoints.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")})
    modules = set(done.stderr.rsplit("MODULES ", 1)[1].split())
    heavy = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], heavy


# --- on a seeded database -------------------------------------------------------------------------------


@pytest.fixture
def seeded(app, labels_final_on_arrival, ingest_scenario, database_url: str, named_user: str,  # type: ignore[no-untyped-def]
           tmp_path: Path) -> dict[str, Any]:
    """A database with a device, its logs, an analysis that opened a ticket, two users, a token, a report signed
    by both (authored, approved: its signed edition written) and a submission archive; the environment the CLI
    needs for it."""
    from monitor.domain.periods import Period
    from monitor.adapters.files.report_store import LocalReportStore
    from monitor.service.access import create_token, create_user, verify_password
    from monitor.service.signoff import sign_report
    from monitor.service.analyze import analyze_period
    from monitor.service.report import write_report
    from monitor.service.submission import export_submission
    from monitor.synthetic import DemoScenario

    from monitor.adapters.config_file import load_device_config
    from monitor.service.devices import register_device

    ingest_scenario(DemoScenario(seed=5, scale=0.012, quarters=("2025Q3",), drift_quarter="2025Q3", drift_drop=0.6))
    register_device(load_device_config(REVIEW_EXAMPLE), uow=app.uow, clock=app.clock, actor="pytest",
                    source=str(REVIEW_EXAMPLE))  # a device with review triggers: its (empty) worklist
    outcome = analyze_period(DEVICE, Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="analyst")
    assert outcome.opened_tickets, "the planted drop opens a ticket"
    create_user(app.uow, user_id="alice", display_name="Alice Zhang", role="qa", password="alice-password-123",
                clock=app.clock, actor="admin")
    token_id, _secret = create_token(app.uow, name="PACS gateway, site A", role="device", device_id=DEVICE,
                                     clock=app.clock, actor="admin")
    report_id = write_report(DEVICE, "2025Q3", formats=["html", "json"], languages=["en", "zh-CN"],
                             out_dir=tmp_path / "reports", uow=app.uow, clock=app.clock, actor="writer",
                             renderer=app.report_renderer).report_id
    create_user(app.uow, user_id="bob", display_name="Bob Li", role="qa", password="bob-password-1234",
                clock=app.clock, actor="admin")
    authenticate = partial(verify_password, app.uow, clock=app.clock)
    for user_id, meaning, password in (("alice", "authored", "alice-password-123"),
                                       ("bob", "approved", "bob-password-1234")):  # approved: a signed edition
        sign_report(report_id, meaning=meaning, user_id=user_id, password=password, authenticate=authenticate,
                    uow=app.uow, clock=app.clock, renderer=app.report_renderer, store=LocalReportStore())
    archive = tmp_path / "submission.zip"
    export_submission(DEVICE, "2025Q3", archive, uow=app.uow, clock=app.clock, actor="writer", allow_draft=True)
    env = {"MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
           "MONITOR_USER": named_user, "MONITOR_DATA_DIR": os.environ["MONITOR_DATA_DIR"]}
    return {"env": env, "ticket": outcome.opened_tickets[0], "report": report_id, "token": token_id,
            "archive": archive, "url": database_url}


def _json_runs(seeded: dict[str, Any]) -> dict[tuple[str, ...], tuple[list[str], type]]:
    """Each read command with the arguments it needs and the JSON type it prints (dict: a show or a verify)."""
    return {
        ("audit", "list"): ([], list), ("audit", "verify"): ([], dict),
        ("cells", "status"): ([], list),
        ("device", "list"): ([], list), ("device", "validate"): ([str(EXAMPLE)], dict),
        ("export", "verify"): ([str(seeded["archive"])], dict),
        ("ingest", "batches"): ([], list), ("ingest", "rejected"): ([], list),
        ("signoff", "list"): (["--device", DEVICE], list), ("signoff", "show"): (["--report-id", seeded["report"]], dict),
        ("signoff", "verify"): (["--report-id", seeded["report"]], dict),
        ("site", "bundles"): ([], list), ("site", "list"): ([], list),
        ("tickets", "list"): ([], list), ("tickets", "outbox"): ([], list), ("tickets", "show"): ([seeded["ticket"]], dict),
        ("tickets", "capa", "show"): ([seeded["ticket"]], dict),
        ("token", "list"): ([], list), ("user", "list"): ([], list),
        ("worklist", "list"): (["--device", "hcc-segmentation", "--period", "2025Q3"], dict),
    }


def test_conventions_on_a_seeded_database(cli, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                          tmp_path: Path) -> None:
    """One seeded database per engine (seeding costs seconds): JSON output, tables, exit status."""
    _every_read_command_prints_one_json_document(cli, seeded)
    _identifiers_are_whole_in_tables_at_100_columns(cli, seeded, monkeypatch)
    _exit_status_2_for_mistakes_and_1_for_failed_verifications(cli, seeded, tmp_path)


def _every_read_command_prints_one_json_document(cli, seeded: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    runs = _json_runs(seeded)
    assert sorted(runs) == READ_COMMANDS  # a new list/show/verify command is added here too
    printed: dict[tuple[str, ...], Any] = {}
    for path, (args, kind) in runs.items():
        result = cli(*path, *args, "--json", env=seeded["env"])
        assert result.returncode == 0, (path, result.stderr)
        assert result.stdout.startswith("[" if kind is list else "{") and result.stdout.endswith("\n"), path
        document = json.loads(result.stdout)  # nothing else on standard output
        assert isinstance(document, kind), path
        if kind is list:
            assert all(isinstance(item, dict) for item in document), path
        if path[-1] in ("verify", "validate"):
            assert document["ok"] is True, path
        printed[path] = document
    assert [t["ticket_id"] for t in printed["tickets", "list"]] == [seeded["ticket"]]
    assert printed["tickets", "show"]["ticket_id"] == seeded["ticket"]
    assert printed["signoff", "show"]["report_id"] == seeded["report"]
    assert {d["device_id"] for d in printed["device", "list"]} == {DEVICE, "hcc-segmentation"}
    assert printed["worklist", "list"]["items"] == [] and printed["worklist", "list"]["triggers"]
    assert [t["token_id"] for t in printed["token", "list"]] == [seeded["token"]]
    assert not any("hash" in key or "secret" in key or "password" in key
                   for rows in (printed["token", "list"], printed["user", "list"]) for row in rows for key in row)
    assert printed["audit", "list"][0]["at"].endswith("Z")
    assert [s["printed_name"] for s in printed["signoff", "show"]["signatures"]] == ["Alice Zhang", "Bob Li"]
    assert printed["signoff", "verify"]["ok"] is True  # the signed edition re-renders byte for byte


def _identifiers_are_whole_in_tables_at_100_columns(cli, seeded: dict[str, Any],  # type: ignore[no-untyped-def]
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.entrypoints.cli import _common

    monkeypatch.setattr(_common.out, "width", 100)  # what a 100-column terminal gives
    shown = {("tickets", "list"): [seeded["ticket"], DEVICE], ("signoff", "list", "--device", DEVICE): [seeded["report"]],
             ("token", "list"): [seeded["token"]], ("user", "list"): ["alice"], ("device", "list"): [DEVICE],
             ("tickets", "outbox"): [seeded["ticket"]]}
    for args, identifiers in shown.items():
        result = cli(*args, env=seeded["env"])
        assert result.returncode == 0, (args, result.stderr)
        assert max(len(line) for line in result.stdout.splitlines()) <= 100, args
        for identifier in identifiers:
            assert identifier in result.stdout, (args, identifier, result.stdout)


def _exit_status_2_for_mistakes_and_1_for_failed_verifications(cli, seeded: dict[str, Any],  # type: ignore[no-untyped-def]
                                                                tmp_path: Path) -> None:
    env = seeded["env"]
    mistakes = [("tickets", "show", "RT-999999"), ("tickets", "list", "--status", "bogus"),
                ("tickets", "list", "--bogus"), ("export", "verify", str(tmp_path / "missing.zip")),
                ("report", "--device", DEVICE, "--period", "2025Q3", "--format", "html,docx")]
    for args in mistakes:
        result = cli(*args, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stdout == "", args

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(seeded["archive"]) as old, zipfile.ZipFile(tampered, "w") as new:
        for info in old.infolist():
            body = old.read(info.filename)
            new.writestr(info.filename, body + b" " if info.filename.endswith(".html") else body)
    for extra in ([], ["--json"]):
        result = cli("export", "verify", str(tampered), *extra, env=env)
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and "SHA-256 differs" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        if extra:
            document = json.loads(result.stdout)
            assert document["ok"] is False and "SHA-256 differs" in document["error"]

    engine = create_engine(seeded["url"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'somebody else' WHERE seq = 2"))
    finally:
        engine.dispose()
    broken = cli("audit", "verify", "--json", env=env)
    assert broken.returncode == 1 and json.loads(broken.stdout)["ok"] is False, (broken.stdout, broken.stderr)
    assert broken.stderr.startswith("error: ") and len(broken.stderr.strip().splitlines()) == 1


def test_shell_completion_offers_the_choices(tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "samd-monitor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}

    def complete(words: str) -> list[str]:
        done = subprocess.run([command], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=env | {"_SAMD_MONITOR_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                         "COMP_CWORD": str(len(words.split(" ")) - 1)})
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("samd-monitor tickets list --status ") == ["open", "triaged", "in_progress", "validating",
                                                               "closed", "rejected"]
    assert complete("samd-monitor report --format html,p") == ["html,pdf"]
    assert "--install-completion" in _options(typer.main.get_command(root_app))
