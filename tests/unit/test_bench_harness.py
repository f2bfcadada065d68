"""bench/run_all.py without running a benchmark: row counts, the table built from results files (ratios,
extrapolated peers, growth between Ns) and its place between the markers of the docs page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import run_all


def _engine(rows: int, scale: float, *, copy: bool) -> dict[str, Any]:
    """One engine's figures as the scripts write them; times grow with ``scale``."""
    pipeline = {"ingest_predictions": {"rows": rows, "seconds": 10.0 * scale, "peak_rss_mb": 400.0},
                "ingest_ground_truth": {"rows": rows, "seconds": 5.0 * scale, "peak_rss_mb": 350.0},
                "analysis": {"seconds": 2.0 * scale, "strata": 291, "peak_rss_mb": 500.0},
                "report": {"seconds": 40.0, "peak_rss_mb": 650.0}}
    ingest: dict[str, Any] = {"runs": {}}
    name = "postgresql" if copy else "sqlite"
    ingest["runs"][f"{name}/parquet"] = {"rows": rows, "seconds": 8.0 * scale, "rows_per_second": rows / (8.0 * scale),
                                         "peak_rss_mb": 420.0}
    if copy:
        ingest["psql_copy"] = {"seconds": 1.0, "rows_per_second": float(rows)}
        ingest["stored_copy"] = {"seconds": 4.0, "rows_per_second": rows / 4.0}
    return {"errors": {}, "pipeline": {"engines": {name: pipeline}}, "ingest": ingest,
            "dashboard": {"pages_ms": {"overview": {"median": 20.0}, "heatmap": {"median": 30.0}}, "peak_rss_mb": 300.0},
            "api": [{"results_p50_ms": 50.0, "results_p99_ms": 400.0, "peak_rss_mb": 360.0}],
            "browser": {"warm_runs_median": {"overview": 1.5, "heatmap": 1.2}, "server_peak_mb": 700.0 * scale}}


def _results(rows: int, scale: float) -> dict[str, Any]:
    cases = int(rows * 0.8)
    return {"schema": run_all.SCHEMA, "schema_version": 1, "rows": rows, "started_at": "2026-11-22T10:00:00Z",
            "machine": {"cores": 2, "memory_gb": 23.5},
            "engines": {"sqlite": _engine(rows, scale, copy=False), "postgresql": _engine(rows, scale, copy=True)},
            "peers": {"rows": cases, "fairlearn_rows": min(cases, 1000), "evidently_rows": min(cases, 100),
                      "steps": {"cells": {"seconds": 0.5}, "evaluate": {"seconds": 0.25}, "duckdb": {"seconds": 0.25},
                                "fairlearn": {"seconds": 10.0, "rows": min(cases, 1000)},
                                "evidently": {"seconds": 4.0, "rows": min(cases, 100)}}},
            "errors": {}}


def test_row_counts_and_their_labels() -> None:
    assert [run_all.parse_count(t) for t in ("100000", "100k", "1M", "10M", "1,000,000", "2.5M")] == [
        100_000, 100_000, 1_000_000, 10_000_000, 1_000_000, 2_500_000]
    assert [run_all.label(n) for n in (100_000, 1_000_000, 10_000_000, 1_234)] == ["100k", "1M", "10M", "1,234"]
    with pytest.raises(Exception, match="not a row count"):
        run_all.parse_count("many")


def test_table_from_results_files(tmp_path: Path) -> None:
    for rows, scale in ((1000, 1.0), (10_000, 4.0)):
        (tmp_path / f"2026-11-22-{rows}.json").write_text(json.dumps(_results(rows, scale)), encoding="utf-8")
    (tmp_path / "notes.json").write_text("{}", encoding="utf-8")  # not a results file: ignored
    table = run_all.render_table(run_all.newest_results(tmp_path))
    lines = table.splitlines()
    pg_1k = next(line for line in lines if line.startswith("| 1k | PostgreSQL |"))
    # CSV ingest 100 rows/s; Parquet 125 rows/s; bare COPY 1,000 rows/s, stored-rows COPY 250 rows/s;
    # ratios 0.1 and 0.4; peak: the dashboard server
    assert pg_1k.split(" | ")[2:6] == ["100", "125", "1,000 / 250", "0.100 / 0.400"]
    assert "| – / 1.50 | – / 1.20 |" in pg_1k  # paint: no first run in these results, warm medians
    assert pg_1k.endswith("| 700 (dashboard server) |")
    assert next(line for line in lines if line.startswith("| 1k | SQLite |")).split(" | ")[4:6] == ["– / –", "– / –"]
    peers_10k = next(line for line in lines if line.startswith("| 10k | 8,000 |"))
    # fairlearn measured on 1,000 of 8,000 cases: 80 s extrapolated; our analysis 8 s on each engine
    assert "≈80 (extrapolated from 10.0 s on 1k)" in peers_10k and "| 10.0x / 10.0x |" in peers_10k
    assert "| 2.0x |" in peers_10k  # our cells in memory / DuckDB
    growth = next(line for line in lines if line.startswith("| 1k → 10k (x10) | SQLite |"))
    assert growth.split(" | ")[2:5] == ["4.00x", "4.00x", "4.00x"]  # ingest CSV, Parquet, analysis


