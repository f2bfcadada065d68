"""Settings: one pydantic-settings type for every MONITOR_* variable, the default data location, one-pass
errors naming the variables (secrets never echoed), and documentation generated from it and true to it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import settings as settings_module
from monitor.errors import ConfigError
from monitor.settings import (
    DEMO_PATIENT_ID_KEY,
    ServiceSettings,
    Settings,
    default_text,
    env_name,
    load_settings,
    markdown_reference,
    readme_table,
)

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = {"MONITOR_TEST_POSTGRES_URL", "MONITOR_PIP_AUDIT_REQUIRED"}
#: Variables no longer read, which the documentation names as such.
RETIRED = {"MONITOR_ACTOR"}


def _variables() -> dict[str, object]:
    fields = {env_name(n): f for n, f in Settings.model_fields.items() if n != "service"}
    fields.update({env_name(n): f for n, f in ServiceSettings.model_fields.items()})
    return fields


# ------------------------------------------------------------------------------------- where data goes

def test_default_database_is_in_the_user_data_directory_not_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    first = load_settings({})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_settings({}) == first  # the same wherever the command runs
    if sys.platform.startswith("linux"):
        assert first.data_dir == tmp_path / "xdg" / "samd-monitor"
    assert first.data_dir.is_absolute()
    assert first.database_url == f"sqlite:///{(first.data_dir / 'monitor.sqlite').as_posix()}"
    assert not (tmp_path / "var").exists() and not first.data_dir.exists()  # reading settings creates nothing


def test_data_dir_database_url_and_db_option_in_that_order(tmp_path: Path) -> None:
    by_dir = load_settings({"MONITOR_DATA_DIR": str(tmp_path)})
    assert by_dir.database_url == f"sqlite:///{(tmp_path / 'monitor.sqlite').as_posix()}"
    by_url = load_settings({"MONITOR_DATA_DIR": str(tmp_path), "MONITOR_DATABASE_URL": "sqlite:///x.sqlite"})
    assert by_url.database_url == "sqlite:///x.sqlite" and by_url.data_dir == tmp_path
    assert by_url.with_database("sqlite:///db.sqlite").database_url == "sqlite:///db.sqlite"
    assert by_url.with_database(None) is by_url
    assert load_settings({"MONITOR_DATA_DIR": "~/monitor"}).data_dir == Path("~/monitor").expanduser()


def test_the_conftest_environment_is_read(tmp_path: Path) -> None:
    """``Settings()`` reads ``os.environ`` (the test fixture points MONITOR_DATA_DIR into tmp_path)."""
    assert Settings().data_dir == tmp_path / "data"
    assert Settings(database_url="sqlite:///given.sqlite").database_url == "sqlite:///given.sqlite"


# ------------------------------------------------------------------------------------------- values

def test_every_variable_is_read() -> None:
    env = {
        "MONITOR_PATIENT_ID_KEY": "k" * 32, "MONITOR_USER": "li.na", "MONITOR_EXACT_AGES": "yes",
        "MONITOR_TICKET_WEBHOOK_URL": "https://tracker.example/hook", "MONITOR_TICKET_WEBHOOK_SECRET": "s3cret",
        "MONITOR_API_MAX_BODY_BYTES": "2048", "MONITOR_DASHBOARD_IDLE_MINUTES": "5",
        "MONITOR_DASHBOARD_SESSION_HOURS": "0.5", "MONITOR_SITE_MIN_CELL_SIZE": "5",
        "MONITOR_WEBHOOK_INTERVAL_SECONDS": "15", "MONITOR_MISFIRE_GRACE_SECONDS": "60",
        "MONITOR_DROP_DONE_RETENTION_DAYS": "7", "MONITOR_REPORT_FORMATS": "pdf,html,pdf",
    }
    s = load_settings(env)
    assert (s.patient_id_key, s.user, s.exact_ages) == ("k" * 32, "li.na", True)
    assert (s.ticket_webhook_url, s.ticket_webhook_secret) == ("https://tracker.example/hook", "s3cret")
    assert (s.api_max_body_bytes, s.dashboard_idle_minutes, s.dashboard_session_hours) == (2048, 5, 0.5)
    assert s.site_min_cell_size == 5
    assert (s.service.webhook_interval_seconds, s.service.misfire_grace_seconds) == (15, 60)
    assert s.service.drop_done_retention_days == 7 and s.service.report_formats == ("pdf", "html")
    assert "k" * 32 not in repr(s) and "s3cret" not in repr(s)  # secrets stay out of logs and tracebacks


def test_empty_variables_count_as_unset() -> None:
    assert load_settings({name: "" for name in _variables()}).model_dump(exclude={"data_dir", "database_url"}) \
        == load_settings({}).model_dump(exclude={"data_dir", "database_url"})


def test_every_error_in_one_pass_naming_the_variables_without_secrets() -> None:
    env = {"MONITOR_NIGHTLY_AT": "25:00", "MONITOR_EXACT_AGES": "maybe", "MONITOR_API_MAX_BODY_BYTES": "12",
           "MONITOR_REPORT_FORMATS": "html,docx", "MONITOR_DASHBOARD_IDLE_MINUTES": "nan",
           "MONITOR_JOB_LEASE_SECONDS": "5"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    for name in env:
        assert name in message
    assert "\n" not in message and "Traceback" not in message
    assert "expected HH:MM" in message and "expected a number >= 1024" in message and "'docx'" in message


def test_no_actor_falls_back_to_the_os_account() -> None:
    """Who acts is a named user (MONITOR_USER), never the OS account: MONITOR_ACTOR is no longer read."""
    s = load_settings({"MONITOR_ACTOR": "someone"})
    assert s.user is None and "actor" not in Settings.model_fields and "someone" not in repr(s)


def test_settings_are_immutable() -> None:
    s = load_settings({})
    with pytest.raises(Exception):
        s.user = "someone else"  # type: ignore[misc]


def test_site_min_cell_size_default_is_the_cli_default() -> None:
    from monitor.domain.site_summary import DEFAULT_MIN_CELL_SIZE

    assert Settings.model_fields["site_min_cell_size"].default == DEFAULT_MIN_CELL_SIZE


def test_dashboard_session_policy_reads_the_settings() -> None:
    from datetime import timedelta

    from dashboards.sessions import load_session_policy

    policy = load_session_policy({"MONITOR_DASHBOARD_SESSION_HOURS": "2"})
    assert (policy.idle, policy.absolute) == (timedelta(minutes=15), timedelta(hours=2))


def test_demo_key_is_long_enough() -> None:
    from monitor.domain.privacy import make_patient_hasher

    assert len(make_patient_hasher(DEMO_PATIENT_ID_KEY)("P1")) == 64


def test_import_stays_light() -> None:
    code = "import sys, monitor.settings; print(sorted({'pandas', 'sqlalchemy', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_other_module_reads_monitor_variables_from_the_environment() -> None:
    """Only monitor/settings.py reads MONITOR_* from os.environ."""
    offenders = []
    for path in [*ROOT.joinpath("monitor").rglob("*.py"), *ROOT.joinpath("dashboards").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name == "settings.py" or "os.environ" not in text and "getenv" not in text:
            continue
        for line in text.splitlines():
            if ("os.environ" in line or "getenv" in line) and "MONITOR_" in line and "MONITOR_DATABASE_URL\": url" \
                    not in line:
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


# ------------------------------------------------------------------------------------ documentation

def test_configuration_doc_is_generated_from_settings() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == markdown_reference(), "run: python -m monitor.settings --markdown > docs/configuration.md"


def test_readme_table_is_generated_from_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "paste the output of: python -m monitor.settings --readme-table"


def test_every_monitor_variable_named_in_the_docs_and_code_exists() -> None:
    known = set(_variables()) | TEST_ONLY | RETIRED
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *ROOT.joinpath("monitor").rglob("*.py"),
             *ROOT.joinpath("dashboards").rglob("*.py")]
    unknown = {f"{path.relative_to(ROOT)}: {name}" for path in files
               for name in re.findall(r"\bMONITOR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8"))
               if name not in known and name != "MONITOR_"}
    assert not unknown


def _states(cell: str, default: str) -> bool:
    """Whether a documented default ``cell`` states ``default`` (either form of ``52428800 (50 MiB)``)."""
    cell, default = cell.replace("`", "").strip(), default.replace("`", "").strip()
    forms = {default, default.split(" (")[0]} | set(re.findall(r"\(([^()]*)\)", default))
    return any(re.match(re.escape(form) + r"(?![\w.])", cell) for form in forms if form)


def _documented_defaults() -> list[tuple[str, str, str]]:
    """(file, variable, stated default) from tables with a default column and from "VAR (default X" prose."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        header: list[str] | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("|"):
                header = None
            else:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if header is None:
                    header = [c.lower() for c in cells]
                elif len(cells) > 1 and len(header) > 1 and "default" in header[1]:
                    names = re.findall(r"`(MONITOR_\w+)`", cells[0])
                    if len(names) == 1:
                        found.append((path.name, names[0], cells[1]))
            for name, stated in re.findall(r"`(MONITOR_\w+)` \(default ([^,;)]+)", line):
                found.append((path.name, name, stated))
    return found


