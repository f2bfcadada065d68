"""Run the benchmark suite for chosen N on SQLite and PostgreSQL; one JSON file per N; the table in docs.

Usage::

    .venv/bin/python bench/run_all.py [--rows 1M,10M] [--engines sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--fairlearn-rows 1M] [--evidently-rows 100k] [--browser-runs 3] [--skip STEP,...]
        [--analysis-scale 1] [--push-clients 20]
        [--results bench/results] [--docs docs/performance.md] [--no-docs] [--work-dir DIR]
    .venv/bin/python bench/run_all.py --table-only      # regenerate the docs table from bench/results
    .venv/bin/python bench/run_all.py --merge A.json B.json   # one N run as one process per engine

For each N (default 1,000,000 and 10,000,000; 100,000,000 as an option; ``k`` and ``M`` suffixes
allowed) the harness writes one data set and runs the existing scripts on it, each as a child process
(so that every step's peak resident memory is its own):

1. **data**: N predictions of the demo generator, all in quarter 2025Q3, with the ground truth that
   has arrived (``bench_pipeline.write_logs`` with the columns ``slice_thickness`` and ``kernel``
   added), as CSV and Parquet, plus the confirmed cases (prediction joined with its label, 7 attributes,
   label, call) as Parquet for the peers (the site ids renamed ``site_a`` ... ``site_e``);
2. for each engine, on one database (PostgreSQL: a throwaway database on ``--postgres-url``, dropped at
   the end; SQLite: a file in the work folder) registered with ``bench/device-7-attributes.yaml``
   (7 attributes, every single stratum and pairwise intersection):

   * ``pipeline`` (``bench_pipeline.py --db --logs --report``): ingest the CSV predictions and the
     ground truth through the real service, analyse 2025Q3 (every metric with intervals over 291
     strata), write that run's report in every format, English and Chinese;
   * ``ingest`` (``bench_ingest.py --formats parquet``): the Parquet ingest on a fresh database, and on
     PostgreSQL the ``psql \\copy`` floor of the same CSV;
   * ``dashboard`` (``bench_dashboard.py --queries``): the read-model latency of each dashboard page;
   * ``api`` (``bench_api.py --db``): ``GET /v1/runs/{id}/results`` p50 / p99 under ``--api-readers``
     concurrent clients on the stored run;
   * ``browser`` (``bench_dashboard.py --create-user``): first meaningful paint of the overview and the
     heat map in Debian's Chromium through Playwright;

3. ``peers`` (``bench_statistics.py --cases``): on the same confirmed cases, DuckDB ``GROUP BY`` over
   Parquet (the floor), our in-memory path, fairlearn ``MetricFrame`` and Evidently ``GroupBy`` (these
   two at most ``--fairlearn-rows`` / ``--evidently-rows`` cases: beyond, their time is extrapolated
   linearly in the rows and labelled so in the table).

4. once per invocation, in the results of its first N (they do not depend on N): ``demo_analysis``
   (``bench_analysis.py --scale --analysis-scale``: the demo's 2025Q3 analysis on each engine, first and
   second run, beside DuckDB computing the same aggregates over the quarter's cases in Parquet), ``push``
   (``bench_api.py --push``, if it has that mode: post p50 / p99 per engine; else noted and left '–') and
   ``cli`` (``samd-monitor --help`` and ``--version``, median of 5 fresh processes).

The figures go to ``bench/results/<UTC date>-<N>.json`` (kept in git: docs/performance.md quotes
them), and the table between ``<!-- bench-table:begin -->`` and ``<!-- bench-table:end -->`` in
docs/performance.md is regenerated from the newest results file of every N there. A failed step is
recorded in the results (``errors``) and the others still run. Figures are printed, never asserted:
this is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_pipeline import _postgres_database, write_logs  # noqa: E402

CONFIG = BENCH / "device-7-attributes.yaml"
PERIOD, QUARTER = "2025Q3", ("2025Q3",)
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
STEPS = ("pipeline", "ingest", "dashboard", "api", "browser", "peers", "demo_analysis", "push", "cli")
#: Steps that do not depend on N: run once per invocation, stored in the results file of its first N.
SESSION_STEPS = ("demo_analysis", "push", "cli")
#: Fresh-process wall time of these command lines (median of :data:`CLI_RUNS`).
CLI_COMMANDS = {"help": ["--help"], "version": ["--version"]}
CLI_RUNS = 5
SCHEMA = "samd-monitor/bench-results"
#: The peers' site labels (bench_statistics.ATTRIBUTES) for the demo generator's site ids, in order.
SITES = {"site-bj-01": "site_a", "site-sh-02": "site_b", "site-gz-03": "site_c", "site-cd-04": "site_d",
         "site-wh-05": "site_e"}


def parse_count(text: str) -> int:
    """``100000``, ``100k``, ``1M`` or ``1,000,000`` as an integer."""
    match = re.fullmatch(r"\s*([\d_,.]+)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a row count (e.g. 100000, 100k, 1M)")
    number = float(match.group(1).replace(",", "").replace("_", ""))
    return int(number * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()])


def label(n: int) -> str:
    """``100k``, ``1M``, ``10M``: a row count as people say it."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


