"""Shared pieces of the command line: the root Typer app, consoles and the wired application."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Optional

import typer
from rich.console import Console

from monitor import __version__
from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.errors import InputError
from monitor.settings import Settings, load_settings

__all__ = ["app", "build_app", "err", "moment", "out", "settings", "state"]

app = typer.Typer(
    name="samd-monitor",
    help="Regulatory performance monitoring and drift analytics for AI medical devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
state: dict[str, Any] = {}


def moment(text: Optional[str], option: str) -> Optional[datetime]:
    """An ISO-8601 timestamp option (``None`` when not given); it must carry its UTC offset."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not an ISO-8601 timestamp") from exc
    if value.tzinfo is None:
        raise InputError(f"{option} {text!r} needs a UTC offset (e.g. 2026-01-31T23:59:59+08:00)")
    return value


def settings() -> Settings:
    """Settings from the environment, with the ``--db`` option applied."""
    return load_settings().with_database(state.get("db"))


def build_app(**kwargs: Any) -> App:
    """The wired application for this invocation."""
    return bootstrap(settings(), **kwargs)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"samd-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: MONITOR_DATABASE_URL or ./var/monitor.sqlite)."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    state["db"] = db
