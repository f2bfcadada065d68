"""The bulk-write forms of accepted rows (issue 20: ingest near the storage floor): the COPY text carries the
same instants as the former text rendering, and the SQLite page cache raised for a batch is put back."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import create_engine, text

from monitor.adapters.db.repositories.logs import _SQLITE_CACHE_KIB, LogRepository, _copy_text, _plain_column
from monitor.adapters.db.tables import metadata


def test_copy_text_timestamps_are_the_former_instants() -> None:
    moments = pd.Series(pd.to_datetime(["2024-07-01T08:01:50.123456789+08:00", None, "1970-01-01T00:00:00Z",
                                        "2262-04-11T00:00:00.999999Z"], utc=True, format="ISO8601"))
    frame = pd.DataFrame({"at": moments, "score": [0.1, 0.2, float("nan"), 1.0]})
    lines = _copy_text(frame, ["at", "score"], {}).decode().splitlines()
    written = [line.split(",")[0] for line in lines]
    former = _plain_column(moments, sqlite=False)  # ISO 8601 with Z, microseconds (truncated)
    assert written[1] == "" and former[1] is None  # NULL
    for new, old in zip(written, former, strict=True):
        if old is not None:
            assert pd.Timestamp(new) == pd.Timestamp(old)
    assert pd.Timestamp(written[0]) == pd.Timestamp("2024-07-01T00:01:50.123456Z")


def test_sqlite_cache_is_raised_for_a_batch_and_put_back() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        driver = conn.connection.driver_connection
        before = driver.execute("PRAGMA cache_size").fetchone()[0]
        logs = LogRepository(conn)
        batch = logs.start_batch(kind="predictions", source_name="x", source_format="csv", source_sha256="0",
                                 at=at, actor="t")
        frame = pd.DataFrame({"device_id": ["d"], "prediction_id": ["p"], "model_version": ["1"], "site_id": ["s"],
                              "predicted_at": pd.to_datetime(["2025-01-01T00:00:00Z"], utc=True), "score": [0.5],
                              "predicted_label": [1], "patient_hash": ["h" * 64], "age": [float("nan")],
                              "sex": [None], "attributes": ["{}"], "study_uid": [None], "accession_hash": [None],
                              "human_label": [None], "ai_volume_mm3": [float("nan")],
                              "reviewed_volume_mm3": [float("nan")], "row_hash": ["r" * 64]})
        logs.insert_predictions(frame, batch_id=batch, at=at)
        assert driver.execute("PRAGMA cache_size").fetchone()[0] == -_SQLITE_CACHE_KIB
        logs.finish_batch(batch, rows_total=1, accepted=1, duplicates=0, rejected=0, at=at)
        assert driver.execute("PRAGMA cache_size").fetchone()[0] == before
        assert conn.execute(text("SELECT count(*) FROM predictions")).scalar_one() == 1
