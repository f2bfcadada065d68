"""``samd-monitor ingest``: prediction, ground-truth and retraction logs, batches, and the quarantine of
rejected rows (list, export, re-submit, dismiss)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, err, out, say, warn_deprecated
from monitor.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.service.ingest import BatchSummary

#: Input formats (monitor.adapters.files.readers.LOG_FORMATS; a test checks they agree).
LogFormat = Literal["csv", "parquet", "ndjson", "fhir", "dicom-sr"]
TableFormat = Literal["csv", "parquet"]
#: Quarantine states and log kinds (monitor.service.quarantine; a test checks they agree).
QuarantineStatus = Literal["open", "resubmitted", "dismissed"]
LogKind = Literal["predictions", "ground_truth", "retractions"]

ingest_app = typer.Typer(help="Ingest prediction, ground-truth and retraction logs; inspect batches; "
                              "work through rejected rows.",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def _open(application, file: Path, fmt: Optional[str], kind: Optional[str] = None,  # type: ignore[no-untyped-def]
          device: Optional[str] = None):
    if fmt is None and kind is None and device is None:
        return application.open_log(file)
    return application.open_log.func(file, format=fmt, kind=kind, device_id=device)  # type: ignore[attr-defined]


def _exact_ages(application) -> bool:  # type: ignore[no-untyped-def]
    return bool(getattr(application.settings, "exact_ages", False))


def _input_format(fmt: Optional[str], legacy: Optional[str]) -> Optional[str]:
    if legacy is not None:
        warn_deprecated("--format (of an input file)", "--input-format")
        if fmt is not None and fmt != legacy:
            raise InputError("--input-format and its old name --format disagree: give --input-format only")
        return legacy
    return fmt


def _run_ingest(kind: str, file: Path, fmt: Optional[str], as_json: bool, device: Optional[str] = None) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor.service.ingest import ingest_ground_truth, ingest_predictions, ingest_retractions

    application = build_app()
    log = _open(application, file, fmt, kind, device)
    total = log.count_rows()
    with Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"ingesting {file.name}", total=total)
        advance = lambda n: bar.update(task, advance=n)  # noqa: E731
        if kind == "predictions":
            summary = ingest_predictions(log, source=str(file), uow=application.uow,
                                         hash_patient=application.patient_hasher(), clock=application.clock,
                                         actor=application.actor, progress=advance,
                                         exact_ages=_exact_ages(application))
        elif kind == "retractions":
            summary = ingest_retractions(log, source=str(file), uow=application.uow, clock=application.clock,
                                         actor=application.actor, progress=advance)
        else:
            summary = ingest_ground_truth(log, source=str(file), uow=application.uow, clock=application.clock,
                                          actor=application.actor, progress=advance,
                                          hash_patient=application.patient_hasher_if_configured())
    _print_summary(summary, as_json)


def _print_summary(summary: BatchSummary, as_json: bool) -> None:
    if as_json:
        emit_json(summary.as_dict())
        return
    say(f"batch {summary.batch_id} ({summary.kind}, {summary.source}): {summary.rows:,} rows: "
        f"{summary.accepted:,} accepted, {summary.duplicates:,} duplicates, {summary.rejected:,} rejected")
    for code, n in sorted(summary.reasons.items()):
        say(f"  rejected {n:,} × {code}")
    if summary.rejected:
        say(f"  see them with: samd-monitor ingest rejected --batch {summary.batch_id}")
    if summary.ignored_column_count:
        unnamed = summary.ignored_column_count - len(summary.ignored_columns)
        names = ", ".join(summary.ignored_columns) + (f" and {unnamed} other(s) not named" if unnamed else "")
        say(f"  columns not used by any device configuration (not stored): {names.removeprefix(' and ')}")


_FORMAT_HELP = ("Format of FILE: csv, parquet, ndjson (one JSON object per line), fhir (an HL7 FHIR R4 Bundle, "
                "docs/fhir-mapping.md) or dicom-sr (TID 1500 measurement reports, docs/dicom-sr-mapping.md); "
                "default: from the suffix (.csv, .parquet, .ndjson/.jsonl, .fhir.json, .dcm or a folder).")
_LEGACY_FORMAT_HELP = "Deprecated name of --input-format."
_DEVICE_HELP = "Registered device the FHIR / DICOM SR resources refer to when they do not name it."


@ingest_app.command("predictions")
def ingest_predictions_cmd(
    file: Path = typer.Argument(..., help="Prediction log (.csv, .parquet, .ndjson/.jsonl, .fhir.json, .dcm or "
                                          "a folder of DICOM SR files)."),
    fmt: Optional[LogFormat] = typer.Option(None, "--input-format", help=_FORMAT_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=_DEVICE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
    legacy_format: Optional[LogFormat] = typer.Option(None, "--format", hidden=True, help=_LEGACY_FORMAT_HELP),
) -> None:
    """Ingest a prediction log file (one transaction; re-sending it changes nothing)."""
    _run_ingest("predictions", file, _input_format(fmt, legacy_format), as_json, device)


@ingest_app.command("ground-truth")
def ingest_ground_truth_cmd(
    file: Path = typer.Argument(..., help="Ground-truth log (.csv, .parquet, .ndjson/.jsonl or .fhir.json)."),
    fmt: Optional[LogFormat] = typer.Option(None, "--input-format", help=_FORMAT_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=_DEVICE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
    legacy_format: Optional[LogFormat] = typer.Option(None, "--format", hidden=True, help=_LEGACY_FORMAT_HELP),
) -> None:
    """Ingest a ground-truth log file; rows with correction_reason add a new label version."""
    _run_ingest("ground_truth", file, _input_format(fmt, legacy_format), as_json, device)


@ingest_app.command("retractions")
def ingest_retractions_cmd(
    file: Path = typer.Argument(..., help="Retraction log (.csv or .parquet): device_id, prediction_id, "
                                          "retracted_at, reason."),
    fmt: Optional[TableFormat] = typer.Option(None, "--input-format", help="Format of FILE (default: from the "
                                                                           "suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
    legacy_format: Optional[TableFormat] = typer.Option(None, "--format", hidden=True, help=_LEGACY_FORMAT_HELP),
) -> None:
    """Ingest results the device retracted: analyses with a later cut-off leave those predictions out."""
    _run_ingest("retractions", file, _input_format(fmt, legacy_format), as_json)


@ingest_app.command("safety-events")
def ingest_safety_events_cmd(
    file: Path = typer.Argument(..., help="Safety-event log (.csv or .ndjson/.jsonl): complaints, adverse events, "
                                          "incidents, user feedback, overrides (docs/safety-events.md)."),
    device: Optional[str] = typer.Option(None, "--device", help="Registered device the events are of (fills an "
                                                               "empty device_id; a row naming another is rejected)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
) -> None:
    """Ingest a complaints / adverse-event log (one transaction; an event re-sent with other content adds a version)."""
    from monitor.service.safety_events import ingest_safety_events

    application = build_app()
    log = _open(application, file, None)
    summary = ingest_safety_events(log, source=str(file), uow=application.uow, clock=application.clock,
                                   actor=application.actor, device_id=device,
                                   hash_patient=application.patient_hasher_if_configured())
    _print_summary(summary, as_json)


@ingest_app.command("reviews")
def ingest_reviews_cmd(
    file: Path = typer.Argument(..., help="Review log (.csv or .ndjson/.jsonl): the events of the review worklist "
                                          "(docs/review-worklists.md)."),
    device: Optional[str] = typer.Option(None, "--device", help="Registered device the reviews are of (fills an "
                                                               "empty device_id; a row naming another is rejected)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
) -> None:
    """Ingest a review log (one transaction, audited review.ingest; a later review of a case adds a version)."""
    from monitor.service.review_events import ingest_review_events

    application = build_app()
    log = _open(application, file, None)
    summary = ingest_review_events(log, source=str(file), uow=application.uow, clock=application.clock,
                                   actor=application.actor, device_id=device)
    _print_summary(summary, as_json)


def _since(text: Optional[str]) -> Optional[datetime]:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--since {text!r} is not an ISO-8601 date or date and time") from exc
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


_ROW_KEYS = ("batch_id", "source_name", "kind", "row_number", "record_id", "reason_code", "reason", "status",
             "resolved_batch_id", "resolved_at", "resolved_by", "resolution_note", "raw")


@ingest_app.command("rejected")
def ingest_rejected(
    batch: Optional[int] = typer.Option(None, "--batch", help="Only this batch."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Only this reason code (e.g. score_out_of_range)."),
    status: Optional[QuarantineStatus] = typer.Option(None, "--status", help="Only rows in this state."),
    kind: Optional[LogKind] = typer.Option(None, "--kind", help="Only rows of this log kind."),
    since: Optional[str] = typer.Option(None, "--since", help="Only batches started at or after this ISO-8601 "
                                                              "date or time (UTC unless an offset is given)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many rows."),
    export: Optional[Path] = typer.Option(None, "--out", help="Write ALL matching rows' content to this CSV "
                                                              "file in the log's own column layout, to correct "
                                                              "and re-send (ignores --limit/--offset)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of rows with the raw row content."),
    legacy_export: Optional[Path] = typer.Option(None, "--export", hidden=True, help="Deprecated name of --out."),
) -> None:
    """List (or export) rejected rows with their batch, row number, reason and quarantine status."""
    from monitor.service.quarantine import export_rejections, list_rejections

    if legacy_export is not None:
        warn_deprecated("ingest rejected --export FILE", "--out FILE")
        export = export or legacy_export
    application = build_app()
    moment = _since(since)
    if export is not None:
        text, n = export_rejections(application.uow, clock=application.clock, actor=application.actor,
                                    batch_id=batch, code=reason, status=status, kind=kind, since=moment,
                                    destination=str(export))
        export.write_text(text, encoding="utf-8")
        if as_json:
            emit_json({"rows": n, "out": str(export)})
            return
        say(f"wrote {n:,} rejected row(s) to {export}")
        return
    rows = list_rejections(application.uow, batch_id=batch, code=reason, status=status, kind=kind, since=moment,
                           limit=limit, offset=offset)
    if as_json:
        emit_json([{k: r.get(k) for k in _ROW_KEYS} for r in rows])
        return
    table = DataTable("batch", "source", "row", "id", "reason", "status", ids=("id",))
    for r in rows:
        table.add_row(str(r["batch_id"]), Path(r["source_name"]).name, str(r["row_number"]), r["record_id"] or "",
                      r["reason"], r["status"])
    out.print(table)


@ingest_app.command("resubmit")
def ingest_resubmit(
    file: Path = typer.Argument(..., help="The corrected file (same kind of log as the batch)."),
    batch: int = typer.Option(..., "--batch", help="The batch whose rejected rows the file corrects."),
    fmt: Optional[TableFormat] = typer.Option(None, "--input-format", help="Format of FILE (default: from the "
                                                                           "suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    legacy_format: Optional[TableFormat] = typer.Option(None, "--format", hidden=True, help=_LEGACY_FORMAT_HELP),
) -> None:
    """Ingest a corrected file as a new batch; rejected rows of --batch now accepted become 'resubmitted'."""
    from monitor.service.quarantine import resubmit

    application = build_app()
    log = _open(application, file, _input_format(fmt, legacy_format))
    with application.uow() as unit:
        original = unit.logs.batch(batch)
    hasher = application.patient_hasher() if original is not None and original["kind"] == "predictions" else None
    outcome = resubmit(log, batch_id=batch, source=str(file), uow=application.uow, clock=application.clock,
                       actor=application.actor, hash_patient=hasher, exact_ages=_exact_ages(application))
    if as_json:
        emit_json(outcome.as_dict())
        return
    _print_summary(outcome.summary, False)
    say(f"batch {batch}: {len(outcome.resolved_rows):,} rejected row(s) marked resubmitted")


@ingest_app.command("dismiss")
def ingest_dismiss(
    batch: int = typer.Option(..., "--batch", help="The batch of the rejected rows."),
    row: Optional[int] = typer.Option(None, "--row", min=1, help="Only this data row (default: all open rows)."),
    note: str = typer.Option(..., "--note", help="Why the row(s) need no re-submission (kept in the audit log)."),
) -> None:
    """Dismiss open rejected rows with a note (e.g. a test record that will never be re-sent)."""
    from monitor.service.quarantine import dismiss_rejections

    application = build_app()
    rows = dismiss_rejections(application.uow, batch_id=batch, row_number=row, note=note, clock=application.clock,
                              actor=application.actor)
    say(f"batch {batch}: dismissed {len(rows):,} rejected row(s)")


@ingest_app.command("batches")
def ingest_batches(
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of batches."),
) -> None:
    """List the newest ingestion batches with their outcome counts."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.logs.batches(limit)
    if as_json:
        emit_json(rows)
        return
    table = DataTable("batch", "kind", "source", "rows", "accepted", "duplicates", "rejected", "sha256",
                      ids=("batch",))
    for r in rows:
        table.add_row(str(r["batch_id"]), r["kind"], Path(r["source_name"]).name, f"{r['rows_total']:,}",
                      f"{r['accepted']:,}", f"{r['duplicates']:,}", f"{r['rejected']:,}", r["source_sha256"][:12])
    out.print(table)
