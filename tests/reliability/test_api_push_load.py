"""Concurrent HTTP pushes on loopback (both engines): ``bench/bench_api.py --push`` run small, every post
its own batch, the database holding exactly the rows acknowledged, and the audit chain intact.

The posts of one process queue for their ingest transaction in the API (``monitor/entrypoints/api/
ingest.py``) besides the database's ingestion lock; this checks that nothing is lost or merged by it. Speed
is never asserted (the time limit only stops a hung run).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import func, select


def test_concurrent_pushes_store_every_row_once_in_one_batch_per_post(within_limit: Any, bench_api: ModuleType,
                                                                       empty_database_url: str) -> None:
    """8 clients x 3 posts of 200 new records at once, timed phase by phase: every post answers 200, the
    stored count equals the rows sent (plus the warm-up post), there is one batch per post with its own
    counts, and the audit chain (one record per batch) verifies."""
    from monitor.adapters.db.tables import ingestion_batches, predictions
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.audit import verify_audit
    from monitor.settings import Settings

    args = argparse.Namespace(clients=8, posts_per_client=3, rows=200, phases=True, sample=True)
    figures = within_limit(lambda: bench_api.bench_push(empty_database_url, args))
    print(figures)
    assert figures["count_matches"] is True
    assert figures["rows_accepted"] == figures["rows_sent"] == 8 * 3 * 200
    assert figures["phases"]["service total (ingest_predictions)"]["calls"] == 24
    app = bootstrap(Settings(database_url=empty_database_url, data_dir=Path("."), patient_id_key="k" * 32))
    try:
        with app.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 25 * 200
            batches = conn.execute(select(ingestion_batches.c.accepted, ingestion_batches.c.rows_total)).all()
        assert sorted(batches) == [(200, 200)] * 25
        report = verify_audit(uow=app.uow)
        assert report.broken is None
    finally:
        app.engine.dispose()
