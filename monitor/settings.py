"""Deployment settings read from the environment (``MONITOR_*``), once, in the entry point.

=========================  ====================================================
``MONITOR_DATABASE_URL``   SQLAlchemy URL; default: SQLite file in the data dir
``MONITOR_DATA_DIR``       where the default SQLite file and reports go (``./var``)
``MONITOR_PATIENT_ID_KEY`` secret key for the keyed hash of patient identifiers
``MONITOR_ACTOR``          who is acting, recorded in the audit log (default: OS user)
=========================  ====================================================

Ticket events are POSTed to ``MONITOR_TICKET_WEBHOOK_URL``, signed with the optional
``MONITOR_TICKET_WEBHOOK_SECRET`` (HMAC-SHA256; see ``docs/tickets.md``).

The running service (``samd-monitor serve``) reads more, in :class:`ServiceSettings`
(``MONITOR_DROP_DIR``, ``MONITOR_REPORT_GRACE_DAYS``, ...; see ``docs/service.md``).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from monitor.errors import ConfigError

__all__ = ["DEMO_PATIENT_ID_KEY", "ServiceSettings", "Settings", "load_service_settings", "load_settings"]

#: Key used only by ``samd-monitor demo`` on synthetic data; never for real patients.
DEMO_PATIENT_ID_KEY = "samd-monitor-demo-key-not-for-real-patients"


@dataclass(frozen=True)
class ServiceSettings:
    """The scheduler, drop folder and housekeeping of ``samd-monitor serve`` (``docs/service.md``)."""

    drop_dir: Path | None = None  # MONITOR_DROP_DIR: drop folder watched by the scheduler (none: no ingest job)
    drop_interval_seconds: float = 120.0  # MONITOR_DROP_INTERVAL_SECONDS
    nightly_at: str = "02:00"  # MONITOR_NIGHTLY_AT (UTC): analysis; reports 30 min and housekeeping 60 min later
    report_grace_days: int | None = None  # MONITOR_REPORT_GRACE_DAYS: overrides monitoring.label_grace_days
    report_formats: tuple[str, ...] = ("html", "json")  # MONITOR_REPORT_FORMATS
    report_languages: tuple[str, ...] = ("en", "zh-CN")  # MONITOR_REPORT_LANGUAGES (html and pdf)
    webhook_interval_seconds: float = 60.0  # MONITOR_WEBHOOK_INTERVAL_SECONDS
    misfire_grace_seconds: int = 3600  # MONITOR_MISFIRE_GRACE_SECONDS
    job_lease_seconds: float = 3600.0  # MONITOR_JOB_LEASE_SECONDS
    job_runs_retention_days: int = 90  # MONITOR_JOB_RUNS_RETENTION_DAYS
    drop_done_retention_days: int = 30  # MONITOR_DROP_DONE_RETENTION_DAYS


@dataclass(frozen=True)
class Settings:
    """Everything deployment-specific, explicit and immutable."""

    database_url: str
    data_dir: Path
    patient_id_key: str | None
    actor: str
    service: ServiceSettings = field(default_factory=ServiceSettings)
    ticket_webhook_url: str | None = None  # MONITOR_TICKET_WEBHOOK_URL: where ticket events are POSTed
    ticket_webhook_secret: str | None = None  # MONITOR_TICKET_WEBHOOK_SECRET: HMAC key of X-Samd-Signature
    exact_ages: bool = False  # MONITOR_EXACT_AGES=1: keep ages >= 90 as given (default: stored as 90, ">= 90")

    def with_database(self, url: str | None) -> Settings:
        """A copy using ``url`` when given (the ``--db`` option)."""
        return replace(self, database_url=url) if url else self


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("MONITOR_DATA_DIR") or "var").expanduser()
    url = env.get("MONITOR_DATABASE_URL") or f"sqlite:///{(data_dir / 'monitor.sqlite').as_posix()}"
    return Settings(
        database_url=url,
        data_dir=data_dir,
        patient_id_key=env.get("MONITOR_PATIENT_ID_KEY") or None,
        actor=env.get("MONITOR_ACTOR") or _default_actor(),
        service=load_service_settings(env),
        ticket_webhook_url=env.get("MONITOR_TICKET_WEBHOOK_URL") or None,
        ticket_webhook_secret=env.get("MONITOR_TICKET_WEBHOOK_SECRET") or None,
        exact_ages=(env.get("MONITOR_EXACT_AGES") or "").strip().lower() in ("1", "true", "yes"),
    )


def number_setting(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    """The number in ``env[name]`` (``default`` when unset or empty); ``ConfigError`` naming the variable
    when it is not a number >= ``minimum``."""
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= minimum:
        raise ConfigError(f"{name}={text!r}: expected a number >= {minimum:g}")
    return value


def load_service_settings(env: Mapping[str, str] | None = None) -> ServiceSettings:
    """Read the service's settings from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    nightly = env.get("MONITOR_NIGHTLY_AT") or "02:00"
    hour, _, minute = nightly.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"MONITOR_NIGHTLY_AT={nightly!r}: expected HH:MM (UTC), e.g. 02:00")
    grace = env.get("MONITOR_REPORT_GRACE_DAYS")
    return ServiceSettings(
        drop_dir=Path(env["MONITOR_DROP_DIR"]).expanduser() if env.get("MONITOR_DROP_DIR") else None,
        drop_interval_seconds=number_setting(env, "MONITOR_DROP_INTERVAL_SECONDS", 120.0, minimum=1),
        nightly_at=f"{int(hour):02d}:{int(minute):02d}",
        report_grace_days=int(number_setting(env, "MONITOR_REPORT_GRACE_DAYS", 0, minimum=0)) if grace else None,
        report_formats=tuple(f.strip() for f in (env.get("MONITOR_REPORT_FORMATS") or "html,json").split(",")
                             if f.strip()),
        report_languages=tuple(x.strip() for x in (env.get("MONITOR_REPORT_LANGUAGES") or "en,zh-CN").split(",")
                               if x.strip()),
        webhook_interval_seconds=number_setting(env, "MONITOR_WEBHOOK_INTERVAL_SECONDS", 60.0, minimum=1),
        misfire_grace_seconds=int(number_setting(env, "MONITOR_MISFIRE_GRACE_SECONDS", 3600, minimum=1)),
        job_lease_seconds=number_setting(env, "MONITOR_JOB_LEASE_SECONDS", 3600.0, minimum=10),
        job_runs_retention_days=int(number_setting(env, "MONITOR_JOB_RUNS_RETENTION_DAYS", 90, minimum=1)),
        drop_done_retention_days=int(number_setting(env, "MONITOR_DROP_DONE_RETENTION_DAYS", 30, minimum=1)),
    )
