"""The samd-monitor drift dashboard (Streamlit): ``samd-monitor dashboard`` runs ``streamlit run`` on it.

The database comes from ``MONITOR_DATABASE_URL`` (the CLI sets it from ``--db``). Every page reads
stored analysis results only, through :mod:`monitor.service.queries` (the one read side), cached per database URL and
newest run id.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboards/app.py` puts only dashboards/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards import auth, data, labels  # noqa: E402
from dashboards.context import PageContext  # noqa: E402
from dashboards.views import (  # noqa: E402
    device_outputs, drift, findings, heatmap, overview, reports, tickets, trends, worklist,
)
from monitor.errors import MonitorError  # noqa: E402
from monitor.settings import load_settings  # noqa: E402

PAGES = {
    "Overview": overview.render,
    "Heat map": heatmap.render,
    "Trends": trends.render,
    "Findings": findings.render,
    "Tickets": tickets.render,
    "Data drift": drift.render,
    "Reports": reports.render,
    "Device outputs": device_outputs.render,
    "Review worklist": worklist.render,
}
NEEDS_PERIOD = {"Heat map", "Trends", "Findings", "Data drift", "Device outputs", "Review worklist"}


def main() -> None:
    """Sign-in gate, sidebar selection, then the chosen page."""
    st.set_page_config(page_title="samd-monitor", page_icon="🫁", layout="wide")
    database_url = load_settings().database_url
    try:
        app = data.application(database_url)
    except MonitorError as exc:
        st.error(labels.cannot_open(exc))
        return
    principal = auth.current_principal()
    if principal is None:
        auth.login_form(app)
        return
    run_key = data.newest_run_id(database_url)
    devices = data.overview(database_url, run_key)
    with st.sidebar:
        st.markdown(labels.sidebar_user(principal.name, principal.role))
        if st.button("Sign out", key="logout"):
            auth.logout()
            st.rerun()
        if not devices:
            st.info("No device registered.")
            return
        device_id = st.selectbox("Device", [d["device_id"] for d in devices], key="device")
        periods = data.device_periods(database_url, run_key, device_id)
        period = st.selectbox("Period", periods, key="period") if periods else None
        page = st.radio("Page", list(PAGES), key="page")
    if page in NEEDS_PERIOD and period is None:
        st.info("No analysis stored for this device yet: run `samd-monitor analyze` first.")
        return
    PAGES[page](PageContext(app=app, database_url=database_url, run_key=run_key, device_id=device_id,
                            period=period, principal=principal))


main()
