"""Benchmark the foundation pipeline: ingest rows/s, analysis seconds and peak memory, SQLite and PostgreSQL.

Usage::

    .venv/bin/python bench/bench_pipeline.py --rows 1000000 [--engines sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json results.json]
        [--config DEVICE.yaml] [--quarters 2025Q3] [--extra-attributes] [--report]
        [--db URL] [--logs DIR]

N predictions are generated with the demo generator (spread over the demo's five quarters, or over
``--quarters``, with the ground truth that has arrived by the demo's as-of date) and written once as
CSV; ``--extra-attributes`` adds the columns ``slice_thickness`` and ``kernel`` (seeded, the levels and
weights of bench_statistics.py) so that ``bench/device-7-attributes.yaml`` stratifies by 7 attributes.
Each measured step runs in its own child process so that its peak resident memory (VmHWM) is its own:
ingest predictions, ingest ground truth, the analysis of ``--period`` and, with ``--report``, the
report of that run in every format and both languages. For PostgreSQL a throwaway database is created
and dropped. ``--db URL`` uses that (empty or migrated) database instead and keeps it, and ``--logs DIR``
reuses ``predictions.csv`` and ``ground_truth.csv`` written there (both as ``bench/run_all.py`` does).
Figures are printed, never asserted: this is not a test.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PATIENT_KEY = "bench-patient-key-0123456789abcdef"
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
#: Prediction-log columns that ``--extra-attributes`` adds (the two attributes the demo generator lacks).
EXTRA_ATTRIBUTES = ("slice_thickness", "kernel")


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _with_extra_attributes(frame, seed: int, chunk: int):  # type: ignore[no-untyped-def]
    """``frame`` with the :data:`EXTRA_ATTRIBUTES` columns drawn from seed ``(seed, chunk)``."""
    import numpy as np

    from bench_statistics import ATTRIBUTES

    rng = np.random.default_rng([seed, chunk, 7])
    extra = {}
    for name in EXTRA_ATTRIBUTES:
        labels, weights = ATTRIBUTES[name]
        extra[name] = np.asarray(labels, dtype=object)[rng.choice(len(labels), size=len(frame), p=weights)]
    return frame.assign(**extra)


def write_logs(rows: int, folder: Path, seed: int, *, quarters: tuple[str, ...] | None = None,
               extra_attributes: bool = False) -> tuple[Path, Path, int]:
    """Generate ``rows`` predictions in chunks into two CSV files; return paths and ground-truth rows.

    ``quarters`` replaces the demo's five quarters; ``extra_attributes`` adds :data:`EXTRA_ATTRIBUTES`.
    """
    from monitor.synthetic import DemoScenario, iter_prediction_chunks, write_csv

    predictions, truth = folder / "predictions.csv", folder / "ground_truth.csv"
    truth_rows = 0
    scenario = DemoScenario(seed=seed) if quarters is None else DemoScenario(
        seed=seed, quarters=quarters, drift_quarter=quarters[-1])
    with predictions.open("w", encoding="utf-8") as p_out, truth.open("w", encoding="utf-8") as t_out:
        for i, chunk in enumerate(iter_prediction_chunks(scenario, rows, chunk_rows=200_000)):
            frames = (_with_extra_attributes(chunk.predictions, seed, i) if extra_attributes else chunk.predictions,
                      chunk.ground_truth)
            for frame, handle in zip(frames, (p_out, t_out), strict=True):
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
    from monitor.service.report import REPORT_FORMATS, write_report
    from monitor.settings import Settings

    settings = Settings(database_url=args.db, data_dir=Path("."), patient_id_key=PATIENT_KEY)
    if args.step == "setup":
        upgrade(make_engine(args.db))
        app = bootstrap(settings)
        config = load_device_config(args.config)
        register_device(config, uow=app.uow, clock=app.clock, actor="bench", source="bench")
        print(json.dumps({"ok": True, "device_id": config.device.id,
                          "attributes": [a.name for a in config.strata.attributes]}))
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
    elif args.step == "report":
        files = write_report("lung-nodule-ct", Period.parse(args.period).label, formats=list(REPORT_FORMATS),
                             languages=["en", "zh-CN"], out_dir=Path(args.file), uow=app.uow, clock=app.clock,
                             actor="bench", renderer=app.report_renderer, run_id=args.run_id)
        result = {"run_id": files.run_id, "files": len(files.files), "formats": list(REPORT_FORMATS),
                  "languages": ["en", "zh-CN"],
                  "bytes": sum(path.stat().st_size for path in files.files.values())}
    else:
        outcome = analyze_period("lung-nodule-ct", Period.parse(args.period), uow=app.uow, clock=app.clock,
                                 actor="bench")
        doc = outcome.document
        result = {"run_id": outcome.run_id, "predictions": doc["completeness"]["total"]["predictions"],
                  "with_ground_truth": doc["completeness"]["total"]["with_ground_truth"],
                  "strata": doc["summary"]["strata"], "stratum_metrics": len(doc["results"]),
                  "tests": doc["summary"]["tests"], "flagged": doc["summary"]["flagged"]}
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))


def _data_rows(csv_path: Path) -> int:
    """Lines of a generated CSV file less its header (the generator writes no embedded newlines)."""
    with csv_path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) - 1


def _child(*extra: str) -> dict[str, Any]:
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


def _steps(url: str, predictions: Path, truth: Path, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Set up ``url`` and run the measured steps on it; return their figures."""
    setup = _child("--step", "setup", "--db", url, "--config", str(args.config))
    pred = _child("--step", "ingest-predictions", "--db", url, "--file", str(predictions))
    gt = _child("--step", "ingest-ground-truth", "--db", url, "--file", str(truth))
    analysis = _child("--step", "analyze", "--db", url, "--period", args.period)
    figures: dict[str, Any] = {"attributes": setup["attributes"], "ingest_predictions": pred,
                               "ingest_ground_truth": gt, "analysis": analysis}
    if args.report:
        figures["report"] = _child("--step", "report", "--db", url, "--period", args.period,
                                   "--run-id", str(analysis["run_id"]), "--file", str(folder / "reports"))
    return figures


