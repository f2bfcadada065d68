"""``samd-monitor analyze`` and ``samd-monitor report``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from monitor.domain.periods import Period
from monitor.entrypoints.cli._common import app, build_app, out
from monitor.errors import InputError
from monitor.service.analyze import analyze_period
from monitor.service.report import write_report


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
    application = build_app()
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
    application = build_app()
    files = write_report(device, Period.parse(period).label, formats=[f.strip() for f in formats.split(",") if f.strip()],
                         out_dir=out_dir, uow=application.uow, clock=application.clock,
                         actor=application.settings.actor, render_html=application.render_html)
    for fmt, path in files.files.items():
        out.print(f"{fmt}: {path} (sha256 {files.sha256[fmt][:12]})")
