"""The evidence queries rewritten for speed (issue 20) return exactly what their previous formulations return,
kept here as the oracles, on both engines: ``LabelArrivalRepository.arrival_histograms`` (one pass, joint
histogram) and ``ClinicalRepository.failure_counts`` (one statement, labels per group of raw inputs).

The data are a small demo scenario made awkward on purpose: two model versions, ingestion times spread over
the timeline (so that past cut-offs see part of it), corrected labels (a newer version received before or
after the cut-off, with another label and source), confirmations dated after the cut-off, retractions before
and after the cut-off, missing, empty and numeric attribute values, and logged failures."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)

from monitor.adapters.db.repositories._active import active_prediction_clause
from monitor.adapters.db.repositories.results import (
    _label_join,
    _period_filter,
    attribute_expression,
)
from monitor.adapters.db.tables import (
    ground_truth,
    prediction_failures,
    prediction_retractions,
    predictions,
)
from monitor.domain.strata import AttributeSpec
from monitor.service.window import Window, materialised_cases
from monitor.synthetic import DemoScenario

DEVICE = "lung-nodule-ct"
UTC = timezone.utc


# --- the previous formulations (oracles) ------------------------------------------------------------------

def _seconds(conn: Connection, later: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return cast(func.round((func.julianday(later) - func.julianday(predictions.c.predicted_at)) * 86400.0),
                    Integer)
    return cast(func.round(func.extract("epoch", later - predictions.c.predicted_at)), Integer)


def _days(conn: Connection, later: Any) -> Any:
    seconds = _seconds(conn, later)
    return case((seconds < 0, 0), else_=seconds // 86_400)


def old_arrival_histograms(conn: Connection, device_id: str, *, before: datetime, cutoff: datetime,
                           provisional_sources: Sequence[str], window_days: int, horizon_days: int) -> pd.DataFrame:
    """``arrival_histograms`` as it was before issue 20: two scans, one per histogram."""
    at_cutoff = literal(cutoff, type_=predictions.c.predicted_at.type)
    confirmed = case((ground_truth.c.confirmed_at > cutoff, at_cutoff), else_=ground_truth.c.confirmed_at)
    delay = _days(conn, confirmed)
    provisional = ground_truth.c.source.in_(list(provisional_sources)) if provisional_sources else false()
    until_final = case((provisional & (delay < window_days), window_days), else_=delay)
    elapsed = _days(conn, at_cutoff)
    capped = case((elapsed > horizon_days, horizon_days), else_=elapsed)
    young = predictions.c.predicted_at > cutoff - timedelta(days=window_days)
    cases = (select(predictions.c.model_version.label("model_version"), ground_truth.c.label.label("label"),
                    predictions.c.predicted_label.label("predicted_label"),
                    until_final.label("delay_days"), capped.label("elapsed_days"))
             .select_from(predictions.join(ground_truth, _label_join(cutoff)))
             .where(predictions.c.device_id == device_id, predictions.c.predicted_at < before,
                    predictions.c.ingested_at <= cutoff, active_prediction_clause(cutoff), ~(provisional & young))
             .subquery("final_labels"))
    within = cases.c.delay_days <= horizon_days
    keys = [cases.c.model_version, cases.c.label, cases.c.predicted_label]
    parts = [select(*keys, literal(kind).label("kind"), cases.c[f"{kind}_days"].label("days"),
                    func.count().label("n"))
             .where(within).group_by(*keys, cases.c[f"{kind}_days"])
             for kind in ("delay", "elapsed")]
    names = ["model_version", "label", "predicted_label", "kind", "days", "n"]
    frame = pd.DataFrame([tuple(r) for r in conn.execute(union_all(*parts))], columns=names)
    return (frame.astype({"label": "int64", "predicted_label": "int64", "days": "int64", "n": "int64"})
            .sort_values(names[:-1], kind="stable").reset_index(drop=True))


def old_final_cells(conn: Connection, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                    attributes: Sequence[AttributeSpec], provisional_sources: Sequence[str],
                    window_days: int) -> pd.DataFrame:
    """``final_cells`` as it was before issue 20 (elapsed days with the seconds evaluated twice)."""
    elapsed = _days(conn, literal(cutoff, type_=predictions.c.predicted_at.type)).label("elapsed_days")
    young = predictions.c.predicted_at > cutoff - timedelta(days=window_days)
    provisional = ground_truth.c.source.in_(list(provisional_sources)) if provisional_sources else false()
    final = case((provisional & young, 0), else_=1)
    keys = [predictions.c.model_version.label("model_version"),
            *[attribute_expression(spec).label(spec.name) for spec in attributes],
            ground_truth.c.label.label("label"), predictions.c.predicted_label.label("predicted_label"), elapsed]
    query = (select(*keys, func.count().label("received"), cast(func.sum(final), BigInteger).label("final"))
             .select_from(predictions.join(ground_truth, _label_join(cutoff)))
             .where(*_period_filter(device_id, start, end, cutoff))
             .group_by(*keys))
    names = ["model_version", *[a.name for a in attributes], "label", "predicted_label", "elapsed_days",
             "received", "final"]
    frame = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=names)
    counts = ["label", "predicted_label", "elapsed_days", "received", "final"]
    return frame.astype({c: "int64" for c in counts}).sort_values(names[:-2], kind="stable").reset_index(drop=True)


def old_failure_counts(conn: Connection, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                       attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
    """``failure_counts`` as it was before issue 20: two statements, labels evaluated per row."""
    keys = [predictions.c.model_version.label("model_version")]
    keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
    results = (select(*keys, func.count().label("n"))
               .where(*_period_filter(device_id, start, end, cutoff)).group_by(*keys))
    failed = prediction_failures
    fkeys = [failed.c.model_version.label("model_version")]
    fkeys += [attribute_expression(spec, failed).label(spec.name) for spec in attributes]
    retracted = exists().where(prediction_retractions.c.device_id == failed.c.device_id,
                               prediction_retractions.c.prediction_id == failed.c.prediction_id,
                               prediction_retractions.c.ingested_at <= cutoff)
    failures = (select(*fkeys, failed.c.failure_code, func.count().label("n"))
                .where(failed.c.device_id == device_id, failed.c.predicted_at >= start,
                       failed.c.predicted_at < end, failed.c.ingested_at <= cutoff, ~retracted)
                .group_by(*fkeys, failed.c.failure_code))
    names = ["model_version", *[a.name for a in attributes]]
    ok = pd.DataFrame([tuple(r) for r in conn.execute(results)], columns=[*names, "n"]).assign(failure_code=None)
    bad = pd.DataFrame([tuple(r) for r in conn.execute(failures)], columns=[*names, "failure_code", "n"])
    return pd.concat([ok[[*names, "failure_code", "n"]], bad], ignore_index=True)


# --- the awkward data ------------------------------------------------------------------------------------

@pytest.fixture
def awkward(app, ingest_scenario):  # type: ignore[no-untyped-def]
    ingest_scenario(DemoScenario(seed=7, scale=0.004))
    with app.engine.begin() as conn:
        batch = conn.execute(select(func.max(ground_truth.c.batch_id))).scalar_one()
        # received over the timeline: a prediction a day after it was made, a label an hour after confirmation
        if conn.dialect.name == "postgresql":
            conn.execute(text("UPDATE predictions SET ingested_at = predicted_at + interval '1 day'"))
            conn.execute(text("UPDATE ground_truth SET ingested_at = confirmed_at + interval '1 hour'"))
        else:
            conn.execute(text("UPDATE predictions SET ingested_at = "
                              "strftime('%Y-%m-%d %H:%M:%f000', predicted_at, '+1 day')"))
            conn.execute(text("UPDATE ground_truth SET ingested_at = "
                              "strftime('%Y-%m-%d %H:%M:%f000', confirmed_at, '+1 hour')"))
        rows = conn.execute(select(predictions.c.id, predictions.c.prediction_id, predictions.c.predicted_at,
                                   predictions.c.site_id, predictions.c.age, predictions.c.sex,
                                   predictions.c.attributes, predictions.c.patient_hash)
                            .order_by(predictions.c.id)).all()
        truth = {r.prediction_id: r for r in conn.execute(select(ground_truth))}
        weird = [{}, {"emphysema_grade": "", "scanner_vendor": None}, {"emphysema_grade": 3, "scanner_vendor": "GE"},
                 {"scanner_vendor": "Siemens"}]
        for i, r in enumerate(rows):
            values: dict[str, Any] = {}
            if i % 5 == 0:
                values["model_version"] = "2.2.0"
            if i % 11 == 0:
                values["attributes"] = weird[(i // 11) % len(weird)]
            if i % 13 == 0:
                values["age"] = None if i % 2 else -0.0
            if i % 17 == 0:
                values["sex"] = ""
            if values:
                conn.execute(update(predictions).where(predictions.c.id == r.id).values(**values))
            label = truth.get(r.prediction_id)
            if label is not None and i % 7 == 0:  # a correction: another label, source and date
                late = i % 3 == 0
                at = label.confirmed_at + timedelta(days=40 + i % 200)
                conn.execute(insert(ground_truth).values(
                    device_id=DEVICE, prediction_id=r.prediction_id, version=label.version + 1,
                    label=1 - label.label, confirmed_at=at, source=["histopathology", "follow_up", "adjudication"][i % 3],
                    row_hash=f"c{i}", batch_id=batch, is_latest=True,
                    ingested_at=at + timedelta(days=400 if late else 0)))
            if i % 19 == 0:
                conn.execute(insert(prediction_retractions).values(
                    device_id=DEVICE, prediction_id=r.prediction_id, retracted_at=r.predicted_at, reason="recall",
                    batch_id=batch, ingested_at=r.predicted_at + timedelta(days=30 + 300 * (i % 2))))
            if i % 23 == 0:
                fid = f"failed-{i}"
                conn.execute(insert(prediction_failures).values(
                    device_id=DEVICE, prediction_id=fid, model_version="2.1.0" if i % 2 else "2.2.0",
                    site_id=r.site_id, predicted_at=r.predicted_at, failure_code=["timeout", "no_result"][i % 2],
                    patient_hash=r.patient_hash, age=r.age if i % 3 else None, sex=r.sex,
                    attributes=weird[(i // 23) % len(weird)] if i % 4 == 0 else r.attributes, row_hash=f"f{i}",
                    batch_id=batch, ingested_at=r.predicted_at + timedelta(days=2 + 400 * (i % 5 == 0))))
                if i % 3 == 0:
                    conn.execute(insert(prediction_retractions).values(
                        device_id=DEVICE, prediction_id=fid, retracted_at=r.predicted_at, reason="recall",
                        batch_id=batch, ingested_at=r.predicted_at + timedelta(days=5)))
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
    return app, config


CUTOFFS = [datetime(2026, 1, 31, 16, 0, tzinfo=UTC), datetime(2025, 11, 3, 7, 21, 13, tzinfo=UTC),
           datetime(2025, 8, 1, 0, 0, 1, tzinfo=UTC)]
WINDOWS = [(datetime(2025, 6, 30, 16, 0, tzinfo=UTC), datetime(2025, 9, 30, 16, 0, tzinfo=UTC)),
           (datetime(2025, 3, 31, 16, 0, tzinfo=UTC), datetime(2025, 6, 30, 16, 0, tzinfo=UTC))]


def test_arrival_histograms_equal_the_two_scan_formulation(awkward) -> None:  # type: ignore[no-untyped-def]
    app, _ = awkward
    policies = [([], 365, 365), (["follow_up"], 120, 90), (["follow_up", "adjudication"], 365, 365),
                (["adjudication"], 30, 45)]
    compared = 0
    with app.uow() as unit:
        conn = unit.label_arrival._conn
        for cutoff, (before, _), (sources, window_days, horizon) in itertools.product(CUTOFFS, WINDOWS, policies):
            kw: dict[str, Any] = {"before": before, "cutoff": cutoff, "provisional_sources": sources,
                                  "window_days": window_days, "horizon_days": horizon}
            got = unit.label_arrival.arrival_histograms(DEVICE, **kw)
            want = old_arrival_histograms(conn, DEVICE, **kw)
            pd.testing.assert_frame_equal(got, want)
            compared += int(not want.empty)
    assert compared >= 12


def test_final_cells_equal_the_previous_formulation(awkward) -> None:  # type: ignore[no-untyped-def]
    app, config = awkward
    attributes = config.strata.attributes
    with app.uow() as unit:
        conn = unit.label_arrival._conn
        for cutoff, (start, end), (sources, window_days) in itertools.product(
                CUTOFFS, WINDOWS, [([], 365), (["follow_up", "adjudication"], 365), (["adjudication"], 60)]):
            kw: dict[str, Any] = {"start": start, "end": end, "cutoff": cutoff, "attributes": attributes,
                                  "provisional_sources": sources, "window_days": window_days}
            with materialised_cases(unit, config, Window(DEVICE, start, end, cutoff)) as cases:
                got = unit.label_arrival.final_cells(cases, cutoff=cutoff, provisional_sources=sources,
                                                     window_days=window_days)
            pd.testing.assert_frame_equal(got, old_final_cells(conn, DEVICE, **kw))


def test_failure_counts_equal_the_per_row_formulation(awkward) -> None:  # type: ignore[no-untyped-def]
    app, config = awkward
    attributes = config.strata.attributes
    with app.uow() as unit:
        conn = unit.clinical._conn
        for cutoff, (start, end) in itertools.product(CUTOFFS, WINDOWS):
            window = {"start": start, "end": end, "cutoff": cutoff}
            got = unit.clinical.failure_counts(DEVICE, attributes=attributes, **window)
            want = old_failure_counts(conn, DEVICE, attributes=attributes, **window)
            keys = list(want.columns[:-1])
            assert got["n"].dtype == "int64"
            pd.testing.assert_frame_equal(
                got.sort_values(keys, na_position="first").reset_index(drop=True),
                want.sort_values(keys, na_position="first").reset_index(drop=True).astype({"n": "int64"}))
        labels = unit.clinical.failure_counts(DEVICE, attributes=attributes, start=WINDOWS[0][0],
                                                end=WINDOWS[0][1], cutoff=CUTOFFS[0])
    assert labels["failure_code"].notna().any() and labels["failure_code"].isna().any()
    assert (labels[[a.name for a in attributes]] == "unknown").any().any()
