"""Benchmark the foundation pipeline: ingest rows/s, analysis seconds and peak memory, SQLite and PostgreSQL.

Usage::

    .venv/bin/python bench/bench_pipeline.py --rows 1000000 [--engines sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json results.json]

N predictions are generated with the demo generator (spread over the demo's five quarters, with the
ground truth that has arrived by the demo's as-of date) and written once as CSV. Each measured step runs
in its own child process so that its peak resident memory (``ru_maxrss``) is its own. For PostgreSQL a
throwaway database is created and dropped. Figures are printed, never asserted: this is not a test.
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

PATIENT_KEY = "bench-patient-key-0123456789abcdef"


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_logs(rows: int, folder: Path, seed: int) -> tuple[Path, Path, int]:
    """Generate ``rows`` predictions in chunks into two CSV files; return paths and ground-truth rows."""
    from monitor.synthetic import DemoScenario, iter_prediction_chunks, write_csv

    predictions, truth = folder / "predictions.csv", folder / "ground_truth.csv"
    truth_rows = 0
    with predictions.open("w", encoding="utf-8") as p_out, truth.open("w", encoding="utf-8") as t_out:
        for i, chunk in enumerate(iter_prediction_chunks(DemoScenario(seed=seed), rows, chunk_rows=200_000)):
            for frame, handle in ((chunk.predictions, p_out), (chunk.ground_truth, t_out)):
                part = folder / "part.csv"
                write_csv(frame, part)
                with part.open("r", encoding="utf-8") as src:
                    header = src.readline()
                    if i == 0:
                        handle.write(header)
                    for block in iter(lambda: src.read(1 << 20), ""):
                        handle.write(block)
                part.unlink()
            truth_rows += len(chunk.ground_truth)
    return predictions, truth, truth_rows


def step(args: argparse.Namespace) -> None:
    """Child process: run one step and print its figures as JSON."""
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.domain.periods import Period
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.analyze import analyze_period
    from monitor.service.devices import register_device
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.settings import Settings

    settings = Settings(database_url=args.db, data_dir=Path("."), patient_id_key=PATIENT_KEY, actor="bench")
    if args.step == "setup":
        upgrade(make_engine(args.db))
        app = bootstrap(settings)
        config = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
        register_device(config, uow=app.uow, clock=app.clock, actor="bench", source="bench")
        print(json.dumps({"ok": True}))
        return
    app = bootstrap(settings)
    started = time.perf_counter()
    if args.step == "ingest-predictions":
        summary = ingest_predictions(app.open_log(Path(args.file)), source=args.file, uow=app.uow,
                                     hash_patient=app.patient_hasher(), clock=app.clock, actor="bench")
        result = {"rows": summary.rows, "accepted": summary.accepted}
    elif args.step == "ingest-ground-truth":
        summary = ingest_ground_truth(app.open_log(Path(args.file)), source=args.file, uow=app.uow,
                                      clock=app.clock, actor="bench")
        result = {"rows": summary.rows, "accepted": summary.accepted}
    else:
        outcome = analyze_period("lung-nodule-ct", Period.parse(args.period), uow=app.uow, clock=app.clock,
                                 actor="bench")
        doc = outcome.document
        result = {"predictions": doc["completeness"]["total"]["predictions"], "tests": doc["summary"]["tests"],
                  "flagged": doc["summary"]["flagged"]}
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))


def _child(*extra: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"step {extra} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _postgres_database(admin_url: str, create: bool, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--period", default="2025Q3")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args)
        return

    with tempfile.TemporaryDirectory(prefix="samd-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        predictions, truth, truth_rows = write_logs(args.rows, folder, args.seed)
        print(f"generated {args.rows:,} predictions and {truth_rows:,} ground-truth rows "
              f"in {time.perf_counter() - t0:.1f} s ({predictions.stat().st_size / 1e6:.0f} MB CSV)")
        figures = {"rows": args.rows, "ground_truth_rows": truth_rows, "engines": {}}
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            name = f"samd_bench_{uuid.uuid4().hex[:8]}"
            url = (f"sqlite:///{(folder / 'bench.sqlite').as_posix()}" if engine == "sqlite"
                   else _postgres_database(args.postgres_url, True, name))
            try:
                _child("--step", "setup", "--db", url)
                pred = _child("--step", "ingest-predictions", "--db", url, "--file", str(predictions))
                gt = _child("--step", "ingest-ground-truth", "--db", url, "--file", str(truth))
                analysis = _child("--step", "analyze", "--db", url, "--period", args.period)
            finally:
                if engine != "sqlite":
                    _postgres_database(args.postgres_url, False, name)
            figures["engines"][engine] = {"ingest_predictions": pred, "ingest_ground_truth": gt, "analysis": analysis}
            print(f"{engine:>10}: ingest predictions {pred['rows'] / pred['seconds']:,.0f} rows/s "
                  f"({pred['seconds']:.1f} s, peak {pred['peak_rss_mb']:.0f} MB); "
                  f"ingest ground truth {gt['rows'] / gt['seconds']:,.0f} rows/s "
                  f"({gt['seconds']:.1f} s, peak {gt['peak_rss_mb']:.0f} MB); "
                  f"analysis of {args.period} ({analysis['predictions']:,} predictions, {analysis['tests']} tests) "
                  f"{analysis['seconds']:.2f} s, peak {analysis['peak_rss_mb']:.0f} MB")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
