"""``samd-monitor user`` and ``samd-monitor token`` as an administrator meets them, on both engines
(in-process through Typer's runner: the same commands, without a new interpreter per call)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.entrypoints.cli import app as cli
from monitor.errors import MonitorError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lung-nodule-ct.yaml"


@pytest.fixture
def run(database_url: str):  # type: ignore[no-untyped-def]
    """``run(*args)`` acting as admin.tester (MONITOR_USER), the database's first user, added here by the
    bootstrap rule (no user named while the database has no user: audited as bootstrap:<OS account>)."""
    runner = CliRunner()
    env = {"MONITOR_DATABASE_URL": database_url, "MONITOR_USER": None}
    first = runner.invoke(cli, ["user", "add", "admin.tester", "--name", "Admin Tester", "--role", "admin",
                                "--no-password"], env=env)
    assert first.exit_code == 0, first.output
    env["MONITOR_USER"] = "admin.tester"

    def invoke(*args: str, stdin: str | None = None, user: str | None = "admin.tester"):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), env=env | {"MONITOR_USER": user}, input=stdin)

    return invoke


def test_the_first_user_is_a_bootstrap_then_every_change_names_a_user(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.unit_of_work import unit_of_work_factory
    from monitor.service.actors import os_account

    refused = run("user", "add", "li.na", "--name", "Li Na", "--role", "qa", "--no-password", user=None)
    assert isinstance(refused.exception, MonitorError) and "MONITOR_USER" in str(refused.exception)
    assert run("user", "add", "li.na", "--name", "Li Na", "--role", "qa", "--no-password").exit_code == 0
    engine = make_engine(database_url)
    try:
        with unit_of_work_factory(engine)() as unit:
            created = {r["entity_id"]: r["actor"] for r in unit.audit.records(action="user.create")}
    finally:
        engine.dispose()
    assert created == {"admin.tester": f"bootstrap:{os_account()}", "li.na": "admin.tester"}


def test_users_and_tokens_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    assert run("device", "add", str(EXAMPLE)).exit_code == 0
    added = run("user", "add", "li.na", "--name", "Li Na", "--role", "qa", "--password-stdin",
                stdin="a-long-password-1\n")
    assert added.exit_code == 0, added.output
    assert "li.na" in run("user", "list").stdout

    created = run("token", "create", "--name", "gateway", "--role", "device", "--device", "lung-nodule-ct",
                  "--expires-in-days", "30")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"smt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}", secret)
    assert match, created.stdout
    token_id = match.group(1)
    listed = run("token", "list").stdout
    assert token_id in listed and secret.split("_", 2)[2] not in listed

    bad = run("token", "create", "--name", "x", "--role", "device")
    assert isinstance(bad.exception, MonitorError) and "needs a device" in str(bad.exception)
    assert run("token", "revoke", token_id, "--reason", "rotated").exit_code == 0
    assert token_id not in run("token", "list").stdout
    assert token_id in run("token", "list", "--all").stdout
    assert run("user", "disable", "li.na").exit_code == 0
    again = run("user", "disable", "li.na")
    assert isinstance(again.exception, MonitorError) and "already disabled" in str(again.exception)
