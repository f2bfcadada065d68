"""``samd-monitor demo``: the whole pipeline on a seeded synthetic lung-nodule deployment.

Generates five quarters of prediction logs and the ground truth that has arrived by
the scenario's as-of date, creates a fresh SQLite database (or uses ``--db``), registers
the example device, replays the logs as monthly deliveries (CSV files, each ingested at the
end of its month on a simulated clock, so that every case is dated by when it became known),
analyses every quarter with the as-of date as data cut-off, writes the last quarter's report
(PDF and HTML in English and Chinese, JSON, CSV and XLSX annexes) and its submission
archive (verified), and creates demo users for the dashboard.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.engine import make_engine, upgrade
from monitor.domain.periods import Period
from monitor.entrypoints.bootstrap import App, bootstrap, simulated_clock
from monitor.resources import resource_path
from monitor.service.access import create_user
from monitor.service.analyze import analyze_period
from monitor.service.cells import refresh_cells
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.service.report import write_report
from monitor.service.safety_events import ingest_safety_events
from monitor.service.submission import export_submission, verify_submission
from monitor.settings import load_settings
from monitor.synthetic import DemoScenario, generate, write_csv
from monitor.synthetic.deliveries import monthly_deliveries
from monitor.synthetic.safety_events import generate_safety_events

__all__ = ["EXAMPLE_CONFIG", "DemoRun", "analyse_demo", "run_demo"]

EXAMPLE_CONFIG = resource_path("examples", "lung-nodule-ct.yaml")
DEMO_PASSWORD = "demo-password"  # the synthetic demo database only; real users choose their own
DEMO_USERS = (("qa.demo", "QA engineer (demo)", "qa"), ("auditor.demo", "Auditor (demo)", "auditor"))
#: The named user the demo acts as (ingestion, analysis, report, export): never the OS account.
DEMO_ANALYST = ("analyst.demo", "Data analyst (demo)", "qa")


@dataclass
class DemoRun:
    """The demo's database after its ingest and quarterly analyses: the application, the device, the actor,
    the last quarter's analysis document and the tickets the analyses opened."""

    app: App
    device_id: str
    quarter: str
    database_url: str
    actor: str
    run_id: str
    document: dict[str, Any]
    opened: list[str] = field(default_factory=list)


def run_demo(*, out_dir: Path, seed: int, scale: float, database_url: str | None, console: Console) -> dict[str, object]:
    """Run the demo; return the paths and ids it produced."""
    started = time.perf_counter()
    run = analyse_demo(out_dir=out_dir, seed=seed, scale=scale, database_url=database_url, console=console)
    app, actor, reports_dir = run.app, run.actor, out_dir / "reports"
    files = write_report(run.device_id, run.quarter,
                         formats=["html", "pdf", "json", "csv", "xlsx", "evidently"], languages=["en", "zh-CN"],
                         out_dir=reports_dir, uow=app.uow, clock=app.clock, actor=actor,
                         renderer=app.report_renderer)
    console.print(f"report {files.report_id} (revision {files.revision}, draft):")
    for key, path in files.files.items():
        console.print(f"  {key}: {path.resolve()}")
    archive = out_dir / f"submission_{run.device_id}_{run.quarter}.zip"
    export_submission(run.device_id, run.quarter, archive, uow=app.uow, clock=app.clock, actor=actor,
                      allow_draft=True)
    checked = verify_submission(archive)
    console.print(f"submission archive (draft, unsigned): {archive.resolve()} "
                  f"({len(checked.get('files', []))} files verified)")
    console.print(f"dashboard users: {', '.join(u for u, _, _ in DEMO_USERS)} "
                  f"(password {DEMO_PASSWORD!r}, demo database only): samd-monitor --db {run.database_url} dashboard")
    console.print(f"tickets opened: {', '.join(run.opened) if run.opened else 'none'}")
    console.print(f"database: {run.database_url} ({time.perf_counter() - started:.1f} s in all)")
    return {"database_url": run.database_url, "report": files.files, "tickets": run.opened, "run_id": run.run_id}


