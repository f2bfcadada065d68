"""Concurrent HTTP pushes on loopback (both engines): ``bench/bench_api.py --push`` run small, every post
its own batch, the database holding exactly the rows acknowledged, and the audit chain intact.

The posts of one process queue for their ingest transaction in the API (``monitor/entrypoints/api/
ingest.py``) besides the database's ingestion lock; this checks that nothing is lost or merged by it. Speed
is never asserted (the time limit only stops a hung run).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 240.0


@pytest.fixture(scope="module")
def bench_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "bench_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_api", module)
    spec.loader.exec_module(module)
    return module


def _within_limit(work: Any) -> Any:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIME_LIMIT)
    assert not thread.is_alive(), f"the load did not finish within {TIME_LIMIT:.0f} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_concurrent_pushes_store_every_row_once_in_one_batch_per_post(bench_api: ModuleType,
                                                                       empty_database_url: str) -> None:
    """8 clients x 3 posts of 200 new records at once, timed phase by phase: every post answers 200, the
    stored count equals the rows sent (plus the warm-up post), there is one batch per post with its own
    counts, and the audit chain (one record per batch) verifies."""
    from monitor.adapters.db.tables import ingestion_batches, predictions
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.audit import verify_audit
    from monitor.settings import Settings

    args = argparse.Namespace(clients=8, posts_per_client=3, rows=200, phases=True, sample=True)
    figures = _within_limit(lambda: bench_api.bench_push(empty_database_url, args))
    print(figures)
    assert figures["count_matches"] is True
    assert figures["rows_accepted"] == figures["rows_sent"] == 8 * 3 * 200
    assert figures["phases"]["service total (ingest_predictions)"]["calls"] == 24
    app = bootstrap(Settings(database_url=empty_database_url, data_dir=Path("."), patient_id_key="k" * 32,
                             actor="t"))
    try:
        with app.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 25 * 200
            batches = conn.execute(select(ingestion_batches.c.accepted, ingestion_batches.c.rows_total)).all()
        assert sorted(batches) == [(200, 200)] * 25
        report = verify_audit(uow=app.uow)
        assert report.broken is None
    finally:
        app.engine.dispose()
