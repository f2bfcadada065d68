"""Benchmark the demo's quarter analysis (all sections) on SQLite and PostgreSQL beside its DuckDB floor.

Usage::

    .venv/bin/python bench/bench_analysis.py [--scale 1] [--seed 20251] [--period 2025Q3]
        [--engines sqlite,postgresql] [--postgres-host 127.0.0.1] [--postgres-port 5432]
        [--postgres-user postgres] [--work-dir DIR] [--json out.json]

For each engine, on a fresh database (SQLite: a file in the work folder; PostgreSQL: ``createdb -h HOST
-U USER NAME``, ``dropdb --force`` at the end), the demo's data (``samd-monitor demo``'s generator at
``--scale``: five quarters, replayed as monthly deliveries on a simulated clock, as the demo does) is
ingested, then each step runs in its own child process so that its peak resident memory (VmHWM) is
its own:

* ``analysis first``: ``analyze_period`` of ``--period`` with the demo's as-of date as cut-off (= the
  simulated *now*), timed as the call alone. It recounts the months the ingest left dirty (every
  lazily kept aggregate is brought up to date by the analysis that needs it);
* ``analysis second``: the same analysis again, now with every lazily kept aggregate fresh (the month
  states before each run are recorded); its stratum results must equal the first run's;
* ``export`` (not timed as the floor): the quarter's cases exactly as the analysis materialises them
  (``AggregateRepository.window_cases``) written once to Parquet, with the database's own aggregates of
  that table (confusion cells, verification cells, score histogram, per-feature histograms), timed;
* ``floor``: DuckDB computing those same aggregates over the Parquet file (read from the file by each
  query), timed twice; every aggregate is checked equal to the database's.

The figures (seconds, CPU seconds, peak MB, the ratios of each analysis and of the database aggregates
to the floor, the load average around each step) are printed and written to ``--json``. Figures are
printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEVICE = "lung-nodule-ct"
PATIENT_KEY = "bench-patient-key-0123456789abcdef"
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
#: The four aggregates the floor computes (the database's names, ``AggregateRepository``).
AGGREGATES = ("confusion_cells", "verification_cells", "score_histogram", "feature_histograms")


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _scenario(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from monitor.synthetic import DemoScenario

    return DemoScenario(seed=args.seed, scale=args.scale)


def _app(args: argparse.Namespace, clock=None):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    settings = Settings(database_url=args.db, data_dir=Path(args.folder), patient_id_key=PATIENT_KEY)
    return bootstrap(settings, clock=clock) if clock is not None else bootstrap(settings)


# --- child steps ------------------------------------------------------------------------------------

def step_setup(args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, register the example device, ingest the demo's deliveries as the demo does."""
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.entrypoints.bootstrap import simulated_clock
    from monitor.service.devices import register_device
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.synthetic import generate, write_csv
    from monitor.synthetic.deliveries import monthly_deliveries

    scenario = _scenario(args)
    started = time.perf_counter()
    data = generate(scenario)
    deliveries = monthly_deliveries(data, until=scenario.as_of)
    generated = time.perf_counter() - started
    upgrade(make_engine(args.db))
    clock = simulated_clock(deliveries[0].at.to_pydatetime())
    app = _app(args, clock)
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="bench", source=str(EXAMPLE))
    logs = Path(args.folder) / "logs"
    logs.mkdir(exist_ok=True)
    ingested = {"predictions": 0, "ground_truth": 0}
    started = time.perf_counter()
    for delivery in deliveries:
        clock.advance_to(delivery.at.to_pydatetime())
        for kind, frame in (("predictions", delivery.predictions), ("ground_truth", delivery.ground_truth)):
            if frame.empty:
                continue
            path = write_csv(frame, logs / f"{kind}_{delivery.at:%Y-%m}.csv")
            if kind == "predictions":
                summary = ingest_predictions(app.open_log(path), source=str(path), uow=app.uow,
                                             hash_patient=app.patient_hasher(), clock=app.clock, actor="bench")
            else:
                summary = ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock,
                                              actor="bench", hash_patient=app.patient_hasher())
            ingested[kind] += summary.accepted
            path.unlink()
    return {"predictions": ingested["predictions"], "ground_truth": ingested["ground_truth"],
            "deliveries": len(deliveries), "generate_seconds": round(generated, 2),
            "ingest_seconds": round(time.perf_counter() - started, 2), "as_of": scenario.as_of.isoformat()}


def _month_states(app: Any) -> dict[str, int]:
    with app.uow() as unit:
        months = unit.cells.months(DEVICE)
    states: dict[str, int] = {}
    for month in months:
        states[month["state"]] = states.get(month["state"], 0) + 1
    return states


