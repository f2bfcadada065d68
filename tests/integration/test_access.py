"""Users and API tokens on real databases: hashed secrets, expiry, revocation, audit records."""

from __future__ import annotations

import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.adapters.db.tables import api_tokens, audit_log, users
from monitor.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from monitor.service import access
from monitor.service.access import (
    VerifiedTokens,
    authenticate_token,
    create_token,
    create_user,
    disable_user,
    revoke_token,
    verify_password,
)

PASSWORD = "correct horse battery"


def _audit(app) -> list[dict]:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def test_token_secret_is_stored_only_as_a_scrypt_hash(app) -> None:  # type: ignore[no-untyped-def]
    token_id, token = create_token(app.uow, name="ct-01", role="device", device_id="lung-nodule-ct",
                                   clock=app.clock, actor="admin")
    assert token.startswith(f"smt_{token_id}_")
    secret = token.split("_", 2)[2]
    with app.engine.connect() as conn:
        stored = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).one()._mapping
    assert secret not in json.dumps({k: str(v) for k, v in stored.items()})
    assert stored["secret_hash"].startswith("scrypt$n=16384,r=8,p=1$")
    principal = authenticate_token(app.uow, token, clock=app.clock)
    assert (principal.role, principal.device_id, principal.token_id) == ("device", "lung-nodule-ct", token_id)
    principal.require("logs:write", "lung-nodule-ct")
    with pytest.raises(PermissionDeniedError):
        principal.require("logs:write", "another-device")
    with pytest.raises(PermissionDeniedError):
        principal.require("data:read")


def test_two_tokens_get_different_salts(app) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b"):
        create_token(app.uow, name=name, role="auditor", clock=app.clock, actor="admin")
    with app.engine.connect() as conn:
        hashes = [r.secret_hash for r in conn.execute(select(api_tokens.c.secret_hash))]
    assert len({h.split("$")[2] for h in hashes}) == 2


def test_wrong_secret_unknown_id_and_malformed_tokens_fail(app) -> None:  # type: ignore[no-untyped-def]
    token_id, token = create_token(app.uow, name="qa", role="qa", clock=app.clock, actor="admin")
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (wrong, f"smt_{'0' * 16}_{token.split('_', 2)[2]}", "Bearer nonsense", ""):
        with pytest.raises(AuthenticationError):
            authenticate_token(app.uow, bad, clock=app.clock)


