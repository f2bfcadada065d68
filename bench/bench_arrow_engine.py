"""Benchmark the Arrow engine (``analyze --engine arrow``) against DuckDB on the same Parquet logs.

Usage::

    .venv/bin/python bench/bench_arrow_engine.py [--rows 1000000] [--rows 10000000] [--seed 7] [--no-full]
        [--data DIR] [--json PATH]

For each ``--rows`` N, lake logs are generated once with numpy and written as Parquet (not timed):
N predictions of one device over one quarter (two model versions; age, sex, emphysema grade and scanner
vendor like ``examples/lung-nodule-ct.yaml``; ISO ids; UTC microsecond timestamps) and ground truth
for 85 % of them, 3 % of which get a second, later row (a correction). Then, each in its own child
process so that its peak resident memory (VmHWM) is its own:

* ``duckdb_floor``: DuckDB's floor for this job: the latest label per id (``arg_max``), joined to the
  predictions and grouped by the cell keys with the four confusion counts; no validation, no period or
  cut-off filter, no repeated-id handling;
* ``duckdb_full``: the same rules as the Arrow and Spark engines in one DuckDB query (valid rows,
  period and cut-off, ties, identical copies and conflicts), to check that the cell tables are equal
  and to show what the rules cost in DuckDB;
* ``arrow``: :func:`monitor.adapters.arrow.cells.arrow_confusion_cells` on the same files.

With ``--data DIR`` the logs of N rows are kept in ``DIR/N`` (with their sizes in ``sizes.json``) and
reused by later runs with the same DIR, N and seed; without it they go to a temporary folder.

The ratio arrow / duckdb_floor is printed (the goal: at most 3x). Figures are printed (and optionally
written as JSON), never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEVICE = "lung-nodule-ct"
CONFIG = ROOT / "examples" / "lung-nodule-ct.yaml"
START = datetime(2025, 6, 30, 16, tzinfo=timezone.utc)  # 2025Q3 in Asia/Shanghai
END = datetime(2025, 9, 30, 16, tzinfo=timezone.utc)
CUTOFF = datetime(2026, 1, 31, 15, 59, 59, tzinfo=timezone.utc)
CHUNK = 1_000_000
SEXES, GRADES = np.array(["F", "M"]), np.array(["none", "mild", "moderate", "severe"])
VENDORS, VERSIONS = np.array(["GE", "Siemens", "Philips", "United Imaging"]), np.array(["2.1.0", "2.2.0"])


def _vm_mb(field: str) -> float:
    """VmHWM / VmRSS of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def kept_logs(rows: int, seed: int, folder: Path) -> dict[str, object]:
    """The logs of ``rows`` predictions under ``folder``: reused when written there before with ``seed``,
    else generated (not timed); their sizes."""
    record = folder / "sizes.json"
    if record.exists():
        sizes = json.loads(record.read_text(encoding="utf-8"))
        if sizes.get("seed") == seed:
            print(f"\n{rows:,} predictions ({sizes['predictions_mb']:.0f} MB), {sizes['ground_truth_rows']:,} "
                  f"ground-truth rows ({sizes['ground_truth_mb']:.0f} MB); reused from {folder}")
            return sizes
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sizes = {"seed": seed, **generate(rows, seed, folder)}
    record.write_text(json.dumps(sizes), encoding="utf-8")
    print(f"\n{rows:,} predictions ({sizes['predictions_mb']:.0f} MB), {sizes['ground_truth_rows']:,} "
          f"ground-truth rows ({sizes['ground_truth_mb']:.0f} MB); generated in {time.perf_counter() - t0:.1f} s "
          f"(not timed)")
    return sizes


