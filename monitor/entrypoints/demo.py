"""``samd-monitor demo``: the whole pipeline on a seeded synthetic lung-nodule deployment.

Generates five quarters of prediction logs and the ground truth that has arrived by
the scenario's as-of date, writes them as CSV files, creates a fresh SQLite database
(or uses ``--db``), registers the example device, ingests everything, analyses every
quarter with the as-of date as data cut-off, writes the last quarter's report
(PDF and HTML in English and Chinese, JSON, CSV and XLSX annexes) and its submission
archive (verified), and creates demo users for the dashboard.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.engine import make_engine, upgrade
from monitor.domain.periods import Period
from monitor.entrypoints.bootstrap import bootstrap, simulated_clock
from monitor.service.access import create_user
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.service.report import write_report
from monitor.service.submission import export_submission, verify_submission
from monitor.settings import load_settings
from monitor.synthetic import DemoScenario, generate, write_csv

__all__ = ["EXAMPLE_CONFIG", "run_demo"]

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "lung-nodule-ct.yaml"
DEMO_PASSWORD = "demo-password"  # the synthetic demo database only; real users choose their own
DEMO_USERS = (("qa.demo", "QA engineer (demo)", "qa"), ("auditor.demo", "Auditor (demo)", "auditor"))


def run_demo(*, out_dir: Path, seed: int, scale: float, database_url: str | None, console: Console) -> dict[str, object]:
    """Run the demo; return the paths and ids it produced."""
    started = time.perf_counter()
    scenario = DemoScenario(seed=seed, scale=scale)
    logs_dir, reports_dir = out_dir / "logs", out_dir / "reports"
    if database_url is None:
        db_file = out_dir / "demo.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{db_file.resolve().as_posix()}"
    shutil.rmtree(reports_dir, ignore_errors=True)
    logs_dir.mkdir(parents=True, exist_ok=True)

    console.print(f"generating the synthetic deployment (seed {seed}, scale {scale:g}) ...")
    data = generate(scenario)
    predictions_file = write_csv(data.predictions, logs_dir / "predictions.csv")
    truth_file = write_csv(data.ground_truth, logs_dir / "ground_truth.csv")
    console.print(f"  {len(data.predictions):,} predictions, {len(data.ground_truth):,} ground-truth rows "
                  f"({data.pending:,} still pending at {scenario.as_of.isoformat()})")

    upgrade(make_engine(database_url))
    settings = load_settings().with_database(database_url)
    app = bootstrap(settings, demo=True, clock=simulated_clock(scenario.as_of.to_pydatetime()))
    config = load_device_config(EXAMPLE_CONFIG)
    register_device(config, uow=app.uow, clock=app.clock, actor=settings.actor, source=str(EXAMPLE_CONFIG))
    for kind, path in (("predictions", predictions_file), ("ground truth", truth_file)):
        log = app.open_log(path)
        if kind == "predictions":
            summary = ingest_predictions(log, source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                                         clock=app.clock, actor=settings.actor)
        else:
            summary = ingest_ground_truth(log, source=str(path), uow=app.uow, clock=app.clock, actor=settings.actor,
                                          hash_patient=app.patient_hasher())
        console.print(f"ingested {kind}: {summary.accepted:,} accepted, {summary.duplicates:,} duplicates, "
                      f"{summary.rejected:,} rejected")

    cutoff = app.clock()
    opened: list[str] = []
    last = None
    for quarter in scenario.quarters:
        outcome = analyze_period(config.device.id, Period.parse(quarter), uow=app.uow, clock=app.clock,
                                 actor=settings.actor, cutoff=cutoff)
        flagged = outcome.document["findings"]
        console.print(f"analysed {quarter}: {outcome.document['summary']['tests']} tests, {len(flagged)} flagged")
        for f in flagged:
            console.print(f"  FLAGGED {f['metric']} in {f['stratum']}: {f['estimate']:.3f} "
                          f"[{f['ci_low']:.3f}, {f['ci_high']:.3f}] vs claim {f['claim']:.3f} "
                          f"(n={f['trials']}, q={f['q_value']:.2g}) -> ticket {f['ticket_id']}")
        for a in outcome.document["sequential_alarms"]:
            console.print(f"  CUSUM alarm: {a['metric']} in {a['stratum']} (h={a['h']:.2f}, ARL0={a['arl0']:,.0f}, "
                          f"first alarm at case {a['first_alarm_case_in_period']} of the period)")
        opened += outcome.opened_tickets
        last = outcome
    assert last is not None
    files = write_report(config.device.id, scenario.quarters[-1], formats=["html", "pdf", "json", "csv", "xlsx"],
                         languages=["en", "zh-CN"], out_dir=reports_dir, uow=app.uow, clock=app.clock,
                         actor=settings.actor, renderer=app.report_renderer)
    console.print(f"report {files.report_id} (revision {files.revision}, draft):")
    for key, path in files.files.items():
        console.print(f"  {key}: {path.resolve()}")
    archive = out_dir / f"submission_{config.device.id}_{scenario.quarters[-1]}.zip"
    export_submission(config.device.id, scenario.quarters[-1], archive, uow=app.uow, allow_draft=True)
    checked = verify_submission(archive)
    console.print(f"submission archive (draft, unsigned): {archive.resolve()} "
                  f"({len(checked.get('files', []))} files verified)")
    for user_id, name, role in DEMO_USERS:
        create_user(app.uow, user_id=user_id, display_name=name, role=role, password=DEMO_PASSWORD,
                    clock=app.clock, actor=settings.actor)
    console.print(f"dashboard users: {', '.join(u for u, _, _ in DEMO_USERS)} "
                  f"(password {DEMO_PASSWORD!r}, demo database only): make dashboard")
    console.print(f"tickets opened: {', '.join(opened) if opened else 'none'}")
    console.print(f"database: {database_url} ({time.perf_counter() - started:.1f} s in all)")
    return {"database_url": database_url, "report": files.files, "tickets": opened, "run_id": last.run_id}
