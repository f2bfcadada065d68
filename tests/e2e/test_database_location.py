"""Where data goes (issue 18, item 4): read-only commands never create a stray SQLite database; a missing file
and an empty database are errors naming the database and `samd-monitor db upgrade`; `db upgrade` creates it.
The empty (un-migrated) database on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.entrypoints.bootstrap import bootstrap
from monitor.errors import SchemaOutOfDateError
from monitor.settings import Settings

READ_ONLY = [["device", "list"], ["tickets", "list"], ["audit", "verify"],
             ["report", "--device", "lung-nodule-ct", "--period", "2025Q3"],
             ["backup", "{tmp}/backup.db"], ["db", "downgrade", "base"]]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_do_not_create_a_database(cli, tmp_path: Path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "not-yet" / "monitor.sqlite"
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = cli(*args, env={"MONITOR_DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"no database at {missing}: run `samd-monitor db upgrade` to create it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_db_upgrade_creates_the_file_and_then_commands_work(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data" / "monitor.sqlite"
    env = {"MONITOR_DATABASE_URL": f"sqlite:///{path}"}
    assert cli("db", "upgrade", env=env).returncode == 0
    assert path.is_file()
    assert cli("device", "list", env=env).returncode == 0


def test_bootstrap_refuses_a_missing_file_before_connecting(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "x.sqlite"
    with pytest.raises(SchemaOutOfDateError, match=f"no database at {missing}"):
        bootstrap(Settings(database_url=f"sqlite:///{missing}", data_dir=tmp_path))
    assert not missing.parent.exists()


def test_an_empty_database_is_named(empty_database_url: str, tmp_path: Path) -> None:
    if empty_database_url.startswith("sqlite"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()  # an existing file without a schema
        named = empty_database_url.removeprefix("sqlite:///")
    else:
        named = empty_database_url.rsplit("/", 1)[1]  # the PostgreSQL database's name, in the rendered URL
    with pytest.raises(SchemaOutOfDateError) as info:
        bootstrap(Settings(database_url=empty_database_url, data_dir=tmp_path))
    message = str(info.value)
    assert named in message and "is at nothing (an empty database)" in message
    assert "run `samd-monitor db upgrade`" in message
