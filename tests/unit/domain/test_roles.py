"""The role x permission matrix, written out independently of ROLE_PERMISSIONS."""

from __future__ import annotations

import pytest

from monitor.domain.roles import ROLES, Permission, allows, check_role

P = Permission
EXPECTED = {
    # permission:          device  qa     auditor admin  operations
    P.WRITE_LOGS:         (True,  True,  False, False, False),
    P.READ_DATA:          (False, True,  True,  True,  False),
    P.READ_AUDIT:         (False, True,  True,  True,  False),
    P.WRITE_TICKETS:      (False, True,  False, False, False),
    P.RUN_ANALYSIS:       (False, True,  False, False, False),
    P.WRITE_REPORTS:      (False, True,  False, False, False),
    P.ADMIN_USERS:        (False, False, False, True,  False),
    P.ADMIN_TOKENS:       (False, False, False, True,  False),
    P.ADMIN_DEVICES:      (False, False, False, True,  False),
    P.READ_METRICS:       (False, False, False, True,  True),
}


def test_every_permission_is_in_the_table() -> None:
    assert set(EXPECTED) == set(Permission)
    assert ROLES == ("device", "qa", "auditor", "admin", "operations")


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", ROLES)
def test_matrix(role: str, permission: Permission) -> None:
    expected = EXPECTED[permission][ROLES.index(role)]
    own = "dev-1" if role == "device" else None
    assert allows(role, permission, own_device=own, target_device="dev-1") is expected


def test_device_role_is_limited_to_its_own_device() -> None:
    assert allows("device", P.WRITE_LOGS, own_device="a", target_device="a")
    assert not allows("device", P.WRITE_LOGS, own_device="a", target_device="b")
    assert not allows("device", P.WRITE_LOGS, own_device="a", target_device=None)
    assert not allows("device", P.WRITE_LOGS, own_device=None, target_device=None)


def test_unknown_role_or_permission_is_denied() -> None:
    assert not allows("root", P.READ_DATA)
    assert not allows("admin", "reports:sign")
    assert not any(allows(role, "reports:sign", own_device="d", target_device="d") for role in ROLES)


def test_check_role() -> None:
    check_role("device", device_id="d")
    check_role("qa", device_id=None, for_user=True)
    with pytest.raises(ValueError, match="needs a device"):
        check_role("device", device_id=None)
    with pytest.raises(ValueError, match="not limited"):
        check_role("auditor", device_id="d")
    with pytest.raises(ValueError, match="unknown role"):
        check_role("device", device_id="d", for_user=True)
    with pytest.raises(ValueError, match="unknown role"):
        check_role("operations", device_id=None, for_user=True)
    check_role("operations", device_id=None)
    with pytest.raises(ValueError, match="unknown role"):
        check_role("superuser", device_id=None)
