"""Bad input not covered by test_ingest_predictions.py: truncated files, other encodings, ground-truth labels,
and the same file sent concurrently by two processes (both engines)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.tables import ingestion_batches, predictions, rejected_rows
from monitor.entrypoints.bootstrap import bootstrap
from monitor.errors import InputError
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.settings import Settings

HEADER = "prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age\n"
LINE = "{},lung-nodule-ct,2.1.0,SH-01,2025-08-01T09:15:00+08:00,0.5,1,PAT-{},67\n"
KEY = "integration-test-key-0123456789"


def ingest(app: Any, path: Path) -> Any:
    return ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest")


def count(app: Any, table: Any) -> int:
    with app.uow() as unit:
        return int(unit.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_truncated_last_line(app: Any, tmp_path: Path) -> None:
    """A transfer cut mid-row: the partial row is rejected with what is missing; the rest goes in."""
    cut = tmp_path / "cut.csv"
    cut.write_text(HEADER + LINE.format("T1", 1) + "T2,lung-nodule-ct,2.1.0,SH-01,2025-08-01T09:1")
    summary = ingest(app, cut)
    assert (summary.rows, summary.accepted, summary.rejected) == (2, 1, 1)
    with app.uow() as unit:
        rejected = unit.logs.rejections(batch_id=summary.batch_id)[0]
    assert (rejected["row_number"], rejected["record_id"]) == (2, "T2")
    assert rejected["reason"].split("; ") == [
        "patient_id is missing", "predicted_at has no UTC offset (write e.g. "
        "2025-08-01T09:15:00+08:00)", "score is missing", "predicted_label is missing"]


def test_cut_inside_a_quoted_field(app: Any, tmp_path: Path) -> None:
    """A file ending inside a quoted field: the partial row is rejected, not silently completed."""
    cut = tmp_path / "cut.csv"
    cut.write_text(HEADER + LINE.format("Q1", 1) + 'Q2,lung-nodule-ct,"2.1.0')
    summary = ingest(app, cut)
    assert (summary.rows, summary.accepted, summary.rejected) == (2, 1, 1)
    assert summary.reasons["missing_site_id"] == 1
    assert count(app, predictions) == 1


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "latin-1"])
def test_files_that_are_not_utf8_store_nothing(app: Any, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes((HEADER.replace("age", "年龄" if encoding == "gb18030" else "âge") + LINE.format("E1", 1))
                     .encode(encoding))
    with pytest.raises(InputError, match="not UTF-8 text"):
        ingest(app, path)
    assert count(app, ingestion_batches) == 0


def test_ground_truth_labels_other_than_0_or_1(app: Any, tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("prediction_id,device_id,label,confirmed_at,source\n" + "".join(
        f"G{i},lung-nodule-ct,{label},2025-09-01T10:00:00+08:00,follow_up\n"
        for i, label in enumerate(["1", "0", "2", "yes", "-1", "", "NaN", "1.0"])))
    summary = ingest_ground_truth(app.open_log(path), source="g.csv", uow=app.uow, clock=app.clock, actor="pytest")
    assert (summary.accepted, summary.rejected) == (3, 5)
    assert dict(summary.reasons) == {"invalid_label": 3, "missing_label": 2}
    assert count(app, rejected_rows) == 5


def test_the_same_file_sent_concurrently_by_two_processes(app: Any, database_url: str, tmp_path: Path) -> None:
    """Two workers (own engines) ingest one file at once: one batch accepts it, the other finds duplicates."""
    path = tmp_path / "same.csv"
    path.write_text(HEADER + "".join(LINE.format(f"S{i:03d}", i) for i in range(300)))
    workers = [bootstrap(Settings(database_url=database_url, data_dir=tmp_path, patient_id_key=KEY),
                         clock=app.clock) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def send(worker: Any) -> None:
        try:
            log = worker.open_log(path)
            start.wait()
            outcomes.append(ingest_predictions(log, source=path.name, uow=worker.uow,
                                               hash_patient=worker.patient_hasher(), clock=worker.clock,
                                               actor=f"w{workers.index(worker)}", chunk_rows=50))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for w in workers:
        w.engine.dispose()
    assert errors == []
    assert sorted((o.accepted, o.duplicates, o.rejected) for o in outcomes) == [(0, 300, 0), (300, 0, 0)]
    assert count(app, predictions) == 300 and count(app, ingestion_batches) == 2
