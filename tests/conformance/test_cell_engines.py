"""Conformance of the cell engines: one deployment's logs, every engine, identical cell tables.

The same seeded synthetic logs of a device (two sites, two model versions) go through every engine
behind :class:`monitor.service.cell_engines.CellEngine`: the database (SQLite and PostgreSQL, ingested
from CSV), Arrow and Spark (Parquet in a lake) and merged signed site bundles (each site summarises
its own logs). The logs hold what tends to split engines: numeric values exactly on bin edges, ages
89, 89.5, 90 and 95 (and an edge above the age top-code), missing values and empty strings, a numeric
attribute stored outside the core columns, identical re-sent predictions and labels, an invalid row,
label corrections, labels arriving after the cut-off, predictions after it (the cut-off falls inside the
quarter) and predictions outside the quarter.

The cut-off means "known by then" on every engine: for the database, rows ingested by then (the logs
are ingested in two stages, the second after the cut-off); for the lake, rows predicted and confirmed
by then; for bundles, bundles received by then (the sites summarise the logs they hold at the cut-off).

Spark starts once for the module (a local session, about half a minute); the data are small.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest
import yaml

from monitor.adapters.arrow.cells import ArrowCellEngine
from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.scratch import scratch_database
from monitor.adapters.files.readers import open_log
from monitor.adapters.site_keys import key_id, load_public_key, load_signer, verify, write_key_pair
from monitor.domain.evaluation import evaluate_cells
from monitor.domain.periods import Period, resolve_timezone
from monitor.domain.privacy import make_patient_hasher
from monitor.domain.strata import AttributeSpec
from monitor.entrypoints.bootstrap import cell_engine
from monitor.service.cell_engines import CellEngine
from monitor.service.devices import register_device
from monitor.service.federation import SiteLogs, ingest_summary, register_site, sign_summary, summarize_site
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.synthetic import write_csv, write_parquet

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "conformance-ct"
PERIOD = Period.parse("2025Q3")
TZ = resolve_timezone("Asia/Shanghai")
#: Inside the quarter: predictions after it and labels confirmed after it are not known yet.
CUTOFF = datetime(2025, 8, 20, 12, 0, tzinfo=TZ)
#: No row falls this close to the cut-off: the database's first ingestion stage runs in this gap.
GAP = timedelta(hours=3)
LATER = datetime(2025, 12, 1, tzinfo=timezone.utc)  # the second stage: everything else has arrived
SITES = ("site-a", "site-b")
AGES = [30, 44.9, 45, 64, 65, 74.99, 75, 89, 89.5, 90, 95, None]
NODULES = [4.0, 6.0, 7.5, 8.0, 12.0, None]
SEXES = ["F", "M", "", None]
GRADES = ["none", "mild", "severe", "", None]


def _config(folder: Path) -> Any:
    """The example device, renamed, with attributes that probe the binning rule."""
    config = yaml.safe_load((ROOT / "examples" / "lung-nodule-ct.yaml").read_text(encoding="utf-8"))
    config["device"]["id"] = DEVICE
    config["labels"]["provisional_sources"] = []
    config["strata"]["attributes"] = [
        {"name": "age_band", "column": "age", "bins": [45, 65, 75, 90]},
        {"name": "age_group", "column": "age", "bins": [50, 95]},  # an edge above the top-code: never reached
        {"name": "sex", "values": ["F", "M"]},
        {"name": "emphysema_grade", "values": ["none", "mild", "moderate", "severe"]},
        {"name": "nodule_mm", "bins": [6, 8]},  # a numeric attribute outside the core columns
    ]
    config["strata"]["confirmatory"] = ["age_band", "sex"]
    config["strata"]["intersections"] = [["age_band", "sex"], ["sex", "nodule_mm"], ["age_band", "sex", "nodule_mm"]]
    path = folder / "device.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_device_config(path)


def _logs(seed: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and ground-truth rows of the deployment (with duplicates, corrections, late labels)."""
    rng = np.random.default_rng(seed)
    n = 700
    start = pd.Timestamp("2025-06-20", tz="Asia/Shanghai")
    offsets = rng.integers(0, 115 * 24 * 60, n)  # 20 June .. 13 October: around the quarter
    predicted = pd.Series(start + pd.to_timedelta(offsets, unit="min"))
    near = (predicted - CUTOFF).abs() < GAP
    predicted[near] = predicted[near] + 2 * GAP
    truth_positive = rng.random(n) < 0.35
    score = np.where(truth_positive, rng.beta(5, 2, n), rng.beta(2, 5, n)).round(4)
    predictions = pd.DataFrame({
        "prediction_id": [f"P-{i:05d}" for i in range(n)], "device_id": DEVICE,
        "model_version": rng.choice(["1.0", "1.1"], n, p=[0.7, 0.3]), "site_id": rng.choice(SITES, n),
        "patient_id": [f"pt-{i % 450:04d}" for i in range(n)], "predicted_at": predicted,
        "score": score, "predicted_label": (score >= 0.5).astype(int),
        "age": rng.choice(np.array(AGES, dtype=object), n), "sex": rng.choice(np.array(SEXES, dtype=object), n),
        "emphysema_grade": rng.choice(np.array(GRADES, dtype=object), n),
        "nodule_mm": rng.choice(np.array(NODULES, dtype=object), n),
    })
    predictions["age"] = pd.to_numeric(predictions["age"])
    predictions["nodule_mm"] = pd.to_numeric(predictions["nodule_mm"])
    invalid = predictions.head(1).assign(prediction_id="P-invalid", score=1.7)
    resent = predictions.sample(25, random_state=seed)  # identical re-sends
    predictions = pd.concat([predictions, invalid, resent], ignore_index=True)

    labelled = predictions.drop_duplicates("prediction_id").sample(frac=0.85, random_state=seed)
    labelled = labelled[labelled["prediction_id"] != "P-invalid"]
    delay = pd.to_timedelta(rng.integers(1, 40 * 24, len(labelled)), unit="h")
    confirmed = labelled["predicted_at"] + pd.Series(delay, index=labelled.index)
    near = (confirmed - CUTOFF).abs() < GAP
    confirmed[near] = confirmed[near] + 2 * GAP
    positive = truth_positive[labelled["prediction_id"].str[2:].astype(int).to_numpy()]
    truth = pd.DataFrame({"prediction_id": labelled["prediction_id"].to_numpy(), "device_id": DEVICE,
                          "label": positive.astype(int), "confirmed_at": confirmed.to_numpy(),
                          "source": "histopathology"})
    corrected = truth.sample(60, random_state=seed + 1)  # a later label, some confirmed after the cut-off
    corrected = corrected.assign(label=1 - corrected["label"],
                                 confirmed_at=corrected["confirmed_at"] + pd.Timedelta(days=9), source="adjudication",
                                 correction_reason="adjudicated")
    near = (corrected["confirmed_at"] - CUTOFF).abs() < GAP
    corrected.loc[near, "confirmed_at"] = corrected.loc[near, "confirmed_at"] + 2 * GAP
    truth = pd.concat([truth, corrected, truth.sample(20, random_state=seed + 2)], ignore_index=True)  # + re-sends
    return predictions, truth


