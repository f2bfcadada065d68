"""Sign-in: a user id and password checked by :func:`monitor.service.access.verify_password`.

The Streamlit session holds only an opaque token; the signed-in
:class:`~monitor.service.access.Principal`, the sign-in time and the last activity live in the
server's :class:`~dashboards.sessions.SessionStore`, which enforces the idle and absolute timeouts
on every script run; failed sign-ins are slowed by :class:`~dashboards.sessions.SignInThrottle`
(both described in :mod:`dashboards.sessions`). What a user may do comes from the role matrix
(:mod:`monitor.domain.roles`): auditors read only, QA may triage and comment on tickets.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import streamlit as st

from dashboards.sessions import SessionStore, SignInThrottle, load_session_policy
from dashboards.text import md
from monitor.domain.roles import Permission
from monitor.entrypoints.bootstrap import App
from monitor.errors import AuthenticationError
from monitor.service.access import Principal, verify_password

__all__ = ["NOTICE_KEY", "TOKEN_KEY", "can_write_tickets", "client_address", "current_principal", "login_form",
           "logout", "session_store", "sign_in_throttle"]

TOKEN_KEY = "dashboard_session"
NOTICE_KEY = "auth_notice"
DASHBOARD_ROLES = ("qa", "auditor", "admin")
FAILED = "Sign-in failed: unknown user, wrong password or disabled user."


def _now() -> datetime:
    return datetime.now(UTC)


@st.cache_resource(show_spinner=False)
def session_store() -> SessionStore:
    """The process's signed-in sessions (its clock is :func:`_now`, read at each call)."""
    return SessionStore(clock=lambda: _now(), policy=load_session_policy())


@st.cache_resource(show_spinner=False)
def sign_in_throttle() -> SignInThrottle:
    """The process's failed-sign-in counters."""
    return SignInThrottle(clock=lambda: _now())


def client_address() -> str:
    """The connection's peer address (a reverse proxy's own address when behind one)."""
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001  (no request context)
        address = None
    return address if isinstance(address, str) and address else "unknown"  # AppTest gives a mock


def current_principal() -> Principal | None:
    """The signed-in user of this session, if its token is live; an expired or unknown token is
    dropped together with the rest of the page state."""
    token = st.session_state.get(TOKEN_KEY)
    principal, reason = session_store().get(token)
    if principal is None and token is not None:
        st.session_state.clear()
        if reason == "expired":
            st.session_state[NOTICE_KEY] = "Your session expired: sign in again."
    return principal


def can_write_tickets(principal: Principal) -> bool:
    """Whether the user may triage and comment on tickets (QA; never auditors)."""
    return principal.can(Permission.WRITE_TICKETS)


def login_form(app: App) -> None:
    """The sign-in form; on success a new session token replaces the page state and the app reruns."""
    st.title("SaMD performance monitor")
    st.caption("Sign in with your samd-monitor user (roles qa, auditor, admin).")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.info(notice)
    with st.form("login", clear_on_submit=True):  # the password does not stay in the page state
        user_id = st.text_input("User id", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    user_id = user_id.strip()
    client = client_address()
    throttle = sign_in_throttle()
    wait = throttle.wait(user_id, client)
    if wait.total_seconds() > 0:
        st.error(f"Too many failed sign-ins: wait {math.ceil(wait.total_seconds())} s and try again.")
        return
    try:
        principal = verify_password(app.uow, user_id, password, clock=app.clock)
    except AuthenticationError:
        throttle.failed(user_id, client)
        st.error(FAILED)
        return
    throttle.succeeded(user_id, client)
    if principal.role not in DASHBOARD_ROLES:
        st.error(f"Role {md(principal.role)} has no access to the dashboard.")
        return
    previous = st.session_state.get(TOKEN_KEY)
    st.session_state.clear()  # nothing set before sign-in is carried into the signed-in session
    st.session_state[TOKEN_KEY] = session_store().sign_in(principal, replacing=previous)
    st.rerun()


def logout() -> None:
    """End the session on the server and forget the page state."""
    session_store().sign_out(st.session_state.get(TOKEN_KEY))
    st.session_state.clear()
