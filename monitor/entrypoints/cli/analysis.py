"""``samd-monitor analyze`` and ``samd-monitor report``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from monitor.entrypoints.cli._common import (
    DEFAULT_REPORT_FORMATS,
    REPORT_FORMATS,
    REPORT_LANGUAGES,
    app,
    build_app,
    complete_comma_list,
    emit_json,
    moment,
    say,
    split_choices,
    warn_deprecated,
    write_json_file,
)

Engine = Literal["database", "arrow", "spark", "summaries"]


@app.command()
def analyze(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30."),
    cutoff: Optional[str] = typer.Option(
        None, "--cutoff",
        help="Data cut-off, ISO-8601 with offset (default: now): counts the rows INGESTED (received) by then, not "
             "rows predicted or confirmed by then; re-running with the same cut-off reproduces a run. A cut-off "
             "that leaves no prediction of the period is an error (docs/cutoff.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole analysis document."),
    engine: Engine = typer.Option("database", "--engine",
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
    out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the analysis document (JSON) to this "
                                                                "file."),
) -> None:
    """Analyse a device over a period: stratified metrics, tests against claims, findings and tickets."""
    from monitor.domain.periods import Period

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
    from monitor.service.analyze import analyze_period

    application = build_app()
    outcome = analyze_period(device, Period.parse(period), uow=application.uow, clock=application.clock,
                             actor=application.actor, cutoff=moment(cutoff, "--cutoff"))
    if out_file is not None:
        write_json_file(out_file, outcome.document)
    if as_json:
        emit_json(outcome.document)
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
    if out_file is not None:
        say(f"  document written to {out_file}")


@app.command()
def report(
    device: str = typer.Option(..., "--device", help="Device id."),
    period: str = typer.Option(..., "--period", help="Period of a stored analysis run (e.g. 2025Q3; a year with --rollup)."),
    formats: str = typer.Option(DEFAULT_REPORT_FORMATS, "--format", autocompletion=complete_comma_list(REPORT_FORMATS),
                                help=f"Comma-separated: {', '.join(REPORT_FORMATS)}."),
    languages: str = typer.Option("en,zh-CN", "--language", autocompletion=complete_comma_list(REPORT_LANGUAGES),
                                  help="Comma-separated: en, zh-CN, both (both languages in one document)."),
    rollup: bool = typer.Option(False, "--rollup", help="Annual roll-up of the year's stored quarterly runs."),
    run_id: Optional[str] = typer.Option(None, "--run-id",
                                         help="Analysis run to report (of this device and period); default: the newest."),
    out_dir: Path = typer.Option(Path("reports-out"), "--out-dir", help="Folder to write the report files to."),
    legacy_out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Deprecated name of --out-dir."),
    reason: Optional[str] = typer.Option(None, "--reason",
                                         help="Why a new revision is made: required when the period already has "
                                              "one (the new revision supersedes it; audited)."),
) -> None:
    """Write a new draft revision of the report of a device and period (from the given or the newest analysis run).

    A second revision of the period supersedes the first and needs --reason."""
    from monitor.domain.periods import Period
    from monitor.service.report import write_report

    if legacy_out is not None:
        warn_deprecated("report --out DIR", "--out-dir DIR")
        out_dir = legacy_out
    chosen_formats = split_choices(formats, REPORT_FORMATS, "--format")
    chosen_languages = split_choices(languages, REPORT_LANGUAGES, "--language")
    application = build_app()
    files = write_report(device, Period.parse(period).label, formats=chosen_formats,
                         languages=chosen_languages, rollup=rollup,
                         run_id=run_id, out_dir=out_dir, uow=application.uow, clock=application.clock,
                         actor=application.actor, renderer=application.report_renderer, reason=reason)
    say(f"report {files.report_id} revision {files.revision} (draft), content sha256 {files.content_sha256[:12]}")
    for key, path in files.files.items():
        say(f"  {key}: {path} (sha256 {files.sha256[key][:12]})")
