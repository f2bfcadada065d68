"""The device-kind sections of the selected period (issue 17): decided claims on other metrics, the ordinal
output's confusion matrix and cuts, low-confidence flag rates, review rates, the comparison with the comparator
and lesion-level detection with its FROC curve. Every number comes from the stored analysis
(:func:`monitor.service.queries.device_outputs`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, labels
from dashboards.context import PageContext

__all__ = ["render"]

#: Each table's heading and what it shows, in page order.
TABLES = {
    "claims": ("Claims on other metrics", "Each claim of claims.metrics decided per model version and stratum; "
                                          "flagged rows opened or updated the ticket named."),
    "ordinal_matrix": ("Ordered outputs: AI level by reference grade", "Overall population: verified cases by the AI's "
                                                                       "level (rows) and the reference grade."),
    "ordinal_cuts": ("Ordered outputs: metrics at every cut", "Positive = AI level at or above the cut; the primary "
                                                               "cut is the binary call the other sections use."),
    "low_confidence": ("Low-confidence flag rate", "Flagged results stay in sensitivity and specificity."),
    "review": ("Review rate", "Share of results sent to secondary review by the declared triggers."),
    "comparator": ("AI against the comparator", "Paired on the same studies; the comparator is never claimed."),
    "lesions": ("Lesion-level detection", "Lesion sensitivity and false positives per scan at the operating point, "
                                          "patient-bootstrap intervals."),
}
_FLAGGED = "background-color: #fde2e1"


def _highlight(frame: pd.DataFrame) -> pd.io.formats.style.Styler:
    """Flagged rows shaded (the claims table)."""
    return frame.style.apply(lambda row: [_FLAGGED if row.get("status") == "flagged" else ""] * len(row), axis=1)


def render(ctx: PageContext) -> None:
    """Every device-kind table the period's analysis has, or a note that it has none."""
    st.header(labels.header("Device outputs", ctx.period))
    outputs = data.device_outputs(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period or "")
    present = outputs.present()
    if not present:
        st.info("This device's analysis has no ordered outputs, low-confidence flags, review triggers, comparator, "
                "lesion-level findings or claims on other metrics (docs/device-kinds.md).")
        return
    for name, (heading, caption) in TABLES.items():
        frame = getattr(outputs, name)
        if frame.empty:
            continue
        st.subheader(heading)
        st.caption(caption)
        st.dataframe(_highlight(frame) if name == "claims" else frame, hide_index=True, use_container_width=True)
        if name == "lesions" and not outputs.froc.empty:
            st.caption("FROC curve of the overall population: sensitivity against false positives per scan.")
            st.line_chart(outputs.froc.sort_values("fp_per_scan"), x="fp_per_scan", y="sensitivity",
                          color="model_version")