def test_constant_time_comparison_is_used(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    original = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    _, token = create_token(app.uow, name="qa", role="qa", clock=app.clock, actor="admin")
    authenticate_token(app.uow, token, clock=app.clock)
    assert calls == [(32, 32)]


def test_expiry_and_revocation(app, clock) -> None:  # type: ignore[no-untyped-def]
    token_id, token = create_token(app.uow, name="temp", role="auditor", clock=app.clock, actor="admin",
                                   expires_in=timedelta(days=1))
    authenticate_token(app.uow, token, clock=app.clock)
    clock.now += timedelta(days=1)
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_token(app.uow, token, clock=app.clock)

    token_id, token = create_token(app.uow, name="qa", role="qa", clock=app.clock, actor="admin")
    cache = VerifiedTokens()
    authenticate_token(app.uow, token, clock=app.clock, verified=cache)
    revoke_token(app.uow, token_id, clock=app.clock, actor="admin", reason="laptop lost")
    with pytest.raises(AuthenticationError, match="revoked"):  # the cache never outlives a revocation
        authenticate_token(app.uow, token, clock=app.clock, verified=cache)
    with pytest.raises(ConflictError):
        revoke_token(app.uow, token_id, clock=app.clock, actor="admin")
    with pytest.raises(NotFoundError):
        revoke_token(app.uow, "f" * 16, clock=app.clock, actor="admin")


def test_last_used_at_is_recorded(app) -> None:  # type: ignore[no-untyped-def]
    token_id, token = create_token(app.uow, name="qa", role="qa", clock=app.clock, actor="admin")
    authenticate_token(app.uow, token, clock=app.clock)
    with app.uow() as unit:
        assert unit.access.token(token_id)["last_used_at"] is not None


def test_users_passwords_and_disabling(app) -> None:  # type: ignore[no-untyped-def]
    create_user(app.uow, user_id="li.na", display_name="Li Na", role="qa", password=PASSWORD, clock=app.clock,
                actor="admin")
    with app.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("scrypt$n=131072,r=8,p=1$") and PASSWORD not in stored
    principal = verify_password(app.uow, "li.na", PASSWORD, clock=app.clock)
    assert (principal.name, principal.role, principal.user_id) == ("li.na", "qa", "li.na")
    for user, password in (("li.na", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationError):
            verify_password(app.uow, user, password, clock=app.clock)
    with pytest.raises(ConflictError):
        create_user(app.uow, user_id="li.na", display_name="Li Na", role="qa", password=PASSWORD, clock=app.clock,
                    actor="admin")
    with pytest.raises(InputError):
        create_user(app.uow, user_id="x", display_name="X", role="device", password=PASSWORD, clock=app.clock,
                    actor="admin")
    with pytest.raises(InputError):
        create_user(app.uow, user_id="y", display_name="Y", role="qa", password="short", clock=app.clock,
                    actor="admin")

    token_id, token = create_token(app.uow, name="li's laptop", role="qa", user_id="li.na", clock=app.clock,
                                   actor="admin")
    assert authenticate_token(app.uow, token, clock=app.clock).name == "li.na"
    assert disable_user(app.uow, "li.na", clock=app.clock, actor="admin") == [token_id]
    with pytest.raises(AuthenticationError):
        verify_password(app.uow, "li.na", PASSWORD, clock=app.clock)
    with pytest.raises(AuthenticationError):
        authenticate_token(app.uow, token, clock=app.clock)


def test_grants_are_checked(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        create_token(app.uow, name="d", role="device", clock=app.clock, actor="admin")
    with pytest.raises(NotFoundError):
        create_token(app.uow, name="d", role="device", device_id="no-such-device", clock=app.clock, actor="admin")
    with pytest.raises(InputError):
        create_token(app.uow, name="q", role="qa", device_id="lung-nodule-ct", clock=app.clock, actor="admin")


def test_every_change_is_audited_without_secrets(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "PASSWORD_PARAMS", (2**10, 8, 1))  # the real cost is checked above
    create_user(app.uow, user_id="wang", display_name="Wang Fang", role="auditor", password=PASSWORD,
                clock=app.clock, actor="admin")
    token_id, token = create_token(app.uow, name="wang", role="auditor", user_id="wang", clock=app.clock,
                                   actor="admin")
    revoke_token(app.uow, token_id, clock=app.clock, actor="admin")
    disable_user(app.uow, "wang", clock=app.clock, actor="admin")
    records = [r for r in _audit(app) if r["entity"] in ("user", "api_token")]
    assert [r["action"] for r in records] == ["user.create", "token.create", "token.revoke", "user.disable"]
    text = json.dumps([r["details"] for r in records])
    secret = token.split("_", 2)[2]
    assert secret not in text and PASSWORD not in text and "scrypt$" not in text


def test_hash_strings_are_self_describing_and_bounded() -> None:
    stored = access.hash_secret("s3cret", params=(2**10, 8, 1))
    assert stored.startswith("scrypt$n=1024,r=8,p=1$")
    assert access.secret_matches("s3cret", stored) and not access.secret_matches("s3creT", stored)
    for foreign in ("bcrypt$2b$12$abc", "scrypt$n=x$AA==$AA==", "scrypt$n=1073741824,r=8,p=1$AAAA$AAAA", ""):
        assert access.secret_matches("s3cret", foreign) is False


def test_authentication_reads_without_holding_a_transaction(app) -> None:  # type: ignore[no-untyped-def]
    """``uow(autocommit=True)`` (what authentication uses): on PostgreSQL each statement commits on its own,
    so a write inside the block is visible to another connection before the block ends (no BEGIN / COMMIT
    round trips per request); on SQLite the unit stays one transaction (its BEGIN costs no round trip)."""
    _, token = create_token(app.uow, name="ct-auto", role="auditor", clock=app.clock, actor="admin")
    token_id = token.split("_", 2)[1]
    postgresql = app.engine.dialect.name == "postgresql"
    with app.uow(autocommit=True) as unit:
        unit.access.touch_token(token_id, at=app.clock())
        with app.engine.connect() as other:
            seen = other.execute(select(api_tokens.c.last_used_at).where(api_tokens.c.token_id == token_id)).scalar()
        assert (seen is not None) == postgresql
    assert authenticate_token(app.uow, token, clock=app.clock).token_id == token_id