def generate(rows: int, seed: int, folder: Path) -> dict[str, object]:
    """Write ``predictions.parquet`` and ``ground_truth.parquet`` under ``folder``; return their sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    predictions = folder / "predictions.parquet"
    truth = folder / "ground_truth.parquet"
    p_writer = g_writer = None
    labels_written = 0
    span = (END - START).total_seconds() * 1e6
    for i, first in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - first)
        rng = np.random.default_rng([seed, i])
        ids = np.char.add("LN-", np.char.zfill(np.arange(first, first + n).astype(str), 10))
        at = (START.timestamp() * 1e6 + rng.random(n) * span).astype(np.int64)
        label = rng.random(n) < 0.08
        score = np.clip(np.where(label, rng.beta(5, 1.5, n), rng.beta(1.5, 5, n)), 0, 1).round(4)
        call = (score >= 0.5).astype(np.int64)
        table = pa.table({
            "prediction_id": ids, "device_id": np.full(n, DEVICE), "model_version": VERSIONS[rng.integers(0, 2, n)],
            "predicted_at": pa.array(at, pa.timestamp("us", tz="UTC")), "score": score, "predicted_label": call,
            "age": rng.integers(18, 95, n), "sex": SEXES[rng.integers(0, 2, n)],
            "emphysema_grade": GRADES[rng.choice(4, n, p=[0.55, 0.25, 0.14, 0.06])],
            "scanner_vendor": VENDORS[rng.integers(0, 4, n)]})
        p_writer = p_writer or pq.ParquetWriter(predictions, table.schema)
        p_writer.write_table(table)
        has = rng.random(n) < 0.85
        confirmed = at + (rng.random(n) * 60 * 86400e6).astype(np.int64)
        corrected = has & (rng.random(n) < 0.03)
        truth_ids = np.concatenate([ids[has], ids[corrected]])
        truth_labels = np.concatenate([label[has], ~label[corrected]]).astype(np.int64)
        truth_at = np.concatenate([confirmed[has], confirmed[corrected] + 86400 * 10**6])
        labels = pa.table({"prediction_id": truth_ids, "device_id": np.full(len(truth_ids), DEVICE),
                           "label": truth_labels, "confirmed_at": pa.array(truth_at, pa.timestamp("us", tz="UTC"))})
        g_writer = g_writer or pq.ParquetWriter(truth, labels.schema)
        g_writer.write_table(labels)
        labels_written += len(labels)
    assert p_writer is not None and g_writer is not None
    p_writer.close()
    g_writer.close()
    return {"predictions_mb": predictions.stat().st_size / 1e6, "ground_truth_mb": truth.stat().st_size / 1e6,
            "ground_truth_rows": labels_written}


AGE = "CASE WHEN age IS NULL THEN 'unknown' WHEN least(age, 90) < 45 THEN '<45' WHEN least(age, 90) < 65 " \
      "THEN '45-64' WHEN least(age, 90) < 75 THEN '65-74' ELSE '>=75' END"
KEYS = "model_version, age_band, sex, emphysema_grade, scanner_vendor"
COUNTS = ("sum(CASE WHEN truth = 1 AND call = 1 THEN 1 ELSE 0 END)::BIGINT AS tp, "
          "sum(CASE WHEN truth = 0 AND call = 1 THEN 1 ELSE 0 END)::BIGINT AS fp, "
          "sum(CASE WHEN truth = 1 AND call = 0 THEN 1 ELSE 0 END)::BIGINT AS fn, "
          "sum(CASE WHEN truth = 0 AND call = 0 THEN 1 ELSE 0 END)::BIGINT AS tn")


def _label(column: str) -> str:
    return f"CASE WHEN {column} IS NULL OR {column} = '' THEN 'unknown' ELSE {column} END"


def duckdb_query(folder: Path, full: bool) -> str:
    """The floor query, or the engines' rules in SQL."""
    p, g = folder / "predictions.parquet", folder / "ground_truth.parquet"
    if not full:
        return (f"WITH truth AS (SELECT prediction_id, arg_max(label, confirmed_at) AS truth "
                f"FROM read_parquet('{g}') GROUP BY prediction_id), "
                f"rows AS (SELECT model_version, {AGE} AS age_band, sex, emphysema_grade, scanner_vendor, "
                f"predicted_label AS call, truth FROM read_parquet('{p}') JOIN truth USING (prediction_id)) "
                f"SELECT {KEYS}, {COUNTS} FROM rows GROUP BY {KEYS}")
    cut, low, high = (f"TIMESTAMPTZ '{m.isoformat()}'" for m in (CUTOFF, START, END))
    return f"""
        WITH labelled AS (
            SELECT DISTINCT prediction_id, label, confirmed_at FROM read_parquet('{g}')
            WHERE device_id = '{DEVICE}' AND label IN (0, 1) AND confirmed_at IS NOT NULL AND confirmed_at <= {cut}),
        latest AS (SELECT prediction_id, max(confirmed_at) AS at FROM labelled GROUP BY prediction_id),
        truth AS (SELECT l.prediction_id, min(l.label) AS truth, count(*) AS n FROM labelled l
                  JOIN latest t ON l.prediction_id = t.prediction_id AND l.confirmed_at = t.at
                  GROUP BY l.prediction_id HAVING count(*) = 1),
        rows AS (
            SELECT DISTINCT prediction_id, model_version, predicted_at, predicted_label AS call, score + 0.0 AS score,
                   {AGE} AS age_band, {_label('sex')} AS sex, {_label('emphysema_grade')} AS emphysema_grade,
                   {_label('scanner_vendor')} AS scanner_vendor
            FROM read_parquet('{p}')
            WHERE device_id = '{DEVICE}' AND prediction_id IS NOT NULL AND model_version IS NOT NULL
              AND predicted_at IS NOT NULL AND NOT isnan(score) AND score BETWEEN 0 AND 1 AND predicted_label IN (0, 1)
              AND predicted_at >= {low} AND predicted_at < {high} AND predicted_at <= {cut}),
        single AS (SELECT * FROM rows WHERE prediction_id IN (
                       SELECT prediction_id FROM rows GROUP BY prediction_id HAVING count(*) = 1))
        SELECT {KEYS}, {COUNTS} FROM single JOIN truth USING (prediction_id) GROUP BY {KEYS}"""