# --- data ----------------------------------------------------------------------------------------

def prepare_data(rows: int, folder: Path, seed: int) -> dict[str, Any]:
    """Write the logs (CSV, Parquet) and the confirmed cases (Parquet) of ``rows`` predictions."""
    import duckdb

    from bench_ingest import to_parquet

    started = time.perf_counter()
    predictions, truth, truth_rows = write_logs(rows, folder, seed, quarters=QUARTER, extra_attributes=True)
    generated = time.perf_counter() - started
    to_parquet(predictions, folder / "predictions.parquet")
    sites = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in SITES.items())
    cases = folder / "cases.parquet"
    connection = duckdb.connect()
    connection.execute(f"""
        COPY (
          SELECT CASE WHEN p.age < 45 THEN '<45' WHEN p.age < 65 THEN '45-64' WHEN p.age < 75 THEN '65-74'
                      ELSE '>=75' END AS age_band,
                 p.sex, p.emphysema_grade, p.scanner_vendor, CASE p.site_id {sites} END AS site,
                 p.slice_thickness, p.kernel, g.label = 1 AS label, p.predicted_label = 1 AS call
          FROM read_csv('{predictions}', header = true) p
          JOIN read_csv('{truth}', header = true) g USING (prediction_id)
          ORDER BY p.prediction_id
        ) TO '{cases}' (FORMAT parquet)""")
    confirmed = int(connection.execute(f"SELECT count(*) FROM read_parquet('{cases}')").fetchone()[0])
    connection.close()
    return {"predictions": rows, "ground_truth_rows": truth_rows, "confirmed_cases": confirmed,
            "generate_seconds": round(generated, 1), "prepare_seconds": round(time.perf_counter() - started, 1),
            "csv_mb": round(predictions.stat().st_size / 1e6), "quarter": PERIOD, "config": CONFIG.name}


# --- child processes ------------------------------------------------------------------------------

def run_script(script: str, args: list[str], out: Path, log: Path, timeout: float | None = None) -> Any:
    """Run ``bench/<script>`` with ``args`` and ``--json out``; its output goes to the terminal and ``log``."""
    command = [sys.executable, str(BENCH / script), *args, "--json", str(out)]
    print(f"\n$ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(command)}\n")
        handle.flush()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=out.parent, env=os.environ | {"PYTHONPATH": str(ROOT)})
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            handle.write(line)
        code = process.wait(timeout=timeout)
    if code != 0:
        raise RuntimeError(f"{script} exited with status {code} after {time.perf_counter() - started:.0f} s "
                           f"(output in {log.name})")
    return json.loads(out.read_text(encoding="utf-8"))


def run_engine(engine: str, folder: Path, args: argparse.Namespace, skip: set[str]) -> dict[str, Any]:
    """All per-engine steps on one database holding the N predictions; failures are recorded, not raised."""
    figures: dict[str, Any] = {"errors": {}}
    log = folder / f"{engine}.log"
    name = f"samd_bench_{uuid.uuid4().hex[:8]}"
    url = (f"sqlite:///{(folder / f'bench-{engine}.sqlite').as_posix()}" if engine == "sqlite"
           else _postgres_database(args.postgres_url, True, name))
    logs = ["--logs", str(folder)]

    def step(key: str, script: str, extra: list[str]) -> None:
        if key in skip:
            return
        try:
            figures[key] = run_script(script, extra, folder / f"{engine}-{key}.json", log)
        except (RuntimeError, OSError, ValueError) as exc:
            figures["errors"][key] = str(exc)
            print(f"!! {engine} {key}: {exc}", flush=True)

    try:
        step("pipeline", "bench_pipeline.py", ["--db", url, *logs, "--config", str(CONFIG), "--period", PERIOD,
                                               "--report"])
        step("ingest", "bench_ingest.py", ["--engines", engine, "--formats", "parquet", *logs, "--config",
                                           str(CONFIG), "--postgres-url", args.postgres_url])
        if "pipeline" in figures:  # the read steps need the stored analysis
            step("dashboard", "bench_dashboard.py", ["--db", url, "--queries", "--runs", str(args.query_runs)])
            step("api", "bench_api.py", ["--db", url, "--readers", str(args.api_readers),
                                         "--reads-per-reader", str(args.reads_per_reader)])
            step("browser", "bench_dashboard.py", ["--db", url, "--create-user", "--runs", str(args.browser_runs),
                                                   "--chromium", args.chromium])
    finally:
        if engine != "sqlite":
            _postgres_database(args.postgres_url, False, name)
    return figures


