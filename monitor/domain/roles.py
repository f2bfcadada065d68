"""Roles and permissions: the pure access-control matrix.

Five roles, least privilege (21 CFR 11.10(d) "limiting system access to authorized individuals";
NIST SP 800-53 AC-6 "least privilege"):

==========  ================================================================================
device      writes the prediction and ground-truth logs of its own device, nothing else
qa          everything except signing reports and administration (reads, ingest, tickets, runs)
auditor     reads everything, including the audit trail; changes nothing
admin       users, API tokens and devices; reads everything, including the audit trail
operations  reads the service's metrics (``/metrics``: counts and latencies, no data), nothing else
==========  ================================================================================

``device`` and ``operations`` are roles of API tokens only (a gateway, a Prometheus scraper), never of people.

Signing a report is granted to no role here: an electronic signature needs the signer's own two
identification components (21 CFR 11.200(a)), so the signing service re-authenticates the user with
their password rather than accepting an API token.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Mapping

__all__ = ["DEVICE_SCOPED", "ROLES", "ROLE_PERMISSIONS", "TOKEN_ONLY", "Permission", "allows", "check_role"]


class Permission(StrEnum):
    """What an operation needs."""

    WRITE_LOGS = "logs:write"
    READ_DATA = "data:read"
    READ_AUDIT = "audit:read"
    WRITE_TICKETS = "tickets:write"
    RUN_ANALYSIS = "analysis:run"
    WRITE_REPORTS = "reports:write"
    ADMIN_USERS = "users:admin"
    ADMIN_TOKENS = "tokens:admin"
    ADMIN_DEVICES = "devices:admin"
    READ_METRICS = "metrics:read"


ROLES: tuple[str, ...] = ("device", "qa", "auditor", "admin", "operations")

_READ = frozenset({Permission.READ_DATA, Permission.READ_AUDIT})

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    "device": frozenset({Permission.WRITE_LOGS}),
    "qa": _READ | {Permission.WRITE_LOGS, Permission.WRITE_TICKETS, Permission.RUN_ANALYSIS,
                   Permission.WRITE_REPORTS},
    "auditor": _READ,
    "admin": _READ | {Permission.ADMIN_USERS, Permission.ADMIN_TOKENS, Permission.ADMIN_DEVICES,
                      Permission.READ_METRICS},
    "operations": frozenset({Permission.READ_METRICS}),
}

#: Roles whose grants hold for one device only (the principal's own).
DEVICE_SCOPED = frozenset({"device"})
#: Roles of API tokens only: never of a user (a person).
TOKEN_ONLY = frozenset({"device", "operations"})


def check_role(role: str, *, device_id: str | None, for_user: bool = False) -> None:
    """Raise ``ValueError`` unless ``role`` (with ``device_id``) is a valid grant.

    A ``device`` grant needs exactly one device; other roles take none. Users (people) never have the
    token-only roles (``device``, ``operations``).
    """
    if role not in ROLES or (for_user and role in TOKEN_ONLY):
        allowed = [r for r in ROLES if not (for_user and r in TOKEN_ONLY)]
        raise ValueError(f"unknown role {role!r} (use one of: {', '.join(allowed)})")
    if role in DEVICE_SCOPED and not device_id:
        raise ValueError(f"a {role} grant needs a device id")
    if role not in DEVICE_SCOPED and device_id:
        raise ValueError(f"a {role} grant is not limited to one device: leave the device out")


def allows(role: str, permission: Permission | str, *, own_device: str | None = None,
           target_device: str | None = None) -> bool:
    """Whether ``role`` may do ``permission`` (on ``target_device`` when the role is device-scoped).

    >>> allows("device", "logs:write", own_device="d1", target_device="d1")
    True
    >>> allows("device", "logs:write", own_device="d1", target_device="d2")
    False
    >>> allows("auditor", "logs:write")
    False
    """
    try:
        wanted = Permission(permission)
    except ValueError:
        return False
    if wanted not in ROLE_PERMISSIONS.get(role, frozenset()):
        return False
    if role in DEVICE_SCOPED:
        return own_device is not None and target_device == own_device
    return True
