"""Trend of one stratum-metric over the analysed periods, with its interval band, claim and control limits."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, labels
from dashboards.context import PageContext

__all__ = ["render"]


def render(ctx: PageContext) -> None:
    """Pick a stratum and metric (flagged ones first); show estimates, EWMA and CUSUM charts."""
    st.header("Trends per stratum")
    strata = data.strata(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    if strata.empty:
        st.info("No stored results for this period.")
        return
    tested = strata[strata["metric"].isin(["sensitivity", "specificity"])]
    ordered = tested.assign(first=tested["status"] != "flagged").sort_values(["first", "level", "stratum"])
    options = list(dict.fromkeys(ordered["stratum"]))
    left, middle, right = st.columns([3, 1, 1])
    stratum = left.selectbox("Stratum", options, key="trend_stratum",
                             help=labels.period_help(ctx.period))
    metrics = sorted(tested.loc[tested["stratum"] == stratum, "metric"].unique())
    metric = middle.selectbox("Metric", metrics, key="trend_metric")
    versions = sorted(tested.loc[tested["stratum"] == stratum, "model_version"].unique(), reverse=True)
    version = right.selectbox("Model version", versions, key="trend_version")
    trend = data.stratum_trend(ctx.database_url, ctx.run_key, ctx.device_id, stratum, metric, version)
    with st.container(key="trend-chart"):
        st.altair_chart(charts.trend_chart(trend["estimates"], trend["ewma"]), width="stretch")
    st.caption("Blue: estimate with its confidence interval per period (each period's newest run). Black dashed: "
               "claim; red dotted: performance goal (claim − margin). Orange: EWMA of the per-period rate with "
               "its control limits (from the newest run; single attributes and overall only).")
    if not trend["cusum"].empty:
        st.subheader("CUSUM")
        st.altair_chart(charts.cusum_chart(trend["cusum"]), width="stretch")
        st.caption("Bars: the CUSUM statistic at the end of each period; red ticks: its decision limit h. "
                   "An alarm is recorded when the statistic crosses h.")
    st.dataframe(trend["estimates"], hide_index=True)
