"""A wrong MONITOR_* value stops any command with one error line naming every wrong variable (no traceback,
no secret); without MONITOR_DATA_DIR / MONITOR_DATABASE_URL / --db the database is in the user data folder."""

from __future__ import annotations

from pathlib import Path

SECRET = "never-printed-patient-key-0123456789"


def test_bad_settings_give_one_error_line(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("device", "list", env={"MONITOR_NIGHTLY_AT": "25:00", "MONITOR_EXACT_AGES": "maybe",
                                        "MONITOR_PATIENT_ID_KEY": SECRET, "MONITOR_TICKET_WEBHOOK_SECRET": ""})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "MONITOR_NIGHTLY_AT" in lines[0] and "MONITOR_EXACT_AGES" in lines[0]
    assert SECRET not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_default_database_is_in_the_user_data_folder(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """conftest points XDG_DATA_HOME into tmp_path; the command runs in tmp_path with no MONITOR_* variable."""
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "user-data" / "samd-monitor" / "monitor.sqlite").is_file()
    assert not (tmp_path / "var").exists()
