"""The wired application per database URL and the cached reads of the one read side
(:mod:`monitor.service.queries`, which the HTTP API and the report use too).

Every cached loader takes the database URL and the newest run id as its first arguments, so a new
analysis run (or another database) invalidates the cache; tickets, which change without a new run,
have a short time-to-live and are cleared after each write from this session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.service import queries as read_model
from monitor.settings import load_settings

__all__ = [
    "TTL_SECONDS", "TICKETS_TTL_SECONDS", "application", "attribute_levels", "data_drift", "device_outputs", "device_periods",
    "findings", "newest_run_id", "overview", "report_files", "strata", "stratum_grid", "stratum_trend", "tickets",
]

TTL_SECONDS = 600
TICKETS_TTL_SECONDS = 30


@st.cache_resource(show_spinner=False)
def application(database_url: str) -> App:
    """The application wired on ``database_url`` (one engine and connection pool per URL)."""
    return bootstrap(load_settings().with_database(database_url))


def newest_run_id(database_url: str) -> str | None:
    """The cache key of the stored results (not cached: one indexed query)."""
    return read_model.newest_run_id(application(database_url).uow)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def overview(database_url: str, run_key: str | None) -> list[dict[str, Any]]:
    rows = []
    for device in read_model.overview(application(database_url).uow):
        row = device.model_dump()
        current = row.pop("current")
        rows.append(row | (current or {}))  # the views test ``"period" in row``: absent until a run is stored
    return rows


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def device_periods(database_url: str, run_key: str | None, device_id: str) -> list[str]:
    return read_model.device_periods(application(database_url).uow, device_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def attribute_levels(database_url: str, run_key: str | None, device_id: str) -> dict[str, list[str]]:
    return read_model.attribute_levels(application(database_url).uow, device_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def strata(database_url: str, run_key: str | None, device_id: str, period: str) -> pd.DataFrame:
    return read_model.strata(application(database_url).uow, device_id, period)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def stratum_grid(database_url: str, run_key: str | None, device_id: str, period: str, metric: str, rows: str,
                 columns: str, model_version: str | None) -> pd.DataFrame:
    return read_model.stratum_grid(application(database_url).uow, device_id, period, metric=metric, rows=rows,
                                   columns=columns, model_version=model_version)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def stratum_trend(database_url: str, run_key: str | None, device_id: str, stratum: str, metric: str,
                  model_version: str) -> dict[str, pd.DataFrame]:
    return read_model.stratum_trend(application(database_url).uow, device_id, stratum=stratum, metric=metric,
                                    model_version=model_version)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def findings(database_url: str, run_key: str | None, device_id: str, period: str) -> list[dict[str, Any]]:
    return [f.model_dump() for f in read_model.period_findings(application(database_url).uow, device_id, period)]


@st.cache_data(ttl=TICKETS_TTL_SECONDS, show_spinner=False)
def tickets(database_url: str, run_key: str | None, device_id: str) -> list[dict[str, Any]]:
    return [t.model_dump() for t in read_model.list_ticket_details(application(database_url).uow, device_id=device_id)]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def data_drift(database_url: str, run_key: str | None, device_id: str, period: str) -> pd.DataFrame:
    return read_model.data_drift(application(database_url).uow, device_id, period)


@st.cache_data(ttl=TICKETS_TTL_SECONDS, show_spinner=False)
def report_files(database_url: str, run_key: str | None, device_id: str) -> pd.DataFrame:
    return read_model.report_files_frame(application(database_url).uow, device_id,
                                         file_exists=lambda path: Path(path).is_file())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def device_outputs(database_url: str, run_key: str | None, device_id: str, period: str) -> read_model.DeviceOutputs:
    return read_model.device_outputs(application(database_url).uow, device_id, period)
