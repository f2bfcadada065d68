"""Deployment settings: every ``MONITOR_*`` environment variable, in one :class:`Settings` type.

:class:`Settings` is a pydantic-settings ``BaseSettings`` (prefix ``MONITOR_``): each field is one
variable, with its default, description and validation. The entry points read it once
(:func:`load_settings`); a wrong value stops with one :class:`~monitor.errors.ConfigError` naming every
offending variable (secrets are never echoed). An empty variable counts as unset.

The service's scheduler settings (``MONITOR_DROP_DIR``, ``MONITOR_NIGHTLY_AT``, ...) are grouped in
:class:`ServiceSettings` (``Settings.service``; the variables keep their flat names).

``docs/configuration.md`` and the configuration table of ``README.md`` are generated from these fields
(``python -m monitor.settings --markdown`` / ``--readme-table``); a test checks both, and every
``MONITOR_*`` default stated in a table of README.md or docs/, against this module.

This module stays light to import (pydantic, platformdirs; no pandas or SQLAlchemy).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.errors import ConfigError

__all__ = ["DEMO_PATIENT_ID_KEY", "ENV_PREFIX", "ServiceSettings", "Settings", "default_data_dir", "env_name",
           "load_service_settings", "load_settings", "markdown_reference", "number_setting", "readme_table"]

#: Key used only by ``samd-monitor demo`` on synthetic data; never for real patients.
DEMO_PATIENT_ID_KEY = "samd-monitor-demo-key-not-for-real-patients"
ENV_PREFIX = "MONITOR_"
APP_NAME = "samd-monitor"
DATABASE_FILE = "monitor.sqlite"

#: The environment read by :func:`load_settings` (``None``: ``os.environ``).
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("monitor_settings_environment", default=None)

ReportFormat = Literal["html", "pdf", "json", "csv", "xlsx", "evidently"]
ReportLanguage = Literal["en", "zh-CN", "both"]


def default_data_dir() -> Path:
    """The user's data directory for samd-monitor (``platformdirs.user_data_dir``): on Linux
    ``~/.local/share/samd-monitor`` (or ``$XDG_DATA_HOME/samd-monitor``), on macOS
    ``~/Library/Application Support/samd-monitor``, on Windows ``%LOCALAPPDATA%\\samd-monitor``."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def env_name(field: str) -> str:
    """The environment variable of a field of :class:`Settings` or :class:`ServiceSettings`."""
    return ENV_PREFIX + field.upper()


