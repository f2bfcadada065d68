"""Analyses for notebooks: frames in memory (nothing stored), or a device and period of a database.

An in-memory analysis is the service's own pipeline on a private in-memory SQLite database: the schema
migrations applied, the device configuration registered, the frames ingested by
:mod:`monitor.service.ingest` (the validation, duplicate handling and rejections of ``samd-monitor
ingest``), then :func:`monitor.service.analyze.analyze_period` and the report content of
:mod:`monitor.service.report`. The database lives as long as the call: nothing touches the disk.
Patient identifiers are hashed with a random key that is never kept.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

from monitor.adapters.db.engine import check_schema, make_engine, upgrade
from monitor.adapters.db.tables import predictions as prediction_rows
from monitor.adapters.db.unit_of_work import unit_of_work_factory
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period, resolve_timezone
from monitor.domain.privacy import PatientHasher, make_patient_hasher
from monitor.entrypoints.bootstrap import utc_now
from monitor.entrypoints.python_api.config import ConfigSource, load_config
from monitor.entrypoints.python_api.frames import FrameLog
from monitor.entrypoints.python_api.result import AnalysisResult, _no_rejections
from monitor.errors import InputError, MonitorError, StorageError
from monitor.service.actors import acting_user
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions
from monitor.service.ports import UnitOfWorkFactory
from monitor.service.quarantine import list_rejections
from monitor.service.report import build_content

__all__ = ["Monitor", "analyze", "analyze_stored", "load_analysis"]

PREDICTIONS_NAME = "predictions (frame)"
GROUND_TRUTH_NAME = "ground truth (frame)"
MEMORY_URL = "sqlite://"


@dataclass(frozen=True)
class _Inputs:
    """What an in-memory analysis was made of (kept by its result for :meth:`AnalysisResult.save`)."""

    config: DeviceConfig
    predictions: FrameLog
    ground_truth: FrameLog | None
    period: Period | None  # None: the period of the latest prediction (chosen once the frames are validated)


@dataclass(frozen=True)
class _Database:
    url: str
    engine: Engine
    uow: UnitOfWorkFactory


def _settings() -> Any:
    from monitor.settings import load_settings

    return load_settings()


def _actor() -> str:
    """Who an in-memory analysis names (nothing is audited beyond the call): ``MONITOR_USER``, else
    ``python-api``; never the OS account."""
    try:
        return str(_settings().user or "python-api")
    except (MonitorError, ValueError):  # a wrong unrelated MONITOR_* value need not stop an in-memory analysis
        return "python-api"


def _acting_user(db: _Database, actor: str | None, settings: Any) -> str:
    """Who acts on a database: ``actor`` given by the caller, else ``MONITOR_USER``; an enabled user of that
    database (:func:`monitor.service.actors.acting_user`: :class:`InputError` otherwise)."""
    return acting_user(db.uow, actor or settings.user)


@contextmanager
def _database(url: str, *, migrate: bool = False) -> Iterator[_Database]:
    """A unit-of-work factory on ``url``; the schema must be current (or is brought up to date with ``migrate``)."""
    parsed = make_url(url) if "://" in url else None
    if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not migrate and not Path(parsed.database).expanduser().is_file():
        raise StorageError(f"{parsed.database}: no such database file (create it with `samd-monitor db upgrade`, "
                           "or save(..., migrate=True))")
    engine = make_engine(url)
    try:
        if migrate:
            upgrade(engine)
        check_schema(engine)
        yield _Database(engine.url.render_as_string(hide_password=True), engine, unit_of_work_factory(engine))
    finally:
        engine.dispose()


def _frame_log(data: Any, name: str, config: DeviceConfig) -> FrameLog:
    return FrameLog(data, name=name, device_id=config.device.id)


def _infer_period(config: DeviceConfig, engine: Engine) -> Period:
    """The period (of the configuration's kind, in its time zone) holding the latest accepted prediction."""
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(prediction_rows.c.predicted_at))
                              .where(prediction_rows.c.device_id == config.device.id)).scalar()
    local = latest.astimezone(resolve_timezone(config.monitoring.timezone))
    kind = config.monitoring.period
    label = {"quarter": f"{local.year}Q{(local.month - 1) // 3 + 1}", "month": f"{local.year}-{local.month:02d}",
             "year": f"{local.year}"}[kind]
    return Period.parse(label)


