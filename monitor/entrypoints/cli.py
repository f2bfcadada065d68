"""The ``samd-monitor`` command line: thin wrappers around the services.

User mistakes (:class:`monitor.errors.MonitorError`) end with one ``error:`` line
on standard error and exit status 2; never a traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor import __version__
from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.engine import downgrade as db_downgrade
from monitor.adapters.db.engine import make_engine
from monitor.adapters.db.engine import upgrade as db_upgrade
from monitor.domain.periods import Period
from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.errors import InputError, MonitorError
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions
from monitor.service.report import write_report
from monitor.service.tickets import list_tickets, tickets_as_csv, tickets_as_json
from monitor.settings import Settings, load_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="samd-monitor",
    help="Regulatory performance monitoring and drift analytics for AI medical devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
device_app = typer.Typer(help="Register and list monitored devices.", no_args_is_help=True)
ingest_app = typer.Typer(help="Ingest prediction and ground-truth logs; inspect batches and rejected rows.",
                         no_args_is_help=True)
tickets_app = typer.Typer(help="Retraining tickets.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(device_app, name="device")
app.add_typer(ingest_app, name="ingest")
app.add_typer(tickets_app, name="tickets")

_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
_state: dict[str, Any] = {}


def _settings() -> Settings:
    return load_settings().with_database(_state.get("db"))


def _app(**kwargs: Any) -> App:
    return bootstrap(_settings(), **kwargs)


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
    _state["db"] = db


# db ----------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database schema to the latest (or given) revision."""
    settings = _settings()
    db_upgrade(make_engine(settings.database_url), revision)
    out.print(f"database at {revision}: {make_engine(settings.database_url).url.render_as_string(hide_password=True)}")


@db_app.command("downgrade")
def db_downgrade_cmd(revision: str = typer.Argument(..., help="Target revision ('base' removes everything).")) -> None:
    """Revert the schema to an older revision."""
    db_downgrade(make_engine(_settings().database_url), revision)
    out.print(f"database at {revision}")


# device ------------------------------------------------------------------------------------
@device_app.command("add")
def device_add(config: Path = typer.Argument(..., help="Device configuration YAML (schemas/device.schema.json).")) -> None:
    """Register a device, or record a new version of its configuration."""
    application = _app()
    parsed = load_device_config(config)
    result = register_device(parsed, uow=application.uow, clock=application.clock,
                             actor=application.settings.actor, source=str(config))
    state = f"configuration version {result.config_version}" if result.changed else "unchanged"
    out.print(f"device {result.device_id}: {state} (config hash {result.config_hash[:12]})")


@device_app.command("validate")
def device_validate(config: Path = typer.Argument(..., help="Device configuration YAML.")) -> None:
    """Check a device configuration file without registering it."""
    parsed = load_device_config(config)
    out.print(f"{config}: valid configuration of device {parsed.device.id} "
              f"({len(parsed.strata.attributes)} attributes, {len(parsed.strata.pairs())} intersections)")


@device_app.command("list")
def device_list() -> None:
    """List registered devices."""
    application = _app()
    with application.uow() as unit:
        rows = unit.devices.list()
    table = Table("device", "name", "config version", "model versions", "sites")
    for r in rows:
        table.add_row(r["device_id"], r["name"], str(r["config_version"]), str(r["model_versions"]), str(r["sites"]))
    out.print(table)


# ingest ------------------------------------------------------------------------------------
def _run_ingest(kind: str, file: Path, fmt: Optional[str], as_json: bool) -> None:
    application = _app()
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
    application = _app()
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
    application = _app()
    with application.uow() as unit:
        rows = unit.logs.batches(limit)
    table = Table("batch", "kind", "source", "rows", "accepted", "duplicates", "rejected", "sha256")
    for r in rows:
        table.add_row(str(r["batch_id"]), r["kind"], Path(r["source_name"]).name, f"{r['rows_total']:,}",
                      f"{r['accepted']:,}", f"{r['duplicates']:,}", f"{r['rejected']:,}", r["source_sha256"][:12])
    out.print(table)


