"""Concurrency: two processes ingesting one file, an analysis during an ingest, readers during a write.

The writer is a child process (``driver.py``) paused inside its open transaction, so that the overlap
is certain rather than a matter of timing.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reliability_support import CHUNK_ROWS, PATIENT_KEY, PREDICTION_ROWS, counts  # type: ignore[import-not-found]


def _services(url: str):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    return bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))


def test_same_file_from_two_processes_at_once(registered_url: str, scenario_logs: tuple[Path, Path], spawn) -> None:  # type: ignore[no-untyped-def]
    """The second process waits for the first one's transaction; one batch accepts every row, the other
    reports every row as a duplicate; the stored rows are the file's rows (never a constraint error)."""
    predictions, _ = scenario_logs
    first = spawn("ingest", registered_url, predictions, CHUNK_ROWS, "commit")
    first.wait_for("paused commit")  # every row written, not committed
    second = spawn("ingest", registered_url, predictions, CHUNK_ROWS)
    second.wait_for("ready")
    time.sleep(1.0)  # the second one is now inside ingest_predictions, waiting for the first's lock
    assert second.process.poll() is None
    first.resume()
    summaries = [json.loads(child.finish()[-1]) for child in (first, second)]
    assert [(s["accepted"], s["duplicates"], s["rejected"]) for s in summaries] == \
        [(PREDICTION_ROWS, 0, 0), (0, PREDICTION_ROWS, 0)]
    stored = counts(registered_url)
    assert stored["predictions"] + stored["prediction_failures"] == PREDICTION_ROWS
    assert stored["ingestion_batches"] == 2


def _period_counts(app, cutoff: datetime) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period

    document = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                              cutoff=cutoff).document
    return {"total": document["completeness"]["total"], "counts": document["counts"],
            "fingerprint": document["input_fingerprint"]}


def test_analysis_during_an_ingest_sees_a_consistent_cutoff(registered_url: str, scenario_logs: tuple[Path, Path],
                                                            spawn) -> None:  # type: ignore[no-untyped-def]
    """An analysis while another process's ingest transaction is open counts what a re-run with the same
    cut-off counts after the ingest has committed."""
    writer = spawn("ingest", registered_url, scenario_logs[0], CHUNK_ROWS, "chunk")
    writer.wait_for("paused chunk")  # the ingest transaction is open, with a first chunk written
    cutoff = datetime.now(UTC)
    app = _services(registered_url)
    during: dict[str, object] = {}
    analysis = threading.Thread(target=lambda: during.update(_period_counts(app, cutoff)))
    try:
        analysis.start()  # reads now; its own writes wait for the ingest's commit (write lock / audit chain)
        time.sleep(1.0)
        for _ in range(PREDICTION_ROWS // CHUNK_ROWS - 1):
            writer.resume()
            writer.wait_for("paused chunk")
        writer.resume()
        writer.finish()
        analysis.join(timeout=120)
        after = _period_counts(app, cutoff)
    finally:
        app.engine.dispose()
    assert during == after


def test_analysis_after_an_ingest_is_reproducible(registered_url: str, scenario_logs: tuple[Path, Path]) -> None:
    """The guarantee that does hold: once the ingest has committed, any cut-off is reproducible (a later
    ingest does not change the counts of an earlier cut-off)."""
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions

    app = _services(registered_url)
    try:
        ingest_predictions(app.open_log(scenario_logs[0]), source="p.csv", uow=app.uow,
                           hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
        time.sleep(0.01)
        cutoff = datetime.now(UTC)
        time.sleep(0.01)
        first = _period_counts(app, cutoff)
        ingest_ground_truth(app.open_log(scenario_logs[1]), source="g.csv", uow=app.uow, clock=app.clock, actor="t")
        again = _period_counts(app, cutoff)
        later = _period_counts(app, datetime.now(UTC) + timedelta(seconds=1))
    finally:
        app.engine.dispose()
    assert first == again
    assert first["total"]["predictions"] == PREDICTION_ROWS  # type: ignore[index]
    assert later["total"]["with_ground_truth"] > first["total"]["with_ground_truth"]  # type: ignore[index]


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_sqlite_readers_never_fail_while_a_writer_ingests(registered_url: str, scenario_logs: tuple[Path, Path],
                                                          spawn) -> None:  # type: ignore[no-untyped-def]
    """SQLite in WAL mode with a busy timeout: four reader threads query continuously while another process
    holds the write transaction and then commits; no read fails and each sees 0 or all rows, never a part."""
    app = _services(registered_url)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        from sqlalchemy import text

        while not stop.is_set():
            try:
                with app.uow() as unit:
                    seen.append(int(unit.connection.execute(text("SELECT count(*) FROM predictions")).scalar_one()))
            except BaseException as exc:  # noqa: BLE001  (any failure of a reader is the finding)
                errors.append(exc)
                return

    writer = spawn("ingest", registered_url, scenario_logs[0], CHUNK_ROWS, "chunk")
    threads = [threading.Thread(target=read) for _ in range(4)]
    try:
        writer.wait_for("paused chunk")
        for thread in threads:
            thread.start()
        for _ in range(PREDICTION_ROWS // CHUNK_ROWS - 1):  # the writer holds the lock across every chunk
            writer.resume()
            writer.wait_for("paused chunk")
        writer.resume()
        writer.finish()
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        app.engine.dispose()
    assert not errors, errors
    stored = counts(registered_url)["predictions"]
    assert stored > 0 and len(seen) > 10
    assert set(seen) <= {0, stored} and seen[-1] == stored