def _ingest(inputs: _Inputs, uow: UnitOfWorkFactory, hasher: PatientHasher, clock: Any,
            actor: str) -> list[BatchSummary]:
    """Register the configuration and ingest the frames, as ``device add`` and ``ingest`` do."""
    register_device(inputs.config, uow=uow, clock=clock, actor=actor, source="python api")
    summaries = [ingest_predictions(inputs.predictions, source=inputs.predictions.name, uow=uow,
                                    hash_patient=hasher, clock=clock, actor=actor)]
    if inputs.ground_truth is not None:
        summaries.append(ingest_ground_truth(inputs.ground_truth, source=inputs.ground_truth.name, uow=uow,
                                             clock=clock, actor=actor, hash_patient=hasher))
    return summaries


def _rejections(uow: UnitOfWorkFactory, summaries: list[BatchSummary]) -> pd.DataFrame:
    rows = [{"kind": s.kind, "row_number": r["row_number"], "prediction_id": r.get("record_id"),
             "code": r.get("reason_code"), "reason": r.get("reason")}
            for s in summaries if s.rejected for r in list_rejections(uow, batch_id=s.batch_id, limit=None)]
    return pd.DataFrame(rows, columns=list(_no_rejections().columns)) if rows else _no_rejections()


def _require_rows(summary: BatchSummary) -> None:
    """Refuse frames none of whose predictions was accepted (an analysis of nothing), naming the reasons."""
    if summary.accepted == 0:
        reasons = ", ".join(f"{code} ({n:,})" for code, n in sorted(summary.reasons.items())) or "none accepted"
        raise InputError(f"{summary.source}: none of the {summary.rows:,} rows was accepted: {reasons}")


def _warn_rejections(summaries: list[BatchSummary]) -> None:
    for s in summaries:
        if s.rejected:
            reasons = ", ".join(f"{code} ({n:,})" for code, n in sorted(s.reasons.items()))
            warnings.warn(f"{s.source}: {s.rejected:,} of {s.rows:,} rows rejected: {reasons}; "
                          "see result.rejections", stacklevel=4)


def _result(db: _Database, outcome_document: dict[str, Any], *, stored_in: str | None,
            summaries: list[BatchSummary], inputs: _Inputs | None) -> AnalysisResult:
    with db.uow() as unit:
        content, _ = build_content(unit, outcome_document["device"]["id"], outcome_document["period"]["label"],
                                   run_id=outcome_document["run_id"])
    return AnalysisResult(content["analysis"], content=content, stored_in=stored_in,
                          rejections=_rejections(db.uow, summaries),
                          batches=[s.as_dict() for s in summaries], inputs=inputs)


class Monitor:
    """The monitoring of one device, configured once and run on frames (as Evidently's ``Report(...).run``).

    >>> monitor = Monitor("examples/lung-nodule-ct.yaml")       # doctest: +SKIP
    >>> result = monitor.run(predictions, ground_truth)          # doctest: +SKIP

    ``config`` is a YAML file path, YAML text, a dict or a :class:`DeviceConfig` (:func:`load_config`).
    """

    def __init__(self, config: ConfigSource) -> None:
        self.config: DeviceConfig = load_config(config)

    def __repr__(self) -> str:
        return f"Monitor({self.config.device.id!r})"

    def run(self, predictions: Any, ground_truth: Any = None, *, period: str | Period | None = None
            ) -> AnalysisResult:
        """Analyse frames in memory: nothing is stored.

        ``predictions`` and ``ground_truth`` are pandas DataFrames or pyarrow Tables with the columns of the
        prediction and ground-truth logs (``schemas/prediction_log.schema.json``, ``ground_truth_log``);
        ``device_id`` may be left out (it is the configured device). They are validated as ``samd-monitor
        ingest`` validates files: a frame without a required column raises :class:`~monitor.errors.InputError`;
        rows that fail validation are left out, counted in a warning and listed in ``result.rejections``.
        Rows of earlier periods are the analysis's history (drift reference, CUSUM charts, label arrival).

        ``period`` (e.g. ``"2025Q3"``, ``"2025-07"``): default, the period of the configuration's kind
        holding the latest prediction.
        """
        config = self.config
        log = _frame_log(predictions, PREDICTIONS_NAME, config)
        truth = None if ground_truth is None else _frame_log(ground_truth, GROUND_TRUTH_NAME, config)
        chosen = Period.parse(period) if isinstance(period, str) else period
        return _run_in_memory(_Inputs(config, log, truth, chosen))


