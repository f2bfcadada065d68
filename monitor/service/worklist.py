"""The review worklist (issue 17 item 3): the one read model of the cases a device's review triggers sent to
secondary review in a period, with the latest status of each case's review; used by the CLI
(``samd-monitor worklist``), the API (``GET /v1/devices/{device_id}/worklist``), the dashboard page and the
analysis section (:mod:`monitor.service.device_sections.review`).

A case is on the worklist when any trigger the device declares fires for it (:mod:`monitor.domain.review`). Its
status is that of its latest review event ingested by the cut-off (``pending`` without one). No patient
identifier is read or shown: a case is named by its ``prediction_id`` and ``study_uid``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period, resolve_timezone
from monitor.domain.review import declared_triggers, trigger_flags
from monitor.domain.review_events import WORKLIST_STATUSES, LatestReview
from monitor.errors import InputError
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.service.window import Window

__all__ = ["EXPORT_ACTION", "EXPORT_COLUMNS", "Worklist", "WorklistItem", "WorklistStatus", "build_worklist", "get_worklist",
           "record_worklist_export", "worklist_items"]

WorklistStatus = Literal["pending", "in_review", "confirmed", "edited", "rejected"]
EXPORT_ACTION = "worklist.export"


class WorklistItem(BaseModel):
    """One case sent to secondary review."""

    model_config = ConfigDict(frozen=True)

    prediction_id: str = Field(description="The AI result (or failure) the case is.")
    study_uid: str | None = Field(description="The imaging study (DICOM Study Instance UID), when logged.")
    model_version: str = Field(description="Model version that produced the result.")
    site_id: str = Field(description="Site of the study.")
    predicted_at: datetime = Field(description="When the AI produced the result (UTC).")
    triggers: list[str] = Field(description="The review triggers that fired, in report order.")
    ai_volume_mm3: float | None = Field(description="AI segmentation volume (mm3).")
    reviewed_volume_mm3: float | None = Field(description="Reviewed segmentation volume (mm3) of the prediction log.")
    relative_difference: float | None = Field(description=(
        "(AI - reviewed) / reviewed volume; null without both volumes or with a reviewed volume of 0."))
    status: WorklistStatus = Field(description="Status of the latest review event by the cut-off (pending: none).")
    reviewer: str | None = Field(description="Reviewer of the latest review event.")
    reviewed_at: datetime | None = Field(description="Time of the latest review event (UTC).")
    review_version: int | None = Field(description="Version of the latest review event (1 = the first).")


class Worklist(BaseModel):
    """The worklist of one device and period as of a cut-off."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    period: str
    cutoff: datetime = Field(description="Review events and cases ingested by then are read.")
    triggers: list[str] = Field(description="The triggers the device declares.")
    cases: int = Field(description="Cases of the period (delivered results, and failures when the failure "
                                   "trigger is declared).")
    counts: dict[str, int] = Field(description="Worklist cases by status (every status, 0 included).")
    items: list[WorklistItem] = Field(description="The worklist's cases (of the requested status), oldest first.")


#: Columns of the CSV export, in order.
EXPORT_COLUMNS = tuple(WorklistItem.model_fields)


def _float(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def worklist_items(cases: pd.DataFrame, latest: dict[str, LatestReview], config: DeviceConfig
                   ) -> tuple[int, list[WorklistItem]]:
    """The counted cases and the worklist items of ``cases`` (the frame of
    :meth:`~monitor.adapters.db.repositories.review.ReviewRepository.cases`) with their latest review."""
    if config.review is None:
        raise InputError(f"device {config.device.id!r} declares no review triggers (review in its configuration)")
    if cases.empty:
        return 0, []
    flags = trigger_flags(cases, config.review)
    declared = declared_triggers(config.review)
    items = []
    for position in cases.index[flags["any"].to_numpy()]:
        row = cases.loc[position]
        ai, reviewed = _float(row["ai_volume_mm3"]), _float(row["reviewed_volume_mm3"])
        review = latest.get(str(row["prediction_id"]))
        items.append(WorklistItem(
            prediction_id=str(row["prediction_id"]), study_uid=None if pd.isna(row["study_uid"]) else str(row["study_uid"]),
            model_version=str(row["model_version"]), site_id=str(row["site_id"]),
            predicted_at=pd.Timestamp(row["predicted_at"]).to_pydatetime(),
            triggers=[t for t in declared if bool(flags.at[position, t])], ai_volume_mm3=ai,
            reviewed_volume_mm3=reviewed,
            relative_difference=(ai - reviewed) / reviewed if ai is not None and reviewed else None,
            status=review.status if review else "pending",  # type: ignore[arg-type]
            reviewer=review.reviewer if review else None, reviewed_at=review.reviewed_at if review else None,
            review_version=review.version if review else None))
    return int(flags["counted"].sum()), items


def get_worklist(uow: UnitOfWorkFactory, device_id: str, period: str, *, clock: Clock,
                 status: WorklistStatus | None = None, cutoff: datetime | None = None) -> Worklist:
    """The worklist of ``device_id`` over ``period`` as of ``cutoff`` (default now), optionally of one status."""
    if status is not None and status not in WORKLIST_STATUSES:
        raise InputError(f"status must be one of {', '.join(WORKLIST_STATUSES)}")
    cutoff = min(cutoff or clock(), clock())
    with uow() as unit:
        config = unit.devices.get(device_id)  # an unknown device is not found before its period is read
        parsed = Period.parse(period)
        start, end = parsed.bounds_utc(resolve_timezone(config.monitoring.timezone))
        window = Window(device_id, start, end, cutoff)
        return build_worklist(unit, config, window, period=parsed.label, status=status)


def build_worklist(unit, config: DeviceConfig, window: Window, *, period: str,  # type: ignore[no-untyped-def]
                   status: WorklistStatus | None = None) -> Worklist:
    """The worklist over ``window`` read through an open unit of work."""
    if config.review is None:
        raise InputError(f"device {config.device.id!r} declares no review triggers (review in its configuration)")
    cases = unit.review.cases(window.device_id, **window.kwargs(), attributes=config.strata.attributes)
    counted, items = worklist_items(cases, unit.review.latest(window.device_id, window.cutoff), config)
    counts = Counter(item.status for item in items)
    return Worklist(device_id=window.device_id, period=period, cutoff=window.cutoff,
                    triggers=list(declared_triggers(config.review)), cases=counted,
                    counts={s: counts.get(s, 0) for s in WORKLIST_STATUSES},
                    items=[i for i in items if status is None or i.status == status])


def record_worklist_export(uow: UnitOfWorkFactory, worklist: Worklist, *, clock: Clock, actor: str, target: str,
                           sha256: str, status: WorklistStatus | None = None) -> None:
    """Audit an export of the worklist (``worklist.export``): what was exported, by whom, with the file's SHA-256."""
    with uow() as unit:
        unit.audit.append(at=clock(), actor=actor, action=EXPORT_ACTION, entity="device",
                          entity_id=worklist.device_id,
                          details={"period": worklist.period, "cutoff": worklist.cutoff.isoformat(),
                                   "status": status, "rows": len(worklist.items), "file": target, "sha256": sha256})
