"""Overview: devices, their current period, label completeness, findings and tickets."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, labels
from dashboards.context import PageContext

__all__ = ["render"]


def render(ctx: PageContext) -> None:
    """Key figures of the selected device and a table of all devices."""
    st.header("Overview")
    devices = data.overview(ctx.database_url, ctx.run_key)
    current = next(d for d in devices if d["device_id"] == ctx.device_id)
    with st.container(key="overview-kpis"):
        st.subheader(labels.subheader(current["name"], current["device_id"]))
        if "period" not in current:
            st.info("No analysis stored yet: run `samd-monitor analyze` first.")
            return
        cols = st.columns(5)
        cols[0].metric("Current period", labels.text(current["period"]))
        cols[1].metric("Label completeness", f"{current['label_completeness']:.1%}",
                       help="Predictions of the period with ground truth received by the data cut-off.")
        cols[2].metric("Open findings", current["open_findings"], help="Findings of the current period's run.")
        cols[3].metric("Open tickets", current["open_tickets"])
        outcomes = current.get("outcomes") or {}
        if outcomes:
            cols[4].metric("Shortfall / inconclusive / conformity",
                           f"{outcomes.get('flagged', 0)} / {outcomes.get('inconclusive', 0)} / "
                           f"{outcomes.get('conforming', 0)}",
                           help="Outcomes of the pre-specified decision rule on the claimed stratum-metrics "
                                "(shortfall shown, inconclusive, conformity shown); "
                                f"{outcomes.get('provisional', 0)} provisional.")
        else:
            cols[4].metric("Tests / flagged", f"{current['tests']} / {current['flagged']}",
                           help="A run stored before the pre-specified decision rule.")
        st.caption(labels.overview_caption(current))
        if current["drifted_features"]:
            st.warning(labels.drifted(current["drifted_features"], prefix="Data drift beyond threshold"))
    st.subheader("All devices")
    table = pd.DataFrame([{
        "device": d["device_id"], "name": d["name"], "current period": d.get("period"),
        "periods analysed": d["periods"], "label completeness": d.get("label_completeness"),
        "tests": d.get("tests"), "shortfalls shown": d.get("flagged"),
        "inconclusive": (d.get("outcomes") or {}).get("inconclusive"), "open tickets": d["open_tickets"],
    } for d in devices])
    st.dataframe(table, hide_index=True, column_config={
        "label completeness": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
