"""Users and API tokens (hashes only: no secret or password is ever stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from monitor.adapters.db.tables import api_tokens, users
from monitor.errors import ConflictError, NotFoundError

__all__ = ["AccessRepository"]

_TOKEN_COLUMNS = [c for c in api_tokens.c if c.name != "secret_hash"]
_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]


class AccessRepository:
    """Read and write the ``users`` and ``api_tokens`` tables."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # users -------------------------------------------------------------------------------
    def add_user(self, *, user_id: str, display_name: str, role: str, password_hash: str | None, at: datetime,
                 actor: str) -> None:
        """Insert a user; a taken ``user_id`` is a :class:`ConflictError`."""
        if self._conn.execute(select(users.c.user_id).where(users.c.user_id == user_id)).first() is not None:
            raise ConflictError(f"user {user_id!r} already exists")
        self._conn.execute(users.insert().values(user_id=user_id, display_name=display_name, role=role,
                                                 password_hash=password_hash, created_at=at, created_by=actor))

    def user(self, user_id: str, *, with_hash: bool = False) -> dict[str, Any] | None:
        """One user (with ``password_hash`` only when asked), or ``None``."""
        columns = list(users.c) if with_hash else _USER_COLUMNS
        row = self._conn.execute(select(*columns).where(users.c.user_id == user_id)).first()
        return None if row is None else dict(row._mapping)

    def users(self) -> list[dict[str, Any]]:
        """All users without their password hashes, by id."""
        return [dict(r._mapping) for r in self._conn.execute(select(*_USER_COLUMNS).order_by(users.c.user_id))]

    def disable_user(self, user_id: str, *, at: datetime) -> None:
        """Mark a user disabled (kept for the record: signatures and audit entries refer to it)."""
        result = self._conn.execute(update(users).where(users.c.user_id == user_id, users.c.disabled_at.is_(None))
                                    .values(disabled_at=at))
        if result.rowcount == 0:
            if self.user(user_id) is None:
                raise NotFoundError(f"user {user_id!r} does not exist")
            raise ConflictError(f"user {user_id!r} is already disabled")

    # tokens ------------------------------------------------------------------------------
    def add_token(self, *, token_id: str, name: str, role: str, device_id: str | None, user_id: str | None,
                  secret_hash: str, at: datetime, actor: str, expires_at: datetime | None) -> None:
        """Insert a token record (the secret only as its hash)."""
        self._conn.execute(api_tokens.insert().values(
            token_id=token_id, name=name, role=role, device_id=device_id, user_id=user_id, secret_hash=secret_hash,
            created_at=at, created_by=actor, expires_at=expires_at))

    def token(self, token_id: str, *, with_hash: bool = False) -> dict[str, Any] | None:
        """One token record (with ``secret_hash`` only when asked), or ``None``."""
        columns = list(api_tokens.c) if with_hash else _TOKEN_COLUMNS
        row = self._conn.execute(select(*columns).where(api_tokens.c.token_id == token_id)).first()
        return None if row is None else dict(row._mapping)

    def tokens(self, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        """Token records without hashes, oldest first."""
        query = select(*_TOKEN_COLUMNS).order_by(api_tokens.c.created_at, api_tokens.c.token_id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def revoke_token(self, token_id: str, *, at: datetime) -> None:
        """Mark a token revoked."""
        result = self._conn.execute(update(api_tokens).where(api_tokens.c.token_id == token_id,
                                                             api_tokens.c.revoked_at.is_(None)).values(revoked_at=at))
        if result.rowcount == 0:
            if self.token(token_id) is None:
                raise NotFoundError(f"token {token_id!r} does not exist")
            raise ConflictError(f"token {token_id!r} is already revoked")

    def revoke_user_tokens(self, user_id: str, *, at: datetime) -> list[str]:
        """Revoke every live token bound to ``user_id``; return their ids."""
        ids = [r.token_id for r in self._conn.execute(select(api_tokens.c.token_id).where(
            api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)).order_by(api_tokens.c.token_id))]
        if ids:
            self._conn.execute(update(api_tokens).where(api_tokens.c.token_id.in_(ids)).values(revoked_at=at))
        return ids

    def touch_token(self, token_id: str, *, at: datetime) -> None:
        """Record a successful use."""
        self._conn.execute(update(api_tokens).where(api_tokens.c.token_id == token_id).values(last_used_at=at))
