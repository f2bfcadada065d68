"""Report files recorded in the ``reports`` table, for download (every format and language written; each
download audited as ``report.export``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from dashboards import data, labels
from dashboards.context import PageContext
from monitor.service.submission import record_export

__all__ = ["render"]

MIME = {"html": "text/html", "json": "application/json", "pdf": "application/pdf", "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "evidently-html": "text/html", "evidently-json": "application/json", "signed-html": "text/html",
        "signed-pdf": "application/pdf"}


def render(ctx: PageContext) -> None:
    """A download button per recorded file that is still on disk; its SHA-256 alongside."""
    st.header("Reports")
    files = data.report_files(ctx.database_url, ctx.run_key, ctx.device_id)
    if files.empty:
        st.info("No report written yet: `samd-monitor report --device ... --period ...`.")
        return
    for period, group in files.groupby("period", sort=False):
        st.subheader(labels.text(period))
        for row in group.itertuples():
            path = Path(row.path)
            left, right = st.columns([1, 3])
            label = labels.report_button(row.format, row.language)
            key = f"dl-{row.report_id}-{row.Index}"
            if row.exists:
                content = path.read_bytes()
                left.download_button(label, data=content, file_name=path.name,
                                     mime=MIME.get(row.format, "application/octet-stream"), key=key,
                                     on_click=record_export, kwargs={  # each download audited (report.export)
                                         "uow": ctx.app.uow, "clock": ctx.app.clock, "actor": ctx.principal.name,
                                         "kind": "dashboard-download", "report_id": row.report_id,
                                         "file": path.name, "sha256": hashlib.sha256(content).hexdigest(),
                                         "size": len(content), "extra": {"format": row.format}})
            else:
                left.button(label, disabled=True, key=key, help="The recorded file is no longer on disk.")
            right.caption(labels.report_caption(path.name, row.sha256, row.created_at))
