"""The design effects of patient clustering in the demo, and what reading the repeated patients costs.

Usage::

    .venv/bin/python bench/bench_patient_clusters.py [--scale 1.0] [--quarters 2025Q3 ...] [--top 8]
        [--db-scale 0.05] [--engine sqlite|postgresql|none] [--postgres-url URL] [--json out.json]

Part 1 (no database): the demo scenario (``monitor.synthetic.DemoScenario`` at ``--scale``) is generated for
each quarter; the window's confirmed cases (predictions with delivered ground truth) give the confusion cells
and the repeated patients' cells in pandas, and :func:`monitor.domain.clustering.stratum_clustering` the
design effect of every monitored stratum-metric of the example device (examples/lung-nodule-ct.yaml).
Printed per quarter: predictions, confirmed cases, patients, patients with several confirmed cases, the
overall design effects, their distribution over the stratum-metrics and the largest ones.

Part 2 (``--engine``): the demo at ``--db-scale`` is ingested into a fresh database (a temporary SQLite file,
or a new database on the PostgreSQL server of ``--postgres-url`` / ``MONITOR_TEST_POSTGRES_URL``, dropped
afterwards); for the last quarter, the wall time of ``unit.results.confusion_cells`` (the analysis' own
read), of the service (``patient_clustering``: the query plus the domain) and of the query alone (run
again), and the rows each returns; the design effects from the database must equal those of part 1 at that
scale (checked).

Figures are printed, never asserted beyond that check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.domain.clustering import design_effects, stratum_clustering  # noqa: E402
from monitor.domain.periods import Period, resolve_timezone  # noqa: E402
from monitor.domain.strata import assign_labels  # noqa: E402
from monitor.synthetic import DemoScenario, generate  # noqa: E402

CONFIG = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
COUNTS = ["tp", "fp", "fn", "tn"]
KEY = "bench-patient-clusters-key-0123456789"


def _frames(data: Any, quarter: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Confusion cells, repeated patients' cells and the counts of one quarter, from the generated frames."""
    start, end = Period.parse(quarter).bounds_utc(resolve_timezone(CONFIG.monitoring.timezone))
    predictions = data.predictions
    at = predictions["predicted_at"].dt.tz_convert("UTC")
    window = predictions.loc[(at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))]
    cases = window.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    names = [a.name for a in CONFIG.strata.attributes]
    cases = pd.concat([cases, assign_labels(cases, CONFIG.strata.attributes)[names].add_prefix("_")], axis=1)
    cases = cases.drop(columns=[n for n in names if n in cases.columns]).rename(columns={f"_{n}": n for n in names})
    for name, (truth, call) in zip(COUNTS, [(1, 1), (0, 1), (1, 0), (0, 0)], strict=True):
        cases[name] = ((cases["label"] == truth) & (cases["predicted_label"] == call)).astype("int64")
    cases["patient"] = pd.factorize(cases["patient_id"])[0]
    keys = ["model_version", *names]
    cells = cases.groupby(keys, as_index=False)[COUNTS].sum()
    several = cases.groupby("patient")["patient"].transform("size") >= 2
    repeated = cases.loc[several].groupby(["patient", *keys], as_index=False)[COUNTS].sum()
    counts = {"predictions": len(window), "patients_predicted": int(window["patient_id"].nunique()),
              "confirmed_cases": len(cases), "patients_confirmed": int(cases["patient"].nunique()),
              "repeated_patients": int(cases.loc[several, "patient"].nunique()),
              "repeated_patient_cells": len(repeated)}
    return cells, repeated, counts


def _summary(rows: list[Any], top: int) -> dict[str, Any]:
    flat = [(r.stratum.key, metric, d, r.patients_with_several_cases, r.cases)
            for r in rows for metric, d in r.design_effects.items() if d is not None]
    values = np.array([d for _, _, d, _, _ in flat])
    overall = next(r for r in rows if r.stratum.level == 0)
    return {
        "overall": {"cases": overall.cases, "patients": overall.patients,
                    "patients_with_several_cases": overall.patients_with_several_cases,
                    "design_effects": {k: round(v, 4) for k, v in overall.design_effects.items() if v is not None}},
        "stratum_metrics": len(flat),
        "design_effect_quantiles": {q: round(float(np.quantile(values, q)), 4) for q in (0.0, 0.5, 0.9, 1.0)},
        "above_1_05": int((values > 1.05).sum()), "above_1_10": int((values > 1.10).sum()),
        "largest": [{"stratum": s, "metric": m, "design_effect": round(d, 4), "patients_with_several_cases": p,
                     "cases": c} for s, m, d, p, c in sorted(flat, key=lambda x: -x[2])[:top]],
    }


