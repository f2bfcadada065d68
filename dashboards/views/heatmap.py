"""Stratum heat map: the stored intersection results of two chosen attributes, coloured by estimate - claim."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, labels
from dashboards.context import PageContext

__all__ = ["render"]

METRICS = ("sensitivity", "specificity")


def render(ctx: PageContext) -> None:
    """Pick a metric and two attributes; show the grid, its flagged and low-n cells."""
    st.header(labels.header("Stratum heat map", ctx.period))
    levels = data.attribute_levels(ctx.database_url, ctx.run_key, ctx.device_id)
    names = list(levels)
    strata = data.strata(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    versions = sorted(strata["model_version"].unique(), reverse=True)
    left, middle, right, last = st.columns(4)
    metric = left.selectbox("Metric", METRICS, key="heat_metric")
    rows = middle.selectbox("Rows", names, index=0, key="heat_rows")
    columns = right.selectbox("Columns", [n for n in names if n != rows],
                              index=min(1, len(names) - 2), key="heat_columns")
    version = last.selectbox("Model version", versions, key="heat_version") if versions else None
    grid = data.stratum_grid(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period, metric, rows, columns,
                             version)
    if grid["status"].isin([*charts.TESTED, "insufficient"]).sum() == 0:
        st.info(labels.no_results(metric, rows, columns, ctx.period))
        return
    with st.container(key="heatmap"):
        st.altair_chart(charts.heatmap(grid, rows=rows, columns=columns, metric=metric), width="stretch")
    st.caption("Colour: estimate − claim (blue above, red below the claim). The pre-specified rule decides each "
               "cell against its performance goal (claim − margin) within its family: ⚑ and a thick black border "
               "= shortfall shown (the family-adjusted one-sided test against the goal rejects); ? and a dotted "
               "border = inconclusive; ✓ = conformity shown. Intersections are exploratory: a shortfall there is "
               "a signal to investigate. Grey dashed cells have too few confirmed cases to be tested (low n); "
               "'provisional' = decided on too few of the expected labels. Hover a cell for its interval, counts, "
               "adjusted p and family.")
    flagged = grid[grid["status"] == "flagged"]
    with st.container(key="heatmap-flagged"):
        if flagged.empty:
            st.success(f"No {labels.text(metric)} shortfall shown in {labels.text(rows)} × "
                       f"{labels.text(columns)}.")
        else:
            for cell in flagged.itertuples():
                st.error(labels.flagged_cell(metric, cell))
    with st.expander("Cells as a table"):
        st.dataframe(grid, hide_index=True)