def _run_in_memory(inputs: _Inputs) -> AnalysisResult:
    actor = _actor()
    with _database(MEMORY_URL, migrate=True) as db:
        hasher = make_patient_hasher(secrets.token_hex(32))  # never kept: nothing outlives the call
        summaries = _ingest(inputs, db.uow, hasher, utc_now, actor)  # a missing column stops here
        _require_rows(summaries[0])
        _warn_rejections(summaries)
        if inputs.period is None:
            inputs = replace(inputs, period=_infer_period(inputs.config, db.engine))
        assert inputs.period is not None
        outcome = analyze_period(inputs.config.device.id, inputs.period, uow=db.uow, clock=utc_now, actor=actor)
        return _result(db, outcome.document, stored_in=None, summaries=summaries, inputs=inputs)


def analyze(config: ConfigSource, predictions: Any, ground_truth: Any = None, *,
            period: str | Period | None = None) -> AnalysisResult:
    """``Monitor(config).run(predictions, ground_truth, period=period)``: frames analysed in memory."""
    return Monitor(config).run(predictions, ground_truth, period=period)


def save_inputs(inputs: _Inputs, database_url: str | None, *, migrate: bool = False,
                actor: str | None = None) -> AnalysisResult:
    """Ingest an in-memory analysis's frames into a database and run its analysis there (``AnalysisResult.save``),
    acting as ``actor`` (default ``MONITOR_USER``), a user of that database."""
    settings = _settings()
    url = database_url or settings.database_url
    hasher = make_patient_hasher(settings.patient_id_key)  # MissingSecretError when MONITOR_PATIENT_ID_KEY is unset
    with _database(url, migrate=migrate) as db:
        who = _acting_user(db, actor, settings)
        summaries = _ingest(inputs, db.uow, hasher, utc_now, who)
        _warn_rejections(summaries)
        assert inputs.period is not None  # chosen by the in-memory run
        outcome = analyze_period(inputs.config.device.id, inputs.period, uow=db.uow, clock=utc_now, actor=who)
        return _result(db, outcome.document, stored_in=db.url, summaries=summaries, inputs=None)


def analyze_stored(device_id: str, period: str | Period, *, database_url: str | None = None,
                   cutoff: datetime | None = None, actor: str | None = None) -> AnalysisResult:
    """Analyse a registered device over a period from a database (default ``MONITOR_DATABASE_URL``), as
    ``samd-monitor analyze`` does: the run, its findings, tickets and audit entry are stored there.
    ``cutoff`` (timezone-aware; default now) is the data cut-off; re-running with it reproduces the run.
    ``actor``: the named user acting (default ``MONITOR_USER``), an enabled user of that database."""
    settings = _settings()
    chosen = Period.parse(period) if isinstance(period, str) else period
    with _database(database_url or settings.database_url) as db:
        outcome = analyze_period(device_id, chosen, uow=db.uow, clock=utc_now, actor=_acting_user(db, actor, settings),
                                 cutoff=cutoff)
        return _result(db, outcome.document, stored_in=db.url, summaries=[], inputs=None)


def load_analysis(device_id: str, period: str | Period, *, run_id: str | None = None,
                  database_url: str | None = None) -> AnalysisResult:
    """A stored analysis run of a device and period (default: the period's newest run), without running anything."""
    chosen = Period.parse(period) if isinstance(period, str) else period
    with _database(database_url or _settings().database_url) as db:
        with db.uow() as unit:
            content, _ = build_content(unit, device_id, chosen.label, run_id=run_id)
        return AnalysisResult(content["analysis"], content=content, stored_in=db.url)
