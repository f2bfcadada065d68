"""Users, API tokens and who may do what.

An API token reads ``smt_<token_id>_<secret>``: the public ``token_id`` finds the record, the secret
is shown once at creation and stored only as a salted scrypt hash (RFC 7914) whose parameters are
recorded in the hash string; candidates are compared with :func:`hmac.compare_digest` (constant
time). Passwords are stored the same way. Every creation, revocation and disabling is an audit record;
no secret, password or hash is ever written to an audit record or a log line.

References: Percival & Josefsson, "The scrypt Password-Based Key Derivation Function", RFC 7914, 2016;
OWASP Password Storage Cheat Sheet (scrypt N=2^17, r=8, p=1 for passwords, used here). Token secrets
carry 256 random bits, so guessing is hopeless whatever the cost; they use N=2^14 to keep the first
request of a client cheap (later ones skip the hash, see :class:`VerifiedTokens`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from monitor.domain.roles import Permission, allows, check_role
from monitor.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = [
    "TOKEN_PREFIX",
    "Principal",
    "RecentPrincipals",
    "VerifiedTokens",
    "authenticate_token",
    "create_token",
    "create_user",
    "disable_user",
    "hash_secret",
    "list_tokens",
    "list_users",
    "parse_token",
    "revoke_token",
    "secret_matches",
    "verify_password",
]

TOKEN_PREFIX = "smt"
TOKEN_PARAMS = (2**14, 8, 1)
PASSWORD_PARAMS = (2**17, 8, 1)
MIN_PASSWORD_LENGTH = 12
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN_PATTERN = re.compile(r"^smt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name for the audit log, a role, and the device a device token is bound to."""

    name: str
    role: str
    device_id: str | None = None
    user_id: str | None = None
    token_id: str | None = None
    expires_at: datetime | None = None  # the token's expiry (None: it never expires)

    def can(self, permission: Permission | str, device_id: str | None = None) -> bool:
        """Whether this principal may do ``permission`` (on ``device_id``)."""
        return allows(self.role, permission, own_device=self.device_id, target_device=device_id)

    def require(self, permission: Permission | str, device_id: str | None = None) -> None:
        """Raise :class:`PermissionDeniedError` unless this principal may do ``permission``."""
        if not self.can(permission, device_id):
            scope = f" for device {device_id!r}" if device_id and self.device_id else ""
            raise PermissionDeniedError(f"role {self.role} may not {permission}{scope}")


# hashing -------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str, *, params: tuple[int, int, int] | None = None) -> str:
    """``scrypt$n=N,r=R,p=P$<salt>$<key>``: a salted scrypt hash with its parameters (RFC 7914);
    token parameters unless ``params`` are given."""
    n, r, p = params or TOKEN_PARAMS
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 2**20, dklen=32)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (parameters read from it), compared in constant time."""
    try:
        scheme, params, salt, key = stored.split("$")
        values = dict(item.split("=") for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        expected = base64.b64decode(key)
        salt_bytes = base64.b64decode(salt)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt":
        return False
    try:
        candidate = hashlib.scrypt(secret.encode("utf-8"), salt=salt_bytes, n=n, r=r, p=p, maxmem=256 * 2**20,
                                   dklen=len(expected))
    except ValueError:  # parameters beyond the memory bound: not a hash this software wrote
        return False
    return hmac.compare_digest(candidate, expected)


@cache
def _dummy_hash(kind: str) -> str:
    """A hash to verify against when there is no record, so that unknown names cost the same time."""
    return hash_secret(f"not-a-real-{kind}", params=PASSWORD_PARAMS if kind == "password" else TOKEN_PARAMS)


class _SecretDigests:
    """An in-process memory keyed by token id that holds a keyed HMAC of each secret (a key of its own,
    drawn per process), never the secret itself; bounded to ``max_entries`` (cleared when full)."""

    def __init__(self, ttl: timedelta, max_entries: int) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl
        self._max = max_entries

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).digest()


class VerifiedTokens(_SecretDigests):
    """An in-process memory of token secrets already verified (keyed HMAC of the secret, never the
    secret itself), so that a client repeating its token does not pay scrypt on every request.
    Expiry, revocation and the user's state are still read from the database on every call."""

    def __init__(self, ttl: timedelta = timedelta(minutes=5), max_entries: int = 10_000) -> None:
        super().__init__(ttl, max_entries)
        self._seen: dict[str, tuple[bytes, datetime]] = {}

    def known(self, token_id: str, secret: str, now: datetime) -> bool:
        """Whether this exact secret of ``token_id`` was verified within the time-to-live."""
        entry = self._seen.get(token_id)
        return entry is not None and now - entry[1] < self._ttl and hmac.compare_digest(entry[0], self._digest(secret))

    def remember(self, token_id: str, secret: str, now: datetime) -> None:
        """Remember a successful verification."""
        if len(self._seen) >= self._max:
            self._seen.clear()
        self._seen[token_id] = (self._digest(secret), now)


