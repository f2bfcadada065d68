"""Time the evidence queries of one analysis window (issue 20) on an existing database, beside their previous
formulations (the oracles of tests/integration/test_evidence_exactness.py), checking that both give the same frame.

Usage::

    .venv/bin/python bench/bench_evidence_queries.py --db sqlite:////tmp/evidence.sqlite [--period 2025Q3]
        [--cutoff 2026-01-31T15:59:59+00:00] [--config examples/lung-nodule-ct.yaml] [--repeat 2]

The database is read only (e.g. a copy of a demo database: ``samd-monitor demo``). For each query the wall
and this process's CPU seconds (SQLite runs in-process; on PostgreSQL the CPU is the client's) are printed
with the load average: figures are printed, never asserted (this is not a test). Queries:
``LabelArrivalRepository.arrival_histograms`` (every earlier case of the device) and ``final_cells``,
``PatientClusterRepository.repeated_patient_cells`` and ``ClinicalRepository.failure_counts`` (the window).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEVICE = "lung-nodule-ct"


def _oracles() -> Any:
    path = ROOT / "tests" / "integration" / "test_evidence_exactness.py"
    spec = importlib.util.spec_from_file_location("evidence_oracles", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _timed(call: Callable[[], pd.DataFrame], repeat: int) -> tuple[pd.DataFrame, float, float]:
    best_wall = best_cpu = float("inf")
    frame = pd.DataFrame()
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        frame = call()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return frame, best_wall, best_cpu


def _same(new: pd.DataFrame, old: pd.DataFrame) -> bool:
    keys = [c for c in old.columns if c not in ("n", "received", "final", "tp", "fp", "fn", "tn")]
    a = new.sort_values(keys, na_position="first").reset_index(drop=True)
    b = old.sort_values(keys, na_position="first").reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    except AssertionError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--period", default="2025Q3")
    parser.add_argument("--cutoff", default="2026-01-31T15:59:59+00:00")
    parser.add_argument("--config", default=str(ROOT / "examples" / "lung-nodule-ct.yaml"))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from sqlalchemy import create_engine

    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.repositories.clinical import ClinicalRepository
    from monitor.adapters.db.repositories.label_arrival import LabelArrivalRepository
    from monitor.adapters.db.repositories.aggregates import AggregateRepository
    from monitor.adapters.db.repositories.patient_clusters import (
        PatientClusterRepository,
    )
    from monitor.domain.periods import Period, resolve_timezone

    config = load_device_config(Path(args.config))
    attributes = config.strata.attributes
    start, end = Period.parse(args.period).bounds_utc(resolve_timezone(config.monitoring.timezone))
    cutoff = datetime.fromisoformat(args.cutoff)
    window = {"start": start, "end": end, "cutoff": cutoff}
    policy: dict[str, Any] = {"provisional_sources": list(config.labels.provisional_sources),
                              "window_days": config.monitoring.maturity_window_days}
    old = _oracles()
    engine = create_engine(args.db)
    with engine.connect() as conn, ExitStack() as stack:
        began = time.perf_counter()  # what an analysis materialises once for every section:
        materialised = stack.enter_context(AggregateRepository(conn).window_cases(DEVICE, attributes=attributes,
                                                                                   **window))
        print(f"window_cases (materialised once per analysis) {time.perf_counter() - began:7.2f} s wall")
        arrival, clinical = LabelArrivalRepository(conn), ClinicalRepository(conn)
        histograms = {"before": start, "cutoff": cutoff, "horizon_days": policy["window_days"], **policy}
        cases: list[tuple[str, Callable[[], pd.DataFrame], Callable[[], pd.DataFrame] | None]] = [
            ("arrival_histograms", lambda: arrival.arrival_histograms(DEVICE, **histograms),
             lambda: old.old_arrival_histograms(conn, DEVICE, **histograms)),
            ("final_cells", lambda: arrival.final_cells(materialised, cutoff=cutoff, **policy),
             lambda: old.old_final_cells(conn, DEVICE, attributes=attributes, **window, **policy)),
            ("repeated_patient_cells", lambda: PatientClusterRepository(conn).repeated_patient_cells(materialised),
             None),
            ("failure_counts", lambda: clinical.failure_counts(DEVICE, attributes=attributes, **window),
             lambda: old.old_failure_counts(conn, DEVICE, attributes=attributes, **window)),
        ]
        print(f"{engine.dialect.name}, {args.period}, cut-off {cutoff.isoformat()}, best of {args.repeat}")
        for name, new_call, old_call in cases:
            frame, wall, cpu = _timed(new_call, args.repeat)
            line = f"{name:24s} rows {len(frame):7d}  now {wall:7.2f} s wall {cpu:6.2f} s cpu"
            if old_call is not None:
                before, old_wall, old_cpu = _timed(old_call, args.repeat)
                line += (f" | before {old_wall:7.2f} s wall {old_cpu:6.2f} s cpu"
                         f" | {'identical' if _same(frame, before) else 'DIFFERENT'}")
            print(f"{line}  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