def _known(predictions: pd.DataFrame, truth: pd.DataFrame, by: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    return predictions[predictions["predicted_at"] <= by], truth[truth["confirmed_at"] <= by]


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The logs as CSV (in two stages) and Parquet, the device, and the signed bundles of both sites."""
    folder = tmp_path_factory.mktemp("conformance")
    config = _config(folder)
    predictions, truth = _logs()
    early_p, early_t = _known(predictions, truth, CUTOFF)
    late_p, late_t = predictions.drop(early_p.index), truth.drop(early_t.index)
    assert len(late_p) > 50 and len(late_t) > 50 and (early_p["predicted_at"] < PERIOD.bounds_utc(TZ)[0]).any()
    originals, corrections = early_t.loc[early_t["source"] == "histopathology"], early_t.loc[
        early_t["source"] != "histopathology"]
    csv = {name: write_csv(frame, folder / f"{name}.csv") for name, frame in (
        ("early-p", early_p), ("early-t", originals), ("early-c", corrections), ("late-p", late_p),
        ("late-t", late_t.sort_values("confirmed_at")))}
    lake = {"predictions": [str(write_parquet(predictions, folder / "lake" / "p" / "part-0.parquet").parent)],
            "ground_truth": [str(write_parquet(truth, folder / "lake" / "g.parquet"))]}
    bundles, keys = {}, {}
    for site in SITES:
        own_p = early_p[early_p["site_id"] == site]
        own = set(own_p["prediction_id"])
        logs = SiteLogs([open_log(write_csv(own_p, folder / f"{site}-p.csv"))],
                        [open_log(write_csv(f[f["prediction_id"].isin(own)], folder / f"{site}-{kind}.csv"))
                         for kind, f in (("t", originals), ("c", corrections))])
        clock = _Clock(CUTOFF - GAP)
        with scratch_database() as scratch:
            summary = summarize_site(config, logs, site_id=site, period=PERIOD, scratch=scratch, clock=clock,
                                     actor="site", hash_patient=make_patient_hasher("k" * 32), min_cell_size=11)
        files = write_key_pair(folder / "keys", site)
        bundles[site] = json.dumps(sign_summary(summary, load_signer(files.private)).document()).encode("utf-8")
        keys[site] = load_public_key(files.public)
    return {"config": config, "csv": csv, "lake": lake, "bundles": bundles, "keys": keys}


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the module."""
    pytest.importorskip("pyspark", reason="the spark extra is part of the test installation (make test)")
    from monitor.adapters.spark.cells import local_spark_session

    session = local_spark_session(app_name="samd-monitor-conformance")
    yield session
    session.stop()


def _database_engine(app: Any, clock: Any, deployment: dict[str, Any]) -> CellEngine:
    """The logs ingested into ``app``'s database in two stages around the cut-off, bundles stored too."""
    config, csv = deployment["config"], deployment["csv"]
    clock.now = CUTOFF - GAP
    register_device(config, uow=app.uow, clock=clock, actor="t", source="conformance")
    common = dict(uow=app.uow, clock=clock, actor="t")
    # Exact ages are kept in storage, so the SQL expression's own top-code is what makes 95 count as 90.
    ingest_predictions(open_log(csv["early-p"]), source="early-p", hash_patient=app.patient_hasher(),
                       exact_ages=True, **common)
    ingest_ground_truth(open_log(csv["early-t"]), source="early-t", **common)
    ingest_ground_truth(open_log(csv["early-c"]), source="early-c", **common)
    for site, public in deployment["keys"].items():
        register_site(site, public, key_id=key_id(public), devices=[DEVICE], replace=False, **common)
    for data in deployment["bundles"].values():
        assert ingest_summary(data, verify=verify, **common).status == "stored"
    assert clock.now < CUTOFF
    clock.now = LATER
    ingest_predictions(open_log(csv["late-p"]), source="late-p", hash_patient=app.patient_hasher(),
                       exact_ages=True, **common)
    ingest_ground_truth(open_log(csv["late-t"]), source="late-t", **common)
    return cell_engine(app.engine.dialect.name, uow=app.uow)


def _count(engine: CellEngine, attributes: list[AttributeSpec]) -> pd.DataFrame:
    start, end = PERIOD.bounds_utc(TZ)
    return engine.confusion_cells(DEVICE, start=start, end=end, cutoff=CUTOFF, attributes=attributes)


def _results(cells: pd.DataFrame, config: Any) -> list[dict[str, Any]]:
    return [r.as_dict() for r in evaluate_cells(cells, config)]


def test_every_engine_counts_the_same_cells(app: Any, clock: Any, deployment: dict[str, Any],
                                            spark_session: Any) -> None:
    config = deployment["config"]
    attributes = list(config.strata.attributes)
    database = _database_engine(app, clock, deployment)
    engines: dict[str, CellEngine] = {
        app.engine.dialect.name: database,
        "summaries": cell_engine("summaries", uow=app.uow),
        "arrow": ArrowCellEngine(**deployment["lake"]),
        "spark": cell_engine("spark", spark=spark_session, **deployment["lake"]),
    }
    reference = _count(database, attributes)
    keys = ["model_version", *[a.name for a in attributes]]
    assert list(reference.columns) == [*keys, "tp", "fp", "fn", "tn"]
    assert reference.equals(reference.sort_values(keys, kind="stable").reset_index(drop=True))
    labels = {a.name: set(reference[a.name]) for a in attributes}
    # the probes reached the cells: edges, the top-code, missing values, the custom numeric attribute
    assert {"<45", "45-64", "65-74", "75-89", ">=90", "unknown"} <= labels["age_band"]
    assert labels["age_group"] == {"<50", "50-94", "unknown"}  # 95 is top-coded to 90 on every engine
    assert labels["sex"] == {"F", "M", "unknown"} and "unknown" in labels["emphysema_grade"]
    assert labels["nodule_mm"] == {"<6", "6-7", ">=8", "unknown"}
    assert 100 < int(reference[["tp", "fp", "fn", "tn"]].to_numpy().sum()) < 700
    expected = _results(reference, config)
    assert any(r["level"] == 3 for r in expected)  # the triple's strata are evaluated on every engine too
    for name, engine in engines.items():
        cells = _count(engine, attributes)
        pd.testing.assert_frame_equal(cells, reference, obj=f"{name} cells")
        assert _results(cells, config) == expected, name
    # fewer attributes: every engine (bundles by adding up the other attributes' cells)
    some = [attributes[0], attributes[4]]
    narrow = _count(database, some)
    for name, engine in engines.items():
        pd.testing.assert_frame_equal(_count(engine, some), narrow, obj=f"{name} cells of two attributes")


def test_the_domain_rule_labels_like_every_compiler(spark_session: Any) -> None:
    """Edge values straight through each compiled form of the rule (SQL on SQLite, Arrow, Spark) and the
    domain's scalar and vectorised evaluations."""
    import pyarrow as pa
    from sqlalchemy import Column, Float, MetaData, String, Table, create_engine, insert, select

    from monitor.adapters.arrow.cells import _Codebook, _stratum_codes
    from monitor.adapters.db.repositories.results import attribute_expression
    from monitor.adapters.spark.cells import stratum_column

    specs = [AttributeSpec(name="age_band", column="age", bins=[45, 65, 75, 90]),
             AttributeSpec(name="age_group", column="age", bins=[50, 95]),
             AttributeSpec(name="sex", values=["F", "M"]),
             AttributeSpec(name="site_id", bins=[0.5, 2.5], bin_labels=["low", "mid", "high"])]
    ages = [None, 0.0, 44.999, 45.0, 64.0, 65.0, 74.99, 75.0, 89.0, 89.5, 90.0, 95.0, 130.0]
    sexes = ["F", "", None, "M", "X", "F", "M", "", None, "F", "M", "F", "M"]
    sites = ["0.5", "2.5", "", None, "0.4", "3", "1", "2.49", "abc", "2.5", "0", "7", "1"]
    frame = pd.DataFrame({"age": ages, "sex": sexes, "site_id": sites})
    domain = pd.DataFrame({s.name: s.rule.evaluate(frame[s.source_column]) for s in specs})
    scalar = pd.DataFrame({s.name: [s.bin_label(v) for v in frame[s.source_column]] for s in specs})
    pd.testing.assert_frame_equal(scalar, domain)
    assert domain["age_group"].tolist()[-3:] == ["50-94", "50-94", "50-94"]

    metadata = MetaData()
    table = Table("predictions", metadata, Column("age", Float), Column("sex", String),
                  Column("site_id", String), Column("attributes", String))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), frame.astype(object).where(frame.notna(), None).to_dict("records"))
        numeric_sites = [s for s in specs if s.name != "site_id"]  # SQLite casts text like 'abc' to 0
        rows = conn.execute(select(*[attribute_expression(s, table).label(s.name) for s in numeric_sites]))
        sql = pd.DataFrame([tuple(r) for r in rows], columns=[s.name for s in numeric_sites])
    pd.testing.assert_frame_equal(sql, domain[sql.columns].astype(object))

    batch = pa.table({"age": pa.array(ages, pa.float64()), "sex": pa.array(sexes, pa.string()),
                      "site_id": pa.array(sites, pa.string())})
    arrow = {}
    for spec in specs:
        book = _Codebook()
        codes = _stratum_codes(batch, spec, book)
        arrow[spec.name] = np.asarray(book.values, dtype=object)[codes]
    pd.testing.assert_frame_equal(pd.DataFrame(arrow), domain)

    lake = spark_session.createDataFrame(frame.astype(object).where(frame.notna(), None),
                                         schema="age double, sex string, site_id string")
    spark = lake.select(*[stratum_column(lake, s).alias(s.name) for s in specs]).toPandas()
    pd.testing.assert_frame_equal(spark.astype(object), domain)