def test_every_documented_default_is_the_settings_default() -> None:
    variables = _variables()
    documented = _documented_defaults()
    assert {"README.md", "configuration.md", "service.md"} <= {file for file, _, _ in documented}
    wrong = [f"{file}: {name} documented as {stated!r}, Settings says {default_text(variables[name])!r}"
             for file, name, stated in documented
             if name in variables and not _states(stated, default_text(variables[name]))]  # type: ignore[arg-type]
    assert not wrong


def test_stated_default_check_catches_the_old_mistakes() -> None:
    fields = _variables()
    assert not _states("300", default_text(fields["MONITOR_DROP_INTERVAL_SECONDS"]))  # type: ignore[arg-type]
    assert not _states("all", default_text(fields["MONITOR_REPORT_FORMATS"]))  # type: ignore[arg-type]
    assert _states("50 MiB", default_text(fields["MONITOR_API_MAX_BODY_BYTES"]))  # type: ignore[arg-type]
    assert not _states("150", default_text(fields["MONITOR_DASHBOARD_IDLE_MINUTES"]))  # type: ignore[arg-type]


def test_command_line_of_the_generator() -> None:
    assert settings_module._main(["--markdown"]) == 0
    assert settings_module._main(["--nonsense"]) == 2


def test_check_command_reports_the_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_module._main(["--check"]) == 0
    monkeypatch.setenv("MONITOR_JOB_LEASE_SECONDS", "1")
    assert settings_module._main(["--check"]) == 2
    assert capsys.readouterr().err.startswith("error: MONITOR_JOB_LEASE_SECONDS='1': expected a number >= 10")


def test_report_choices_are_the_report_services() -> None:
    from typing import get_args

    from monitor.service.report import REPORT_FORMATS, REPORT_LANGUAGES

    assert get_args(settings_module.ReportFormat) == REPORT_FORMATS
    assert get_args(settings_module.ReportLanguage) == REPORT_LANGUAGES


def test_no_document_states_the_old_current_folder_default() -> None:
    """The default database left ./var/monitor.sqlite (current folder) for the user data folder."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *ROOT.joinpath("monitor").rglob("*.py")]
    stale = [str(p.relative_to(ROOT)) for p in files if "var/monitor.sqlite" in p.read_text(encoding="utf-8")]
    assert not stale