def demo_figures(scale: float, quarters: list[str], top: int) -> dict[str, Any]:
    scenario = DemoScenario(scale=scale)
    out: dict[str, Any] = {}
    for quarter in quarters:
        data = generate(scenario, quarters=[quarter])
        began = time.perf_counter()
        cells, repeated, counts = _frames(data, quarter)
        rows = stratum_clustering(cells, repeated, CONFIG)
        out[quarter] = counts | {"domain_seconds": round(time.perf_counter() - began, 2)} | _summary(rows, top)
    return out


def _database(engine: str, postgres_url: str | None) -> tuple[str, Any]:
    if engine == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-clusters-")
        return f"sqlite:///{folder}/monitor.sqlite", None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(postgres_url or os.environ["MONITOR_TEST_POSTGRES_URL"]).set(drivername="postgresql+psycopg")
    name = f"bench_clusters_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def database_cost(engine: str, postgres_url: str | None, scale: float) -> dict[str, Any]:
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.service.patient_clusters import patient_clustering
    from monitor.service.window import materialised_cases
    from monitor.service.sections import Window
    from monitor.settings import Settings
    from monitor.synthetic import write_csv

    url, drop = _database(engine, postgres_url)
    try:
        migrated = make_engine(url)
        upgrade(migrated)
        migrated.dispose()
        folder = Path(tempfile.mkdtemp(prefix="bench-clusters-logs-"))
        app = bootstrap(Settings(database_url=url, data_dir=folder, patient_id_key=KEY))
        register_device(CONFIG, uow=app.uow, clock=app.clock, actor="bench", source="examples/lung-nodule-ct.yaml")
        scenario = DemoScenario(scale=scale)
        data = generate(scenario)
        began = time.perf_counter()
        ingest_predictions(app.open_log(write_csv(data.predictions, folder / "p.csv")), source="p.csv", uow=app.uow,
                           hash_patient=app.patient_hasher(), clock=app.clock, actor="bench")
        ingest_ground_truth(app.open_log(write_csv(data.ground_truth, folder / "g.csv")), source="g.csv",
                            uow=app.uow, clock=app.clock, actor="bench")
        ingest_seconds = time.perf_counter() - began
        quarter = scenario.quarters[-1]
        start, end = Period.parse(quarter).bounds_utc(resolve_timezone(CONFIG.monitoring.timezone))
        window = Window(CONFIG.device.id, start, end, app.clock())
        attributes = CONFIG.strata.attributes
        with app.uow() as unit:
            began = time.perf_counter()
            cells = unit.results.confusion_cells(window.device_id, attributes=attributes, **window.kwargs())
            cells_seconds = time.perf_counter() - began
            with materialised_cases(unit, CONFIG, window) as cases:  # shared by every section of an analysis
                began = time.perf_counter()
                effects, section = patient_clustering(unit, CONFIG, cells, cases)
                clustering_seconds = time.perf_counter() - began
                began = time.perf_counter()
                repeated = unit.patient_clusters.repeated_patient_cells(cases)
                query_seconds = time.perf_counter() - began
        app.engine.dispose()
        expected_cells, expected_repeated, _ = _frames(generate(scenario, quarters=[quarter]), quarter)
        expected = design_effects(stratum_clustering(expected_cells, expected_repeated, CONFIG))
        same = effects.keys() == expected.keys() and all(abs(effects[k] - expected[k]) < 1e-9 for k in effects)
        return {"engine": engine, "scale": scale, "predictions_stored": len(data.predictions), "quarter": quarter,
                "ingest_seconds": round(ingest_seconds, 1), "confusion_cells_seconds": round(cells_seconds, 3),
                "confusion_cells_rows": len(cells), "patient_clustering_seconds": round(clustering_seconds, 3),
                "repeated_patient_cells_seconds": round(query_seconds, 3),
                "repeated_patient_cells_rows": len(repeated), "repeated_patients": section["repeated_patients"],
                "equal_to_pandas": same}
    finally:
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--quarters", nargs="+", default=list(DemoScenario().quarters))
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--db-scale", type=float, default=0.05)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "none"], default="sqlite")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"demo": demo_figures(args.scale, args.quarters, args.top)}
    if args.engine != "none":
        result["database"] = database_cost(args.engine, args.postgres_url, args.db_scale)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
