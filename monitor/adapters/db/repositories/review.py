"""The review log (versions of the review of each AI result) and the cases the review triggers are decided on.

A few thousand cases a period: plain SQLAlchemy Core selects on the unit of work's connection. The window's
cases are read like every analysis query (:func:`~monitor.adapters.db.repositories.results._period_filter`:
predicted in the window, ingested by the cut-off, not retracted by it), with the stratum labels computed in SQL
(:func:`~monitor.adapters.db.repositories.results.attribute_expression`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Float, Integer, SmallInteger, cast, exists, literal, select, union_all

from monitor.adapters.db.repositories.results import _period_filter, attribute_expression
from monitor.adapters.db.tables import prediction_failures, prediction_retractions, predictions, review_events
from monitor.domain.review_events import LatestReview, StoredReviews, review_identity
from monitor.domain.strata import AttributeSpec

__all__ = ["CASE_FRAME_COLUMNS", "ReviewRepository"]

_COLUMNS = ("device_id", "prediction_id", "status", "reviewer", "reviewed_at", "field", "old_value", "new_value",
            "note", "row_hash")
#: The columns of :meth:`ReviewRepository.cases` before the stratum labels.
CASE_FRAME_COLUMNS = ("prediction_id", "study_uid", "site_id", "model_version", "predicted_at", "failed",
                      "predicted_label", "human_label", "low_confidence", "ai_volume_mm3", "reviewed_volume_mm3",
                      "overlap_volume_mm3")


def _value(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


class ReviewRepository:
    """Stored review events, the latest status of each case, and the window's cases."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def known_cases(self, device_id: str, prediction_ids: Sequence[str]) -> set[str]:
        """The ids of ``prediction_ids`` stored as a result or a failure of the device."""
        wanted = sorted(set(prediction_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            for table in (predictions, prediction_failures):
                found |= set(self.conn.execute(select(table.c.prediction_id).where(
                    table.c.device_id == device_id, table.c.prediction_id.in_(part))).scalars())
        return found

    def versions(self, device_id: str, prediction_ids: Sequence[str]) -> dict[str, StoredReviews]:
        """Per case of ``prediction_ids`` with stored reviews: :class:`StoredReviews`."""
        found: dict[str, StoredReviews] = {}
        wanted = sorted(set(prediction_ids))
        t = review_events.c
        for start in range(0, len(wanted), 500):
            rows = self.conn.execute(select(t.prediction_id, t.version, t.reviewer, t.reviewed_at, t.field, t.row_hash)
                                     .where(t.device_id == device_id, t.prediction_id.in_(wanted[start:start + 500]))
                                     .order_by(t.prediction_id, t.version)).all()
            for prediction_id, version, reviewer, reviewed_at, field, row_hash in rows:
                stored = found.setdefault(prediction_id, StoredReviews(0, None, {}))
                stored.version = version
                stored.latest_at = reviewed_at if stored.latest_at is None else max(stored.latest_at, reviewed_at)
                stored.hashes[review_identity(reviewer, reviewed_at, field)] = row_hash
        return found

    def insert(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Store accepted review events (with their ``version``) of one batch."""
        if frame.empty:
            return
        records = [{c: _value(row[c]) for c in _COLUMNS} | {"version": int(row["version"]), "batch_id": batch_id,
                                                           "ingested_at": at}
                   for row in frame.to_dict("records")]
        self.conn.execute(review_events.insert(), records)

    def latest(self, device_id: str, cutoff: datetime) -> dict[str, LatestReview]:
        """The latest review event of each case of the device ingested at or before ``cutoff``."""
        t = review_events.c
        rows = self.conn.execute(select(t.prediction_id, t.version, t.status, t.reviewer, t.reviewed_at)
                                 .where(t.device_id == device_id, t.ingested_at <= cutoff)
                                 .order_by(t.prediction_id, t.version)).all()
        return {r.prediction_id: LatestReview(r.prediction_id, r.version, r.status, r.reviewer, r.reviewed_at)
                for r in rows}  # ordered by version: the last one wins

    def history(self, device_id: str, prediction_id: str) -> list[dict[str, Any]]:
        """Every stored version of one case's review, oldest first."""
        t = review_events.c
        rows = self.conn.execute(select(t.version, t.status, t.reviewer, t.reviewed_at, t.field, t.old_value,
                                        t.new_value, t.batch_id, t.ingested_at)
                                 .where(t.device_id == device_id, t.prediction_id == prediction_id)
                                 .order_by(t.version)).mappings().all()
        return [dict(r) for r in rows]

    def cases(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
              attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The window's delivered results and failures, one row per case: :data:`CASE_FRAME_COLUMNS` (``failed``
        1 for a failure, whose result columns are null) and one stratum label column per attribute."""
        failed = prediction_failures
        retracted = exists().where(prediction_retractions.c.device_id == failed.c.device_id,
                                   prediction_retractions.c.prediction_id == failed.c.prediction_id,
                                   prediction_retractions.c.ingested_at <= cutoff)
        p = predictions.c
        delivered = select(p.prediction_id, p.study_uid, p.site_id, p.model_version, p.predicted_at,
                           literal(0, Integer).label("failed"), p.predicted_label, p.human_label, p.low_confidence,
                           p.ai_volume_mm3, p.reviewed_volume_mm3, p.overlap_volume_mm3,
                           *[attribute_expression(a).label(a.name) for a in attributes]
                           ).where(*_period_filter(device_id, start, end, cutoff))
        f = failed.c
        none_int, none_float = cast(literal(None), SmallInteger), cast(literal(None), Float)
        failures = select(f.prediction_id, f.study_uid, f.site_id, f.model_version, f.predicted_at,
                          literal(1, Integer).label("failed"), none_int, none_int, none_int, none_float, none_float,
                          none_float, *[attribute_expression(a, failed).label(a.name) for a in attributes]
                          ).where(f.device_id == device_id, f.predicted_at >= start, f.predicted_at < end,
                                  f.ingested_at <= cutoff, ~retracted)
        names = [*CASE_FRAME_COLUMNS, *[a.name for a in attributes]]
        rows = self.conn.execute(union_all(delivered, failures)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=names)
        for column in ("predicted_label", "human_label", "low_confidence", "ai_volume_mm3", "reviewed_volume_mm3",
                       "overlap_volume_mm3"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        frame["failed"] = frame["failed"].astype(int).astype(bool)
        for a in attributes:
            frame[a.name] = frame[a.name].astype(str)
        return frame.sort_values(["predicted_at", "prediction_id"], kind="stable").reset_index(drop=True)

