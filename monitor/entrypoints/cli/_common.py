"""Shared pieces of the command line: the root Typer app, consoles, the wired application, the output
conventions (docs/cli.md) and the one way data reaches the terminal.

Rich reads ``[...]`` in a printed string as markup: a stored value such as a record id ``[/bold]x`` would
crash the command (``MarkupError``) and ``[link=...]`` would become a hyperlink. Every table of the CLI is a
:class:`DataTable` and every line that carries data is printed with :func:`say`: both hand Rich
:class:`rich.text.Text` objects (:func:`plain`), which are never parsed as markup, so any value prints as
it is (``rich.markup.escape`` is not used: it doubles a trailing backslash). References:
https://rich.readthedocs.io/en/stable/markup.html#escaping

Machine-readable output (``--json``) goes through :func:`emit_json` only: UTF-8, indented by 2, one document
on standard output and nothing else there.

This module and every command module are imported for ``samd-monitor --help``: they import nothing heavy
(pandas, SQLAlchemy, the services, the bootstrap) at module level; commands import what they need in their
bodies (tests/e2e/test_cli_conventions.py checks it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from monitor import __version__
from monitor.errors import InputError, IntegrityError

if TYPE_CHECKING:  # pragma: no cover - typing only: the bootstrap imports the whole application
    from monitor.entrypoints.bootstrap import App
    from monitor.settings import Settings

#: Report formats and languages (the same as monitor.service.report's; a test checks they agree).
REPORT_FORMATS = ("html", "pdf", "json", "csv", "xlsx", "evidently")
#: What ``report --format`` writes when not given.
DEFAULT_REPORT_FORMATS = "html,pdf,json,csv,xlsx"
REPORT_LANGUAGES = ("en", "zh-CN", "both")

__all__ = ["DEFAULT_REPORT_FORMATS", "REPORT_FORMATS", "REPORT_LANGUAGES", "complete_comma_list", "DataTable", "app", "build_app", "emit_json", "err", "jsonable", "moment", "out", "plain", "say",
           "settings", "split_choices", "verification", "write_json_file", "write_out_file", "state", "warn_deprecated"]

app = typer.Typer(
    name="samd-monitor",
    help="Regulatory performance monitoring and drift analytics for AI medical devices.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    epilog="Exit status: 0 done; 1 a verification found broken evidence; 2 a usage or input mistake; "
           "130 interrupted. --json prints one JSON document on standard output (docs/cli.md).",
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


def warn_deprecated(old: str, new: str) -> None:
    """One ``warning:`` line on standard error for an option kept only under its old name."""
    say(("warning:", "yellow"), f" {old} is deprecated; use {new}", console=err)


class DataTable(Table):
    """A Rich table whose string cells are literal text (:func:`plain`): stored values never read as markup.

    ``ids`` names the identifier columns (ticket, report, batch ids, ...): they are never shortened with an
    ellipsis: they keep the width of their longest value, and fold onto a second line only when the terminal
    cannot hold even that."""

    def __init__(self, *headers: str, ids: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        identifiers = set(ids)
        unknown = identifiers - set(headers)
        if unknown:
            raise ValueError(f"identifier columns {sorted(unknown)} are not headers")
        for header in headers:
            if header in identifiers:
                self.add_column(header, no_wrap=True, overflow="fold", min_width=len(header))
            else:
                self.add_column(header)

    def add_row(self, *renderables: RenderableType | None, **kwargs: Any) -> None:
        cells = [plain(cell) if isinstance(cell, str) else cell for cell in renderables]
        for column, cell in zip(self.columns, cells):
            if column.no_wrap and isinstance(cell, Text):
                column.min_width = max(column.min_width or 0, cell.cell_len)
        super().add_row(*cells, **kwargs)


def jsonable(value: Any) -> Any:
    """``value`` with every timestamp, date, path, decimal and enum made JSON-native (timestamps in UTC ISO
    8601 with ``Z``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            return value.isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as the command's one JSON document: UTF-8, indent 2, on standard output.

    Lists print a JSON array of objects, shows one object, verifications ``{"ok": ..., ...}`` (docs/cli.md)."""
    text = json.dumps(jsonable(value), indent=2, ensure_ascii=False, default=str) + "\n"
    sys.stdout.write(text)


@contextmanager
def verification(as_json: bool) -> Iterator[None]:
    """Around a verification: when it fails (:class:`IntegrityError`) with ``--json``, print
    ``{"ok": false, "error": ...}`` first; the error then ends the command with exit status 1."""
    try:
        yield
    except IntegrityError as exc:
        if as_json:
            emit_json({"ok": False, "error": str(exc)})
        raise


def write_json_file(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to the file ``path`` (the same form as :func:`emit_json`); a path that cannot
    be written is a user error naming it."""
    write_out_file(path, (json.dumps(jsonable(value), indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8"))


def write_out_file(path: Path, data: bytes) -> None:
    """Write ``data`` to the ``--out`` file ``path``; a path that cannot be written is a user error naming it."""
    try:
        path.write_bytes(data)
    except IsADirectoryError as exc:
        raise InputError(f"--out {path}: is a folder, not a file") from exc
    except FileNotFoundError as exc:
        raise InputError(f"--out {path}: the folder does not exist") from exc
    except PermissionError as exc:
        raise InputError(f"--out {path}: permission denied") from exc


def split_choices(text: str, allowed: Sequence[str], option: str) -> list[str]:
    """A comma-separated option value (``html,json``) as a list, each item one of ``allowed``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    wrong = [item for item in items if item not in allowed]
    if wrong or not items:
        raise InputError(f"{option} {text!r}: use one or more of {', '.join(allowed)}, separated by commas")
    return items


def complete_comma_list(allowed: Sequence[str]) -> Any:
    """Shell completion of a comma-separated list of ``allowed`` values (the last item is completed)."""

    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [prefix + choice for choice in allowed if choice.startswith(last) and choice not in done.split(",")]

    return complete


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
    from monitor.settings import load_settings

    return load_settings().with_database(state.get("db")).with_user(state.get("user"))


def build_app(**kwargs: Any) -> App:
    """The wired application for this invocation."""
    from monitor.entrypoints.bootstrap import bootstrap

    return bootstrap(settings(), **kwargs)


def _print_version(value: bool) -> None:
    if value:
        say(f"samd-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: MONITOR_DATABASE_URL, else the "
                                                        "SQLite file in the data directory; docs/configuration.md)."),
    user: Optional[str] = typer.Option(None, "--user", help="The named user acting (default: MONITOR_USER); "
                                                            "commands that change data need one."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    state["db"] = db
    state["user"] = user
