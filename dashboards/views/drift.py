"""Data drift of the selected period against its reference windows (the preceding window and the fixed
baseline), and the period's Evidently data-drift report when one was written (report format ``evidently``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards import charts, data, labels
from dashboards.context import PageContext
from monitor.domain.drift_sample import SAMPLE_ROWS

__all__ = ["render"]

#: The recorded formats of the Evidently report's files, with their download labels and media types.
EVIDENTLY_FILES = {"evidently-html": ("Evidently report (HTML)", "text/html"),
                   "evidently-json": ("Evidently results (JSON)", "application/json")}


def _evidently(ctx: PageContext) -> None:
    """Download buttons for the newest Evidently report of the period, and what it is."""
    st.subheader("Evidently report")
    files = data.report_files(ctx.database_url, ctx.run_key, ctx.device_id)
    files = files[(files["period"] == ctx.period) & files["format"].isin(list(EVIDENTLY_FILES))] \
        if not files.empty else files
    if files.empty:
        st.caption("No Evidently report written for this period: add the format `evidently` to the report "
                   "(`samd-monitor report --format html,json,evidently ...`).")
        return
    newest = files[files["report_id"] == files.iloc[0]["report_id"]]  # the files are listed newest first
    st.caption(f"Evidently's DataDriftPreset on a bounded sample (at most {SAMPLE_ROWS:,} rows per window, "
               "stratified by site, seeded), with the methods and thresholds above. The statistics above, computed on every "
               "row, decide; Evidently's report is a second view for readers who know it and decides nothing.")
    columns = st.columns(len(EVIDENTLY_FILES))
    for slot, (fmt, (label, mime)) in zip(columns, EVIDENTLY_FILES.items()):
        row = newest[newest["format"] == fmt]
        if row.empty:
            continue
        path = Path(row.iloc[0]["path"])
        if bool(row.iloc[0]["exists"]):
            slot.download_button(label, data=path.read_bytes(), file_name=path.name, mime=mime,
                                 key=f"drift-{fmt}")
        else:
            slot.button(label, disabled=True, key=f"drift-{fmt}", help="The recorded file is no longer on disk.")


def render(ctx: PageContext) -> None:
    """Per-feature drift statistics with their thresholds."""
    st.header(labels.header("Data drift", ctx.period))
    drift = data.data_drift(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    if drift.empty:
        st.info("No data-drift section stored for this period.")
        _evidently(ctx)
        return
    verdicts = charts.drift_verdicts(drift)
    drifted = drift[[v == "drifted" for v in verdicts]]
    unreferenced = drift[[v == "no reference" for v in verdicts]]
    if drifted.empty:
        st.success(charts.drift_title(drift) + ".")
    else:
        st.warning(charts.drift_title(drift) + ".")
    if not unreferenced.empty:
        st.info(labels.drifted(dict.fromkeys(unreferenced["feature"]),
                               prefix="No reference (nothing to compare with, not 'not drifted')"))
    with st.container(key="drift-chart"):
        st.altair_chart(charts.drift_chart(drift), width="stretch")
    st.caption("One row per comparison (with the preceding window and with the fixed baseline), coloured by its "
               "verdict. Left: the effect size over the floor that decides it (dotted line = 1): the normed "
               "Wasserstein distance (numeric inputs) or Jensen-Shannon distance (categorical) over its threshold, "
               "the |difference| of a rate over its floor. Middle, tests only: the p-value against its alpha "
               "(tick). A distance drifts when it reaches its threshold; a test when p is below alpha *and* the "
               "effect reaches its floor, so a bar past the line with p above alpha, or p below alpha with a short "
               "bar, did not drift. Right: the verdict and the condition that decided it. A row without a reference "
               "(e.g. the first period) has no mark and reads 'no reference'. These statistics, on every row of "
               "both windows, decide drift.")
    shown = drift.assign(verdict=verdicts).drop(columns=["drifted"])  # a check box would show None as "no"
    first = [c for c in ("reference", "reference_periods", "feature", "verdict") if c in shown]
    st.dataframe(shown[first + [c for c in shown if c not in first]], hide_index=True,
                 column_config={"value": st.column_config.NumberColumn(format="%.4f")})
    _evidently(ctx)
