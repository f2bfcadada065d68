"""``samd-monitor cells``: the per-month count cells that analyses read instead of rows."""

from __future__ import annotations

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, out, say

cells_app = typer.Typer(help="Count cells kept per device and month (what analyses read instead of rows).",
                        no_args_is_help=True)
app.add_typer(cells_app, name="cells")


@cells_app.command("refresh")
def cells_refresh(
    device_id: str = typer.Argument(..., help="Registered device id."),
    all_months: bool = typer.Option(False, "--all", help="Recount every month, not only those changed since."),
) -> None:
    """Recount the months that ingests changed since their last count (as of now)."""
    from monitor.service.cells import refresh_cells

    application = build_app()
    result = refresh_cells(device_id, uow=application.uow, clock=application.clock, actor=application.actor,
                           only_dirty=not all_months)
    months = ", ".join(result["refreshed"]) or "none (every month is fresh)"
    say(f"{device_id}: recounted {len(result['refreshed'])} month(s): {months}")


@cells_app.command("status")
def cells_status(
    device_id: str = typer.Argument(None, help="Only this device."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of months."),
) -> None:
    """Each month's state (fresh or dirty), when it was counted and how many predictions it holds."""
    application = build_app()
    with application.uow() as unit:
        months = unit.cells.months(device_id)
    if as_json:
        emit_json([{k: m.get(k) for k in ("device_id", "month", "state", "refreshed_at", "predictions")}
                   for m in months])
        return
    table = DataTable("device", "month", "state", "counted at (UTC)", "predictions", ids=("device",))
    for m in months:
        table.add_row(m["device_id"], m["month"], m["state"],
                      m["refreshed_at"].strftime("%Y-%m-%d %H:%M:%S") if m["refreshed_at"] else "-",
                      f"{m['predictions']:,}" if m["predictions"] is not None else "-")
    out.print(table)
