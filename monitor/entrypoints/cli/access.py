"""``samd-monitor user`` and ``samd-monitor token``: people, API tokens and their roles."""

from __future__ import annotations

import sys
from datetime import timedelta
from enum import StrEnum
from typing import Any, Optional

import typer

from monitor.domain.roles import ROLES, TOKEN_ONLY
from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, err, out, say
from monitor.errors import InputError

#: Roles a person can hold, and roles of API tokens (from monitor.domain.roles).
UserRole = StrEnum("UserRole", [(r, r) for r in ROLES if r not in TOKEN_ONLY])  # type: ignore[misc]
TokenRole = StrEnum("TokenRole", [(r, r) for r in ROLES])  # type: ignore[misc]

_USER_KEYS = ("user_id", "display_name", "role", "created_at", "disabled_at")
_TOKEN_KEYS = ("token_id", "name", "role", "device_id", "user_id", "created_at", "expires_at", "last_used_at",
               "revoked_at")

user_app = typer.Typer(help="People who sign reports and log in to the dashboard (roles qa, auditor, admin).",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens, each with one role; the secret is shown once.",
                        no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: standard input held no password")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


@user_app.command("add")
def user_add(
    user_id: str = typer.Argument(..., help="Login name, e.g. li.na"),
    name: str = typer.Option(..., "--name", help="Display name, printed on signatures."),
    role: UserRole = typer.Option(..., "--role", help="The user's role."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    no_password: bool = typer.Option(False, "--no-password",
                                     help="No password (the user can neither sign nor log in)."),
) -> None:
    """Add a user (the password is prompted for, or read with --password-stdin).

    Acts as the named user (--user / MONITOR_USER); the first user of a database (no user but service
    accounts yet) may be added without one, audited as bootstrap:<OS account>.
    """
    from monitor.service.access import create_user
    from monitor.service.actors import bootstrap_actor

    application = build_app()
    actor = bootstrap_actor(application.uow, application.settings.user)  # the first user: bootstrap:<os account>
    password = None if no_password else _read_password(password_stdin)
    create_user(application.uow, user_id=user_id, display_name=name, role=role.value, password=password,
                clock=application.clock, actor=actor)
    say(f"user {user_id} ({role.value}) added")


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON array of users.")) -> None:
    """List users."""
    from monitor.service.access import list_users

    application = build_app()
    users = list_users(application.uow)
    if as_json:
        emit_json([{k: u.get(k) for k in _USER_KEYS} for u in users])
        return
    table = DataTable("user", "name", "role", "created", "disabled", ids=("user",))
    for u in users:
        table.add_row(u["user_id"], u["display_name"], u["role"], _when(u["created_at"]), _when(u["disabled_at"]))
    out.print(table)


@user_app.command("disable")
def user_disable(user_id: str = typer.Argument(..., help="The user to disable.")) -> None:
    """Disable a user and revoke their tokens (the user stays on record)."""
    from monitor.service.access import disable_user

    application = build_app()
    revoked = disable_user(application.uow, user_id, clock=application.clock, actor=application.actor)
    say(f"user {user_id} disabled" + (f"; revoked tokens: {', '.join(revoked)}" if revoked else ""))


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="What or who uses the token, e.g. 'PACS gateway, site A'."),
    role: TokenRole = typer.Option(..., "--role", help="The token's role (device tokens need --device)."),
    device: Optional[str] = typer.Option(None, "--device", help="The device a device token may write."),
    user: Optional[str] = typer.Option(None, "--user", help="The user the token acts for (same role)."),
    expires_in_days: Optional[int] = typer.Option(None, "--expires-in-days", min=1, help="Lifetime in days."),
) -> None:
    """Create an API token and print its secret, once: store it now, it cannot be shown again."""
    from monitor.service.access import create_token

    application = build_app()
    lifetime = timedelta(days=expires_in_days) if expires_in_days else None
    token_id, secret = create_token(application.uow, name=name, role=role.value, device_id=device, user_id=user,
                                    expires_in=lifetime, clock=application.clock, actor=application.actor)
    say(f"token {token_id} ({role.value}) created; its secret follows and is shown only this once:", console=err)
    sys.stdout.write(secret + "\n")


@token_app.command("list")
def token_list(
    show_revoked: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of tokens (never their secrets)."),
) -> None:
    """List API tokens (never their secrets)."""
    from monitor.service.access import list_tokens

    application = build_app()
    tokens = list_tokens(application.uow, include_revoked=show_revoked)
    if as_json:
        emit_json([{k: t.get(k) for k in _TOKEN_KEYS} for t in tokens])
        return
    table = DataTable("token", "name", "role", "device", "user", "created", "expires", "last used", "revoked",
                      ids=("token", "device", "user"))
    for t in tokens:
        table.add_row(t["token_id"], t["name"], t["role"], t["device_id"] or "", t["user_id"] or "",
                      _when(t["created_at"]), _when(t["expires_at"]), _when(t["last_used_at"]), _when(t["revoked_at"]))
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The token id (the part after smt_)."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
) -> None:
    """Revoke an API token: it stops working at once."""
    from monitor.service.access import revoke_token

    application = build_app()
    revoke_token(application.uow, token_id, clock=application.clock, actor=application.actor, reason=reason)
    say(f"token {token_id} revoked")
