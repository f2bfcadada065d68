"""``samd-monitor analyze`` and ``samd-monitor report``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from monitor.domain.periods import Period
from monitor.entrypoints.cli._common import app, build_app, moment, say
from monitor.service.analyze import analyze_period
from monitor.service.report import write_report


@app.command()
def analyze(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30."),
    cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off (default: now); re-running with the same cut-off reproduces a run."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole analysis document."),
    engine: str = typer.Option("database", "--engine",
                               help="database (ingested logs), arrow (Parquet logs counted in process), spark "
                                    "(Parquet logs in a data lake; needs the spark extra) or summaries (merged "
                                    "federated site summaries)."),
    lake_predictions: Optional[list[str]] = typer.Option(
        None, "--predictions",
        help="arrow and spark engines: Parquet prediction logs (path, folder, glob or URL); repeatable."),
    lake_ground_truth: Optional[list[str]] = typer.Option(
        None, "--ground-truth", help="arrow and spark engines: Parquet ground-truth logs; repeatable."),
    config: Optional[Path] = typer.Option(
        None, "--config",
        help="arrow and spark engines: device configuration YAML (default: the registered device's)."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="arrow, spark and summaries engines: write the "
                                                                "document to this file."),
) -> None:
    """Analyse a device over a period: stratified metrics, tests against claims, findings and tickets."""
    if engine == "summaries":
        from monitor.entrypoints.cli.site import run_summary_analysis

        run_summary_analysis(device=device, period=Period.parse(period), cutoff=moment(cutoff, "--cutoff"), out_file=out_file,
                             as_json=as_json)
        return
    if engine != "database":
        from monitor.entrypoints.cli.lake import run_lake_analysis

        run_lake_analysis(engine=engine, device=device, period=Period.parse(period), cutoff=moment(cutoff, "--cutoff"),
                          predictions=lake_predictions or [], ground_truth=lake_ground_truth or [],
                          config_file=config, out_file=out_file, as_json=as_json)
        return
    application = build_app()
    outcome = analyze_period(device, Period.parse(period), uow=application.uow, clock=application.clock,
                             actor=application.settings.actor, cutoff=moment(cutoff, "--cutoff"))
    if as_json:
        sys.stdout.write(json.dumps(outcome.document, indent=2, ensure_ascii=False) + "\n")
        return
    doc = outcome.document
    total = doc["completeness"]["total"]
    say(f"run {doc['run_id']}: {device} {doc['period']['label']}, cut-off {doc['data_cutoff']}")
    say(f"  {total['predictions']:,} predictions, {total['with_ground_truth']:,} with ground truth, "
        f"{total['awaiting_ground_truth']:,} awaiting it")
    say(f"  {doc['summary']['strata']} strata, {doc['summary']['tests']} tests, "
        f"{doc['summary']['flagged']} flagged, {doc['summary']['insufficient']} with insufficient evidence")
    for f in doc["findings"]:
        say("  ", ("FLAGGED", "bold red"), f" {f['metric']} in {f['stratum']} (model {f['model_version']}): "
            f"{f['estimate']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}] vs claim {f['claim']:.3f}, "
            f"q={f['q_value']:.2g}, n={f['trials']} -> ticket {f['ticket_id']}")
    for t in outcome.opened_tickets:
        say(f"  opened ticket {t}")
    for t in outcome.updated_tickets:
        say(f"  added evidence to open ticket {t}")


@app.command()
def report(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="Period of a stored analysis run (e.g. 2025Q3; a year with --rollup)."),
    formats: str = typer.Option("html,pdf,json,csv,xlsx", "--format",
                                help="Comma-separated: html, pdf, json, csv, xlsx."),
    languages: str = typer.Option("en,zh-CN", "--language",
                                  help="Comma-separated: en, zh-CN, both (both languages in one document)."),
    rollup: bool = typer.Option(False, "--rollup", help="Annual roll-up of the year's stored quarterly runs."),
    run_id: Optional[str] = typer.Option(None, "--run-id",
                                         help="Analysis run to report (of this device and period); default: the newest."),
    out_dir: Path = typer.Option(Path("reports-out"), "--out", help="Output folder."),
) -> None:
    """Write a new draft revision of the report of a device and period (from the given or the newest analysis run)."""
    application = build_app()
    files = write_report(device, Period.parse(period).label, formats=[f.strip() for f in formats.split(",") if f.strip()],
                         languages=[x.strip() for x in languages.split(",") if x.strip()], rollup=rollup,
                         run_id=run_id, out_dir=out_dir, uow=application.uow, clock=application.clock,
                         actor=application.settings.actor, renderer=application.report_renderer)
    say(f"report {files.report_id} revision {files.revision} (draft), content sha256 {files.content_sha256[:12]}")
    for key, path in files.files.items():
        say(f"  {key}: {path} (sha256 {files.sha256[key][:12]})")