def test_runs_of_one_engine_each_merge_into_one_results_file(tmp_path: Path) -> None:
    whole = _results(1000, 1.0)
    sqlite = whole | {"engines": {"sqlite": whole["engines"]["sqlite"]}, "command": "run_all.py --engines sqlite",
                      "data": {"confirmed_cases": 800}, "finished_at": "2026-11-22T11:00:00Z",
                      "machine": {"cores": 2, "memory_gb": 23.5, "load_average": [1.0, 1.0, 1.0]}}
    postgresql = {key: value for key, value in sqlite.items() if key != "peers"} | {
        "engines": {"postgresql": whole["engines"]["postgresql"]}, "command": "run_all.py --engines postgresql",
        "started_at": "2026-11-22T09:59:00Z", "finished_at": "2026-11-22T10:30:00Z",
        "errors": {"note": "kept"}}
    paths = []
    for name, part in (("a.json", sqlite), ("b.json", postgresql)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(part), encoding="utf-8")
    merged = run_all.merge_results(paths)
    assert set(merged["engines"]) == {"sqlite", "postgresql"} and merged["peers"] == whole["peers"]
    assert (merged["started_at"], merged["finished_at"]) == ("2026-11-22T09:59:00Z", "2026-11-22T11:00:00Z")
    assert merged["errors"] == {"note": "kept"} and [r["engines"] for r in merged["runs"]] == [["sqlite"], ["postgresql"]]
    assert run_all.render_table([merged | {"file": "m.json"}]) == run_all.render_table([whole | {"file": "m.json"}])
    with pytest.raises(SystemExit, match="more than one file"):
        run_all.merge_results([paths[0], paths[0]])
    paths[1].write_text(json.dumps(postgresql | {"data": {"confirmed_cases": 7}}), encoding="utf-8")
    with pytest.raises(SystemExit, match="other data"):
        run_all.merge_results(paths)


def test_the_table_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nintro\n\n{run_all.BEGIN}\nold table\n{run_all.END}\n\nhand-written\n",
                    encoding="utf-8")
    run_all.update_docs(page, "| new |")
    assert page.read_text(encoding="utf-8") == (
        f"# Performance\n\nintro\n\n{run_all.BEGIN}\n| new |\n{run_all.END}\n\nhand-written\n")
    page.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        run_all.update_docs(page, "| new |")
    assert run_all.render_table([]).startswith("_No results yet")