# analyze / report ----------------------------------------------------------------------------
def _cutoff(text: Optional[str]) -> Optional[datetime]:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--cutoff {text!r} is not an ISO-8601 timestamp") from exc
    if moment.tzinfo is None:
        raise InputError(f"--cutoff {text!r} needs a UTC offset (e.g. 2026-01-31T23:59:59+08:00)")
    return moment


@app.command()
def analyze(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30."),
    cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off (default: now); re-running with the same cut-off reproduces a run."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole analysis document."),
) -> None:
    """Analyse a device over a period: stratified metrics, tests against claims, findings and tickets."""
    application = _app()
    outcome = analyze_period(device, Period.parse(period), uow=application.uow, clock=application.clock,
                             actor=application.settings.actor, cutoff=_cutoff(cutoff))
    if as_json:
        sys.stdout.write(json.dumps(outcome.document, indent=2, ensure_ascii=False) + "\n")
        return
    doc = outcome.document
    total = doc["completeness"]["total"]
    out.print(f"run {doc['run_id']}: {device} {doc['period']['label']}, cut-off {doc['data_cutoff']}")
    out.print(f"  {total['predictions']:,} predictions, {total['with_ground_truth']:,} with ground truth, "
              f"{total['awaiting_ground_truth']:,} awaiting it")
    out.print(f"  {doc['summary']['strata']} strata, {doc['summary']['tests']} tests, "
              f"{doc['summary']['flagged']} flagged, {doc['summary']['insufficient']} with insufficient evidence")
    for f in doc["findings"]:
        out.print(f"  [bold red]FLAGGED[/] {f['metric']} in {f['stratum']} (model {f['model_version']}): "
                  f"{f['estimate']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}] vs claim {f['claim']:.3f}, "
                  f"q={f['q_value']:.2g}, n={f['trials']} -> ticket {f['ticket_id']}")
    for t in outcome.opened_tickets:
        out.print(f"  opened ticket {t}")
    for t in outcome.updated_tickets:
        out.print(f"  added evidence to open ticket {t}")


@app.command()
def report(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="Period of a stored analysis run (e.g. 2025Q3)."),
    formats: str = typer.Option("html,json", "--format", help="Comma-separated: html, json."),
    out_dir: Path = typer.Option(Path("reports-out"), "--out", help="Output folder."),
) -> None:
    """Write the report of the newest analysis run of a device and period."""
    application = _app()
    files = write_report(device, Period.parse(period).label, formats=[f.strip() for f in formats.split(",") if f.strip()],
                         out_dir=out_dir, uow=application.uow, clock=application.clock,
                         actor=application.settings.actor, render_html=application.render_html)
    for fmt, path in files.files.items():
        out.print(f"{fmt}: {path} (sha256 {files.sha256[fmt][:12]})")


# tickets -----------------------------------------------------------------------------------
@tickets_app.command("list")
def tickets_list(
    device: Optional[str] = typer.Option(None, "--device"),
    status: Optional[str] = typer.Option(None, "--status", help="e.g. open"),
) -> None:
    """List retraining tickets."""
    application = _app()
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
    application = _app()
    tickets = list_tickets(uow=application.uow, device_id=device, status=status)
    text = tickets_as_json(tickets) if fmt == "json" else tickets_as_csv(tickets)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"{len(tickets)} tickets written to {output}")


# demo --------------------------------------------------------------------------------------
@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the demo database, logs and reports."),
    seed: int = typer.Option(20251, "--seed", help="Random seed of the synthetic deployment."),
    scale: float = typer.Option(1.0, "--scale", min=0.001, help="Fraction of the full demo volume."),
) -> None:
    """Run the whole pipeline on a synthetic lung-nodule deployment into a fresh SQLite file."""
    from monitor.entrypoints.demo import run_demo

    run_demo(out_dir=out_dir, seed=seed, scale=scale, database_url=_state.get("db"), console=out)


def main() -> None:
    """Console-script entry point: user errors become one line and exit status 2."""
    try:
        app()
    except MonitorError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
