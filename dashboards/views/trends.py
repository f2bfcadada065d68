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
               "its control limits and (solid) its centre line, the reference level it is centred on (from the "
               "newest run; single attributes and overall only).")
    if not trend["cusum"].empty:
        st.subheader("CUSUM")
        with st.container(key="cusum-chart"):
            st.altair_chart(charts.cusum_chart(trend["cusum"]), width="stretch")
        st.caption("Black ticks: the decision limit h. A red bar is a period with an alarm, as high as the "
                   "statistic reached at its alarm: after an alarm the chart restarts at 0, so its value at the "
                   "period's end may be below h while the alarm stands. Purple: no alarm, the statistic at the "
                   "period's end. Cases enter in the order their labels became known; each alarm is dated.")
        alarmed = trend["cusum"][trend["cusum"]["alarms"].fillna(0).astype(int) > 0]
        if not alarmed.empty and "alarm_dates" in alarmed:
            st.dataframe(alarmed[["period", "alarms", "alarm_dates"]], hide_index=True,
                         column_config={"alarm_dates": "alarm dates (case of the chart)"})
    st.dataframe(trend["estimates"], hide_index=True)