def analyse_demo(*, out_dir: Path, seed: int, scale: float, database_url: str | None, console: Console) -> DemoRun:
    """The demo up to its analyses: generate, ingest the monthly deliveries and analyse every quarter at the
    as-of date (what :func:`run_demo` reports on)."""
    scenario = DemoScenario(seed=seed, scale=scale)
    logs_dir, reports_dir = out_dir / "logs", out_dir / "reports"
    if database_url is None:
        db_file = out_dir / "demo.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{db_file.resolve().as_posix()}"
    for folder in (reports_dir, logs_dir):
        shutil.rmtree(folder, ignore_errors=True)
    logs_dir.mkdir(parents=True, exist_ok=True)

    console.print(f"generating the synthetic deployment (seed {seed}, scale {scale:g}) ...")
    data = generate(scenario)
    deliveries = monthly_deliveries(data, until=scenario.as_of)
    console.print(f"  {len(data.predictions):,} predictions, {len(data.ground_truth):,} ground-truth rows "
                  f"({data.pending:,} still pending at {scenario.as_of.isoformat()}), "
                  f"replayed as {len(deliveries)} monthly deliveries")

    upgrade(make_engine(database_url))
    # the demo acts as its own named users (below), never as MONITOR_USER (not a user of the demo's database)
    settings = load_settings().with_database(database_url).model_copy(update={"user": None})
    clock = simulated_clock(deliveries[0].at.to_pydatetime() if deliveries else scenario.as_of.to_pydatetime())
    app = bootstrap(settings, demo=True, clock=clock)
    config = load_device_config(EXAMPLE_CONFIG)
    for user_id, name, role in (DEMO_ANALYST, *DEMO_USERS):  # the demo's named users, created by its set-up
        create_user(app.uow, user_id=user_id, display_name=name, role=role, password=DEMO_PASSWORD,
                    clock=app.clock, actor="demo-setup")
    actor = DEMO_ANALYST[0]  # the demo's analyst acts for its ingestion, analysis, report and export
    register_device(config, uow=app.uow, clock=app.clock, actor=actor, source=str(EXAMPLE_CONFIG))
    totals = {"predictions": [0, 0, 0], "ground truth": [0, 0, 0]}
    for delivery in deliveries:  # each month's logs taken in at the end of the month, as in a deployment
        clock.advance_to(delivery.at.to_pydatetime())
        month = f"{delivery.at:%Y-%m}"
        for kind, frame in (("predictions", delivery.predictions), ("ground truth", delivery.ground_truth)):
            if frame.empty:
                continue
            path = write_csv(frame, logs_dir / f"{kind.replace(' ', '_')}_{month}.csv")
            log = app.open_log(path)
            if kind == "predictions":
                summary = ingest_predictions(log, source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                                             clock=app.clock, actor=actor)
            else:
                summary = ingest_ground_truth(log, source=str(path), uow=app.uow, clock=app.clock,
                                              actor=actor, hash_patient=app.patient_hasher())
            for i, n in enumerate((summary.accepted, summary.duplicates, summary.rejected)):
                totals[kind][i] += n
    clock.advance_to(scenario.as_of.to_pydatetime())
    for kind, (accepted, duplicates, rejected) in totals.items():
        console.print(f"ingested {kind}: {accepted:,} accepted, {duplicates:,} duplicates, {rejected:,} rejected")
    events = write_csv(generate_safety_events(scenario), logs_dir / "safety_events.csv")  # report item 14
    safety = ingest_safety_events(app.open_log(events), source=str(events), uow=app.uow, clock=app.clock,
                                  actor=actor, hash_patient=app.patient_hasher(), device_id=config.device.id)
    console.print(f"ingested safety events: {safety.accepted:,} accepted, {safety.rejected:,} rejected")
    # As the service's nightly job does (`samd-monitor cells refresh`): every month counted once, before the
    # quarters are analysed at one cut-off after it, so that each analysis reads the months' aggregates
    # instead of counting the earlier quarters from the rows again (the same numbers: docs/count-cells.md).
    refreshed = refresh_cells(config.device.id, uow=app.uow, clock=app.clock, actor=actor)
    console.print(f"counted {len(refreshed['refreshed'])} months")

    cutoff = app.clock()
    opened: list[str] = []
    last = None
    for quarter in scenario.quarters:
        outcome = analyze_period(config.device.id, Period.parse(quarter), uow=app.uow, clock=app.clock,
                                 actor=actor, cutoff=cutoff)
        flagged = outcome.document["findings"]
        console.print(f"analysed {quarter}: {outcome.document['summary']['tests']} tests, {len(flagged)} flagged")
        for f in flagged:
            console.print(f"  FLAGGED {f['metric']} in {f['stratum']}: {f['estimate']:.3f} "
                          f"[{f['ci_low']:.3f}, {f['ci_high']:.3f}] vs claim {f['claim']:.3f} "
                          f"(n={f['trials']}, q={f['q_value']:.2g}) -> ticket {f['ticket_id']}")
        for a in outcome.document["sequential_alarms"]:
            first = a["first_alarm"]
            console.print(f"  CUSUM alarm: {a['metric']} in {a['stratum']} (h={a['h']:.2f}, ARL0={a['arl0']:,.0f}, "
                          f"first alarm on {first['known_on']}, case {first['case_index']} of the chart)")
        opened += outcome.opened_tickets
        last = outcome
    assert last is not None
    return DemoRun(app, config.device.id, scenario.quarters[-1], database_url, actor, last.run_id,
                   last.document, opened)
