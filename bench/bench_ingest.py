"""Benchmark prediction-log ingestion: CSV and Parquet into SQLite and PostgreSQL, against a plain psql COPY.

Usage::

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--engines sqlite,postgresql] [--formats csv,parquet]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json results.json]
        [--config DEVICE.yaml] [--logs DIR] [--no-psql-copy]

N predictions are generated with the demo generator (``monitor.synthetic``, as in bench_pipeline.py) and
written once as CSV and once as Parquet (``--logs DIR`` reuses ``predictions.csv`` and, if there,
``predictions.parquet`` of that folder, as ``bench/run_all.py`` writes them). Each ingest runs in its own
child process on a fresh database with ``--config`` registered, so its peak resident memory (VmHWM) is its
own. For comparison, on PostgreSQL the same CSV is loaded once by ``psql \\copy`` into an equivalent bare
table of a fresh database (same columns, no validation, no pseudonymisation, no index): the floor that any
validating ingest is measured against (``ratio_to_psql_copy`` of every PostgreSQL run). Figures are
printed, never asserted: this is not a test.
A second floor, on PostgreSQL: ``psql \\copy`` of the rows our ingest stored (pseudonymised, hashed, typed)
into the ``predictions`` table of a fresh database, with its indexes, unique key and foreign key
(``ratio_to_stored_copy``): what storing those rows costs the database, whatever does the validating.
Goals (docs/ingestion.md): PostgreSQL ingest >= half the psql COPY rate; peak memory < 1 GB at 10M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import EXAMPLE, PATIENT_KEY, _data_rows, _peak_mb, _postgres_database, write_logs  # noqa: E402

_BARE_TYPES = {"predicted_at": "timestamptz", "score": "double precision", "predicted_label": "smallint",
               "age": "double precision"}


def to_parquet(csv_path: Path, target: Path) -> Path:
    """Stream the CSV into a Parquet file with every column as text (bounded memory)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with csv_path.open("r", encoding="utf-8") as handle:
        columns = handle.readline().strip().split(",")
    reader = pacsv.open_csv(csv_path, read_options=pacsv.ReadOptions(block_size=64 << 20),
                            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}))
    writer = None
    for batch in reader:
        if writer is None:
            writer = pq.ParquetWriter(target, batch.schema)
        writer.write_batch(batch)
    if writer is not None:
        writer.close()
    return target


def step(args: argparse.Namespace) -> None:
    """Child process: set up a database, or ingest one file; print figures as JSON."""
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.service.ingest import ingest_predictions
    from monitor.settings import Settings

    settings = Settings(database_url=args.db, data_dir=Path("."), patient_id_key=PATIENT_KEY)
    if args.step == "setup":
        upgrade(make_engine(args.db))
        app = bootstrap(settings)
        register_device(load_device_config(Path(args.config)), uow=app.uow, clock=app.clock, actor="bench",
                        source="bench")
        print(json.dumps({"ok": True}))
        return
    app = bootstrap(settings)
    started = time.perf_counter()
    summary = ingest_predictions(app.open_log(Path(args.file)), source=args.file, uow=app.uow,
                                 hash_patient=app.patient_hasher(), clock=app.clock, actor="bench")
    print(json.dumps({"rows": summary.rows, "accepted": summary.accepted, "rejected": summary.rejected,
                      "seconds": time.perf_counter() - started, "peak_rss_mb": _peak_mb()}))


def _child(*extra: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"step {extra} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measured(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``command``; its wall time and its own peak resident memory: its VmHWM, read every 20 ms while
    it runs (``wait4``'s ru_maxrss would count the forking Python parent's pages; a peak reached in its
    last 20 ms can be missed). The client's memory: the PostgreSQL backend's is not counted."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    peak = 0.0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            peak = max(peak, *(int(line.split()[1]) / 1024.0 for line in status.read_text().splitlines()
                               if line.startswith("VmHWM:")))
        except (OSError, ValueError, TypeError):
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return {"seconds": seconds, "peak_rss_mb": peak}


def psql_copy(url: str, csv_path: Path) -> dict[str, float]:
    """Time ``psql \\copy`` of the CSV into a bare table with the file's columns."""
    from sqlalchemy.engine import make_url

    with csv_path.open("r", encoding="utf-8") as handle:
        columns = handle.readline().strip().split(",")
    parsed = make_url(url)
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})
    base = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.host or "127.0.0.1", "-p",
            str(parsed.port or 5432), "-U", parsed.username or "postgres", "-d", parsed.database or "postgres"]
    ddl = ", ".join(f'"{c}" {_BARE_TYPES.get(c, "text")}' for c in columns)
    subprocess.run([*base, "-c", "SET client_min_messages TO warning; DROP TABLE IF EXISTS bare_predictions; "
                    f"CREATE TABLE bare_predictions ({ddl})"],
                   check=True, env=env)
    return _measured([*base, "-c", f"\\copy bare_predictions FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"],
                     env)