def _server_cpu(url: str) -> float | None:
    """CPU seconds so far of the PostgreSQL backends connected to ``url``'s database (the server runs on this
    machine: ``/proc/PID/stat``), other than the one asking; None on SQLite (its work is in the process's CPU).
    A lower bound: backends (and parallel workers) that ended are not counted."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    if make_url(url).get_backend_name() != "postgresql":
        return None
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalars().all()
    engine.dispose()
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def step_analyze(args: argparse.Namespace) -> dict[str, Any]:
    """One ``analyze_period`` at the demo's as-of date (the simulated now), timed as the call alone."""
    from monitor.domain.periods import Period
    from monitor.entrypoints.bootstrap import simulated_clock
    from monitor.service.analyze import analyze_period

    app = _app(args, simulated_clock(_scenario(args).as_of.to_pydatetime()))
    before = _month_states(app)
    server = _server_cpu(args.db)
    load, cpu, started = _load(), _cpu(), time.perf_counter()
    outcome = analyze_period(DEVICE, Period.parse(args.period), uow=app.uow, clock=app.clock, actor="bench")
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    server_after = _server_cpu(args.db)
    doc = outcome.document
    results = Path(args.folder) / f"results-{args.run}.json"
    results.write_text(json.dumps(doc["results"], sort_keys=True, default=str), encoding="utf-8")
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "server_cpu_seconds": None if server is None or server_after is None else round(server_after - server, 2),
            "peak_rss_mb": round(_peak_mb(), 1),
            "month_states_before": before, "load_average": load, "run_id": outcome.run_id,
            "predictions": doc["completeness"]["total"]["predictions"],
            "with_ground_truth": doc["completeness"]["total"]["with_ground_truth"],
            "strata": doc["summary"]["strata"], "stratum_metrics": len(doc["results"]),
            "tests": doc["summary"]["tests"], "flagged": doc["summary"]["flagged"]}


def _database_aggregates(unit: Any, cases: Any) -> dict[str, Any]:
    """The four aggregates as the analysis computes them, on the materialised window table."""
    import pandas as pd

    features = [*cases.attributes, "site_id", "score"]
    histograms = []
    for feature in features:
        name = feature if isinstance(feature, str) else feature.name
        histogram = unit.aggregates.feature_histogram(cases, feature)
        histograms.append(histogram.assign(feature=name, value=[_text(v) for v in histogram["value"]]))
    return {"confusion_cells": unit.aggregates.confusion_cells(cases),
            "verification_cells": unit.aggregates.verification_cells(cases),
            "score_histogram": unit.aggregates.score_histogram(cases),
            "feature_histograms": pd.concat(histograms, ignore_index=True)}


def step_export(args: argparse.Namespace) -> dict[str, Any]:
    """The quarter's window cases (as the analysis materialises them) to Parquet, with the database's
    aggregates of that table (timed) kept beside it for the floor's exactness check."""
    import pandas as pd
    from sqlalchemy import select

    from monitor.domain.periods import Period, resolve_timezone

    folder = Path(args.folder)
    app = _app(args)
    cutoff = _scenario(args).as_of.to_pydatetime()
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        start, end = Period.parse(args.period).bounds_utc(resolve_timezone(config.monitoring.timezone))
        with unit.aggregates.window_cases(DEVICE, start=start, end=end, cutoff=cutoff,
                                          attributes=config.strata.attributes) as cases:
            frame = pd.DataFrame(unit.connection.execute(select(cases.table)).all(),
                                 columns=[c.name for c in cases.table.columns])
            started, cpu = time.perf_counter(), _cpu()
            ours = _database_aggregates(unit, cases)
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu
            meta = {"attributes": cases.names, "numeric": cases.numeric}
    frame.convert_dtypes().to_parquet(folder / "cases.parquet", index=False)  # nullable integers stay integers
    for name, table in ours.items():
        table.to_parquet(folder / f"db-{name}.parquet", index=False)
    (folder / "cases.json").write_text(json.dumps(meta), encoding="utf-8")
    return {"cases": len(frame), "labelled": int(frame["label"].notna().sum()),
            "parquet_mb": round((folder / "cases.parquet").stat().st_size / 1e6, 2),
            "database_aggregates_seconds": round(seconds, 3), "database_aggregates_cpu_seconds": round(cpu, 3),
            "rows": {name: len(table) for name, table in ours.items()}}


