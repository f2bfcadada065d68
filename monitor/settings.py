"""Deployment settings read from the environment (``MONITOR_*``), once, in the entry point.

=========================  ====================================================
``MONITOR_DATABASE_URL``   SQLAlchemy URL; default: SQLite file in the data dir
``MONITOR_DATA_DIR``       where the default SQLite file and reports go (``./var``)
``MONITOR_PATIENT_ID_KEY`` secret key for the keyed hash of patient identifiers
``MONITOR_ACTOR``          who is acting, recorded in the audit log (default: OS user)
=========================  ====================================================
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

__all__ = ["DEMO_PATIENT_ID_KEY", "Settings", "load_settings"]

#: Key used only by ``samd-monitor demo`` on synthetic data; never for real patients.
DEMO_PATIENT_ID_KEY = "samd-monitor-demo-key-not-for-real-patients"


@dataclass(frozen=True)
class Settings:
    """Everything deployment-specific, explicit and immutable."""

    database_url: str
    data_dir: Path
    patient_id_key: str | None
    actor: str

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
    )
