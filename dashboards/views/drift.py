"""Data drift of the selected period against its reference window."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, labels
from dashboards.context import PageContext

__all__ = ["render"]


def render(ctx: PageContext) -> None:
    """Per-feature drift statistics with their thresholds."""
    st.header(labels.header("Data drift", ctx.period))
    drift = data.data_drift(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    if drift.empty:
        st.info("No data-drift section stored for this period.")
        return
    drifted = drift[drift["drifted"].astype(bool)]
    if drifted.empty:
        st.success("No feature drifted beyond its threshold.")
    else:
        st.warning(labels.drifted(drifted["feature"], prefix="Drifted beyond threshold"))
    with st.container(key="drift-chart"):
        st.altair_chart(charts.drift_chart(drift), width="stretch")
    st.caption("Each bar is the feature's statistic divided by its threshold (dashed line = 1). Numeric features: "
               "normed Wasserstein distance; categorical: Jensen-Shannon distance; rates: two-proportion z-test "
               "(value = p-value, drift when below the threshold).")
    st.dataframe(drift, hide_index=True, column_config={"value": st.column_config.NumberColumn(format="%.4f")})