class RecentPrincipals(_SecretDigests):
    """The principals of tokens authenticated within the last ``ttl``, so that a client's requests read
    its token from the database at most once per ``ttl`` (the API's ``MONITOR_API_AUTH_CACHE_SECONDS``).

    The price, stated in docs/api.md: a revocation, a disabled user or a changed role reaches a running API
    at most ``ttl`` later. Expiry is exact: an entry never outlives its token's ``expires_at``. Entries are
    keyed by the token id and hold a keyed HMAC of the secret, never the secret; a clock that moves back
    forgets the entry; the memory is bounded (cleared at ``max_entries``). ``ttl`` zero remembers nothing.
    """

    def __init__(self, ttl: timedelta, max_entries: int = 10_000) -> None:
        super().__init__(ttl, max_entries)
        self._seen: dict[str, tuple[bytes, datetime, datetime, Principal]] = {}

    def get(self, token_id: str, secret: str, now: datetime) -> Principal | None:
        """The principal remembered for this exact token, if authenticated within ``ttl`` and not expired."""
        entry = self._seen.get(token_id)
        if entry is None:
            return None
        digest, since, until, principal = entry
        if not since <= now < until or not hmac.compare_digest(digest, self._digest(secret)):
            return None
        return principal

    def remember(self, token_id: str, secret: str, principal: Principal, now: datetime) -> None:
        """Remember a successful authentication at ``now``."""
        if self._ttl <= timedelta(0):
            return
        if len(self._seen) >= self._max:
            self._seen.clear()
        until = now + self._ttl if principal.expires_at is None else min(now + self._ttl, principal.expires_at)
        self._seen[token_id] = (self._digest(secret), now, until, principal)


# users ---------------------------------------------------------------------------------------------
def _check_id(value: str, what: str) -> None:
    if not _ID_PATTERN.match(value):
        raise InputError(f"{what} {value!r}: use 1-64 letters, digits and . _ @ - (starting with a letter or digit)")


def create_user(uow: UnitOfWorkFactory, *, user_id: str, display_name: str, role: str, password: str | None,
                clock: Clock, actor: str) -> dict[str, Any]:
    """Create a user (role qa, auditor or admin); the password is stored only as its scrypt hash."""
    _check_id(user_id, "user id")
    try:
        check_role(role, device_id=None, for_user=True)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if not display_name.strip():
        raise InputError("a user needs a display name (the printed name of their signatures)")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = hash_secret(password, params=PASSWORD_PARAMS) if password is not None else None
    with uow() as unit:
        at = clock()
        unit.access.add_user(user_id=user_id, display_name=display_name.strip(), role=role,
                             password_hash=password_hash, at=at, actor=actor)
        unit.audit.append(at=at, actor=actor, action="user.create", entity="user", entity_id=user_id,
                          details={"display_name": display_name.strip(), "role": role,
                                   "password_set": password is not None})
        return unit.access.user(user_id)  # type: ignore[no-any-return]


def list_users(uow: UnitOfWorkFactory) -> list[dict[str, Any]]:
    """All users (never their password hashes)."""
    with uow() as unit:
        return unit.access.users()  # type: ignore[no-any-return]


def disable_user(uow: UnitOfWorkFactory, user_id: str, *, clock: Clock, actor: str) -> list[str]:
    """Disable a user and revoke their tokens; return the revoked token ids."""
    with uow() as unit:
        at = clock()
        unit.access.disable_user(user_id, at=at)
        revoked = unit.access.revoke_user_tokens(user_id, at=at)
        unit.audit.append(at=at, actor=actor, action="user.disable", entity="user", entity_id=user_id,
                          details={"revoked_tokens": revoked})
        return revoked  # type: ignore[no-any-return]


def verify_password(uow: UnitOfWorkFactory, user_id: str, password: str, *, clock: Clock) -> Principal:
    """The enabled user ``user_id`` if ``password`` is theirs; else :class:`AuthenticationError`.

    Unknown users cost the same hashing time as a wrong password, and the message does not say which.
    """
    with uow() as unit:
        user = unit.access.user(user_id, with_hash=True)
    stored = user["password_hash"] if user and user["password_hash"] else _dummy_hash("password")
    matches = secret_matches(password, stored)
    if user is None or not user["password_hash"] or not matches or user["disabled_at"] is not None:
        raise AuthenticationError("unknown user, wrong password or disabled user")
    return Principal(name=user_id, role=user["role"], user_id=user_id)