def _with_session(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` with the figures of the steps independent of N, as bench_analysis.py, bench_api.py --push and
    run_all.time_cli write them."""
    for name, engine in results["engines"].items():
        server = 1.5 if name == "postgresql" else None
        engine["demo_analysis"] = {"analysis_first": {"seconds": 12.0, "cpu_seconds": 6.0, "server_cpu_seconds": server,
                                                      "peak_rss_mb": 900.0},
                                   "analysis_second": {"seconds": 3.0, "cpu_seconds": 2.0, "server_cpu_seconds": server,
                                                       "peak_rss_mb": 880.0},
                                   "floor": {"seconds": 0.1, "peak_rss_mb": 200.0},
                                   "ratios": {"analysis_first_to_floor": 120.0, "analysis_second_to_floor": 30.0}}
        engine["push"] = {"engine": name, "post_p50_ms": 30, "post_p99_ms": 250}
    results["demo_analysis"] = {"scale": 0.5}
    results["cli"] = {"help": {"median_seconds": 0.35}, "version": {"median_seconds": 0.3}}
    return results


def test_the_table_shows_the_demo_quarter_push_and_cli_figures(tmp_path: Path) -> None:
    (tmp_path / "2026-12-07-1000.json").write_text(json.dumps(_with_session(_results(1000, 1.0))), encoding="utf-8")
    (tmp_path / "2026-12-07-10000.json").write_text(json.dumps(_results(10_000, 4.0)), encoding="utf-8")
    table = run_all.render_table(run_all.newest_results(tmp_path))
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| N | engine | ingest CSV"))
    assert header.count("|") - 1 == 17 and lines[lines.index(header) + 1].count("---") == 17
    assert "| HTTP push p50 / p99 ms | demo quarter analysis s, first / second (CPU s) |" in header
    assert "scale 0.5" in lines[0]
    sqlite_1k = next(line for line in lines if line.startswith("| 1k | SQLite |"))
    # API reads, then push p50 / p99, the demo quarter first / second, the floor (second / floor), the CLI
    assert "| 50 / 400 | 30 / 250 | 12.00 / 3.00 (CPU 6.0 / 2.0) | 0.100 (30.0x) | 350 / 300 |" in sqlite_1k
    pg_1k = next(line for line in lines if line.startswith("| 1k | PostgreSQL |"))
    assert "| 12.00 / 3.00 (CPU 7.5 / 3.5) |" in pg_1k  # the process's CPU and the server backends'
    assert sqlite_1k.endswith("| 900 (demo analysis) |")  # the demo analysis's peak is the largest here
    sqlite_10k = next(line for line in lines if line.startswith("| 10k | SQLite |"))
    assert "| 50 / 400 | – / – | – / – (CPU – / –) | – (–) | – / – |" in sqlite_10k  # measured once, in the first N's file


def test_push_without_a_push_mode_is_left_out_and_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "BENCH", tmp_path)  # no bench_api.py with --push here
    assert not run_all.has_push_mode()
    (tmp_path / "bench_api.py").write_text('parser.add_argument("--push", action="store_true")\n', encoding="utf-8")
    assert run_all.has_push_mode()
    (tmp_path / "bench_api.py").unlink()
    results = _results(1000, 1.0)
    args = argparse.Namespace(engines=["sqlite", "postgresql"], postgres_url="postgresql+psycopg://postgres@127.0.0.1/x")
    run_all.run_session(tmp_path, args, {"demo_analysis", "cli"}, results)
    assert results["notes"] == {"push": "bench/bench_api.py has no --push mode: not measured"}
    assert all("push" not in e and not e["errors"] for e in results["engines"].values())
    table = run_all.render_table([results | {"file": "x.json"}])
    assert "Not measured: 1k: bench/bench_api.py has no --push mode: not measured." in table
    assert "| 50 / 400 | – / – |" in table


def test_cli_start_up_is_the_median_of_fresh_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr(run_all.subprocess, "run", lambda command, **_: calls.append(command))
    monkeypatch.setattr(run_all.time, "perf_counter", lambda: next(clock))
    figures = run_all.time_cli(runs=3)
    assert [c[-1] for c in calls] == ["--help"] * 3 + ["--version"] * 3
    assert figures["help"] == {"median_seconds": 1.0, "seconds": [1.0, 1.0, 1.0]} and figures["runs"] == 3


def test_table_only_regenerates_the_committed_block(tmp_path: Path) -> None:
    """docs/performance.md holds exactly what ``run_all.py --table-only`` makes of the committed results files."""
    text = run_all.DOCS.read_text(encoding="utf-8")
    committed = text[text.index(run_all.BEGIN) + len(run_all.BEGIN):text.index(run_all.END)].strip("\n")
    assert run_all.render_table(run_all.newest_results(run_all.RESULTS)) == committed
    copy = tmp_path / "performance.md"
    copy.write_text(text, encoding="utf-8")
    run_all.main(["--table-only", "--docs", str(copy)])
    assert copy.read_text(encoding="utf-8") == text


def test_the_floor_counts_what_the_analysis_counts(tmp_path: Path) -> None:
    """bench_analysis.py's DuckDB aggregates on a handful of window cases, against pandas counts."""
    import bench_analysis
    import duckdb
    import pandas as pd

    cases = pd.DataFrame({
        "model_version": ["2.1.0"] * 6, "s0": ["<65", "<65", ">=65", ">=65", ">=65", "unknown"],
        "s1": ["F", "M", "F", "F", "M", "M"], "score_bin": [100, 900, 850, 850, 20, 500],
        "score_pct": [10, 90, 85, 85, 2, 50], "predicted_label": [0, 1, 1, 1, 0, 1],
        "label": [0, 1, 0, None, 1, 1], "site_id": ["a", "a", "b", "b", "b", "a"], "f0": pd.array([40, 50, 70, 70, 80, None], dtype="Int64")})
    path = tmp_path / "cases.parquet"
    cases.to_parquet(path, index=False)
    queries = bench_analysis.floor_queries(str(path), ["age_band", "sex"], {"age_band": "f0"})
    assert set(queries) == set(bench_analysis.AGGREGATES)
    run = duckdb.connect()
    confusion = run.execute(queries["confusion_cells"]).df().set_index(["age_band", "sex"]).sort_index()
    assert confusion.loc[(">=65", "F")][["tp", "fp", "fn", "tn"]].tolist() == [0, 1, 0, 0]
    assert confusion[["tp", "fp", "fn", "tn"]].to_numpy().sum() == 5  # the labelled cases
    verification = run.execute(queries["verification_cells"]).df()
    assert verification["n"].sum() == 6 and verification.loc[verification["verified"] == 0, "n"].sum() == 1
    histogram = run.execute(queries["score_histogram"]).df()
    assert sorted(histogram["grouping"].unique()) == ["", "age_band", "sex"]
    assert (histogram.groupby("grouping")["n"].sum() == 6).all()
    assert histogram.loc[(histogram["grouping"] == "") & (histogram["score_bin"] == 850), "n"].tolist() == [1, 1]
    features = run.execute(queries["feature_histograms"]).df()
    assert features.groupby("feature")["n"].sum().to_dict() == {"age_band": 6, "sex": 6, "site_id": 6, "score": 6}
    assert dict(zip(*features[features["feature"] == "age_band"][["value", "n"]].T.values)).get("70") == 2
    frame = pd.DataFrame({"value": [1.0, None, float("nan")], "n": [2, 3, 4]})
    assert sorted(map(str, bench_analysis._canonical(frame)["value"])) == ["1", "None", "None"]