def floor_queries(cases: str, attributes: list[str], numeric: dict[str, str]) -> dict[str, str]:
    """DuckDB SQL of the four aggregates over the Parquet file ``cases`` (columns of ``window_cases``)."""
    src = f"read_parquet('{cases}')"
    keys = ", ".join(["model_version", *[f's{i} AS "{a}"' for i, a in enumerate(attributes)]])
    groups = ", ".join(["model_version", *[f"s{i}" for i in range(len(attributes))]])
    confusion = (f"SELECT {keys}, "
                 "count(*) FILTER (label = 1 AND predicted_label = 1) AS tp, "
                 "count(*) FILTER (label = 0 AND predicted_label = 1) AS fp, "
                 "count(*) FILTER (label = 1 AND predicted_label = 0) AS fn, "
                 "count(*) FILTER (label = 0 AND predicted_label = 0) AS tn "
                 f"FROM {src} WHERE label IS NOT NULL GROUP BY {groups}")
    verification = (f"SELECT {keys}, predicted_label, CASE WHEN label IS NULL THEN 0 ELSE 1 END AS verified, "
                    f"count(*) AS n FROM {src} GROUP BY {groups}, predicted_label, verified")
    full = (f"WITH full_combination AS MATERIALIZED (SELECT {keys}, score_bin, coalesce(label, -1) AS label, "
            f"predicted_label, count(*) AS n FROM {src} GROUP BY {groups}, score_bin, coalesce(label, -1), "
            "predicted_label) ")
    parts = []
    for grouping in [None, *attributes]:
        labels = ", ".join(f'"{a}"' if a == grouping else f'CAST(NULL AS VARCHAR) AS "{a}"' for a in attributes)
        by = ", ".join(["model_version", *([f'"{grouping}"'] if grouping else []), "score_bin", "label",
                        "predicted_label"])
        parts.append(f"SELECT '{grouping or ''}' AS grouping, model_version, {labels}, score_bin, label, "
                     f"predicted_label, sum(n)::BIGINT AS n FROM full_combination GROUP BY {by}")
    features = []
    for i, name in enumerate(attributes):
        column = numeric.get(name, f"s{i}")
        features.append(f"SELECT '{name}' AS feature, CAST({column} AS VARCHAR) AS value, count(*) AS n "
                        f"FROM {src} GROUP BY {column}")
    features += [f"SELECT 'site_id' AS feature, site_id AS value, count(*) AS n FROM {src} GROUP BY site_id",
                 (f"SELECT 'score' AS feature, CAST(score_pct AS VARCHAR) AS value, count(*) AS n FROM {src} "
                  "GROUP BY score_pct")]
    return {"confusion_cells": confusion, "verification_cells": verification,
            "score_histogram": full + " UNION ALL ".join(parts), "feature_histograms": " UNION ALL ".join(features)}


def _text(value: Any) -> str | None:
    """A key as text (``None`` for null or NaN, whole floats without ``.0``), as both engines' keys compare."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _canonical(frame: Any) -> Any:
    """A frame with text keys and integer counts, sorted, for comparing the engines' aggregates."""
    frame = frame.copy()
    for column in frame.columns:
        if column in ("tp", "fp", "fn", "tn", "n"):
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = [_text(v) for v in frame[column]]
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)


def step_floor(args: argparse.Namespace) -> dict[str, Any]:
    """DuckDB's aggregates over the Parquet cases, timed twice, each checked against the database's."""
    import duckdb
    import pandas as pd

    folder = Path(args.folder)
    meta = json.loads((folder / "cases.json").read_text(encoding="utf-8"))
    queries = floor_queries(str(folder / "cases.parquet"), meta["attributes"], meta["numeric"])
    connection = duckdb.connect()
    connection.execute(f"SET threads = {args.threads}")
    runs = []
    frames: dict[str, Any] = {}
    for _ in range(2):
        load, cpu, started = _load(), _cpu(), time.perf_counter()
        each = {}
        for name, sql in queries.items():
            t0 = time.perf_counter()
            frames[name] = connection.execute(sql).df()
            each[name] = round(time.perf_counter() - t0, 4)
        runs.append({"seconds": round(time.perf_counter() - started, 4), "cpu_seconds": round(_cpu() - cpu, 3),
                     "per_aggregate_seconds": each, "load_average": load})
    identical = {name: bool(_canonical(frames[name]).equals(_canonical(pd.read_parquet(folder / f"db-{name}.parquet"))))
                 for name in queries}
    return {"first": runs[0], "second": runs[1], "seconds": min(r["seconds"] for r in runs),
            "threads": args.threads, "duckdb": duckdb.__version__, "identical_to_database": identical,
            "peak_rss_mb": round(_peak_mb(), 1)}


STEPS = {"setup": step_setup, "analyze": step_analyze, "export": step_export, "floor": step_floor}


# --- the parent -------------------------------------------------------------------------------------

def _child(step: str, db: str, folder: Path, args: argparse.Namespace, **extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", step, "--db", db, "--folder", str(folder), "--scale",
               str(args.scale), "--seed", str(args.seed), "--period", args.period, "--threads", str(args.threads),
               *[f"--{k}={v}" for k, v in extra.items()]]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise RuntimeError(f"step {step} failed (status {out.returncode}):\n{out.stderr[-4000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 2)
    print(f"  {step}{' ' + extra['run'] if 'run' in extra else ''}: "
          f"{json.dumps({k: v for k, v in figures.items() if k != 'per_aggregate_seconds'})}", flush=True)
    return figures


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 1) if top is not None and bottom else None