# tokens --------------------------------------------------------------------------------------------
def parse_token(token: str) -> tuple[str, str]:
    """``(token_id, secret)`` of a well-formed token; else :class:`AuthenticationError`."""
    match = _TOKEN_PATTERN.match(token.strip())
    if match is None:
        raise AuthenticationError("malformed token (expected smt_<id>_<secret>)")
    return match.group(1), match.group(2)


def create_token(uow: UnitOfWorkFactory, *, name: str, role: str, clock: Clock, actor: str,
                 device_id: str | None = None, user_id: str | None = None,
                 expires_in: timedelta | None = None) -> tuple[str, str]:
    """Create an API token; return ``(token_id, secret_token)``. The secret token is shown only now."""
    if not name.strip():
        raise InputError("a token needs a name (what or who uses it)")
    try:
        check_role(role, device_id=device_id)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if expires_in is not None and expires_in <= timedelta(0):
        raise InputError("a token's lifetime must be positive")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with uow() as unit:
        at = clock()
        if device_id is not None and not unit.queries.device_exists(device_id):
            raise NotFoundError(f"device {device_id!r} is not registered")
        if user_id is not None:
            user = unit.access.user(user_id)
            if user is None:
                raise NotFoundError(f"user {user_id!r} does not exist")
            if user["disabled_at"] is not None:
                raise ConflictError(f"user {user_id!r} is disabled")
            if role != user["role"]:
                raise InputError(f"user {user_id!r} has role {user['role']}: a token on their behalf has that role")
        expires_at = at + expires_in if expires_in is not None else None
        unit.access.add_token(token_id=token_id, name=name.strip(), role=role, device_id=device_id, user_id=user_id,
                              secret_hash=hash_secret(secret), at=at, actor=actor, expires_at=expires_at)
        unit.audit.append(at=at, actor=actor, action="token.create", entity="api_token", entity_id=token_id,
                          details={"name": name.strip(), "role": role, "device_id": device_id, "user_id": user_id,
                                   "expires_at": expires_at})
    return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}"


def list_tokens(uow: UnitOfWorkFactory, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Token records (never their hashes)."""
    with uow() as unit:
        return unit.access.tokens(include_revoked=include_revoked)  # type: ignore[no-any-return]


def revoke_token(uow: UnitOfWorkFactory, token_id: str, *, clock: Clock, actor: str, reason: str = "") -> None:
    """Revoke a token: it stops working at once."""
    with uow() as unit:
        at = clock()
        unit.access.revoke_token(token_id, at=at)
        unit.audit.append(at=at, actor=actor, action="token.revoke", entity="api_token", entity_id=token_id,
                          details={"reason": reason})


def authenticate_token(uow: UnitOfWorkFactory, token: str, *, clock: Clock,
                       verified: VerifiedTokens | None = None) -> Principal:
    """The principal of a valid token; :class:`AuthenticationError` when malformed, unknown, wrong,
    expired, revoked, or bound to a disabled user. ``verified`` skips re-hashing a secret seen before."""
    token_id, secret = parse_token(token)
    # Each read commits on its own (the token and its user need no common snapshot): on PostgreSQL every
    # authenticated request saves the BEGIN and COMMIT round trips (one authentication 1.0 ms -> 0.63 ms).
    with uow(autocommit=True) as unit:
        now = clock()
        record = unit.access.token(token_id, with_hash=True)
        if record is None:
            secret_matches(secret, _dummy_hash("token"))
            raise AuthenticationError("unknown token")
        if not (verified is not None and verified.known(token_id, secret, now)):
            if not secret_matches(secret, record["secret_hash"]):
                raise AuthenticationError("wrong token secret")
            if verified is not None:
                verified.remember(token_id, secret, now)
        if record["revoked_at"] is not None:
            raise AuthenticationError("revoked token")
        if record["expires_at"] is not None and record["expires_at"] <= now:
            raise AuthenticationError("expired token")
        if record["user_id"] is not None:
            user = unit.access.user(record["user_id"])
            if user is None or user["disabled_at"] is not None:
                raise AuthenticationError("the token's user is disabled")
        if record["last_used_at"] is None or now - record["last_used_at"] >= _LAST_USED_RESOLUTION:
            unit.access.touch_token(token_id, at=now)
    name = record["user_id"] or f"token:{record['name']}"
    return Principal(name=name, role=record["role"], device_id=record["device_id"], user_id=record["user_id"],
                     token_id=token_id, expires_at=record["expires_at"])
