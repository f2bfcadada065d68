"""Benchmark the statistics on count tables against fairlearn's MetricFrame on per-case data.

Usage::

    .venv/bin/python bench/bench_statistics.py [--rows 10000000] [--fairlearn-rows 1000000]
        [--bootstrap-rows 100000] [--no-bootstrap] [--seed 20240611] [--json PATH] [--quick]
        [--cases cases.parquet]

Synthetic joined cases (prediction + arrived ground truth) are generated with numpy in chunks of
500,000 (each chunk from its own seed, so the first N cases are the same in every step): 7
categorical attributes (age_band 4 levels, sex 2, emphysema_grade 4, scanner_vendor 4, site 5,
slice_thickness 3, kernel 3: 5,760 cells), a label with 8 % prevalence and a device call with
sensitivity 0.90 / specificity 0.85. Steps, each in its own child process so that its peak resident
memory (VmHWM) is its own:

a. ``cells``: the cell table of ``--rows`` cases, ``confusion_cells`` per chunk summed with
   ``add_cells`` (this stands in for the database GROUP BY); data generation is timed apart;
b. ``evaluate``: ``evaluate_cells`` on those cells, config with the 7 attributes,
   ``intersections: all_pairs`` (21 pairs) and claims on sensitivity and specificity: every
   metric with its Wilson interval, exact test, BH, flag and power figures for the overall stratum,
   the 25 single-attribute strata and the 265 pairwise strata;
c. ``fairlearn``: on the first ``--fairlearn-rows`` cases, one ``MetricFrame`` (recall, true
   negative rate, precision, count; no intervals) per single attribute and per pair: 29 frames;
d. ``ours``: the same cases through our path (``confusion_cells`` on the in-memory frame, then
   ``evaluate_cells``);
f. ``duckdb``: the machine's practical floor for step (a): the same ``--rows`` cases written once
   as Parquet (not timed), then one DuckDB ``GROUP BY`` of the 7 attributes with the four
   confusion counts over that file; the cell table is checked equal to (a)'s;
g. ``evidently``: on the first ``--evidently-rows`` cases, one Evidently 0.7 ``Report`` with
   ``GroupBy(Recall())``, ``GroupBy(TNR())`` and ``GroupBy(Precision())`` for each single
   attribute and each pair (pairs as a combined column, since ``GroupBy`` takes one column);
   its per-group values are compared with ours on the same strata;
e. ``bootstrap`` (optional): fairlearn's bootstrap intervals (``n_boot=20``) for one single
   attribute on ``--bootstrap-rows`` cases, beside the same frame without bootstrap.

``--cases PATH`` replaces the generated cases by those of a Parquet file with the 7 attribute columns
(labels as above) and boolean ``label`` and ``call``, read in the same chunks: ``bench/run_all.py``
writes there the confirmed cases of the prediction and ground-truth logs it ingests, so that the peers
run on the same cases as the service (``--rows`` is then at most the file's rows).

Both (c) and (d) receive the same in-memory frame (categorical attribute columns, boolean label
and call); generating it is not timed. The per-stratum sensitivity, specificity, PPV and case
count of (d) are compared with fairlearn's ``by_group`` values of (c).

The machine is reported (cores, load average before and after every step) together with each
step's CPU seconds: a single-threaded step whose CPU/wall ratio is well below 1 shared its core.
Figures are printed (and optionally written as JSON), never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ATTRIBUTES: dict[str, tuple[list[str], list[float]]] = {
    "age_band": (["<45", "45-64", "65-74", ">=75"], [0.15, 0.45, 0.28, 0.12]),
    "sex": (["F", "M"], [0.48, 0.52]),
    "emphysema_grade": (["none", "mild", "moderate", "severe"], [0.55, 0.25, 0.14, 0.06]),
    "scanner_vendor": (["GE", "Siemens", "Philips", "United Imaging"], [0.30, 0.30, 0.20, 0.20]),
    "site": (["site_a", "site_b", "site_c", "site_d", "site_e"], [0.30, 0.25, 0.20, 0.15, 0.10]),
    "slice_thickness": (["<=1mm", "1-2.5mm", ">2.5mm"], [0.50, 0.35, 0.15]),
    "kernel": (["soft", "standard", "sharp"], [0.30, 0.45, 0.25]),
}
KEYS = list(ATTRIBUTES)
PAIRS = list(combinations(KEYS, 2))
PREVALENCE, SE, SP = 0.08, 0.90, 0.85
CHUNK_ROWS = 500_000
#: ``--cases``: a Parquet file of cases read instead of generating them (set in ``main`` and ``child``).
SOURCE: Path | None = None

CONFIG_YAML = """
schema_version: 1
device: {id: bench-statistics, name: Bench, manufacturer: Bench, intended_use: Benchmark}
operating_threshold: 0.5
strata:
  attributes:
%s
  intersections: all_pairs
  confirmatory: [age_band, sex]
claims:
  sensitivity: {value: 0.90, margin: 0.02}
  specificity: {value: 0.85, margin: 0.02}
monitoring: {min_positives: 50, min_negatives: 50, fdr: 0.10, alpha: 0.05, power: 0.80, confidence: 0.95,
             interval_method: wilson}
""" % "\n".join(f"    - {{name: {name}, values: {json.dumps(labels)}}}" for name, (labels, _) in ATTRIBUTES.items())


# ----------------------------------------------------------------------------------------- helpers

def _vm_mb(field: str) -> float:
    """VmHWM / VmRSS of this process in MB (VmHWM is not inherited across exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _read_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The first ``rows`` cases of the Parquet file ``path`` in frames of at most ``CHUNK_ROWS`` rows."""
    import pyarrow.parquet as pq

    left = rows
    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS, columns=[*KEYS, "label", "call"]):
        frame = batch.to_pandas().head(left)
        for name, (labels, _) in ATTRIBUTES.items():
            values = pd.Categorical(frame[name].astype(str), categories=labels)
            if values.isna().any():
                raise SystemExit(f"{path}: {name} has labels outside {labels}")
            frame[name] = values
        frame["label"], frame["call"] = frame["label"].astype(bool), frame["call"].astype(bool)
        left -= len(frame)
        yield frame.reset_index(drop=True)
        if left <= 0:
            return


def source_rows(path: Path) -> int:
    """Cases in the Parquet file ``path``."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def chunks(rows: int, seed: int) -> Iterator[pd.DataFrame]:
    """Per-case frames of at most ``CHUNK_ROWS`` rows; chunk ``i`` always comes from seed ``(seed, i)``
    (or, with ``--cases``, from that file)."""
    if SOURCE is not None:
        yield from _read_chunks(SOURCE, rows)
        return
    for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([seed, i])
        columns: dict[str, object] = {}
        for name, (labels, weights) in ATTRIBUTES.items():
            codes = rng.choice(len(labels), size=n, p=weights).astype(np.int8)
            columns[name] = pd.Categorical.from_codes(codes, categories=labels)
        label = rng.random(n) < PREVALENCE
        u = rng.random(n)
        call = np.where(label, u < SE, u >= SP)
        columns["label"] = label
        columns["call"] = call
        yield pd.DataFrame(columns)


def cases(rows: int, seed: int) -> pd.DataFrame:
    """The first ``rows`` cases in one frame."""
    return pd.concat(list(chunks(rows, seed)), ignore_index=True)


def to_cell_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Cell table in the form ``evaluate_cells`` takes: text labels and a model version."""
    out = cells.copy()
    for key in KEYS:
        out[key] = out[key].astype(str)
    out.insert(0, "model_version", "1")
    return out


def stratum_key(mapping: dict[str, str]) -> str:
    from monitor.domain.strata import StratumDefinition

    return StratumDefinition.of(mapping).key


def our_by_stratum(results: list) -> dict[str, dict[str, float]]:
    """Per stratum: sensitivity, specificity, PPV estimates and the case count, from ``evaluate_cells``."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        entry = out.setdefault(r.stratum, {})
        name = {"sensitivity": "recall", "specificity": "tnr", "ppv": "precision"}.get(r.metric)
        if name is not None:
            entry[name] = float("nan") if r.estimate is None else r.estimate
        if r.metric in ("sensitivity", "specificity"):
            entry["count"] = entry.get("count", 0) + r.trials
    return out


# ----------------------------------------------------------------------------------------- child steps

def child(args: argparse.Namespace) -> dict[str, object]:
    """Run one step in this (child) process; return its figures."""
    from monitor.adapters.config_file import parse_device_config
    from monitor.domain.evaluation import evaluate_cells
    from monitor.stats.cells import add_cells, confusion_cells

    tmp = Path(args.tmp)
    config = parse_device_config(CONFIG_YAML, source="bench_statistics")
    out: dict[str, object] = {"step": args.child, "baseline_mb": _vm_mb("VmHWM")}
    wall = cpu = 0.0

    if args.child == "cells":
        total: pd.DataFrame | None = None
        generate = 0.0
        t_gen = time.perf_counter()
        for frame in chunks(args.rows, args.seed):
            generate += time.perf_counter() - t_gen
            t0, c0 = time.perf_counter(), time.process_time()
            part = confusion_cells(frame, keys=KEYS, label="label", call="call")
            total = part if total is None else add_cells(total, part, KEYS)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            del frame, part
            t_gen = time.perf_counter()
        t0, c0 = time.perf_counter(), time.process_time()
        cells = to_cell_table(total)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        with (tmp / "cells.pkl").open("wb") as handle:
            pickle.dump(cells, handle)
        out.update(rows=args.rows, cells=len(cells), generate_seconds=generate,
                   cases_in_cells=int(cells[["tp", "fp", "fn", "tn"]].to_numpy().sum()))

    elif args.child == "evaluate":
        with (tmp / "cells.pkl").open("rb") as handle:
            cells = pickle.load(handle)
        out["baseline_mb"] = _vm_mb("VmHWM")
        t0, c0 = time.perf_counter(), time.process_time()
        results = evaluate_cells(cells, config)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.update(cells=len(cells), results=len(results), strata=len({r.stratum for r in results}),
                   with_interval=sum(r.ci_low is not None for r in results),
                   tested=sum(r.status in ("ok", "flagged") for r in results),
                   flagged=sum(r.status == "flagged" for r in results))

    elif args.child in ("fairlearn", "bootstrap"):
        from fairlearn.metrics import MetricFrame, count, true_negative_rate
        from sklearn.metrics import precision_score, recall_score

        metrics = {"recall": recall_score, "tnr": true_negative_rate, "precision": precision_score, "count": count}
        rows = args.fairlearn_rows if args.child == "fairlearn" else args.bootstrap_rows
        frame = cases(rows, args.seed)
        y_true, y_pred = frame["label"].to_numpy(), frame["call"].to_numpy()
        out["baseline_mb"] = _vm_mb("VmHWM")
        out["rows"] = rows
        if args.child == "fairlearn":
            by_stratum: dict[str, dict[str, float]] = {}
            groupings = [[k] for k in KEYS] + [list(p) for p in PAIRS]
            t0, c0 = time.perf_counter(), time.process_time()
            frames = [MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=frame[g])
                      for g in groupings]
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            for grouping, mf in zip(groupings, frames, strict=True):
                for index, values in mf.by_group.iterrows():
                    labels = index if isinstance(index, tuple) else (index,)
                    by_stratum[stratum_key(dict(zip(grouping, map(str, labels), strict=True)))] = {
                        k: float(v) for k, v in values.items()}
            by_stratum[stratum_key({})] = {k: float(v) for k, v in frames[0].overall.items()}
            (tmp / "fairlearn.json").write_text(json.dumps(by_stratum), encoding="utf-8")
            out.update(frames=len(frames), groups=sum(len(mf.by_group) for mf in frames))
        else:
            sf = frame[[args.bootstrap_attribute]]
            t0 = time.perf_counter()
            MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
            out["plain_seconds"] = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf,
                        n_boot=args.n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out.update(attribute=args.bootstrap_attribute, n_boot=args.n_boot)

    elif args.child == "duckdb":
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp / "cases.parquet"
        writer = None
        for frame in chunks(args.rows, args.seed):
            table = pa.Table.from_pandas(frame.assign(**{k: frame[k].astype(str) for k in KEYS}),
                                         preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            del frame, table
        assert writer is not None
        writer.close()
        out["baseline_mb"] = _vm_mb("VmHWM")
        keys = ", ".join(KEYS)
        query = (f"SELECT {keys}, sum(CASE WHEN label AND call THEN 1 ELSE 0 END) AS tp, "
                 f"sum(CASE WHEN NOT label AND call THEN 1 ELSE 0 END) AS fp, "
                 f"sum(CASE WHEN label AND NOT call THEN 1 ELSE 0 END) AS fn, "
                 f"sum(CASE WHEN NOT label AND NOT call THEN 1 ELSE 0 END) AS tn "
                 f"FROM read_parquet('{path}') GROUP BY {keys}")
        connection = duckdb.connect()
        t0, c0 = time.perf_counter(), time.process_time()
        cells = connection.execute(query).df()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with (tmp / "cells.pkl").open("rb") as handle:
            ours = pickle.load(handle)
        ours = ours.drop(columns="model_version").sort_values(KEYS).reset_index(drop=True)
        theirs = cells.sort_values(KEYS).reset_index(drop=True)
        ours = ours[[c for c in ours.columns if c in theirs.columns]]
        out.update(rows=args.rows, cells=len(cells), threads=int(connection.execute(
            "SELECT current_setting('threads')").fetchone()[0]),
                   cells_equal_ours=bool(len(ours) == len(theirs) and all(
                       (ours[c].astype(str).to_numpy() == theirs[c].astype(str).to_numpy()).all() for c in KEYS)
                       and all((ours[c].astype("int64").to_numpy() == theirs[c].astype("int64").to_numpy()).all()
                               for c in ("tp", "fp", "fn", "tn"))))
        path.unlink()

    elif args.child == "evidently":
        import warnings

        from evidently import BinaryClassification, DataDefinition, Dataset, Report
        from evidently.metrics import TNR, Precision, Recall
        from evidently.metrics.group_by import GroupBy

        warnings.filterwarnings("ignore")
        frame = cases(args.evidently_rows, args.seed)
        data = pd.DataFrame({"target": frame["label"].astype(int), "prediction": frame["call"].astype(int)})
        groupings = [[k] for k in KEYS] + [list(p) for p in PAIRS]
        columns = []
        for grouping in groupings:
            name = "__".join(grouping)
            data[name] = frame[grouping[0]].astype(str)
            for extra in grouping[1:]:
                data[name] = data[name] + "|" + frame[extra].astype(str)
            columns.append(name)
        del frame
        definition = DataDefinition(
            classification=[BinaryClassification(target="target", prediction_labels="prediction")],
            categorical_columns=columns)
        out["baseline_mb"] = _vm_mb("VmHWM")
        t0, c0 = time.perf_counter(), time.process_time()
        dataset = Dataset.from_pandas(data, data_definition=definition)
        snapshot = Report([GroupBy(metric, c) for c in columns for metric in (Recall(), TNR(), Precision())]
                          ).run(dataset, None)
        values = snapshot.dict()["metrics"]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        names = {"Recall": "recall", "TNR": "tnr", "Precision": "precision"}
        by_stratum: dict[str, dict[str, float]] = {}
        for m in values:
            setup = m["config"]
            grouping = setup["column_name"].split("__")
            labels = str(setup["label"]).split("|")
            key = stratum_key(dict(zip(grouping, labels, strict=True)))
            by_stratum.setdefault(key, {})[names[setup["metric"]["type"].rsplit(":", 1)[-1]]] = float(m["value"])
        (tmp / "evidently.json").write_text(json.dumps(by_stratum), encoding="utf-8")
        same = cases(args.evidently_rows, args.seed)
        ours_cells = to_cell_table(confusion_cells(same, keys=KEYS, label="label", call="call"))
        (tmp / "ours_evidently.json").write_text(json.dumps(our_by_stratum(evaluate_cells(ours_cells, config))),
                                                 encoding="utf-8")
        out.update(rows=args.evidently_rows, groupings=len(columns), values=len(values))

    elif args.child == "ours":
        frame = cases(args.fairlearn_rows, args.seed)
        out["baseline_mb"] = _vm_mb("VmHWM")
        t0, c0 = time.perf_counter(), time.process_time()
        cells = to_cell_table(confusion_cells(frame, keys=KEYS, label="label", call="call"))
        cells_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = evaluate_cells(cells, config)
        evaluate_seconds = time.perf_counter() - t1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        (tmp / "ours.json").write_text(json.dumps(our_by_stratum(results)), encoding="utf-8")
        out.update(rows=args.fairlearn_rows, cells=len(cells), results=len(results),
                   cells_seconds=cells_seconds, evaluate_seconds=evaluate_seconds)
    else:
        raise SystemExit(f"unknown step {args.child}")

    out.update(seconds=wall, cpu_seconds=cpu, peak_mb=_vm_mb("VmHWM"))
    return out


# ----------------------------------------------------------------------------------------- parent

def run_step(step: str, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    """Run ``step`` in a child process and return its figures with the load average around it."""
    command = [sys.executable, __file__, "--child", step, "--tmp", str(tmp), "--rows", str(args.rows),
               *(["--cases", str(args.cases)] if args.cases else []),
               "--fairlearn-rows", str(args.fairlearn_rows), "--bootstrap-rows", str(args.bootstrap_rows),
               "--evidently-rows", str(args.evidently_rows),
               "--bootstrap-attribute", args.bootstrap_attribute, "--n-boot", str(args.n_boot),
               "--seed", str(args.seed)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"step {step} failed with exit code {done.returncode}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update(load_before=load_before, load_after=os.getloadavg()[0],
                   process_seconds=time.perf_counter() - started)
    return figures


def compare(tmp: Path, peer: str = "fairlearn", metrics: tuple[str, ...] = ("recall", "tnr", "precision", "count"),
            ours_file: str = "ours.json") -> dict[str, object]:
    """Max |ours - peer| per metric over the strata both report."""
    ours = json.loads((tmp / ours_file).read_text(encoding="utf-8"))
    theirs = json.loads((tmp / f"{peer}.json").read_text(encoding="utf-8"))
    common = sorted(set(ours) & set(theirs))
    result: dict[str, object] = {"strata_ours": len(ours), f"strata_{peer}": len(theirs), "common": len(common),
                                 "only_ours": sorted(set(ours) - set(theirs))[:5],
                                 f"only_{peer}": sorted(set(theirs) - set(ours))[:5]}
    for metric in metrics:
        diffs = np.array([abs(ours[k][metric] - theirs[k][metric]) for k in common], dtype=float)
        result[f"max_abs_diff_{metric}"] = float(np.nanmax(diffs)) if diffs.size else None
        result[f"nan_mismatch_{metric}"] = int(sum(np.isnan(ours[k][metric]) != np.isnan(theirs[k][metric])
                                                   for k in common))
    return result


def machine() -> dict[str, object]:
    info: dict[str, object] = {"cores": os.cpu_count(), "python": platform.python_version(),
                               "load_average": os.getloadavg()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import fairlearn
    import sklearn

    info.update(numpy=np.__version__, pandas=pd.__version__, fairlearn=fairlearn.__version__,
                sklearn=sklearn.__version__)
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--fairlearn-rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-rows", type=int, default=100_000,
                        help="cases for the Evidently step (its values are compared with ours on the same cases)")
    parser.add_argument("--no-peers", action="store_true", help="skip the DuckDB and Evidently steps")
    parser.add_argument("--bootstrap-rows", type=int, default=100_000)
    parser.add_argument("--bootstrap-attribute", default="site")
    parser.add_argument("--n-boot", type=int, default=20)
    parser.add_argument("--no-bootstrap", action="store_true", help="skip the fairlearn bootstrap step")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="100,000 rows for both paths (smoke run)")
    parser.add_argument("--cases", type=Path, default=None,
                        help="Parquet file of cases (7 attributes, label, call) instead of generated ones")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global SOURCE
    SOURCE = args.cases
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.quick:
        args.rows, args.fairlearn_rows = 100_000, 100_000
    if args.cases:
        args.rows = min(args.rows, source_rows(args.cases))
    args.fairlearn_rows = min(args.fairlearn_rows, args.rows)
    args.evidently_rows = min(args.evidently_rows, args.fairlearn_rows)
    args.bootstrap_rows = min(args.bootstrap_rows, args.fairlearn_rows)

    info = machine()
    print(f"bench_statistics: {args.rows:,} cases (ours), {args.fairlearn_rows:,} cases (fairlearn and ours), "
          + (f"from {args.cases}" if args.cases else f"seed {args.seed}"))
    print(f"machine: {info['cores']} cores ({info.get('cpu', '?')}), {info.get('memory_gb', '?')} GB; shared with "
          f"other work: load average {info['load_average'][0]:.2f} {info['load_average'][1]:.2f} "
          f"{info['load_average'][2]:.2f}")
    print(f"python {info['python']}, numpy {info['numpy']}, pandas {info['pandas']}, fairlearn {info['fairlearn']}, "
          f"scikit-learn {info['sklearn']}")
    n_cells = int(np.prod([len(v[0]) for v in ATTRIBUTES.values()]))
    n_pairs = sum(len(ATTRIBUTES[a][0]) * len(ATTRIBUTES[b][0]) for a, b in PAIRS)
    print(f"design: {len(KEYS)} attributes, {n_cells:,} cells, strata 1 + {sum(len(v[0]) for v in ATTRIBUTES.values())}"
          f" single + {n_pairs} pairwise ({len(PAIRS)} pairs); "
          + ("cases from the file\n" if args.cases else f"prevalence {PREVALENCE}, Se {SE}, Sp {SP}\n"))

    steps = ["cells", "evaluate", "fairlearn", "ours"] + ([] if args.no_bootstrap else ["bootstrap"])
    steps += [] if args.no_peers else ["duckdb", "evidently"]
    with tempfile.TemporaryDirectory(prefix="bench_statistics_") as folder:
        tmp = Path(folder)
        figures = {}
        for step in steps:
            print(f"  running {step} ...", flush=True)
            figures[step] = run_step(step, args, tmp)
        agreement = compare(tmp)
        agreement_evidently = (compare(tmp, "evidently", ("recall", "tnr", "precision"), "ours_evidently.json")
                               if "evidently" in figures else None)

    a, b, c, d = (figures[s] for s in ("cells", "evaluate", "fairlearn", "ours"))
    ours_big = a["seconds"] + b["seconds"]
    rows_fmt = f"{args.rows / 1e6:g}M"
    small_fmt = f"{args.fairlearn_rows / 1e6:g}M"
    lines = [
        (f"a. cells from {rows_fmt} cases (confusion_cells per chunk + add_cells)", a,
         f"{a['cells']:,} cells; data generation {a['generate_seconds']:.1f} s not counted"),
        ("b. evaluate_cells: all metrics, Wilson CIs, exact tests, BH, flags, power", b,
         f"{b['strata']} strata, {b['results']} stratum-metrics ({b['with_interval']} with CI)"),
        (f"   ours, {rows_fmt} cases (a + b)", {"seconds": ours_big, "cpu_seconds": a["cpu_seconds"] + b["cpu_seconds"],
                                                "peak_mb": max(a["peak_mb"], b["peak_mb"]), "baseline_mb": None}, ""),
        (f"c. fairlearn: 29 MetricFrames on {small_fmt} cases (no intervals)", c,
         f"{c['groups']} groups"),
        (f"d. ours on the same {small_fmt} cases (cells + evaluate)", d,
         f"cells {d['cells_seconds']:.2f} s + evaluate {d['evaluate_seconds']:.2f} s"),
    ]
    if "bootstrap" in figures:
        e = figures["bootstrap"]
        lines.append((f"e. fairlearn n_boot={e['n_boot']}, 1 attribute ({e['attribute']}), {e['rows']:,} cases", e,
                      f"same frame without bootstrap {e['plain_seconds']:.2f} s "
                      f"(x{e['seconds'] / e['plain_seconds']:.0f})"))
    if "duckdb" in figures:
        f = figures["duckdb"]
        lines.append((f"f. DuckDB GROUP BY over Parquet, {rows_fmt} cases (floor for a)", f,
                      f"{f['threads']} threads; cells equal (a): {f['cells_equal_ours']}; "
                      f"(a)/DuckDB {a['seconds'] / f['seconds']:.1f}x"))
    if "evidently" in figures:
        g = figures["evidently"]
        lines.append((f"g. Evidently GroupBy x {g['groupings']} groupings x 3 metrics, {g['rows']:,} cases", g,
                      f"{g['values']} values, no intervals"))
    print(f"\n{'step':<78} {'wall s':>8} {'CPU s':>8} {'CPU/wall':>8} {'peak MB':>8} {'base MB':>8} "
          f"{'load':>10}  notes")
    for name, f, note in lines:
        ratio = f["cpu_seconds"] / f["seconds"] if f["seconds"] > 0 else float("nan")
        base = "" if f.get("baseline_mb") is None else f"{f['baseline_mb']:.0f}"
        load = f"{f['load_before']:.1f}->{f['load_after']:.1f}" if "load_before" in f else ""
        print(f"{name:<78} {f['seconds']:8.2f} {f['cpu_seconds']:8.2f} {ratio:8.2f} {f['peak_mb']:8.0f} {base:>8} "
              f"{load:>10}  {note}")
    ratio_small = c["seconds"] / d["seconds"]
    ratio_big = c["seconds"] / ours_big
    cpu_small = c["cpu_seconds"] / d["cpu_seconds"]
    cpu_big = c["cpu_seconds"] / (a["cpu_seconds"] + b["cpu_seconds"])
    print(f"\nratio fairlearn {small_fmt} / ours {small_fmt}: {ratio_small:.1f}x wall, {cpu_small:.1f}x CPU   "
          f"(ours adds Wilson intervals, exact tests, BH, flags and power for every stratum)")
    print(f"ratio fairlearn {small_fmt} / ours {rows_fmt}: {ratio_big:.1f}x wall, {cpu_big:.1f}x CPU   "
          f"(ours on {args.rows / args.fairlearn_rows:g}x the cases)")
    print("(CPU seconds are less sensitive than wall seconds to the other work on this shared machine)")
    print(f"\nagreement on {agreement['common']} strata (ours {agreement['strata_ours']}, fairlearn "
          f"{agreement['strata_fairlearn']}): max |diff| sensitivity {agreement['max_abs_diff_recall']:.3g}, "
          f"specificity {agreement['max_abs_diff_tnr']:.3g}, PPV {agreement['max_abs_diff_precision']:.3g}, "
          f"count {agreement['max_abs_diff_count']:.3g}")
    if agreement["only_ours"] or agreement["only_fairlearn"]:
        print(f"  strata only in ours: {agreement['only_ours']}; only in fairlearn: {agreement['only_fairlearn']}")
    if agreement_evidently is not None:
        print(f"Evidently agreement on {agreement_evidently['common']} strata: max |diff| sensitivity "
              f"{agreement_evidently['max_abs_diff_recall']:.3g}, specificity {agreement_evidently['max_abs_diff_tnr']:.3g},"
              f" PPV {agreement_evidently['max_abs_diff_precision']:.3g}")
    if args.json:
        payload = {"rows": args.rows, "fairlearn_rows": args.fairlearn_rows,
                   "evidently_rows": args.evidently_rows, "bootstrap_rows": args.bootstrap_rows,
                   "seed": args.seed, "cases": str(args.cases) if args.cases else None, "machine": info,
                   "steps": figures, "ratio_fairlearn_vs_ours_same_rows": ratio_small,
                   "ratio_fairlearn_vs_ours_big": ratio_big, "cpu_ratio_fairlearn_vs_ours_same_rows": cpu_small,
                   "cpu_ratio_fairlearn_vs_ours_big": cpu_big, "agreement": agreement,
                   "agreement_evidently": agreement_evidently}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
