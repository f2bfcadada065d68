"""Findings of the selected period with their evidence."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, labels
from dashboards.context import PageContext

__all__ = ["render"]


def render(ctx: PageContext) -> None:
    """One expander per finding: what was found, the ticket it joined, the full evidence."""
    st.header(labels.header("Findings", ctx.period))
    found = data.findings(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    if not found:
        st.success(f"No findings in {labels.text(ctx.period)}.")
        return
    st.dataframe(pd.DataFrame([{"kind": f["kind"], "metric": f["metric"], "stratum": f["stratum"],
                                "model version": f["model_version"], "family": f["evidence"].get("family"),
                                "provisional": f["evidence"].get("provisional"), "ticket": f["ticket_id"],
                                "summary": labels.summary_text(f)} for f in found]), hide_index=True)
    st.caption("A performance finding is a shortfall shown by the pre-specified rule: confirmatory (Holm, "
               "family-wise error rate) or exploratory (Benjamini–Hochberg, false discovery rate: a signal to "
               "investigate). A provisional shortfall opens no ticket. CUSUM alarms are dated by the day their "
               "case became known.")
    for f in found:
        with st.expander(labels.finding_label(f)):
            st.markdown(labels.finding_summary(f))
            st.json(f["evidence"])
