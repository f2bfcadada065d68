"""The review worklist (issue 17 item 3): the cases the device's review triggers sent to secondary review in the
chosen period, with the status of their latest review, filtered by status. Read through the one worklist read
model (:func:`monitor.service.worklist.get_worklist`, as the CLI and the API); stored values are shown in a data
frame only, never as Markdown."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.context import PageContext
from monitor.domain.review_events import WORKLIST_STATUSES
from monitor.errors import MonitorError
from monitor.service.worklist import get_worklist

__all__ = ["render"]

ALL = "all"


def render(ctx: PageContext) -> None:
    st.header("Review worklist")
    if ctx.period is None:
        st.info("Choose a period.")
        return
    status = st.selectbox("Status", [ALL, *WORKLIST_STATUSES], key="worklist_status")
    try:
        worklist = get_worklist(ctx.app.uow, ctx.device_id, ctx.period, clock=ctx.app.clock,
                                status=None if status == ALL else status)  # type: ignore[arg-type]
    except MonitorError as exc:
        st.info(str(exc))
        return
    counts = worklist.counts
    columns = st.columns(len(counts) + 1)
    columns[0].metric("Sent to review", f"{sum(counts.values()):,} of {worklist.cases:,}")
    for column, (name, n) in zip(columns[1:], counts.items(), strict=True):
        column.metric(name.replace("_", " "), f"{n:,}")
    frame = pd.DataFrame([{
        "prediction": i.prediction_id, "study": i.study_uid, "model": i.model_version, "site": i.site_id,
        "triggers": ", ".join(i.triggers), "AI mm3": i.ai_volume_mm3, "reviewed mm3": i.reviewed_volume_mm3,
        "difference": i.relative_difference, "status": i.status, "reviewer": i.reviewer, "reviewed at": i.reviewed_at,
        "version": i.review_version} for i in worklist.items])
    if frame.empty:
        st.info("No case with this status.")
        return
    frame["difference"] = frame["difference"].map(lambda d: None if pd.isna(d) else f"{100 * d:+.1f}%")
    st.dataframe(frame, hide_index=True)
