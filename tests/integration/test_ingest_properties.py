"""Property: however a log is split into files, ordered, chunked and partly re-sent, ingestion ends in
the state of one clean ingest of the whole log (SQLite; a fresh database per example)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.engine import make_engine, upgrade
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.entrypoints.bootstrap import bootstrap
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.settings import Settings

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "lung-nodule-ct.yaml"
DEVICE = "lung-nodule-ct"
KEY = "property-test-patient-key-0123456789"
PREDICTION_COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score",
                      "predicted_label", "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]
TRUTH_COLUMNS = ["prediction_id", "device_id", "label", "confirmed_at", "source", "intervention_at",
                 "correction_reason"]
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@st.composite
def prediction_rows(draw: st.DrawFn, pid: str) -> dict[str, str]:
    pick = lambda *values: draw(st.sampled_from(values))  # noqa: E731
    return {
        "prediction_id": pid, "device_id": DEVICE, "model_version": pick("2.1.0", "2.2.0"),
        "site_id": pick("SH-01", "BJ-02"),
        "predicted_at": pick("2025-07-01T00:00:00+08:00", "2025-08-15T12:30:00Z", "2025-09-30T23:59:59.5-03:00"),
        "score": pick("0", "0.25", "0.5", "0.999", "1"), "predicted_label": pick("0", "1"),
        "patient_id": f"PAT-{draw(st.integers(0, 3))}", "age": pick("", "18", "64.5", "90"), "sex": pick("", "F", "M"),
        "emphysema_grade": pick("", "none", "severe"), "scanner_vendor": pick("GE", "United Imaging", ""),
    }


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """Predictions, original ground truth (some for predictions never sent), and corrections."""
    n = draw(st.integers(1, 10))
    preds = [draw(prediction_rows(f"P{i}")) for i in range(n)]
    originals, corrections = [], []
    for pid in [*(p["prediction_id"] for p in preds), "P-LATE-1", "P-LATE-2"]:
        kind = draw(st.sampled_from(["none", "original", "corrected"]))
        if kind == "none":
            continue
        label = draw(st.integers(0, 1))
        originals.append({"prediction_id": pid, "device_id": DEVICE, "label": str(label),
                          "confirmed_at": draw(st.sampled_from(["2025-09-10T10:00:00+08:00", "2025-10-01T00:00:00Z"])),
                          "source": draw(st.sampled_from(["histopathology", "follow_up"])),
                          "intervention_at": draw(st.sampled_from(["", "2025-08-20T08:00:00+08:00"]))})
        if kind == "corrected":
            corrections.append({"prediction_id": pid, "device_id": DEVICE, "label": str(1 - label),
                                "confirmed_at": "2025-11-01T00:00:00+08:00", "source": "adjudication",
                                "correction_reason": f"re-read of {pid}"})
    return preds, originals, corrections


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Any, list[tuple[str, list[dict[str, str]], int]]]:
    """A log, and the files that deliver it: random order, random cuts, some rows sent twice."""
    log = draw(logs())
    preds, originals, corrections = log
    items = [("predictions", r) for r in preds] + [("ground_truth", r) for r in originals + corrections]
    resent = draw(st.lists(st.sampled_from(items), max_size=6))
    order = draw(st.permutations(items + resent))
    files: list[tuple[str, list[dict[str, str]], int]] = []
    for kind, r in order:
        if not files or files[-1][0] != kind or draw(st.booleans()):
            files.append((kind, [], draw(st.sampled_from([1, 2, 50_000]))))
        files[-1][1].append(r)
    return log, files


def _fresh_app(directory: Path) -> tuple[Any, _Clock]:
    url = f"sqlite:///{(directory / 'monitor.sqlite').as_posix()}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    clock = _Clock()
    app = bootstrap(Settings(database_url=url, data_dir=directory, patient_id_key=KEY), clock=clock)
    register_device(load_device_config(EXAMPLE_CONFIG), uow=app.uow, clock=clock, actor="pytest",
                    source=str(EXAMPLE_CONFIG))
    return app, clock


def _ingest(app: Any, clock: _Clock, path: Path, kind: str, rows: list[dict[str, str]], chunk_rows: int) -> Any:
    out = io.StringIO()
    columns = PREDICTION_COLUMNS if kind == "predictions" else TRUTH_COLUMNS
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(c, "") for c in columns] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    log = app.open_log(path)
    if kind == "predictions":
        return ingest_predictions(log, source=path.name, uow=app.uow, hash_patient=app.patient_hasher(), clock=clock,
                                  actor="pytest", chunk_rows=chunk_rows)
    return ingest_ground_truth(log, source=path.name, uow=app.uow, clock=clock, actor="pytest", chunk_rows=chunk_rows)


def _state(app: Any) -> tuple[set[tuple[str, str]], dict[str, int]]:
    with app.uow() as unit:
        stored = {tuple(r) for r in unit.connection.execute(
            select(predictions.c.prediction_id, predictions.c.row_hash))}
        latest = unit.connection.execute(select(ground_truth.c.prediction_id, ground_truth.c.label)
                                         .where(ground_truth.c.is_latest.is_(True))).all()
    labels = {pid: label for pid, label in latest}
    assert len(labels) == len(latest), "one latest ground-truth version per prediction"
    return stored, labels  # type: ignore[return-value]


@PROPERTY_SETTINGS
@given(case=deliveries())
def test_any_delivery_ends_in_the_state_of_one_clean_ingest(tmp_path_factory: pytest.TempPathFactory,
                                                            case: Any) -> None:
    (preds, originals, corrections), files = case

    clean_dir = tmp_path_factory.mktemp("clean")
    clean, clean_clock = _fresh_app(clean_dir)
    try:
        _ingest(clean, clean_clock, clean_dir / "predictions.csv", "predictions", preds, 50_000)
        if originals + corrections:  # an empty file is an error (nothing to ingest), not an empty batch
            _ingest(clean, clean_clock, clean_dir / "ground_truth.csv", "ground_truth", originals + corrections,
                    50_000)
        expected = _state(clean)
    finally:
        clean.engine.dispose()

    split_dir = tmp_path_factory.mktemp("split")
    split, split_clock = _fresh_app(split_dir)
    try:
        for n, (kind, rows, chunk_rows) in enumerate(files):
            summary = _ingest(split, split_clock, split_dir / f"file{n}.csv", kind, rows, chunk_rows)
            assert summary.rows == len(rows) == summary.accepted + summary.duplicates + summary.rejected
            # the only possible rejection: an original label arriving after its correction
            assert set(summary.reasons) <= ({"conflicting_duplicate"} if kind == "ground_truth" else set())
        actual = _state(split)
    finally:
        split.engine.dispose()

    assert actual == expected
    assert sorted(pid for pid, _ in expected[0]) == sorted(p["prediction_id"] for p in preds)
    final = {r["prediction_id"]: int(r["label"]) for r in originals} | {
        r["prediction_id"]: int(r["label"]) for r in corrections}
    assert expected[1] == final


# --- on both engines, with AI failures, retractions and three file formats ---------------------------------
import json  # noqa: E402

import pandas as pd  # noqa: E402
from hypothesis import HealthCheck as _HealthCheck  # noqa: E402
from sqlalchemy import delete  # noqa: E402

from monitor.adapters.db.tables import (  # noqa: E402
    ingestion_batches,
    model_versions,
    prediction_failures,
    prediction_retractions,
    rejected_rows,
    sites,
)
from monitor.service.ingest import ingest_retractions  # noqa: E402

try:
    import monitor.adapters.formats.ndjson  # noqa: F401

    FORMATS = ["csv", "parquet", "ndjson"]
except ImportError:  # the NDJSON reader is optional here
    FORMATS = ["csv", "parquet"]

FULL_COLUMNS = PREDICTION_COLUMNS + ["study_uid", "human_label", "result_status", "failure_reason"]
RETRACTION_COLUMNS = ["device_id", "prediction_id", "retracted_at", "reason"]
ENGINE_SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[
    _HealthCheck.too_slow, _HealthCheck.data_too_large, _HealthCheck.function_scoped_fixture])
_RESETTABLE = [prediction_retractions, prediction_failures, predictions, ground_truth, rejected_rows, model_versions,
               sites]


@st.composite
def full_logs(draw: st.DrawFn) -> dict[str, list[dict[str, str]]]:
    """Predictions (some AI failures, some with clinical context), ground truth with corrections, retractions."""
    preds, originals, corrections, retractions = [], [], [], []
    for i in range(draw(st.integers(1, 8))):
        r = draw(prediction_rows(f"P{i}"))
        if draw(st.booleans()):
            r |= {"study_uid": f"1.2.{i}", "human_label": draw(st.sampled_from(["", "0", "1"]))}
        if draw(st.integers(0, 4)) == 0:
            r |= {"score": "", "predicted_label": "", "result_status": draw(st.sampled_from(["failed", "no_result"])),
                  "failure_reason": draw(st.sampled_from(["", "timeout"]))}
        elif draw(st.integers(0, 3)) == 0:
            retractions.append({"device_id": DEVICE, "prediction_id": r["prediction_id"],
                                "retracted_at": "2025-10-01T00:00:00Z", "reason": "recalled: wrong series"})
        preds.append(r)
    for pid in [p["prediction_id"] for p in preds] + ["P-LATE"]:
        kind = draw(st.sampled_from(["none", "original", "corrected"]))
        if kind == "none":
            continue
        label = draw(st.integers(0, 1))
        originals.append({"prediction_id": pid, "device_id": DEVICE, "label": str(label),
                          "confirmed_at": "2025-09-10T10:00:00+08:00", "source": "follow_up"})
        if kind == "corrected":
            corrections.append(originals[-1] | {"label": str(1 - label), "source": "adjudication",
                                                "correction_reason": "re-read"})
    return {"predictions": preds, "ground_truth": originals + corrections, "retractions": retractions}


@st.composite
def full_deliveries(draw: st.DrawFn) -> tuple[dict[str, list[dict[str, str]]], list[tuple[str, list[dict[str, str]],
                                                                                          str, int]]]:
    """Files in random order, cuts, formats and chunk sizes, with re-sends; retractions (rejected while their
    prediction is missing) are all sent once more at the end, as an operator re-submits a quarantine."""
    log = draw(full_logs())
    items = [(k, r) for k, rows in log.items() for r in rows]
    order = draw(st.permutations(items + draw(st.lists(st.sampled_from(items), max_size=4)) if items else items))
    files: list[tuple[str, list[dict[str, str]], str, int]] = []
    for kind, r in order:
        if not files or files[-1][0] != kind or draw(st.booleans()):
            files.append((kind, [], draw(st.sampled_from(FORMATS)), draw(st.sampled_from([1, 3, 50_000]))))
        files[-1][1].append(r)
    if log["retractions"]:
        files.append(("retractions", log["retractions"], draw(st.sampled_from(FORMATS)), 50_000))
    return log, files


def _write(path: Path, kind: str, rows: list[dict[str, str]], fmt: str) -> Path:
    columns = {"predictions": FULL_COLUMNS, "ground_truth": TRUTH_COLUMNS, "retractions": RETRACTION_COLUMNS}[kind]
    target = path.with_suffix({"csv": ".csv", "parquet": ".parquet", "ndjson": ".ndjson"}[fmt])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([r.get(c, "") for c in columns] for r in rows)
        target.write_text(out.getvalue(), encoding="utf-8")
    elif fmt == "parquet":
        pd.DataFrame([{c: (r.get(c) or None) for c in columns} for r in rows], columns=columns,
                     dtype=object).to_parquet(target)
    else:
        target.write_text("".join(json.dumps({c: r[c] for c in columns if r.get(c)}) + "\n" for r in rows),
                          encoding="utf-8")
    return target


def _send(app: Any, path: Path, kind: str, chunk_rows: int) -> Any:
    log = app.open_log(path)
    common = dict(source=path.name, uow=app.uow, clock=app.clock, actor="pytest", chunk_rows=chunk_rows)
    if kind == "predictions":
        return ingest_predictions(log, hash_patient=app.patient_hasher(), **common)
    if kind == "ground_truth":
        return ingest_ground_truth(log, **common)
    return ingest_retractions(log, **common)


def _full_state(app: Any) -> dict[str, Any]:
    with app.uow() as unit:
        run = unit.connection.execute
        return {
            "predictions": sorted(tuple(r) for r in run(select(predictions.c.prediction_id, predictions.c.row_hash))),
            "failures": sorted(tuple(r) for r in run(select(prediction_failures.c.prediction_id,
                                                            prediction_failures.c.row_hash))),
            "labels": sorted(tuple(r) for r in run(select(ground_truth.c.prediction_id, ground_truth.c.label)
                                                   .where(ground_truth.c.is_latest.is_(True)))),
            "retractions": sorted(tuple(r) for r in run(select(prediction_retractions.c.prediction_id,
                                                               prediction_retractions.c.reason))),
        }


def _reset(app: Any) -> None:
    with app.uow() as unit:
        for t in _RESETTABLE:
            unit.connection.execute(delete(t))


@ENGINE_SETTINGS
@given(case=full_deliveries())
def test_any_delivery_in_any_format_ends_in_the_clean_state(app: Any, tmp_path: Path, case: Any) -> None:
    log, files = case
    _reset(app)
    for kind in ("predictions", "ground_truth", "retractions"):
        if log[kind]:
            _send(app, _write(tmp_path / f"clean-{kind}", kind, log[kind], "csv"), kind, 50_000)
    expected = _full_state(app)
    _reset(app)
    for n, (kind, rows, fmt, chunk_rows) in enumerate(files):
        summary = _send(app, _write(tmp_path / f"file{n}", kind, rows, fmt), kind, chunk_rows)
        assert summary.rows == len(rows) == summary.accepted + summary.duplicates + summary.rejected
        allowed = {"ground_truth": {"conflicting_duplicate"}, "retractions": {"unknown_prediction"}}.get(kind, set())
        assert set(summary.reasons) <= allowed
    actual = _full_state(app)
    assert actual == expected
    retracted = {r["prediction_id"] for r in log["retractions"]}
    assert [pid for pid, _ in expected["retractions"]] == sorted(retracted)
    assert len(expected["predictions"]) + len(expected["failures"]) == len(log["predictions"])
    with app.uow() as unit:
        assert unit.connection.execute(select(ingestion_batches.c.batch_id)).first() is not None
