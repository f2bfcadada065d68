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
    runner = CliRunner()
    env = {"MONITOR_DATABASE_URL": database_url, "MONITOR_ACTOR": "admin-tester"}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), env=env, input=stdin)

    return invoke


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