def run_engine(engine: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every step on one fresh database of ``engine``; the database is dropped (or deleted) at the end."""
    folder = work / engine
    folder.mkdir(parents=True, exist_ok=True)
    name = f"samd_bench_analysis_{uuid.uuid4().hex[:8]}"
    if engine == "sqlite":
        db = f"sqlite:///{(folder / 'bench.sqlite').as_posix()}"
    else:
        server = ["-h", args.postgres_host, "-p", str(args.postgres_port), "-U", args.postgres_user]
        subprocess.run(["createdb", *server, name], check=True)
        db = (f"postgresql+psycopg://{args.postgres_user}@{args.postgres_host}:{args.postgres_port}/{name}")
    print(f"{engine}: {db}", flush=True)
    figures: dict[str, Any] = {"load_average_before": _load()}
    try:
        figures["setup"] = _child("setup", db, folder, args)
        figures["analysis_first"] = _child("analyze", db, folder, args, run="first")
        figures["analysis_second"] = _child("analyze", db, folder, args, run="second")
        first, second = ((folder / f"results-{run}.json").read_text(encoding="utf-8") for run in ("first", "second"))
        figures["results_identical"] = first == second
        figures["export"] = _child("export", db, folder, args)
        figures["floor"] = _child("floor", db, folder, args)
    finally:
        if engine != "sqlite":
            subprocess.run(["dropdb", *server, "--force", "--if-exists", name], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    floor = figures["floor"]["seconds"]
    figures["ratios"] = {"analysis_first_to_floor": _ratio(figures["analysis_first"]["seconds"], floor),
                         "analysis_second_to_floor": _ratio(figures["analysis_second"]["seconds"], floor),
                         "database_aggregates_to_floor":
                             _ratio(figures["export"]["database_aggregates_seconds"], floor)}
    figures["load_average_after"] = _load()
    return figures


def _cpu_text(run: dict[str, Any]) -> str:
    server = run.get("server_cpu_seconds")
    return f"{run['cpu_seconds']:,.1f}" + ("" if server is None else f" + {server:,.1f} server")


def summary_table(results: dict[str, Any]) -> str:
    """Markdown: one line per engine (analysis first / second, the database's aggregates, the floor)."""
    lines = [("| engine | cases in quarter | analysis first s (CPU s, peak MB) | analysis second s (CPU s, peak MB) "
              "| database aggregates s | DuckDB floor s (peak MB) | first / floor | second / floor "
              "| database aggregates / floor | floor = database |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for engine, f in results["engines"].items():
        if "ratios" not in f:
            continue
        a, b, x, fl = f["analysis_first"], f["analysis_second"], f["export"], f["floor"]
        lines.append(
            f"| {engine} | {x['cases']:,} | {a['seconds']:,.2f} ({_cpu_text(a)}, {a['peak_rss_mb']:,.0f}) "
            f"| {b['seconds']:,.2f} ({_cpu_text(b)}, {b['peak_rss_mb']:,.0f}) "
            f"| {x['database_aggregates_seconds']:,.2f} | {fl['seconds']:,.3f} ({fl['peak_rss_mb']:,.0f}) "
            f"| {f['ratios']['analysis_first_to_floor']:,}x | {f['ratios']['analysis_second_to_floor']:,}x "
            f"| {f['ratios']['database_aggregates_to_floor']:,}x "
            f"| {'yes' if all(fl['identical_to_database'].values()) else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="The demo's --scale (1 = its full volume).")
    parser.add_argument("--seed", type=int, default=20251, help="The demo's --seed.")
    parser.add_argument("--period", default="2025Q3")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres-host", default="127.0.0.1")
    parser.add_argument("--postgres-port", type=int, default=5432)
    parser.add_argument("--postgres-user", default="postgres")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads of the floor.")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        figures = STEPS[args.step](args)
        figures.setdefault("peak_rss_mb", round(_peak_mb(), 1))
        print(json.dumps(figures, default=str))
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, Any] = {"scale": args.scale, "seed": args.seed, "period": args.period,
                               "command": " ".join(["bench/bench_analysis.py", *(argv if argv is not None
                                                                                 else sys.argv[1:])]),
                               "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "cores": os.cpu_count(), "engines": {}, "errors": {}}
    work = Path(tempfile.mkdtemp(prefix="samd-bench-analysis-", dir=args.work_dir))
    try:
        for engine in engines:
            try:
                results["engines"][engine] = run_engine(engine, args, work)
            except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as exc:
                results["errors"][engine] = str(exc)[-2000:]
                print(f"!! {engine}: {exc}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(summary_table(results), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