def _doc(description: str, default_text: str | None = None, *, secret: bool = False) -> dict[str, Any]:
    """Field metadata: ``default_text`` is how the documentation states a default that is computed."""
    extra: dict[str, Any] = {}
    if default_text is not None:
        extra["default_text"] = default_text
    if secret:
        extra["secret"] = True
    return {"description": description, "json_schema_extra": extra or None}


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class _Readable:
    """Validation errors become one :class:`ConfigError` naming every variable (mixed into :class:`Settings`
    only: pydantic calls a nested model's own ``__init__``, so :class:`ServiceSettings` has none)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise _config_error(exc, type(self)) from None


class ServiceSettings(BaseModel):
    """The scheduler, drop folder and housekeeping of ``samd-monitor serve`` (``docs/service.md``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drop_dir: Path | None = Field(None, **_doc(
        "Drop folder watched by the scheduler (`<device>/{predictions,ground-truth}/incoming/`); unset: no "
        "drop-folder job."))
    drop_interval_seconds: float = Field(120.0, ge=1, allow_inf_nan=False, **_doc(
        "Seconds between drop-folder scans."))
    nightly_at: str = Field("02:00", **_doc(
        "UTC time (HH:MM) of the nightly analysis; reports follow 30 minutes and housekeeping 60 minutes later."))
    report_grace_days: int | None = Field(None, ge=0, **_doc(
        "Label grace period (days) before a closed period's scheduled report, for every device; unset: each "
        "device's `monitoring.label_grace_days`."))
    report_formats: tuple[ReportFormat, ...] = Field(("html", "json"), min_length=1, **_doc(
        "Formats of the scheduled reports, comma-separated (html, pdf, json, csv, xlsx, evidently: "
        "docs/drift-evidently.md)."))
    report_languages: tuple[ReportLanguage, ...] = Field(("en", "zh-CN"), min_length=1, **_doc(
        "Languages of the scheduled HTML and PDF reports, comma-separated (en, zh-CN, both)."))
    webhook_interval_seconds: float = Field(60.0, ge=1, allow_inf_nan=False, **_doc(
        "Seconds between ticket-webhook delivery passes of the scheduler."))
    misfire_grace_seconds: int = Field(3600, ge=1, **_doc(
        "How late (seconds) a missed scheduled run may still start."))
    job_lease_seconds: float = Field(3600.0, ge=10, allow_inf_nan=False, **_doc(
        "Lease (seconds) of a running job; must exceed the longest job."))
    job_runs_retention_days: int = Field(90, ge=1, **_doc(
        "Age (days) after which job-run records are pruned."))
    drop_done_retention_days: int = Field(30, ge=1, **_doc(
        "Age (days) after which files in the drop folder's `done/` are pruned."))

    @field_validator("drop_dir", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("nightly_at", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        hour, _, minute = str(value).strip().partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError("expected HH:MM (UTC), e.g. 02:00")
        return f"{int(hour):02d}:{int(minute):02d}"

    @field_validator("report_formats", "report_languages", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("report_formats", "report_languages", mode="after")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class _Environment(PydanticBaseSettingsSource):
    """``MONITOR_<FIELD>`` of the environment being read; the fields of :class:`ServiceSettings` by their
    own flat names (``MONITOR_DROP_DIR``, no nested prefix). Empty values count as unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        env = _ENVIRONMENT.get()
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            if name != "service" and env.get(env_name(name)):
                values[name] = env[env_name(name)]
        service = _service_values(env)
        if service:
            values["service"] = service
        return values


def _service_values(env: Mapping[str, str]) -> dict[str, str]:
    return {name: env[env_name(name)] for name in ServiceSettings.model_fields if env.get(env_name(name))}


class Settings(_Readable, BaseSettings):
    """Everything deployment-specific, explicit and immutable. ``Settings()`` reads the environment;
    fields given as arguments win over it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir, **_doc(
        "Folder of the default SQLite database and of the scheduled reports (`reports/`); created when first "
        "written to.", "the user data folder (`~/.local/share/samd-monitor` on Linux; platformdirs)"))
    database_url: str = Field("", **_doc(
        "SQLAlchemy URL of the database: `sqlite:///PATH` (embedded) or `postgresql+psycopg://USER@HOST:5432/DB`; "
        "the global `--db` option overrides it.", "`sqlite:///` + `MONITOR_DATA_DIR/monitor.sqlite`"))
    patient_id_key: str | None = Field(None, repr=False, **_doc(
        "Secret key (at least 16 characters) of the keyed hash (HMAC-SHA-256) that replaces patient "
        "identifiers; required to ingest predictions; keep it stable (`samd-monitor demo` uses its own key).",
        "unset", secret=True))
    audit_key_file: Path | None = Field(None, **_doc(
        "File holding the key of the keyed audit chain (HMAC-SHA-256; 64 hex digits, mode 0600), kept outside the "
        "database; created on first use when missing. Keep it (and a copy held apart): without it "
        "`samd-monitor audit verify` checks the chain's links only (docs/audit.md).",
        "beside an SQLite database file (`<file>.audit-key`), else one per database in the user data folder "
        "(`audit-keys/<host>_<port>_<database>.key`)"))
    user: str | None = Field(None, **_doc(
        "The named user (an enabled user of the database, `samd-monitor user add`) that command-line actions act "
        "as and are audited under; the global `--user` option overrides it; commands that change data refuse to "
        "run without one (docs/signoff.md). It replaces `MONITOR_ACTOR`, no longer read: audit records name a "
        "user of the system, never the operating-system account.", "unset"))
    exact_ages: bool = Field(False, **_doc(
        "Keep ages of 90 and above as given (default: stored as 90, meaning >= 90)."))
    ticket_webhook_url: str | None = Field(None, **_doc(
        "Where ticket events are POSTed (`http://` or `https://`; `docs/tickets.md`)."))
    ticket_webhook_secret: str | None = Field(None, repr=False, **_doc(
        "Key of the HMAC-SHA-256 signature of ticket webhook requests.", "unset", secret=True))
    api_max_body_bytes: int = Field(50 * 2**20, ge=1024, **_doc(
        "Largest HTTP request body (bytes) the API accepts; 413 beyond it.", "52428800 (50 MiB)"))
    api_auth_cache_seconds: float = Field(1.0, ge=0, le=60, allow_inf_nan=False, **_doc(
        "How long the API answers a token it has just authenticated from memory: a revoked token, a disabled "
        "user or a changed role reaches a running API at most this many seconds later (expiry is exact); "
        "0 reads the database on every request."))
    dashboard_idle_minutes: float = Field(15.0, ge=1, allow_inf_nan=False, **_doc(
        "A dashboard sign-in ends after this many minutes without activity."))
    dashboard_session_hours: float = Field(8.0, ge=1 / 60, allow_inf_nan=False, **_doc(
        "A dashboard sign-in ends this many hours after it began."))
    site_min_cell_size: int = Field(11, ge=1, **_doc(
        "Default of `samd-monitor site summarize --min-cell-size`: cells with fewer cases are flagged small."))
    service: ServiceSettings = Field(default_factory=ServiceSettings, description="The service's settings.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("audit_key_file", mode="after")
    @classmethod
    def _expand_key_file(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{(self.data_dir / DATABASE_FILE).as_posix()}")
        return self

    def with_user(self, user: str | None) -> Settings:
        """A copy acting as ``user`` when given (the global ``--user`` option)."""
        return self.model_copy(update={"user": user}) if user else self

    def with_database(self, url: str | None) -> Settings:
        """A copy using ``url`` when given (the ``--db`` option)."""
        return self.model_copy(update={"database_url": url}) if url else self


@contextmanager
def _reading(env: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRONMENT.set(env)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default ``os.environ``)."""
    with _reading(env):
        return Settings()


def load_service_settings(env: Mapping[str, str] | None = None) -> ServiceSettings:
    """Read only the service's settings from ``env`` (default ``os.environ``)."""
    try:
        return ServiceSettings(**_service_values(os.environ if env is None else env))
    except ValidationError as exc:
        raise _config_error(exc, ServiceSettings) from None


def number_setting(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    """The number in ``env[name]`` (``default`` when unset or empty); ``ConfigError`` naming the variable
    when it is not a finite number >= ``minimum``. (For variables outside :class:`Settings`, such as tests'.)"""
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= minimum):
        raise ConfigError(f"{name}={text!r}: expected a number >= {minimum:g}")
    return value


# ----------------------------------------------------------------------------------------------- errors

def _field(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, FieldInfo | None]:
    """The variable and field of an error location (``("service", "drop_dir")`` -> ``MONITOR_DROP_DIR``)."""
    names = [part for part in loc if isinstance(part, str)]
    if model is Settings and names[:1] == ["service"] and len(names) > 1:
        names, model = names[1:], ServiceSettings
    name = names[0] if names else "?"
    return env_name(name), model.model_fields.get(name)


def _expected(info: FieldInfo | None, error: Any) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "extra_forbidden":
        return "not a setting"
    if kind == "bool_parsing":
        return "expected on or off (1, true, yes / 0, false, no)"
    if kind == "literal_error":
        return f"expected one of {error['ctx']['expected']}"
    minimum = next((m.ge for m in (info.metadata if info else []) if hasattr(m, "ge")), None)
    if minimum is not None:
        whole = info is not None and info.annotation in (int, int | None)
        return f"expected a number >= {minimum:g}" + (" (a whole number)" if whole else "")
    if kind in ("too_short", "missing"):
        return "expected at least one value"
    return str(error["msg"]).lower()


def _config_error(exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    problems: dict[str, str] = {}
    for error in exc.errors():
        variable, info = _field(model, error["loc"])
        secret = bool(info and (info.json_schema_extra or {}).get("secret"))  # type: ignore[union-attr]
        value = error.get("input")
        shown = f"={value!r}" if isinstance(value, str) and not secret else ""
        problems.setdefault(variable, f"{variable}{shown}: {_expected(info, error)}")
    return ConfigError("; ".join(problems.values()))


# ------------------------------------------------------------------------------------------ documentation

def _fields() -> Iterator[tuple[str, FieldInfo]]:
    for name, info in Settings.model_fields.items():
        if name != "service":
            yield name, info
    yield from ServiceSettings.model_fields.items()


def default_text(info: FieldInfo) -> str:
    """How the documentation states a field's default (``unset``, ``off``, ``120``, ``html,json``, ...)."""
    extra = info.json_schema_extra or {}
    if isinstance(extra, dict) and "default_text" in extra:
        return str(extra["default_text"])
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "`" + ",".join(value) + "`"
    if isinstance(value, str) and ":" in value:
        return f"`{value}`"
    return str(value)


def markdown_reference() -> str:
    """``docs/configuration.md``: every variable with its default and meaning (generated)."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m monitor.settings --markdown > docs/configuration.md` from",
        "     monitor/settings.py; tests/unit/test_settings.py checks that this file is up to date. -->",
        "",
        "samd-monitor is configured by environment variables (prefix `MONITOR_`), read once when a command or",
        "the service starts into one `Settings` object (`monitor/settings.py`, pydantic-settings). An empty",
        "variable counts as unset. A wrong value stops the command with one `error:` line naming every",
        "offending variable (secret values are never printed) and exit status 2;",
        "`python -m monitor.settings --check` checks the current environment the same way.",
        "",
        "Where data goes: the database is the global option's URL (`samd-monitor --db URL ...`) when given, else",
        "`MONITOR_DATABASE_URL`, else the SQLite file `monitor.sqlite` in `MONITOR_DATA_DIR`, which defaults to the",
        "user's data folder (platformdirs), never the current folder. Scheduled reports go to",
        "`MONITOR_DATA_DIR/reports/`; `samd-monitor report` writes to its `--out-dir`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, info in _fields():
        lines.append(f"| `{env_name(name)}` | {default_text(info)} | {info.description} |")
    lines += [
        "",
        "The service's variables (`MONITOR_DROP_DIR` to `MONITOR_DROP_DONE_RETENTION_DAYS`) are described with the",
        "scheduler's jobs in `docs/service.md`; the dashboard's in `docs/dashboard.md`; the API's in `docs/api.md`.",
        "Tests read `MONITOR_TEST_POSTGRES_URL` and `MONITOR_PIP_AUDIT_REQUIRED` (see `tests/`), which are not",
        "settings of the product.",
        "",
    ]
    return "\n".join(lines)


README_TABLE_START = "<!-- settings table: generated by `python -m monitor.settings --readme-table` -->"
README_TABLE_END = "<!-- end of settings table -->"


def readme_table() -> str:
    """The README's configuration table: the variables of :class:`Settings` outside the service's group,
    with their first sentence (generated; the full list is ``docs/configuration.md``)."""
    rows = [README_TABLE_START, "| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        if name != "service":
            meaning = (info.description or "").split(". ")[0].rstrip(".")
            rows.append(f"| `{env_name(name)}` | {default_text(info)} | {meaning} |")
    rows.append(README_TABLE_END)
    return "\n".join(rows)


def _main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown_reference())
        return 0
    if argv == ["--readme-table"]:
        sys.stdout.write(readme_table() + "\n")
        return 0
    if argv == ["--check"]:
        try:
            load_settings()
        except ConfigError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        return 0
    sys.stderr.write("usage: python -m monitor.settings --markdown | --readme-table | --check\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