def _print(engine: str, f: dict[str, Any], period: str) -> None:
    pred, gt, analysis = f["ingest_predictions"], f["ingest_ground_truth"], f["analysis"]
    line = (f"{engine:>10}: ingest predictions {pred['rows'] / pred['seconds']:,.0f} rows/s "
            f"({pred['seconds']:.1f} s, peak {pred['peak_rss_mb']:.0f} MB); "
            f"ingest ground truth {gt['rows'] / gt['seconds']:,.0f} rows/s "
            f"({gt['seconds']:.1f} s, peak {gt['peak_rss_mb']:.0f} MB); "
            f"analysis of {period} ({analysis['predictions']:,} predictions, {analysis['tests']} tests) "
            f"{analysis['seconds']:.2f} s, peak {analysis['peak_rss_mb']:.0f} MB")
    if "report" in f:
        report = f["report"]
        line += (f"; report ({report['files']} files) {report['seconds']:.2f} s, "
                 f"peak {report['peak_rss_mb']:.0f} MB")
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--period", default="2025Q3")
    parser.add_argument("--config", type=Path, default=EXAMPLE, help="Device configuration to register.")
    parser.add_argument("--quarters", default=None, help="Comma-separated quarters (default: the demo's five).")
    parser.add_argument("--extra-attributes", action="store_true",
                        help="Add the slice_thickness and kernel columns (for bench/device-7-attributes.yaml).")
    parser.add_argument("--report", action="store_true", help="Also time the report of the analysed run.")
    parser.add_argument("--db", default=None, help="Use (and keep) this database instead of throwaway ones.")
    parser.add_argument("--logs", type=Path, default=None,
                        help="Reuse predictions.csv and ground_truth.csv of this folder instead of generating.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args)
        return

    with tempfile.TemporaryDirectory(prefix="samd-bench-") as tmp:
        folder = Path(tmp)
        if args.logs:
            predictions, truth = args.logs / "predictions.csv", args.logs / "ground_truth.csv"
            args.rows, truth_rows = _data_rows(predictions), _data_rows(truth)
        else:
            t0 = time.perf_counter()
            quarters = tuple(q.strip() for q in args.quarters.split(",")) if args.quarters else None
            predictions, truth, truth_rows = write_logs(args.rows, folder, args.seed, quarters=quarters,
                                                        extra_attributes=args.extra_attributes)
            print(f"generated {args.rows:,} predictions and {truth_rows:,} ground-truth rows "
                  f"in {time.perf_counter() - t0:.1f} s ({predictions.stat().st_size / 1e6:.0f} MB CSV)")
        engines: dict[str, Any] = {}
        figures = {"rows": args.rows, "ground_truth_rows": truth_rows, "period": args.period,
                   "config": str(args.config), "engines": engines}
        if args.db:
            from sqlalchemy.engine import make_url

            engine = make_url(args.db).get_backend_name()
            engines[engine] = _steps(args.db, predictions, truth, args, folder)
            _print(engine, engines[engine], args.period)
        for engine in [] if args.db else [e.strip() for e in args.engines.split(",") if e.strip()]:
            name = f"samd_bench_{uuid.uuid4().hex[:8]}"
            url = (f"sqlite:///{(folder / 'bench.sqlite').as_posix()}" if engine == "sqlite"
                   else _postgres_database(args.postgres_url, True, name))
            try:
                engines[engine] = _steps(url, predictions, truth, args, folder)
            finally:
                if engine != "sqlite":
                    _postgres_database(args.postgres_url, False, name)
            _print(engine, engines[engine], args.period)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