_STORED_COLUMNS = ("device_id, prediction_id, model_version, site_id, predicted_at, score, predicted_label, "
                   "patient_hash, age, sex, attributes, study_uid, accession_hash, human_label, ai_volume_mm3, "
                   "reviewed_volume_mm3, row_hash, batch_id, ingested_at")


def _psql(url: str) -> tuple[list[str], dict[str, str]]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})
    return (["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parsed.host or "127.0.0.1", "-p",
             str(parsed.port or 5432), "-U", parsed.username or "postgres", "-d", parsed.database or "postgres"], env)


def psql_copy_stored(ingested_url: str, admin_url: str, folder: Path, config: Path) -> dict[str, float]:
    """Time ``psql \\copy`` of the rows our ingest stored (their stored form: pseudonymised, hashed, typed)
    into the ``predictions`` table of a fresh database with the same schema (its indexes, unique key and
    foreign key): the cost of storing these rows, which no ingest into that table can undercut."""
    stored = folder / "stored-predictions.csv"
    base, env = _psql(ingested_url)
    export = _STORED_COLUMNS.replace("batch_id", "1 AS batch_id")  # one batch, inserted below
    subprocess.run([*base, "-c", f"\\copy (SELECT {export} FROM predictions) TO '{stored}' WITH (FORMAT csv)"],
                   check=True, env=env)
    name = f"samd_bench_{uuid.uuid4().hex[:8]}"
    url = _postgres_database(admin_url, True, name)
    try:
        _child("--step", "setup", "--db", url, "--config", str(config))
        target, env = _psql(url)
        subprocess.run([*target, "-c", "INSERT INTO ingestion_batches (batch_id, kind, source_name, source_format, "
                        "source_sha256, rows_total, accepted, duplicates, rejected, started_at, finished_at, actor) "
                        "VALUES (1, 'predictions', 'floor', 'csv', '', 0, 0, 0, 0, now(), now(), 'bench')"],
                       check=True, env=env)
        return _measured([*target, "-c", f"\\copy predictions ({_STORED_COLUMNS}) FROM '{stored}' WITH (FORMAT csv)"],
                         env)
    finally:
        _postgres_database(admin_url, False, name)
        stored.unlink(missing_ok=True)


def sqlite_copy_stored(ingested: Path, folder: Path, config: Path) -> dict[str, float]:
    """SQLite's counterpart of the stored-rows copy: one ``INSERT INTO predictions SELECT`` of the rows our
    ingest stored (attached database) into the ``predictions`` table of a fresh database with the same
    schema and connection settings (WAL, synchronous NORMAL, the ingest's page cache), in one
    transaction, in a child process (its own peak memory)."""
    target = folder / "floor.sqlite"
    target.unlink(missing_ok=True)
    try:
        _child("--step", "setup", "--db", f"sqlite:///{target.as_posix()}", "--config", str(config))
        return _child("--step", "sqlite-floor", "--db", str(target), "--file", str(ingested))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)


def _sqlite_floor(target: str, source: str) -> dict[str, float]:
    import sqlite3

    from monitor.adapters.db.repositories.logs import _SQLITE_CACHE_KIB

    conn = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"cache_size=-{_SQLITE_CACHE_KIB}"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("ATTACH DATABASE ? AS src", (source,))
    conn.execute("INSERT INTO ingestion_batches (batch_id, kind, source_name, source_format, source_sha256, rows_total, "
                 "accepted, duplicates, rejected, started_at, finished_at, actor) VALUES (1, 'predictions', 'floor', "
                 "'csv', '', 0, 0, 0, 0, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'bench')")
    export = _STORED_COLUMNS.replace("batch_id", "1")
    started = time.perf_counter()
    conn.execute("BEGIN")
    rows = conn.execute(f"INSERT INTO predictions ({_STORED_COLUMNS}) SELECT {export} FROM src.predictions").rowcount
    conn.execute("COMMIT")
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": _peak_mb()}


