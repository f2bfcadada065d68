"""The drop folder on SQLite and PostgreSQL: half-written files are never read, complete ones are ingested
once and moved with a sidecar, bad ones go to failed/ with the reason, and a crash is retried without
counting anything twice."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from sqlalchemy import func, select

from monitor.adapters.db.tables import ingestion_batches, predictions
from monitor.adapters.files.drop_folder import LocalDropFiles
from monitor.service.drop_folder import DropWatcher, prune_done
from monitor.service.ingest import ingest_predictions
from monitor.synthetic import DemoScenario, generate, write_csv

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = DemoScenario(seed=3, scale=0.0005, quarters=("2025Q3",), drift_quarter=None)
DEVICE = "lung-nodule-ct"


def _validator() -> Draft202012Validator:
    schemas = [json.loads(p.read_text()) for p in (ROOT / "schemas").glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    schema = next(s for s in schemas if s["$id"].endswith("/drop_result.schema.json"))
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


@pytest.fixture
def data():  # type: ignore[no-untyped-def]
    return generate(SCENARIO)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    root = tmp_path / "drop"
    for kind in ("predictions", "ground-truth"):
        (root / DEVICE / kind / "incoming").mkdir(parents=True)
    return root


@pytest.fixture
def watcher(app, drop: Path) -> DropWatcher:  # type: ignore[no-untyped-def]
    return DropWatcher(drop, uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher, clock=app.clock,
                       actor="system:drop-folder", files=LocalDropFiles())


def _count(app: Any, table: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _folder(drop: Path, kind: str, state: str) -> Path:
    return drop / DEVICE / kind / state


def _sidecar(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".result.json").read_text(encoding="utf-8"))


def test_partial_file_is_ignored_and_renamed_file_is_ingested(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    incoming = _folder(drop, "predictions", "incoming")
    part = write_csv(data.predictions, incoming / "batch-1.csv.part")
    (incoming / ".hidden.csv").write_text("x", encoding="utf-8")
    assert watcher.scan() == [] and watcher.scan() == []  # never complete: never claimed
    assert part.exists() and _count(app, predictions) == 0
    part.rename(incoming / "batch-1.csv")  # the producer's atomic rename
    assert watcher.scan() == []  # seen once: maybe still being written
    [result] = watcher.scan()  # unchanged since the previous scan: complete
    assert result.outcome == "done" and result.batch["accepted"] == len(data.predictions)
    assert _count(app, predictions) == len(data.predictions)
    done = list(_folder(drop, "predictions", "done").glob("*_batch-1.csv"))
    assert len(done) == 1 and result.path == done[0]
    assert not any(_folder(drop, "predictions", "processing").iterdir()) and not (incoming / "batch-1.csv").exists()
    sidecar = _sidecar(done[0])
    _validator().validate(sidecar)
    assert sidecar["outcome"] == "done" and sidecar["batch"]["batch_id"] == result.batch["batch_id"]
    finished = datetime.fromisoformat(sidecar["finished_at"].replace("Z", "+00:00")).timestamp()
    assert done[0].stat().st_mtime == pytest.approx(finished)  # done/ retention counts from the move
    with app.engine.connect() as conn:
        source = conn.execute(select(ingestion_batches.c.source_name)).scalar_one()
    assert source == str(done[0])  # the batch points at where the file now lives


def test_ready_marker_takes_a_file_at_once(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    incoming = _folder(drop, "ground-truth", "incoming")
    write_csv(data.predictions, _folder(drop, "predictions", "incoming") / "p.csv")
    write_csv(data.ground_truth, incoming / "g.csv")
    (incoming / "g.csv.ready").touch()
    [truth] = watcher.scan()  # the marked file now; the unmarked prediction file only at the next scan
    [preds] = watcher.scan()
    assert (truth.kind, preds.kind) == ("ground-truth", "predictions")
    assert not (incoming / "g.csv.ready").exists()
    # The ground-truth file arrived before its predictions: whatever became of its rows, the file was ingested.
    assert truth.outcome == "done" and truth.batch["rows"] == len(data.ground_truth)


def test_bad_files_go_to_failed_with_the_reason(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    incoming = _folder(drop, "predictions", "incoming")
    (incoming / "no-columns.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (incoming / "notes.xlsx").write_bytes(b"PK\x03\x04")
    other = data.predictions.assign(device_id=["other-device"] * len(data.predictions))
    write_csv(other, incoming / "wrong-device.csv")
    stranger = drop / "unknown-device" / "predictions" / "incoming"
    stranger.mkdir(parents=True)
    write_csv(data.predictions, stranger / "p.csv")
    for path in [*incoming.iterdir(), stranger / "p.csv"]:
        path.with_name(path.name + ".ready").touch()
    results = {r.name.split("_", 1)[1]: r for r in watcher.scan()}
    assert {r.outcome for r in results.values()} == {"failed"}
    assert "missing required column(s)" in results["no-columns.csv"].error
    assert "unknown log format" in results["notes.xlsx"].error
    assert "row 1 is for another device than 'lung-nodule-ct'" in results["wrong-device.csv"].error
    assert "other-device" not in results["wrong-device.csv"].error  # a data value is never echoed
    assert "'unknown-device' (the folder name) is not registered" in results["p.csv"].error
    assert _count(app, predictions) == 0 and _count(app, ingestion_batches) == 0
    validator = _validator()
    for result in results.values():
        assert result.path.parent.name == "failed" and result.path.exists()
        sidecar = _sidecar(result.path)
        validator.validate(sidecar)
        assert sidecar["error"] == result.error and sidecar["batch"] is None


def test_crash_in_processing_is_retried_without_doubling(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    processing = _folder(drop, "predictions", "processing")
    processing.mkdir()
    # A watcher that died after its transaction committed but before it moved the file ...
    committed = write_csv(data.predictions, processing / "20260101T000000000000Z_a.csv")
    ingest_predictions(app.open_log(committed), source="a.csv", uow=app.uow, hash_patient=app.patient_hasher(),
                       clock=app.clock, actor="t")
    # ... and one that died mid-file (its transaction rolled back: nothing stored).
    half = data.predictions.iloc[: len(data.predictions) // 2].assign(
        prediction_id=lambda f: "other-" + f["prediction_id"])
    write_csv(half, processing / "20260101T000000000001Z_b.csv")
    stored = _count(app, predictions)
    results = sorted(watcher.scan(), key=lambda r: r.name)  # the next scan retries both
    assert [r.outcome for r in results] == ["done", "done"]
    assert results[0].batch["duplicates"] == len(data.predictions) and results[0].batch["accepted"] == 0
    assert results[1].batch["accepted"] == len(half)
    assert _count(app, predictions) == stored + len(half)
    assert not any(processing.iterdir())


def test_claimed_file_vanishing_to_another_watcher_is_skipped(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    incoming = _folder(drop, "predictions", "incoming")
    path = write_csv(data.predictions, incoming / "p.csv")
    watcher.scan()
    rival = DropWatcher(drop, uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher, clock=app.clock,
                        actor="t", files=LocalDropFiles())
    rival.scan()
    [won] = rival.scan()
    assert won.outcome == "done" and not path.exists()
    assert watcher.scan() == []  # the file is gone from incoming/: nothing to claim, nothing read twice
    assert _count(app, predictions) == len(data.predictions)


def test_scan_runs_under_the_folder_lease(app, drop, watcher, data) -> None:  # type: ignore[no-untyped-def]
    write_csv(data.predictions, _folder(drop, "predictions", "incoming") / "p.csv")
    (_folder(drop, "predictions", "incoming") / "p.csv.ready").touch()
    with app.uow() as unit:
        now = app.clock()
        unit.jobs.acquire(watcher.job_key(), holder="service", now=now, expires=now.replace(year=now.year + 1))
    busy = watcher.run(host="h")
    assert busy.outcome == "skipped" and _count(app, predictions) == 0
    with app.uow() as unit:
        unit.jobs.release(watcher.job_key(), holder="service")
    done = watcher.run(host="h")
    assert done.outcome == "succeeded" and [f["outcome"] for f in done.details["files"]] == ["done"]
    assert _count(app, predictions) == len(data.predictions)


def test_prune_done_keeps_failed_and_recent_files(drop) -> None:  # type: ignore[no-untyped-def]
    done, failed = _folder(drop, "predictions", "done"), _folder(drop, "predictions", "failed")
    done.mkdir()
    failed.mkdir()
    old, recent, bad = done / "old.csv", done / "new.csv", failed / "bad.csv"
    for path in (old, recent, bad):
        path.write_text("x", encoding="utf-8")
        path.with_name(path.name + ".result.json").write_text("{}", encoding="utf-8")
    stamp = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    for path in (old, old.with_name("old.csv.result.json"), bad):
        os.utime(path, (stamp, stamp))
    assert prune_done(LocalDropFiles(), drop, before=datetime(2025, 6, 1, tzinfo=timezone.utc)) == 1
    assert not old.exists() and not old.with_name("old.csv.result.json").exists()
    assert recent.exists() and bad.exists()


class _Stop(Exception):
    pass


def test_ingest_watch_survives_a_database_outage_and_prints_names_as_text(app, drop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from monitor.entrypoints.cli import app as cli
    from monitor.entrypoints.cli import watch
    from monitor.errors import StorageError
    from monitor.service.drop_folder import DropWatcher
    from monitor.service.jobs import JobOutcome

    marked = {"file": "[/bold]x\\", "device_id": DEVICE, "kind": "predictions", "outcome": "failed",
              "path": "p", "error": "unknown log format [red]"}
    scans = iter([StorageError("the database is unavailable"), JobOutcome(1, "succeeded", {"files": [marked]}),
                  _Stop()])

    def run(self, **_):  # type: ignore[no-untyped-def]
        step = next(scans)
        if isinstance(step, Exception):
            raise step
        return step

    monkeypatch.setattr(DropWatcher, "run", run)
    monkeypatch.setattr(watch.time, "sleep", lambda _s: None)
    monkeypatch.setenv("MONITOR_DATABASE_URL", app.settings.database_url)
    result = CliRunner().invoke(cli, ["ingest", "watch", str(drop), "--interval", "1"])
    assert isinstance(result.exception, _Stop), result.output  # it kept watching until stopped
    assert "scan failed: the database is unavailable (retrying in 1 s)" in result.output
    assert "[/bold]x\\: unknown log format [red]" in result.output  # as it is: no markup, the backslash not doubled
