"""bench/run_all.py without running a benchmark: row counts, the table built from results files (ratios,
extrapolated peers, growth between Ns) and its place between the markers of the docs page."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import run_all  # noqa: E402


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
