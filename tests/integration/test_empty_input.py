"""Empty input is an error (issue 18, item 4): a file without data rows (header only, empty NDJSON or Parquet)
or an empty DICOM SR folder "ingested" 0 rows and exited 0 before; now an InputError that stores no batch, and
the drop folder moves such a file to failed/ with the reason. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.adapters.db.tables import ingestion_batches
from monitor.adapters.files.drop_folder import LocalDropFiles
from monitor.errors import InputError
from monitor.service.drop_folder import DropWatcher
from monitor.service.ingest import ingest_ground_truth, ingest_predictions

DEVICE = "lung-nodule-ct"
PREDICTION_HEADER = ("prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,"
                     "age,sex,emphysema_grade,scanner_vendor\n")


def _batches(app: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestion_batches)).scalar_one())


def _empty_inputs(tmp_path: Path) -> dict[str, Path]:
    header_only = tmp_path / "header-only.csv"
    header_only.write_text(PREDICTION_HEADER, encoding="utf-8")
    ndjson = tmp_path / "empty.ndjson"
    ndjson.write_text("", encoding="utf-8")
    parquet = tmp_path / "empty.parquet"
    pd.DataFrame({c: pd.Series([], dtype="string") for c in PREDICTION_HEADER.strip().split(",")}).to_parquet(parquet)
    folder = tmp_path / "sr-folder"
    folder.mkdir()
    return {"csv": header_only, "ndjson": ndjson, "parquet": parquet, "dicom-sr": folder}


@pytest.mark.parametrize("kind", ["csv", "ndjson", "parquet", "dicom-sr"])
def test_ingesting_an_empty_input_is_an_error_and_stores_nothing(app, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    path = _empty_inputs(tmp_path)[kind]
    log = app.open_log.func(path, device_id=DEVICE) if kind == "dicom-sr" else app.open_log(path)
    with pytest.raises(InputError, match=r"no data rows \(an empty file, a header without rows, or an empty "
                                         r"folder\): nothing to ingest"):
        ingest_predictions(log, source=str(path), uow=app.uow, hash_patient=app.patient_hasher(), clock=app.clock,
                           actor="t")
    assert _batches(app) == 0


def test_an_empty_ground_truth_file_is_an_error(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.csv"
    path.write_text("prediction_id,device_id,label,source,confirmed_at\n", encoding="utf-8")
    with pytest.raises(InputError, match="g.csv: no data rows"):
        ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="t")
    assert _batches(app) == 0


def test_the_drop_folder_moves_an_empty_file_to_failed_with_the_reason(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    incoming = tmp_path / "drop" / DEVICE / "predictions" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "header-only.csv").write_text(PREDICTION_HEADER, encoding="utf-8")
    (incoming / "zero-bytes.csv").write_bytes(b"")
    watcher = DropWatcher(tmp_path / "drop", uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher,
                          clock=app.clock, actor="system:drop-folder", files=LocalDropFiles())
    assert watcher.scan() == []  # seen once: maybe still being written
    results = sorted(watcher.scan(), key=lambda r: r.path.name)
    assert [r.outcome for r in results] == ["failed", "failed"]
    assert "header-only.csv: no data rows" in (results[0].error or "")
    assert "zero-bytes.csv: the file is empty" in (results[1].error or "")
    assert all(r.path.parent.name == "failed" for r in results) and _batches(app) == 0
