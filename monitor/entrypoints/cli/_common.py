"""Shared pieces of the command line: the root Typer app, consoles and the wired application."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer
from rich.console import Console

from monitor import __version__
from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.settings import Settings, load_settings

__all__ = ["app", "build_app", "err", "out", "settings", "state"]

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
