"""``samd-monitor ingest watch DIR``: ingest log files dropped into a folder (docs/service.md)."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from monitor.entrypoints.cli._common import build_app, say
from monitor.entrypoints.cli.ingest import ingest_app
from monitor.errors import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.service.jobs import JobOutcome


def _print(outcome: JobOutcome, as_json: bool) -> None:
    if outcome.outcome == "skipped":
        say(f"skipped: {outcome.details.get('reason')} ({outcome.details.get('holder') or ''})")
        return
    if outcome.outcome == "failed":
        say(("scan failed:", "bold red"), f" {outcome.error}")
        return
    for item in outcome.details.get("files", []):
        where = f"{item['device_id']}/{item['kind']}/{item['file']}"
        if as_json:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        elif item["outcome"] == "done":
            say(f"done    {where}: batch {item['batch_id']}, {item['accepted']:,} accepted, "
                  f"{item['duplicates']:,} duplicates, {item['rejected']:,} rejected")
        else:
            say(f"{item['outcome']:<7} {where}: {item['error']}")


@ingest_app.command("watch")
def ingest_watch(
    folder: Path = typer.Argument(..., help="Drop folder: DIR/<device_id>/{predictions,ground-truth}/incoming/."),
    once: bool = typer.Option(False, "--once", help="Scan once (after one settle interval) and exit."),
    interval: float = typer.Option(10.0, "--interval", min=0.1, help="Seconds between scans."),
    settle: float = typer.Option(2.0, "--settle", min=0.0,
                                 help="With --once: seconds between the two looks that tell a finished file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per processed file, one per line "
                                                      "(a stream: JSON Lines)."),
) -> None:
    """Ingest complete files dropped into FOLDER; move each to done/ or failed/ with a .result.json.

    Acts as the named user (--user / MONITOR_USER) when one is given, else as the service account
    service:drop-folder (registered on first use).
    """
    from monitor.adapters.files.drop_folder import LocalDropFiles
    from monitor.service.drop_folder import DropWatcher

    from monitor.service.actors import service_account

    application = build_app()
    actor = (application.actor if application.settings.user  # a named user, else the drop folder's service account
             else service_account(application.uow, "service:drop-folder", clock=application.clock))
    watcher = DropWatcher(folder, uow=application.uow, open_log=application.open_log,
                          hasher=application.patient_hasher, clock=application.clock, actor=actor,
                          files=LocalDropFiles())
    host = socket.gethostname()
    lease = application.settings.service.job_lease_seconds
    watcher.ready()  # first look: sizes to compare against at the next scan
    while True:
        time.sleep(settle if once else interval)
        if once:
            _print(watcher.run(host=host, lease=lease), as_json)
            return
        try:
            _print(watcher.run(host=host, lease=lease), as_json)
        except StorageError as exc:  # the database is down: the files wait in incoming/, the next scan retries
            say(("scan failed:", "bold red"), f" {exc} (retrying in {interval:g} s)")
