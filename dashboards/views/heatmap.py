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
    if grid["status"].isin(["ok", "flagged", "insufficient"]).sum() == 0:
        st.info(labels.no_results(metric, rows, columns, ctx.period))
        return
    with st.container(key="heatmap"):
        st.altair_chart(charts.heatmap(grid, rows=rows, columns=columns, metric=metric), width="stretch")
    st.caption("Colour: estimate − claim (blue above, red below the claim). Grey dashed cells have too few "
               "confirmed cases to be tested (low n); a thick black border marks a flagged cell (q ≤ FDR and "
               "estimate below claim − margin). Hover a cell for its interval, counts and q-value.")
    flagged = grid[grid["status"] == "flagged"]
    with st.container(key="heatmap-flagged"):
        if flagged.empty:
            st.success(f"No flagged {labels.text(metric)} cell in {labels.text(rows)} × {labels.text(columns)}.")
        else:
            for cell in flagged.itertuples():
                st.error(labels.flagged_cell(metric, cell))
    with st.expander("Cells as a table"):
        st.dataframe(grid, hide_index=True)
