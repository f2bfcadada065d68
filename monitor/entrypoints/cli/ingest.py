"""``samd-monitor ingest``: prediction and ground-truth logs, batches and rejected rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.entrypoints.cli._common import app, build_app, err, out
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions

ingest_app = typer.Typer(help="Ingest prediction and ground-truth logs; inspect batches and rejected rows.",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def _run_ingest(kind: str, file: Path, fmt: Optional[str], as_json: bool) -> None:
    application = build_app()
    log = application.open_log(file) if fmt is None else application.open_log.func(file, format=fmt)  # type: ignore[attr-defined]
    total = log.count_rows()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"ingesting {file.name}", total=total)
        advance = lambda n: bar.update(task, advance=n)  # noqa: E731
        if kind == "predictions":
            summary = ingest_predictions(log, source=str(file), uow=application.uow,
                                         hash_patient=application.patient_hasher(), clock=application.clock,
                                         actor=application.settings.actor, progress=advance)
        else:
            summary = ingest_ground_truth(log, source=str(file), uow=application.uow, clock=application.clock,
                                          actor=application.settings.actor, progress=advance)
    _print_summary(summary, as_json)


def _print_summary(summary: BatchSummary, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(summary.as_dict()))
        return
    out.print(f"batch {summary.batch_id} ({summary.kind}, {summary.source}): {summary.rows:,} rows: "
              f"{summary.accepted:,} accepted, {summary.duplicates:,} duplicates, {summary.rejected:,} rejected")
    for code, n in sorted(summary.reasons.items()):
        out.print(f"  rejected {n:,} × {code}")
    if summary.rejected:
        out.print(f"  see them with: samd-monitor ingest rejected --batch {summary.batch_id}")
    if summary.ignored_columns:
        out.print(f"  columns not used by any device configuration (not stored): {', '.join(summary.ignored_columns)}")


@ingest_app.command("predictions")
def ingest_predictions_cmd(
    file: Path = typer.Argument(..., help="Prediction log (.csv or .parquet)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or parquet (default: from the suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
) -> None:
    """Ingest a prediction log file (one transaction; re-sending it changes nothing)."""
    _run_ingest("predictions", file, fmt, as_json)


@ingest_app.command("ground-truth")
def ingest_ground_truth_cmd(
    file: Path = typer.Argument(..., help="Ground-truth log (.csv or .parquet)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or parquet (default: from the suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
) -> None:
    """Ingest a ground-truth log file; rows with correction_reason add a new label version."""
    _run_ingest("ground_truth", file, fmt, as_json)


@ingest_app.command("rejected")
def ingest_rejected(
    batch: Optional[int] = typer.Option(None, "--batch", help="Only this batch."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Only this reason code (e.g. score_out_of_range)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many rows."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON lines with the raw row content."),
) -> None:
    """List rejected rows with their batch, row number and reason."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.logs.rejections(batch_id=batch, code=reason, limit=limit, offset=offset)
    if as_json:
        for r in rows:
            sys.stdout.write(json.dumps({k: r[k] for k in ("batch_id", "source_name", "kind", "row_number",
                                                          "record_id", "reason_code", "reason", "raw")},
                                        ensure_ascii=False) + "\n")
        return
    table = Table("batch", "source", "row", "id", "reason")
    for r in rows:
        table.add_row(str(r["batch_id"]), Path(r["source_name"]).name, str(r["row_number"]), r["record_id"] or "",
                      r["reason"])
    out.print(table)


@ingest_app.command("batches")
def ingest_batches(limit: int = typer.Option(20, "--limit", min=1)) -> None:
    """List the newest ingestion batches with their outcome counts."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.logs.batches(limit)
    table = Table("batch", "kind", "source", "rows", "accepted", "duplicates", "rejected", "sha256")
    for r in rows:
        table.add_row(str(r["batch_id"]), r["kind"], Path(r["source_name"]).name, f"{r['rows_total']:,}",
                      f"{r['accepted']:,}", f"{r['duplicates']:,}", f"{r['rejected']:,}", r["source_sha256"][:12])
    out.print(table)
