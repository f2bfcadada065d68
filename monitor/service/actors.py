"""Who acts: a named user of the system, never the operating-system account (21 CFR 11.10(e): audit
trails record the operator; 11.10(d): access limited to authorised individuals).

Command-line actions that change data act as the user named by ``--user`` / ``MONITOR_USER``, which must
be an existing, enabled user (``samd-monitor user add``). The unattended parts of the service act as
named **service accounts** (``service:scheduler``, ``service:drop-folder``): users of role ``qa`` without
a password, so they can never sign a report or sign in to the dashboard; each is registered (and the
registration audited) on first use.

Three actions may run before any user exists, and name the operating-system account only inside a clearly
marked actor: the first user of a database (``user add`` while the database holds no user but service
accounts acts as ``bootstrap:<os account>``, :func:`bootstrap_actor`) and ``restore`` without a named user of
the restored database (``restore:<os account>``). Nothing else falls back to the OS account.
"""

from __future__ import annotations

import getpass

from monitor.errors import InputError
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["SERVICE_ACCOUNTS", "acting_user", "bootstrap_actor", "os_account", "service_account"]

#: Service accounts: user id -> printed name (role qa, no password).
SERVICE_ACCOUNTS = {"service:scheduler": "Scheduler (service account)",
                    "service:drop-folder": "Drop folder (service account)"}
_HOW = ("create it with `samd-monitor user add USER_ID --name \"Printed Name\" --role qa --no-password` "
        "(an admin's command), then pass --user USER_ID or set MONITOR_USER")


def acting_user(uow: UnitOfWorkFactory, user_id: str | None) -> str:
    """``user_id`` when it names an existing, enabled user of the database; else :class:`InputError` saying
    how to name or create one."""
    if not user_id:
        raise InputError(f"no acting user: commands that change data act as a named user of the system; {_HOW}")
    with uow() as unit:
        user = unit.access.user(user_id)
    if user is None:
        raise InputError(f"--user / MONITOR_USER {user_id!r} is not a user of this database: {_HOW}")
    if user["disabled_at"] is not None:
        raise InputError(f"--user / MONITOR_USER {user_id!r} is disabled: name an enabled user")
    return user_id


def os_account() -> str:
    """The operating-system account running this process (context only, never an audited actor by itself)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def bootstrap_actor(uow: UnitOfWorkFactory, user_id: str | None) -> str:
    """Who creates a user: the named user (:func:`acting_user`) when one is named; else, only while the
    database holds no user but service accounts (its first user is being created), ``bootstrap:<os account>``;
    else :class:`InputError` as :func:`acting_user` says it."""
    if not user_id:
        with uow() as unit:
            people = [u for u in unit.access.users() if u["user_id"] not in SERVICE_ACCOUNTS]
        if not people:
            return f"bootstrap:{os_account()}"
    return acting_user(uow, user_id)


def service_account(uow: UnitOfWorkFactory, user_id: str, *, clock: Clock) -> str:
    """The service account ``user_id`` (one of :data:`SERVICE_ACCOUNTS`), registered on first use."""
    name = SERVICE_ACCOUNTS[user_id]
    with uow() as unit:
        if unit.access.user(user_id) is None:
            at = clock()
            unit.access.add_user(user_id=user_id, display_name=name, role="qa", password_hash=None, at=at,
                                 actor=user_id)
            unit.audit.append(at=at, actor=user_id, action="user.create", entity="user", entity_id=user_id,
                              details={"display_name": name, "role": "qa", "password_set": False,
                                       "service_account": True})
    return user_id