def child(step: str, folder: Path) -> dict[str, object]:
    """Run one step in this process; return its figures."""
    out: dict[str, object] = {"step": step}
    if step.startswith("duckdb"):
        import duckdb

        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        out["baseline_mb"] = _vm_mb("VmHWM")
        t0, c0 = time.perf_counter(), time.process_time()
        cells = connection.execute(duckdb_query(folder, full=step == "duckdb_full")).df()
        out.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                   threads=int(connection.execute("SELECT current_setting('threads')").fetchone()[0]))
    else:
        from monitor.adapters.arrow.cells import arrow_confusion_cells
        from monitor.adapters.config_file import load_device_config

        attributes = load_device_config(CONFIG).strata.attributes
        out["baseline_mb"] = _vm_mb("VmHWM")
        t0, c0 = time.perf_counter(), time.process_time()
        counted = arrow_confusion_cells(
            predictions=[str(folder / "predictions.parquet")], ground_truth=[str(folder / "ground_truth.parquet")],
            device_id=DEVICE, start=START, end=END, cutoff=CUTOFF, attributes=attributes)
        out.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                   read=counted.predictions_read, counted=counted.predictions_counted, excluded=counted.excluded)
        cells = counted.cells
    keys = KEYS.split(", ")
    cells = cells.sort_values(keys).reset_index(drop=True)
    cells.to_pickle(folder / f"{step}.pkl")
    out.update(cells=len(cells), cases=int(cells[["tp", "fp", "fn", "tn"]].to_numpy().sum()),
               peak_mb=_vm_mb("VmHWM"))
    return out


def run_child(step: str, folder: Path) -> dict[str, object]:
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--child", step, "--folder", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"step {step} failed with exit code {done.returncode}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update(load_before=load, load_after=os.getloadavg()[0])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="predictions (repeatable; default 1,000,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-full", action="store_true", help="skip the duckdb_full step (slow at 10M rows)")
    parser.add_argument("--data", type=Path, default=None, help="keep and reuse the generated logs under DIR/N")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return
    import pandas as pd
    import pyarrow

    import duckdb

    print(f"bench_arrow_engine: {os.cpu_count()} cores, pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    results = []
    for rows in args.rows or [1_000_000]:
        with contextlib.ExitStack() as stack:
            folder = (args.data / str(rows) if args.data else
                      Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_arrow_"))))
            sizes = kept_logs(rows, args.seed, folder)
            steps = ("duckdb_floor", "arrow") if args.no_full else ("duckdb_floor", "duckdb_full", "arrow")
            figures = {step: run_child(step, folder) for step in steps}
            reference = "duckdb_floor" if args.no_full else "duckdb_full"
            # Without repeated ids, invalid rows or ties (as generated), the floor's cells are the rules' cells.
            full, ours = (pd.read_pickle(folder / f"{s}.pkl") for s in (reference, "arrow"))
            equal = full.shape == ours.shape and bool(
                (full.astype(str).to_numpy() == ours[full.columns].astype(str).to_numpy()).all())
        print(f"{'step':<14} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'base MB':>8} {'load':>10}  notes")
        for step, f in figures.items():
            note = f"{f['cells']} cells, {f['cases']:,} cases"
            if step == "arrow":
                note += f"; read {f['read']:,}, counted {f['counted']:,}, excluded {f['excluded'] or 'none'}"
            else:
                note += f"; {f['threads']} threads"
            print(f"{step:<14} {f['seconds']:8.2f} {f['cpu_seconds']:8.2f} {f['peak_mb']:8.0f} "
                  f"{f['baseline_mb']:8.0f} {f['load_before']:4.1f}->{f['load_after']:<4.1f}  {note}")
        ratio = figures["arrow"]["seconds"] / figures["duckdb_floor"]["seconds"]
        versus_full = (f"arrow / duckdb_full: {figures['arrow']['seconds'] / figures['duckdb_full']['seconds']:.2f}x; "
                       if "duckdb_full" in figures else "")
        print(f"arrow / duckdb_floor: {ratio:.2f}x wall (goal <= 3x); {versus_full}cells equal {reference}: {equal}")
        results.append({"rows": rows, **sizes, "steps": figures, "ratio_floor": ratio, "cells_equal": equal})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
