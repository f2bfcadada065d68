"""Analyse the full demo's 2025Q3 twice at one cut-off on a copy of a demo database, for before/after runs.

Usage::

    .venv/bin/python bench/bench_demo_rerun.py --demo-db DEMO.sqlite [--copy /tmp/rerun.sqlite] [--runs 2]
        [--document out.json]

``DEMO.sqlite`` is what ``samd-monitor demo --out-dir DIR`` leaves in ``DIR/demo.sqlite`` (1.5 million
predictions). The database is copied (the demo's is not changed), every month of the device refreshed
(``refresh_cells``), then 2025Q3 analysed ``--runs`` times on a clock that stands still one hour after the
demo's as-of instant: the refresh and every run share one cut-off, which is *now*, so every run reads the
months. Prints each run's wall time; ``--document`` writes the runs' analysis documents without ids and
timings, to compare two versions of the code (identical files: identical results). Figures are printed,
never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

_VOLATILE = {"run_id", "created_at", "timings", "duration_seconds", "ticket_id", "finding_id"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-db", type=Path, required=True)
    parser.add_argument("--copy", type=Path, default=Path("/tmp/bench-demo-rerun.sqlite"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--document", type=Path)
    args = parser.parse_args()

    from monitor.domain.periods import Period
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.analyze import analyze_period
    from monitor.service.cells import refresh_cells
    from monitor.settings import Settings
    from monitor.synthetic import DemoScenario

    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.copy}{suffix}").unlink(missing_ok=True)
    shutil.copy(args.demo_db, args.copy)
    now = DemoScenario(seed=20251).as_of.to_pydatetime() + timedelta(hours=1)
    app = bootstrap(Settings(database_url=f"sqlite:///{args.copy}", data_dir=args.copy.parent,
                             patient_id_key="bench-patient-key-0123456789abcdef"), clock=lambda: now)
    started = time.perf_counter()
    refreshed = refresh_cells("lung-nodule-ct", uow=app.uow, clock=app.clock, actor="bench")["refreshed"]
    print(f"refreshed {len(refreshed)} months in {time.perf_counter() - started:.1f} s", flush=True)
    documents = []
    for run in range(args.runs):
        started = time.perf_counter()
        outcome = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="bench")
        print(f"run {run + 1}: {time.perf_counter() - started:.2f} s", flush=True)
        documents.append(_scrub(outcome.document))
    if args.document:
        args.document.write_text(json.dumps(documents, sort_keys=True, indent=1, default=str), encoding="utf-8")
    app.engine.dispose()


if __name__ == "__main__":
    main()
