"""``samd-monitor tickets``: retraining tickets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from monitor.entrypoints.cli._common import app, build_app, out
from monitor.errors import InputError
from monitor.service.tickets import list_tickets, tickets_as_csv, tickets_as_json

tickets_app = typer.Typer(help="Retraining tickets.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")


@tickets_app.command("list")
def tickets_list(
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[str] = typer.Option(None, "--status", help="e.g. open"),
) -> None:
    """List retraining tickets."""
    application = build_app()
    table = Table("ticket", "status", "device", "model", "stratum", "metric", "evidence runs", "latest estimate")
    for t in list_tickets(uow=application.uow, device_id=device, status=status):
        latest = t["evidence"][-1]["evidence"] if t["evidence"] else {}
        estimate = f"{latest['estimate']:.3f} vs {latest['claim']:.3f}" if latest else ""
        table.add_row(t["ticket_id"], t["status"], t["device_id"], t["model_version"], t["stratum"], t["metric"],
                      str(len(t["evidence"])), estimate)
    out.print(table)


@tickets_app.command("export")
def tickets_export(
    fmt: str = typer.Option("json", "--format", help="json or csv."),
    output: Optional[Path] = typer.Option(None, "--out", help="File to write (default: standard output)."),
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[str] = typer.Option(None, "--status"),
) -> None:
    """Export tickets with their evidence as JSON or CSV."""
    if fmt not in ("json", "csv"):
        raise InputError(f"--format {fmt!r}: use json or csv")
    application = build_app()
    tickets = list_tickets(uow=application.uow, device_id=device, status=status)
    text = tickets_as_json(tickets) if fmt == "json" else tickets_as_csv(tickets)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"{len(tickets)} tickets written to {output}")