def run_peers(folder: Path, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    cases = data["confirmed_cases"]
    extra = ["--cases", str(folder / "cases.parquet"), "--rows", str(cases),
             "--fairlearn-rows", str(min(cases, args.fairlearn_rows)),
             "--evidently-rows", str(min(cases, args.evidently_rows)), "--no-bootstrap"]
    return run_script("bench_statistics.py", extra, folder / "peers.json", folder / "peers.log")


def has_push_mode() -> bool:
    """Whether ``bench/bench_api.py`` offers ``--push`` (the push endpoint alone, both engines in one run)."""
    path = BENCH / "bench_api.py"
    return path.exists() and '"--push"' in path.read_text(encoding="utf-8")


def time_cli(runs: int = CLI_RUNS) -> dict[str, Any]:
    """Wall time of ``samd-monitor --help`` and ``--version``, each in a fresh process, ``runs`` times."""
    import statistics

    program = Path(sys.executable).parent / "samd-monitor"
    command = [str(program)] if program.exists() else [sys.executable, "-m", "monitor"]
    figures: dict[str, Any] = {"command": Path(command[-1]).name, "runs": runs,
                               "load_average": [round(x, 2) for x in os.getloadavg()]}
    for key, extra in CLI_COMMANDS.items():
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([*command, *extra], capture_output=True, check=True, cwd=ROOT)
            seconds.append(time.perf_counter() - started)
        figures[key] = {"median_seconds": round(statistics.median(seconds), 4),
                        "seconds": [round(x, 4) for x in seconds]}
    print(f"cli: --help {figures['help']['median_seconds']:.3f} s, --version {figures['version']['median_seconds']:.3f} s "
          f"(median of {runs} fresh processes)", flush=True)
    return figures


def run_session(folder: Path, args: argparse.Namespace, skip: set[str], results: dict[str, Any]) -> None:
    """The steps independent of N (:data:`SESSION_STEPS`), into ``results``: the demo quarter's analysis
    beside its DuckDB floor and the HTTP push latency per engine (under ``engines``), the CLI's start-up
    (``cli``). Failures are recorded, not raised."""
    from sqlalchemy.engine import make_url

    log = folder / "session.log"
    engines = {engine: results["engines"].setdefault(engine, {"errors": {}}) for engine in args.engines}
    if "demo_analysis" not in skip:
        server = make_url(args.postgres_url)
        extra = ["--scale", f"{args.analysis_scale:g}", "--engines", ",".join(args.engines),
                 "--postgres-host", server.host or "127.0.0.1", "--postgres-port", str(server.port or 5432),
                 "--postgres-user", server.username or "postgres", "--work-dir", str(folder)]
        try:
            figures = run_script("bench_analysis.py", extra, folder / "demo-analysis.json", log)
            results["demo_analysis"] = {k: v for k, v in figures.items() if k not in ("engines", "errors")}
            for engine, figure in engines.items():
                if engine in figures["engines"]:
                    figure["demo_analysis"] = figures["engines"][engine]
                else:
                    figure["errors"]["demo_analysis"] = figures["errors"].get(engine, "not run")
        except (RuntimeError, OSError, ValueError) as exc:
            for figure in engines.values():
                figure["errors"]["demo_analysis"] = str(exc)
            print(f"!! demo_analysis: {exc}", flush=True)
    if "push" not in skip:
        if not has_push_mode():
            results.setdefault("notes", {})["push"] = "bench/bench_api.py has no --push mode: not measured"
            print("!! push: bench/bench_api.py has no --push mode; the column stays '–'", flush=True)
        else:
            choice = "both" if set(args.engines) >= {"sqlite", "postgresql"} else args.engines[0]
            extra = ["--push", "--engine", choice, "--postgres-url", args.postgres_url,
                     "--clients", str(args.push_clients)]
            try:
                for figure in run_script("bench_api.py", extra, folder / "push.json", log):
                    if figure.get("engine") in engines:
                        engines[figure["engine"]]["push"] = figure
            except (RuntimeError, OSError, ValueError) as exc:
                for figure in engines.values():
                    figure["errors"]["push"] = str(exc)
                print(f"!! push: {exc}", flush=True)
    if "cli" not in skip:
        try:
            results["cli"] = time_cli()
        except (OSError, subprocess.CalledProcessError) as exc:
            results["errors"]["cli"] = str(exc)
            print(f"!! cli: {exc}", flush=True)


def machine() -> dict[str, Any]:
    """Cores, CPU, memory, load, versions and the checked-out commit (read-only git)."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(),
                            "load_average": [round(x, 2) for x in os.getloadavg()]}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name"))
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                check=True)
        info["commit"], info["uncommitted_changes"] = commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        server = subprocess.run(["psql", "-X", "-At", "-c", "SHOW server_version"], capture_output=True, text=True,
                                check=True, env=os.environ | {"PGHOST": "127.0.0.1", "PGUSER": "postgres"})
        info["postgresql"] = server.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def run_n(rows: int, args: argparse.Namespace, skip: set[str], *, session: bool = True) -> Path:
    """Every step for ``rows`` predictions (and, with ``session``, the steps independent of N); returns the
    results file written."""
    started = datetime.now(UTC)
    results: dict[str, Any] = {"schema": SCHEMA, "schema_version": 1, "rows": rows, "api_readers": args.api_readers,
                               "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
                               "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "machine": machine(),
                               "engines": {}, "errors": {}}
    args.work_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"samd-bench-{label(rows)}-", dir=args.work_dir))
    try:
        print(f"== {rows:,} predictions: writing the logs and the cases into {folder}", flush=True)
        results["data"] = data = prepare_data(rows, folder, args.seed)
        print(f"   {data['confirmed_cases']:,} confirmed cases; {data['prepare_seconds']} s", flush=True)
        for engine in args.engines:
            print(f"\n== {label(rows)} on {engine}", flush=True)
            results["engines"][engine] = run_engine(engine, folder, args, skip)
        if "peers" not in skip:
            print(f"\n== {label(rows)}: the peers on the same {data['confirmed_cases']:,} cases", flush=True)
            try:
                results["peers"] = run_peers(folder, data, args)
            except (RuntimeError, OSError, ValueError) as exc:
                results["errors"]["peers"] = str(exc)
                print(f"!! peers: {exc}", flush=True)
        if session:
            print("\n== independent of N: the demo quarter's analysis and its floor, HTTP push, the CLI", flush=True)
            run_session(folder, args, skip, results)
    finally:
        if args.keep_work:
            print(f"work folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    finished = datetime.now(UTC)
    results["finished_at"] = finished.isoformat(timespec="seconds").replace("+00:00", "Z")
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{started:%Y-%m-%d}-{rows}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}", flush=True)
    return path


def merge_results(paths: list[Path]) -> dict[str, Any]:
    """One results file from runs of the same N that each covered some engines (e.g. one process per
    engine, run side by side to save time: their figures then include each other's load).

    Engines, errors and peers are united (a repeated engine or peers is an error); ``data`` must agree
    (the same generator, N and seed); ``machine`` is the first run's with every run's load averages;
    ``runs`` keeps each run's command, times and load.
    """
    parts = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    if len({p["rows"] for p in parts}) != 1:
        raise SystemExit(f"--merge: the files hold different N ({', '.join(str(p['rows']) for p in parts)})")
    merged: dict[str, Any] = {key: value for key, value in parts[0].items() if key not in ("engines", "errors", "peers")}
    merged |= {"engines": {}, "errors": {}, "merged_from": [path.name for path in paths], "runs": []}
    merged["started_at"] = min(p["started_at"] for p in parts)
    merged["finished_at"] = max(p["finished_at"] for p in parts)
    for path, part in zip(paths, parts, strict=True):
        if _get(part, "data", "confirmed_cases") != _get(merged, "data", "confirmed_cases"):
            raise SystemExit(f"--merge: {path} was generated from other data than {paths[0]}")
        if overlap := set(part["engines"]) & set(merged["engines"]):
            raise SystemExit(f"--merge: {', '.join(sorted(overlap))} appears in more than one file")
        merged["engines"] |= part["engines"]
        merged["errors"] |= part["errors"]
        if "peers" in part:
            if "peers" in merged:
                raise SystemExit("--merge: the peers appear in more than one file")
            merged["peers"] = part["peers"]
        merged["runs"].append({"file": path.name, "command": part["command"], "started_at": part["started_at"],
                               "finished_at": part["finished_at"], "engines": sorted(part["engines"]),
                               "load_average": _get(part, "machine", "load_average"),
                               "load_average_after": _get(part, "machine", "load_average_after")})
    merged["command"] = " + ".join(run["command"] for run in merged["runs"])
    return merged


# --- the table ------------------------------------------------------------------------------------

def newest_results(folder: Path) -> list[dict[str, Any]]:
    """The newest results file of every N in ``folder``, by N."""
    newest: dict[int, tuple[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        if results.get("schema") != SCHEMA:
            continue
        stamp = results.get("started_at", "")
        if results["rows"] not in newest or stamp >= newest[results["rows"]][0]:
            newest[results["rows"]] = (stamp, results | {"file": path.name})
    return [newest[n][1] for n in sorted(newest)]


def _get(tree: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(tree, (dict, list)):
            return None
        try:
            tree = tree[key]
        except (KeyError, IndexError, TypeError):
            return None
    return tree


def engine_figures(results: dict[str, Any], engine: str) -> dict[str, Any]:
    """The table's figures of one engine in one results file (None where a step did not run)."""
    e = results["engines"][engine]
    pipe = e.get("pipeline", {}).get("engines", {}).get(engine, {})
    pred, analysis, report = pipe.get("ingest_predictions"), pipe.get("analysis"), pipe.get("report")
    parquet = _get(e, "ingest", "runs", f"{engine}/parquet")
    copy = _get(e, "ingest", "psql_copy", "rows_per_second")
    stored = _get(e, "ingest", "stored_copy", "rows_per_second")
    csv_rate = pred["rows"] / pred["seconds"] if pred else None
    browser = e.get("browser") or {}
    first, warm = browser.get("first_run") or {}, browser.get("warm_runs_median") or {}
    api = (e.get("api") or [{}])[0]
    peaks = {"ingest CSV": _get(pred, "peak_rss_mb"), "ingest ground truth": _get(pipe, "ingest_ground_truth",
                                                                                  "peak_rss_mb"),
             "ingest Parquet": _get(parquet, "peak_rss_mb"), "analysis": _get(analysis, "peak_rss_mb"),
             "report": _get(report, "peak_rss_mb"), "dashboard queries": _get(e, "dashboard", "peak_rss_mb"),
             "API": api.get("peak_rss_mb"), "dashboard server": browser.get("server_peak_mb"),
             "demo analysis": max((_get(e, "demo_analysis", k, "peak_rss_mb") or 0 for k in
                                   ("analysis_first", "analysis_second")), default=0) or None}
    peaks = {k: v for k, v in peaks.items() if v is not None}
    top = max(peaks, key=lambda k: peaks[k]) if peaks else None
    return {
        "csv_rate": csv_rate, "csv_s": _get(pred, "seconds"),
        "parquet_rate": _get(parquet, "rows_per_second"), "parquet_s": _get(parquet, "seconds"),
        "copy_rate": copy, "copy_ratio": csv_rate / copy if csv_rate and copy else None,
        "stored_rate": stored, "stored_ratio": csv_rate / stored if csv_rate and stored else None,
        "analysis_s": _get(analysis, "seconds"), "strata": _get(analysis, "strata"),
        "report_s": _get(report, "seconds"),
        "overview_ms": _get(e, "dashboard", "pages_ms", "overview", "median"),
        "heatmap_ms": _get(e, "dashboard", "pages_ms", "heatmap", "median"),
        "paint_overview_s": first.get("overview"), "paint_heatmap_s": first.get("heatmap"),
        "paint_overview_warm_s": warm.get("overview"), "paint_heatmap_warm_s": warm.get("heatmap"),
        "api_p50_ms": api.get("results_p50_ms"), "api_p99_ms": api.get("results_p99_ms"),
        "peak_mb": peaks[top] if top else None, "peak_step": top, "errors": sorted(e.get("errors", {})),
        "demo_first_s": _get(e, "demo_analysis", "analysis_first", "seconds"),
        "demo_second_s": _get(e, "demo_analysis", "analysis_second", "seconds"),
        "demo_first_cpu_s": _analysis_cpu(_get(e, "demo_analysis", "analysis_first")),
        "demo_second_cpu_s": _analysis_cpu(_get(e, "demo_analysis", "analysis_second")),
        "demo_floor_s": _get(e, "demo_analysis", "floor", "seconds"),
        "demo_second_ratio": _get(e, "demo_analysis", "ratios", "analysis_second_to_floor"),
        "push_p50_ms": _get(e, "push", "post_p50_ms"), "push_p99_ms": _get(e, "push", "post_p99_ms"),
        "cli_help_ms": _ms(_get(results, "cli", "help", "median_seconds")),
        "cli_version_ms": _ms(_get(results, "cli", "version", "median_seconds")),
    }


def _analysis_cpu(run: dict[str, Any] | None) -> float | None:
    """CPU seconds of one demo-quarter analysis: its process's, plus the PostgreSQL backends' when measured."""
    if not run or run.get("cpu_seconds") is None:
        return None
    return run["cpu_seconds"] + (run.get("server_cpu_seconds") or 0.0)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _n(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def _engine_name(engine: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(engine, engine)


def peer_figures(results: dict[str, Any]) -> dict[str, Any] | None:
    """DuckDB, ours in memory, fairlearn and Evidently on the confirmed cases; extrapolated where needed."""
    peers = results.get("peers")
    if not peers:
        return None
    steps, cases = peers["steps"], peers["rows"]
    cells, evaluate = _get(steps, "cells", "seconds"), _get(steps, "evaluate", "seconds")
    out: dict[str, Any] = {"cases": cases, "duckdb_s": _get(steps, "duckdb", "seconds"), "cells_s": cells,
                           "ours_s": cells + evaluate if cells is not None and evaluate is not None else None}
    for peer, rows_key in (("fairlearn", "fairlearn_rows"), ("evidently", "evidently_rows")):
        measured, rows = _get(steps, peer, "seconds"), _get(steps, peer, "rows") or peers.get(rows_key)
        out[f"{peer}_measured_s"], out[f"{peer}_rows"] = measured, rows
        out[f"{peer}_s"] = measured * cases / rows if measured is not None and rows else None
        out[f"{peer}_extrapolated"] = bool(rows and rows < cases)
    return out


def _peer_cell(p: dict[str, Any], peer: str) -> str:
    if p[f"{peer}_s"] is None:
        return "–"
    if p[f"{peer}_extrapolated"]:
        return f"≈{p[f'{peer}_s']:,.0f} (extrapolated from {p[f'{peer}_measured_s']:,.1f} s on {label(p[f'{peer}_rows'])})"
    return f"{p[f'{peer}_s']:,.1f}"


def _scales(all_results: list[dict[str, Any]]) -> str:
    """The demo scales of the files' demo-quarter analyses (``1``, or ``0.1 (100k), 1 (1M)``)."""
    found = [(r["rows"], s) for r in all_results if (s := _get(r, "demo_analysis", "scale")) is not None]
    if len({s for _, s in found}) == 1:
        return f"{found[0][1]:g}"
    return ", ".join(f"{s:g} ({label(n)})" for n, s in found)


def render_table(all_results: list[dict[str, Any]]) -> str:
    """The Markdown between the markers: our steps, the peers, and the growth between the Ns."""
    if not all_results:
        return "_No results yet: run `make bench`._"
    lines = [
        "Generated by `bench/run_all.py` from "
        + ", ".join(f"`bench/results/{r['file']}`" for r in all_results)
        + " (do not edit by hand). Machine: "
        + f"{all_results[-1]['machine'].get('cores')} cores, {all_results[-1]['machine'].get('memory_gb')} GB, "
        + "shared with other work (load averages in the files). Data: N predictions of the demo generator in one "
        + "quarter, 7 attributes (`bench/device-7-attributes.yaml`: 25 single and 265 pairwise strata). "
        + "Ingest and COPY rates are of the prediction log (the bare COPY into a table of text columns without "
        + "keys; the stored-rows COPY of the rows our ingest stored into the `predictions` table with its "
        + "indexes, unique key and foreign key, see docs/ingestion.md); the analysis is the whole quarter; the report is "
        + "every format in English and Chinese; dashboard queries are the read-model calls of a page (median); "
        + "paint is Chromium's time to the page's key element, the overview's counted from pressing *Sign in*, "
        + "first with the dashboard's cache cold, warm the median of the later runs; the API figures are "
        + f"`GET /v1/runs/{{id}}/results` under {all_results[-1].get('api_readers', 50)} concurrent clients; "
        + "HTTP push is `bench_api.py --push` (concurrent clients each posting NDJSON bodies of 1,000 new "
        + "predictions to a fresh database; p50 / p99 of a post); the demo quarter is `bench_analysis.py`: the "
        + "demo's data (`samd-monitor demo`'s generator and monthly deliveries"
        + (f", scale {scales}" if (scales := _scales(all_results)) else "")
        + ") and its 2025Q3 analysis with every section, timed as the call alone, first (recounting what the "
        + "ingest left dirty) and second (every lazily kept aggregate fresh), with its CPU seconds (the "
        + "process's, plus the PostgreSQL backends'), beside the floor in the same run: "
        + "DuckDB computing the same aggregates (confusion cells of all attributes, verification cells, score "
        + "histogram, per-feature histograms; checked equal to the database's) over the quarter's cases exported "
        + "to Parquet; the CLI figures are the median wall time of 5 fresh processes; these last four do not "
        + "depend on N and are measured once per invocation (in the file of its first N, '–' elsewhere); "
        + "peak memory is the largest of the steps' own peaks.",
        "",
        "| N | engine | ingest CSV rows/s | ingest Parquet rows/s | psql COPY rows/s (bare / stored rows) "
        "| CSV ingest / COPY (bare / stored rows) "
        "| analysis s | report s | dashboard queries ms (overview / heat map) "
        "| paint overview s (first / warm) | paint heat map s (first / warm) "
        "| API results p50 / p99 ms | HTTP push p50 / p99 ms | demo quarter analysis s, first / second (CPU s) "
        "| its DuckDB floor s (second / floor) | CLI --help / --version ms | peak MB (step) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    per: dict[tuple[int, str], dict[str, Any]] = {}
    for results in all_results:
        for engine in results["engines"]:
            f = per[(results["rows"], engine)] = engine_figures(results, engine)
            lines.append(
                f"| {label(results['rows'])} | {_engine_name(engine)} | {_n(f['csv_rate'])} | {_n(f['parquet_rate'])} "
                f"| {_n(f['copy_rate'])} / {_n(f['stored_rate'])} | {_n(f['copy_ratio'], 3)} / {_n(f['stored_ratio'], 3)} "
                f"| {_n(f['analysis_s'], 2)} | {_n(f['report_s'], 1)} "
                f"| {_n(f['overview_ms'], 0)} / {_n(f['heatmap_ms'], 0)} "
                f"| {_n(f['paint_overview_s'], 2)} / {_n(f['paint_overview_warm_s'], 2)} "
                f"| {_n(f['paint_heatmap_s'], 2)} / {_n(f['paint_heatmap_warm_s'], 2)} "
                f"| {_n(f['api_p50_ms'], 0)} / {_n(f['api_p99_ms'], 0)} "
                f"| {_n(f['push_p50_ms'], 0)} / {_n(f['push_p99_ms'], 0)} "
                f"| {_n(f['demo_first_s'], 2)} / {_n(f['demo_second_s'], 2)} "
                f"(CPU {_n(f['demo_first_cpu_s'], 1)} / {_n(f['demo_second_cpu_s'], 1)}) "
                f"| {_n(f['demo_floor_s'], 3)} ({_n(f['demo_second_ratio'], 1, 'x')}) "
                f"| {_n(f['cli_help_ms'], 0)} / {_n(f['cli_version_ms'], 0)} "
                f"| {_n(f['peak_mb'])} ({f['peak_step'] or '–'}) |")
    failed = [f"{label(n)} {_engine_name(e)}: {', '.join(f['errors'])}" for (n, e), f in per.items() if f["errors"]]
    if failed:
        lines += ["", "Steps that failed (see the results file): " + "; ".join(failed) + "."]
    notes = [f"{label(r['rows'])}: {note}" for r in all_results for note in (r.get("notes") or {}).values()]
    if notes:
        lines += ["", "Not measured: " + "; ".join(notes) + "."]

    peers = [(r, p) for r in all_results if (p := peer_figures(r)) is not None]
    if peers:
        lines += [
            "",
            "Peers on the same confirmed cases (the predictions with their label): DuckDB `GROUP BY` of the 7 "
            "attributes over Parquet (the floor for building the cell table), our in-memory path "
            "(cells + `evaluate_cells`), fairlearn `MetricFrame` (29 frames, no intervals) and Evidently `GroupBy` "
            "(28 groupings x 3 metrics). The peers' ratios are to our database analysis of the same N (SQLite / "
            "PostgreSQL), which also computes intervals, tests and every other section; the DuckDB ratios compare "
            "our pandas cell table of the same cases, and our whole analysis, with the `GROUP BY` alone.",
            "",
            "| N | confirmed cases | DuckDB s | ours in memory s (cells + evaluate) | fairlearn s | Evidently s "
            "| fairlearn / our analysis | Evidently / our analysis | our cells in memory / DuckDB "
            "| our whole analysis / DuckDB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for results, p in peers:
            analyses = [per.get((results["rows"], e), {}).get("analysis_s") for e in ("sqlite", "postgresql")]

            def ratio(top: float | None, bottoms: list[float | None], invert: bool = False) -> str:
                parts = []
                for bottom in bottoms:
                    if top is None or not bottom:
                        parts.append("–")
                    else:
                        parts.append(f"{(bottom / top if invert else top / bottom):,.1f}x")
                return " / ".join(parts)

            lines.append(
                f"| {label(results['rows'])} | {p['cases']:,} | {_n(p['duckdb_s'], 2)} | {_n(p['ours_s'], 2)} "
                f"| {_peer_cell(p, 'fairlearn')} | {_peer_cell(p, 'evidently')} "
                f"| {ratio(p['fairlearn_s'], analyses)} | {ratio(p['evidently_s'], analyses)} "
                f"| {ratio(p['duckdb_s'], [p['cells_s']], invert=True)} "
                f"| {ratio(p['duckdb_s'], analyses, invert=True)} |")

    ns = sorted({n for n, _ in per})
    growth = [(a, b) for a, b in zip(ns, ns[1:])]
    if growth:
        keys = [("csv_s", "ingest CSV"), ("parquet_s", "ingest Parquet"), ("analysis_s", "analysis"),
                ("report_s", "report"), ("overview_ms", "overview queries"), ("heatmap_ms", "heat map queries"),
                ("paint_overview_s", "paint overview"), ("paint_heatmap_s", "paint heat map"),
                ("api_p50_ms", "API p50"), ("peak_mb", "peak memory")]
        lines += ["", "Growth: each step's time (memory for the last column) at the larger N divided by the "
                      "smaller N's (the rows grow by the factor in the first column; equal means linear, 1 means "
                      "independent of the rows).", "",
                  "| N | engine | " + " | ".join(name for _, name in keys) + " |",
                  "|---|---|" + "---|" * len(keys)]
        for a, b in growth:
            for engine in ("sqlite", "postgresql"):
                small, large = per.get((a, engine)), per.get((b, engine))
                if not small or not large:
                    continue
                cells = [f"{large[k] / small[k]:.2f}x" if large[k] and small[k] else "–" for k, _ in keys]
                lines.append(f"| {label(a)} → {label(b)} (x{b / a:g}) | {_engine_name(engine)} | "
                             + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_docs(path: Path, table: str) -> None:
    """Replace the text between the markers of ``path`` with ``table``."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: the markers {BEGIN} and {END} are missing")
    path.write_text(text[:start + len(BEGIN)] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    print(f"updated the table in {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1M,10M", help="Comma-separated N (e.g. 100k or 1M,10M,100M).")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fairlearn-rows", type=parse_count, default=1_000_000,
                        help="At most this many cases for fairlearn (beyond: extrapolated).")
    parser.add_argument("--evidently-rows", type=parse_count, default=100_000,
                        help="At most this many cases for Evidently (beyond: extrapolated).")
    parser.add_argument("--query-runs", type=int, default=5, help="Rounds of the dashboard query timing.")
    parser.add_argument("--api-readers", type=int, default=50)
    parser.add_argument("--reads-per-reader", type=int, default=10)
    parser.add_argument("--browser-runs", type=int, default=3)
    parser.add_argument("--analysis-scale", type=float, default=1.0,
                        help="The demo's --scale for bench_analysis.py (1 = the demo's full volume).")
    parser.add_argument("--push-clients", type=int, default=20, help="Concurrent clients of bench_api.py --push.")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--skip", default="", help=f"Comma-separated steps to skip: {', '.join(STEPS)}.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Folder of the results files.")
    parser.add_argument("--docs", type=Path, default=DOCS, help="Page whose table is regenerated.")
    parser.add_argument("--no-docs", action="store_true", help="Do not touch the docs page.")
    parser.add_argument("--table-only", action="store_true", help="Only regenerate the table from --results.")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="FILE",
                        help="Merge results files of the same N (each covering some engines) into --results, "
                             "then regenerate the table.")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="Where the logs and SQLite files are written (about 5 GB for 10M, 50 GB for 100M).")
    parser.add_argument("--keep-work", action="store_true", help="Keep the work folder (logs, databases).")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := skip - set(STEPS):
        parser.error(f"--skip: unknown step(s) {', '.join(sorted(unknown))}; use {', '.join(STEPS)}")
    if "pipeline" in skip:
        skip |= {"dashboard", "api", "browser"}  # they read the analysis the pipeline stores
    if args.merge:
        merged = merge_results(args.merge)
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"{merged['started_at'][:10]}-{merged['rows']}.json"
        path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}", flush=True)
    elif not args.table_only:
        for i, rows in enumerate(parse_count(r) for r in args.rows.split(",") if r.strip()):
            run_n(rows, args, skip, session=i == 0)
    if not args.no_docs:
        update_docs(args.docs, render_table(newest_results(args.results)))


if __name__ == "__main__":
    main()
