"""Corrective-action tickets: list, details with evidence and history; QA triage and comments.

Writes go through :func:`monitor.service.tickets.transition_ticket` and
:func:`~monitor.service.tickets.comment_ticket` (audited); users without the ``tickets:write``
permission (auditors) see no write control. Closing needs a qualifying analysis run and is done with
``samd-monitor tickets transition ... --run``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, labels
from dashboards.auth import can_write_tickets
from dashboards.context import PageContext
from monitor.domain.tickets import STATUSES, TRANSITIONS
from monitor.errors import MonitorError
from monitor.service.tickets import comment_ticket, transition_ticket

__all__ = ["render"]

SELECTED_KEY = "ticket_selected"


def _evidence_table(ticket: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{
        "period": e["evidence"].get("period"), "run": e["run_id"], "estimate": e["evidence"].get("estimate"),
        "ci_low": e["evidence"].get("ci_low"), "ci_high": e["evidence"].get("ci_high"),
        "claim": e["evidence"].get("claim"), "successes": e["evidence"].get("successes"),
        "trials": e["evidence"].get("trials"), "family": e["evidence"].get("family"),
        "adjusted p": e["evidence"].get("q_value"), "CUSUM statistic": e["evidence"].get("statistic"),
        "alarm date": (e["evidence"].get("first_alarm") or {}).get("known_on"),
        "related findings": len(e["evidence"].get("related_findings") or []) or None,
        "grouped under": (e["evidence"].get("grouped_under") or {}).get("ticket_id"), "added": e["added_at"],
    } for e in ticket["evidence"]]).dropna(axis="columns", how="all")


def _write_controls(ctx: PageContext, ticket: dict[str, Any]) -> None:
    targets = [s for s in STATUSES if s in TRANSITIONS[ticket["status"]] and s != "closed"]
    actor = ctx.principal.name
    if targets:
        with st.form(f"transition-{ticket['ticket_id']}", clear_on_submit=True):
            st.markdown("**Triage**")
            target = st.selectbox("Move to", targets, key=f"target-{ticket['ticket_id']}")
            reason = st.text_input("Reason (required)", key=f"reason-{ticket['ticket_id']}")
            if st.form_submit_button("Apply transition"):
                _write(lambda: transition_ticket(ticket["ticket_id"], target, reason=reason, actor=actor,
                                                 uow=ctx.app.uow, clock=ctx.app.clock),
                       labels.ticket_notice(ticket["ticket_id"], target))
    with st.form(f"comment-{ticket['ticket_id']}", clear_on_submit=True):
        body = st.text_area("Comment", key=f"comment-{ticket['ticket_id']}")
        if st.form_submit_button("Add comment"):
            _write(lambda: comment_ticket(ticket["ticket_id"], body, actor=actor, uow=ctx.app.uow,
                                          clock=ctx.app.clock), labels.ticket_notice(ticket["ticket_id"]))


def _write(action: Any, done: str) -> None:
    try:
        action()
    except MonitorError as exc:
        st.error(labels.text(exc))
        return
    data.tickets.clear()
    st.session_state["ticket_notice"] = done
    st.rerun()


def render(ctx: PageContext) -> None:
    """The ticket list, then the chosen ticket's details."""
    st.header("Tickets")
    if notice := st.session_state.pop("ticket_notice", None):
        st.success(notice)
    items = data.tickets(ctx.database_url, ctx.run_key, ctx.device_id)
    if not items:
        st.success("No tickets for this device.")
        return
    st.dataframe(pd.DataFrame([{
        "ticket": t["ticket_id"], "status": t["status"], "severity": t.get("severity"), "metric": t["metric"],
        "stratum": t["stratum"], "model version": t["model_version"], "evidence runs": len(t["evidence"]),
        "updated": t["updated_at"]} for t in items]), hide_index=True)
    ids = [t["ticket_id"] for t in items]
    chosen = st.selectbox("Ticket", ids, key=SELECTED_KEY)
    ticket = next(t for t in items if t["ticket_id"] == chosen)
    with st.container(key="ticket-detail"):
        st.subheader(labels.ticket_heading(ticket))
        st.markdown(labels.ticket_title(ticket))
        cols = st.columns(3)
        cols[0].metric("Severity", labels.text(ticket.get("severity") or "—"))
        cols[1].metric("Data-collection target", labels.text(ticket.get("data_collection_target") or "—"))
        cols[2].metric("Evidence runs", len(ticket["evidence"]))
        if ticket.get("containment"):
            st.info(f"Containment: {labels.text(ticket['containment'])}")
        if ticket.get("acceptance_criteria"):
            with st.expander("Acceptance criteria"):
                st.json(ticket["acceptance_criteria"])
        st.markdown("**Evidence**")
        st.dataframe(_evidence_table(ticket), hide_index=True)
        st.markdown("**History**")
        history = [{"at": m["at"], "who": m["actor"], "what": f"{m['from_status'] or '—'} → {m['to_status']}",
                    "text": m["reason"]} for m in ticket.get("transitions", [])]
        history += [{"at": c["at"], "who": c["actor"], "what": "comment", "text": c["body"]}
                    for c in ticket.get("comments", [])]
        if history:
            st.dataframe(pd.DataFrame(history).sort_values("at"), hide_index=True)
        else:
            st.caption("No transitions or comments yet.")
    if can_write_tickets(ctx.principal):
        _write_controls(ctx, ticket)
    else:
        st.caption(labels.read_only(ctx.principal.role))
