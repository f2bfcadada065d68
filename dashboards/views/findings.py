"""Findings of the selected period with their evidence."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.context import PageContext

__all__ = ["render"]


def _summary(finding: dict) -> str:
    e = finding["evidence"]
    if finding["kind"] == "performance":
        return (f"{e['estimate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] vs claim {e['claim']:.0%} "
                f"(goal {e['performance_goal']:.0%}), {e['successes']}/{e['trials']}, q = {e['q_value']:.2g}")
    return (f"CUSUM alarm at case {e['first_alarm_case_in_period']} of {e['cases_in_period']} in the period "
            f"(h = {e['h']:.2f}, ARL0 = {e['arl0']:,.0f})")


def render(ctx: PageContext) -> None:
    """One expander per finding: what was found, the ticket it joined, the full evidence."""
    st.header(f"Findings · {ctx.period}")
    found = data.findings(ctx.database_url, ctx.run_key, ctx.device_id, ctx.period)
    if not found:
        st.success(f"No findings in {ctx.period}.")
        return
    st.dataframe(pd.DataFrame([{"kind": f["kind"], "metric": f["metric"], "stratum": f["stratum"],
                                "model version": f["model_version"], "ticket": f["ticket_id"],
                                "summary": _summary(f)} for f in found]), hide_index=True)
    for f in found:
        with st.expander(f"{f['kind']}: {f['metric']} in {f['stratum']} → {f['ticket_id'] or 'no ticket'}"):
            st.markdown(_summary(f))
            st.json(f["evidence"])
