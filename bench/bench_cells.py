"""Benchmark the analysis with count cells in place, on SQLite and PostgreSQL, against the raw row path.

Usage::

    .venv/bin/python bench/bench_cells.py [--rows 10000000] [--engines sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json results.json]

A device with the 7 stratification attributes of bench_statistics.py (age band, sex, emphysema grade,
scanner vendor, site, slice thickness, kernel; all pairwise intersections) is registered; ``--rows``
predictions of one quarter and ground truth for 92 % of them are written straight into the tables in
their stored form (bulk COPY / executemany: this benchmark is about analysis, bench_ingest.py measures
ingestion). Then, each step in its own child process (its own peak memory):

a. ``rows``: the stratified count of the quarter from rows, the query the analysis used before count
   cells (one GROUP BY over the prediction/ground-truth join);
b. ``refresh``: ``samd-monitor cells refresh`` of the quarter's months (the same GROUP BY per month,
   stored as cells): the raw aggregation path;
c. ``cells``: the stratified analysis with counts in place: the quarter's cells read and summed, then
   every metric with its interval, test, BH q-value, flag and power figures for every single stratum and
   every pairwise intersection (``evaluate_cells``).

The cell table of (c) is checked equal to (a)'s. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEVICE = "bench-7"
PERIOD = "2025Q3"
CONFIG = {
    "schema_version": 1,
    "device": {"id": DEVICE, "name": "Benchmark device", "manufacturer": "bench",
               "intended_use": "benchmark", "target_population": "adults"},
    "operating_threshold": 0.5,
    "strata": {"attributes": [
        {"name": "age_band", "column": "age", "bins": [45, 65, 75]},
        {"name": "sex", "values": ["F", "M"]},
        {"name": "emphysema_grade", "values": ["none", "mild", "moderate", "severe"]},
        {"name": "scanner_vendor", "values": ["GE", "Siemens", "Philips", "United Imaging"]},
        {"name": "site", "column": "site_id"},
        {"name": "slice_thickness", "values": ["thin", "standard", "thick"]},
        {"name": "kernel", "values": ["soft", "standard", "sharp"]},
    ], "intersections": "all_pairs", "confirmatory": ["age_band", "sex"]},
    "claims": {"sensitivity": {"value": 0.90, "margin": 0.02}, "specificity": {"value": 0.85, "margin": 0.02}},
    "monitoring": {"period": "quarter", "timezone": "Asia/Shanghai"},
}
_EXTRA = {"emphysema_grade": ["none", "mild", "moderate", "severe"],
          "scanner_vendor": ["GE", "Siemens", "Philips", "United Imaging"],
          "slice_thickness": ["thin", "standard", "thick"], "kernel": ["soft", "standard", "sharp"]}
CHUNK = 500_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _chunks(rows: int, seed: int):  # type: ignore[no-untyped-def]
    """Stored-form prediction and ground-truth rows, in chunks (numpy, vectorised)."""
    import numpy as np
    import pandas as pd

    start = pd.Timestamp("2025-06-30T16:00:00Z").value // 1000  # 2025Q3 in Asia/Shanghai, in microseconds
    span = (pd.Timestamp("2025-09-30T16:00:00Z").value // 1000) - start
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        rng = np.random.default_rng([seed, first])
        ids = np.char.add("P", np.arange(first, first + n).astype(str))
        at = pd.to_datetime(start + rng.integers(0, span, n), unit="us", utc=True)
        label = rng.random(n) < 0.08
        call = np.where(label, rng.random(n) < 0.90, rng.random(n) >= 0.85)
        extra = {k: np.array(v, dtype=object)[rng.integers(0, len(v), n)] for k, v in _EXTRA.items()}
        attributes = [json.dumps(dict(zip(_EXTRA, values, strict=True)), sort_keys=True)
                      for values in zip(*extra.values(), strict=True)]
        predictions = pd.DataFrame({
            "device_id": DEVICE, "prediction_id": ids, "model_version": "1.0.0",
            "site_id": np.array([f"S{i}" for i in range(5)], dtype=object)[rng.integers(0, 5, n)],
            "predicted_at": at, "score": np.where(call, 0.75, 0.25), "predicted_label": call.astype(int),
            "patient_hash": "0" * 64, "age": rng.integers(20, 95, n).astype(float),
            "sex": np.array(["F", "M"], dtype=object)[rng.integers(0, 2, n)], "attributes": attributes,
            "study_uid": None, "accession_hash": None, "human_label": None, "ai_volume_mm3": np.nan,
            "reviewed_volume_mm3": np.nan,
            "row_hash": "0" * 64})
        known = rng.random(n) < 0.92
        truth = pd.DataFrame({"device_id": DEVICE, "prediction_id": ids[known], "version": 1,
                              "label": label[known].astype(int), "confirmed_at": at[known] + pd.Timedelta(days=30),
                              "source": "histopathology", "row_hash": "0" * 64})
        yield predictions, truth


def _load(url: str, rows: int, seed: int) -> dict[str, float]:
    """Migrate, register the device, and bulk-load the rows in their stored form."""
    from datetime import datetime, timezone

    from sqlalchemy import text

    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.adapters.db.repositories.logs import LogRepository
    from monitor.domain.device import DeviceConfig
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    engine = make_engine(url)
    upgrade(engine)
    app = bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key="bench-key-0123456789abcdef"))
    register_device(DeviceConfig.model_validate(CONFIG), uow=app.uow, clock=app.clock, actor="bench", source="bench")
    at = datetime(2025, 12, 1, tzinfo=timezone.utc)
    started = time.perf_counter()
    with app.uow() as unit:
        batch = unit.logs.start_batch(kind="predictions", source_name="bench", source_format="csv",
                                      source_sha256="0" * 64, at=at, actor="bench")
        for predictions, truth in _chunks(rows, seed):
            unit.logs.insert_predictions(predictions, batch_id=batch, at=at)
            unit.logs._bulk_insert(__import__("monitor.adapters.db.tables", fromlist=["ground_truth"]).ground_truth,
                                   truth, ["device_id", "prediction_id", "version", "label", "confirmed_at", "source",
                                           "row_hash"], {"batch_id": batch, "ingested_at": at, "is_latest": True})
        unit.cells.mark_dirty(DEVICE, ["2025-07", "2025-08", "2025-09"])
        unit.logs.refresh_statistics()
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    return {"load_seconds": time.perf_counter() - started}


def step(args: argparse.Namespace) -> None:
    """Child process: one step; prints its figures as JSON."""
    from zoneinfo import ZoneInfo

    from monitor.domain.evaluation import evaluate_cells
    from monitor.domain.periods import Period
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.cells import refresh_cells, stratified_cells
    from monitor.settings import Settings

    if args.step == "load":
        print(json.dumps(_load(args.db, args.rows, args.seed) | {"peak_rss_mb": _peak_mb()}))
        return
    app = bootstrap(Settings(database_url=args.db, data_dir=Path("."), patient_id_key="bench-key-0123456789abcdef"))
    result: dict[str, object] = {}
    started = time.perf_counter()
    if args.step == "refresh":
        refreshed = refresh_cells(DEVICE, uow=app.uow, clock=app.clock, actor="bench")
        result["months"] = refreshed["refreshed"]
    else:
        with app.uow() as unit:
            config = unit.devices.get(DEVICE)
            start, end = Period.parse(PERIOD).bounds_utc(ZoneInfo(config.monitoring.timezone))
            now = app.clock()
            if args.step == "rows":
                cells = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=now,
                                                     attributes=config.strata.attributes)
            else:
                read = stratified_cells(unit, config, start=start, end=end, cutoff=now, now=now)
                assert read.source == "cells" and not read.refreshed, read
                cells = read.cells
                counted = time.perf_counter()
                results = evaluate_cells(cells, config)
                result["read_seconds"] = counted - started
                result["evaluate_seconds"] = time.perf_counter() - counted
                result["stratum_metrics"] = len(results)
                result["strata"] = len({r.stratum for r in results})
        cells.to_parquet(Path(args.out) / f"{args.step}.parquet")
        result["cells"] = len(cells)
        result["cases"] = int(cells[["tp", "fp", "fn", "tn"]].to_numpy().sum())
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))


def _child(*extra: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"step {extra} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench_pipeline import _postgres_database

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the databases (printed) for other benchmarks.")
    for hidden in ("--step", "--db", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args)
        return
    import pandas as pd

    figures: dict[str, object] = {"rows": args.rows, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="samd-bench-cells-") as tmp:
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            name = f"samd_bench_cells_{uuid.uuid4().hex[:8]}"
            url = (f"sqlite:///{tmp}/cells.sqlite" if engine == "sqlite"
                   else _postgres_database(args.postgres_url, True, name))
            try:
                run = {"load": _child("--step", "load", "--db", url, "--rows", str(args.rows), "--seed",
                                      str(args.seed))}
                for name_ in ("rows", "refresh", "cells"):
                    run[name_] = _child("--step", name_, "--db", url, "--out", tmp)
                    print(f"{engine:>10} {name_:<8} {json.dumps(run[name_])}", flush=True)
                same = pd.read_parquet(Path(tmp) / "rows.parquet").equals(pd.read_parquet(Path(tmp) / "cells.parquet"))
                run["cells_equal_rows"] = same
                rows_s, cells_s = float(run["rows"]["seconds"]), float(run["cells"]["seconds"])  # type: ignore[index]
                print(f"{engine:>10}: {args.rows:,} predictions; stratified analysis with counts in place "
                      f"{cells_s:.2f} s (row path count alone {rows_s:.1f} s: {rows_s / cells_s:.0f}x); "
                      f"cells identical to rows: {same}", flush=True)
                figures["runs"][engine] = run  # type: ignore[index]
            finally:
                if args.keep:
                    print(f"kept {url}")
                elif engine != "sqlite":
                    _postgres_database(args.postgres_url, False, name)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
