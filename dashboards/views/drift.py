"""Data drift of the selected period against its reference windows (the preceding window and the fixed
baseline)."""

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
    verdicts = charts.drift_verdicts(drift)
    drifted = drift[[v == "drifted" for v in verdicts]]
    unreferenced = drift[[v == "no reference" for v in verdicts]]
    if drifted.empty:
        st.success("No feature drifted beyond its threshold against a reference with cases.")
    else:
        st.warning(labels.drifted(dict.fromkeys(drifted["feature"]), prefix="Drifted beyond threshold"))
    if not unreferenced.empty:
        st.info(labels.drifted(dict.fromkeys(unreferenced["feature"]),
                               prefix="No reference (nothing to compare with, not 'not drifted')"))
    with st.container(key="drift-chart"):
        st.altair_chart(charts.drift_chart(drift), width="stretch")
    st.caption("Each bar is the feature's statistic relative to the line that decides it (dashed line = 1), one "
               "row per comparison: with the preceding window and with the fixed baseline. Numeric features: "
               "normed Wasserstein distance over its threshold; categorical: Jensen-Shannon distance over its "
               "threshold; rates: two-proportion z-test, drawn as |effect size| over its floor (drift when the "
               "p-value is below its threshold and the effect reaches the floor; the p-value is in the table). "
               "A row without a reference (e.g. the first period) has no bar and reads 'no reference'.")
    shown = drift.assign(verdict=verdicts).drop(columns=["drifted"])  # a check box would show None as "no"
    first = [c for c in ("reference", "reference_periods", "feature", "verdict") if c in shown]
    st.dataframe(shown[first + [c for c in shown if c not in first]], hide_index=True,
                 column_config={"value": st.column_config.NumberColumn(format="%.4f")})
