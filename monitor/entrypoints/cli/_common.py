"""Shared pieces of the command line: the root Typer app, consoles, the wired application, and the one way
data reaches the terminal.

Rich reads ``[...]`` in a printed string as markup: a stored value such as a record id ``[/bold]x`` would
crash the command (``MarkupError``) and ``[link=...]`` would become a hyperlink. Every table of the CLI is a
:class:`DataTable` and every line that carries data is printed with :func:`say`: both hand Rich
:class:`rich.text.Text` objects (:func:`plain`), which are never parsed as markup, so any value prints as
it is (``rich.markup.escape`` is not used: it doubles a trailing backslash). References:
https://rich.readthedocs.io/en/stable/markup.html#escaping
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Optional

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from monitor import __version__
from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.errors import InputError
from monitor.settings import Settings, load_settings

__all__ = ["DataTable", "app", "build_app", "err", "moment", "out", "plain", "say", "settings", "state"]

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


def plain(value: object) -> Text:
    """``value`` as text that Rich prints exactly as it is, never read as markup."""
    return value if isinstance(value, Text) else Text(str(value))


def say(*parts: object, console: Console | None = None) -> None:
    """Print one line made of ``parts`` on ``out`` (or ``console``): each part literal text, or a
    ``(text, style)`` pair for a styled literal part (e.g. ``("FLAGGED", "bold red")``)."""
    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            line.append(str(part[0]), style=part[1])
        else:
            line.append_text(plain(part))
    (console or out).print(line)


class DataTable(Table):
    """A Rich table whose string cells are literal text (:func:`plain`): stored values never read as markup."""

    def add_row(self, *renderables: RenderableType | None, **kwargs: Any) -> None:
        super().add_row(*(plain(cell) if isinstance(cell, str) else cell for cell in renderables), **kwargs)


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
        say(f"samd-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: MONITOR_DATABASE_URL or ./var/monitor.sqlite)."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    state["db"] = db