def _table(figures: dict[str, object], engines: list[str], formats: list[str]) -> str:
    """The run's figures side by side, one line per engine (Markdown)."""
    runs: dict[str, dict[str, float]] = figures["runs"]  # type: ignore[assignment]
    bare: dict[str, float] = figures.get("psql_copy") or {}  # type: ignore[assignment]
    lines = [f"N = {figures['rows']:,}; load average {figures.get('load_average', '?')}",
             "| engine | ingest CSV rows/s (peak MB) | ingest Parquet rows/s (peak MB) | bare psql \\copy rows/s (peak MB) "
             "| stored-rows copy rows/s (peak MB) | CSV / stored-rows copy | Parquet / stored-rows copy "
             "| CSV / bare copy |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(f: dict[str, float] | None) -> str:
        return "–" if not f else f"{f['rows_per_second']:,.0f} ({f['peak_rss_mb']:.0f})"

    for engine in engines:
        csv_run, parquet_run = runs.get(f"{engine}/csv"), runs.get(f"{engine}/parquet")
        stored: dict[str, float] = figures.get(f"stored_copy_{engine}") or {}  # type: ignore[assignment]

        def ratio(run: dict[str, float] | None, floor: dict[str, float]) -> str:
            return "–" if not run or not floor else f"{run['rows_per_second'] / floor['rows_per_second']:.3f}"

        lines.append(f"| {engine} | {cell(csv_run)} | {cell(parquet_run)} | "
                     f"{cell(bare) if engine == 'postgresql' else '–'} | {cell(stored)} | {ratio(csv_run, stored)} | "
                     f"{ratio(parquet_run, stored)} | {ratio(csv_run, bare) if engine == 'postgresql' else '–'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", type=Path, default=EXAMPLE, help="Device configuration to register.")
    parser.add_argument("--logs", type=Path, default=None, help="Reuse the logs of this folder.")
    parser.add_argument("--no-psql-copy", action="store_true", help="Skip the psql \\copy floor.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "sqlite-floor":
        print(json.dumps(_sqlite_floor(args.db, args.file)))
        return
    if args.step:
        step(args)
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="samd-bench-ingest-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        if args.logs:
            predictions = args.logs / "predictions.csv"
            args.rows = _data_rows(predictions)
        else:
            predictions, _, _ = write_logs(args.rows, folder, args.seed)
        files = {"csv": predictions}
        if "parquet" in formats:
            ready = args.logs / "predictions.parquet" if args.logs else None
            files["parquet"] = ready if ready and ready.is_file() else to_parquet(predictions,
                                                                                   folder / "predictions.parquet")
        print(f"{'read' if args.logs else 'generated'} {args.rows:,} predictions in {time.perf_counter() - t0:.1f} s "
              f"(CSV {predictions.stat().st_size / 1e6:.0f} MB"
              + (f", Parquet {files['parquet'].stat().st_size / 1e6:.0f} MB)" if "parquet" in files else ")"))
        runs: dict[str, dict[str, object]] = {}
        figures: dict[str, object] = {"rows": args.rows, "config": str(args.config), "runs": runs}
        copy_rate = None
        if "postgresql" in engines and not args.no_psql_copy:
            name = f"samd_bench_{uuid.uuid4().hex[:8]}"
            url = _postgres_database(args.postgres_url, True, name)
            try:
                copy = psql_copy(url, predictions)
            finally:
                _postgres_database(args.postgres_url, False, name)
            copy_rate = args.rows / copy["seconds"]
            figures["psql_copy"] = copy | {"rows_per_second": copy_rate}
            print(f"psql \\copy of the CSV into a bare table: {copy_rate:,.0f} rows/s ({copy['seconds']:.1f} s)",
                  flush=True)
        for engine in engines:
            for fmt in formats:
                name = f"samd_bench_{uuid.uuid4().hex[:8]}"
                url = (f"sqlite:///{(folder / f'bench-{fmt}.sqlite').as_posix()}" if engine == "sqlite"
                       else _postgres_database(args.postgres_url, True, name))
                try:
                    _child("--step", "setup", "--db", url, "--config", str(args.config))
                    result = _child("--step", "ingest", "--db", url, "--file", str(files[fmt]))
                    floor_key = f"stored_copy_{engine}"
                    if engine == "postgresql" and not args.no_psql_copy and floor_key not in figures:
                        stored = psql_copy_stored(url, args.postgres_url, folder, args.config)
                    elif engine == "sqlite" and floor_key not in figures:
                        stored = sqlite_copy_stored(folder / f"bench-{fmt}.sqlite", folder, args.config)
                    else:
                        stored = None
                    if stored is not None:
                        stored_rate = int(result["accepted"]) / stored["seconds"]  # type: ignore[call-overload]
                        figures[floor_key] = stored | {"rows_per_second": stored_rate}
                        print(f"{engine}: copy of the stored rows into the predictions table (indexes, keys): "
                              f"{stored_rate:,.0f} rows/s ({stored['seconds']:.1f} s, peak {stored['peak_rss_mb']:.0f} MB)",
                              flush=True)
                finally:
                    if engine != "sqlite":
                        _postgres_database(args.postgres_url, False, name)
                    else:
                        (folder / f"bench-{fmt}.sqlite").unlink(missing_ok=True)
                rate = float(result["rows"]) / float(result["seconds"])  # type: ignore[arg-type]
                result["rows_per_second"] = rate
                line = (f"{engine:>10} {fmt:<7}: {rate:>9,.0f} rows/s ({float(result['seconds']):.1f} s, "  # type: ignore[arg-type]
                        f"peak {float(result['peak_rss_mb']):.0f} MB, {result['accepted']:,} accepted)")  # type: ignore[arg-type]
                if engine == "postgresql" and copy_rate:
                    result["ratio_to_psql_copy"] = rate / copy_rate
                    line += f"; ratio to psql \\copy {rate / copy_rate:.3f}"
                if f"stored_copy_{engine}" in figures:
                    stored_rate = float(figures[f"stored_copy_{engine}"]["rows_per_second"])  # type: ignore[index]
                    result["ratio_to_stored_copy"] = rate / stored_rate
                    line += f", to the stored-rows copy {rate / stored_rate:.3f}"
                runs[f"{engine}/{fmt}"] = result
                print(line, flush=True)
        figures["load_average"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(_table(figures, engines, formats), flush=True)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
