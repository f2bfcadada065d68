"""Sign-in: a user id and password checked by :func:`monitor.service.access.verify_password`.

The signed-in :class:`~monitor.service.access.Principal` lives in the Streamlit session; what it may
do comes from the role matrix (:mod:`monitor.domain.roles`): auditors read only, QA may triage and
comment on tickets.
"""

from __future__ import annotations

import streamlit as st

from monitor.domain.roles import Permission
from monitor.entrypoints.bootstrap import App
from monitor.errors import AuthenticationError
from monitor.service.access import Principal, verify_password

__all__ = ["PRINCIPAL_KEY", "can_write_tickets", "current_principal", "login_form", "logout"]

PRINCIPAL_KEY = "principal"
DASHBOARD_ROLES = ("qa", "auditor", "admin")


def current_principal() -> Principal | None:
    """The signed-in user of this session, if any."""
    return st.session_state.get(PRINCIPAL_KEY)


def can_write_tickets(principal: Principal) -> bool:
    """Whether the user may triage and comment on tickets (QA; never auditors)."""
    return principal.can(Permission.WRITE_TICKETS)


def login_form(app: App) -> None:
    """The sign-in form; on success the principal is stored and the app reruns."""
    st.title("SaMD performance monitor")
    st.caption("Sign in with your samd-monitor user (roles qa, auditor, admin).")
    with st.form("login"):
        user_id = st.text_input("User id", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        principal = verify_password(app.uow, user_id.strip(), password, clock=app.clock)
    except AuthenticationError as exc:
        st.error(f"Sign-in failed: {exc}.")
        return
    if principal.role not in DASHBOARD_ROLES:
        st.error(f"Role {principal.role} has no access to the dashboard.")
        return
    st.session_state[PRINCIPAL_KEY] = principal
    st.rerun()


def logout() -> None:
    """Forget the signed-in user."""
    st.session_state.pop(PRINCIPAL_KEY, None)
