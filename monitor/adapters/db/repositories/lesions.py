"""The lesion logs (issue 17 item 2): the AI's lesion findings and the versioned reference lesions.

A few thousand rows a period: plain SQLAlchemy Core inserts and selects on the unit of work's connection. The
window reads take the period's predictions ingested by the data cut-off and not retracted by it (as every
analysis does), with their latest ground-truth label received by the cut-off, their findings ingested by the
cut-off and the latest version of each reference lesion received by the cut-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, exists, select, tuple_

from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, lesion_findings, predictions, reference_lesions
from monitor.domain.strata import AttributeSpec

__all__ = ["LesionRepository"]

_CENTRE = ("centre_x_mm", "centre_y_mm", "centre_z_mm", "diameter_mm")
_FINDING_COLUMNS = ("device_id", "prediction_id", "lesion_id", "tracking_id", "finding_type", *_CENTRE, "score",
                    "row_hash")
_REFERENCE_COLUMNS = ("device_id", "prediction_id", "lesion_id", *_CENTRE, "lesion_type", "confirmed_at", "source",
                      "withdrawn", "correction_reason", "row_hash")
_BATCH = 500


def _value(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _chunks(keys: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    unique = sorted(set(keys))
    return [unique[i:i + _BATCH] for i in range(0, len(unique), _BATCH)]


class LesionRepository:
    """Stored lesion findings and reference-lesion versions, and the window's matched inputs."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def finding_hashes(self, device_id: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Row hash of each stored finding among ``keys`` ((prediction_id, lesion_id) pairs)."""
        t = lesion_findings.c
        found: dict[tuple[str, str], str] = {}
        for part in _chunks(keys):
            rows = self.conn.execute(select(t.prediction_id, t.lesion_id, t.row_hash).where(
                t.device_id == device_id, tuple_(t.prediction_id, t.lesion_id).in_(part))).all()
            found |= {(p, lesion): h for p, lesion, h in rows}
        return found

    def insert_findings(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Store accepted finding rows of one batch."""
        if frame.empty:
            return
        records = [{c: _value(row[c]) for c in _FINDING_COLUMNS} | {"batch_id": batch_id, "ingested_at": at}
                   for row in frame.to_dict("records")]
        self.conn.execute(lesion_findings.insert(), records)

    def reference_versions(self, device_id: str, keys: Sequence[tuple[str, str]]
                           ) -> dict[tuple[str, str], tuple[int, str, set[tuple[str, str | None]]]]:
        """Per stored reference lesion among ``keys``: its newest version, that version's row hash, and the
        (row hash, correction reason) of every version."""
        t = reference_lesions.c
        found: dict[tuple[str, str], tuple[int, str, set[tuple[str, str | None]]]] = {}
        for part in _chunks(keys):
            rows = self.conn.execute(select(t.prediction_id, t.lesion_id, t.version, t.row_hash, t.correction_reason)
                                     .where(t.device_id == device_id,
                                            tuple_(t.prediction_id, t.lesion_id).in_(part))
                                     .order_by(t.prediction_id, t.lesion_id, t.version)).all()
            for p, lesion, version, row_hash, reason in rows:
                history = found.get((p, lesion), (0, "", set()))[2] | {(row_hash, reason)}
                found[(p, lesion)] = (version, row_hash, history)
        return found

    def insert_references(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Store accepted reference-lesion rows (with their ``version``) of one batch."""
        if frame.empty:
            return
        records = [{c: _value(row[c]) for c in _REFERENCE_COLUMNS}
                   | {"version": int(row["version"]), "withdrawn": bool(row["withdrawn"]), "batch_id": batch_id,
                      "ingested_at": at} for row in frame.to_dict("records")]
        self.conn.execute(reference_lesions.insert(), records)

    def window_scans(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                     attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The window's scans (prediction rows): ``prediction_id``, ``model_version``, ``patient_hash``, the
        stratum labels (one column per attribute name) and ``label`` (the latest ground truth by the cut-off,
        None while pending)."""
        p = predictions.c
        keys = [attribute_expression(spec).label(spec.name) for spec in attributes]
        query = (select(p.prediction_id, p.model_version, p.patient_hash, *keys, ground_truth.c.label)
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff)).order_by(p.prediction_id))
        names = ["prediction_id", "model_version", "patient_hash", *[a.name for a in attributes], "label"]
        return pd.DataFrame([tuple(r) for r in self.conn.execute(query).all()], columns=names)

    def window_findings(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> pd.DataFrame:
        """The findings, ingested by the cut-off, of the window's scans: ``prediction_id``, ``lesion_id``, centre,
        ``diameter_mm``, ``score``, ``finding_type``."""
        f = lesion_findings.c
        query = (select(f.prediction_id, f.lesion_id, f.centre_x_mm, f.centre_y_mm, f.centre_z_mm, f.diameter_mm,
                        f.score, f.finding_type)
                 .select_from(lesion_findings.join(predictions, and_(predictions.c.device_id == f.device_id,
                                                                     predictions.c.prediction_id == f.prediction_id)))
                 .where(*_period_filter(device_id, start, end, cutoff), f.ingested_at <= cutoff)
                 .order_by(f.prediction_id, f.lesion_id))
        columns = ["prediction_id", "lesion_id", "centre_x_mm", "centre_y_mm", "centre_z_mm", "diameter_mm", "score",
                   "finding_type"]
        return pd.DataFrame([tuple(r) for r in self.conn.execute(query).all()], columns=columns)

    def window_references(self, device_id: str, *, start: datetime, end: datetime,
                          cutoff: datetime) -> pd.DataFrame:
        """The reference lesions of the window's scans: the latest version of each received by the cut-off,
        unless that version withdraws it. Columns ``prediction_id``, ``lesion_id``, centre, ``diameter_mm``,
        ``lesion_type``."""
        r = reference_lesions.c
        newer = reference_lesions.alias("newer")
        query = (select(r.prediction_id, r.lesion_id, r.centre_x_mm, r.centre_y_mm, r.centre_z_mm, r.diameter_mm,
                        r.lesion_type)
                 .select_from(reference_lesions.join(predictions, and_(
                     predictions.c.device_id == r.device_id, predictions.c.prediction_id == r.prediction_id)))
                 .where(*_period_filter(device_id, start, end, cutoff), r.ingested_at <= cutoff, ~r.withdrawn,
                        ~exists().where(newer.c.device_id == r.device_id, newer.c.prediction_id == r.prediction_id,
                                        newer.c.lesion_id == r.lesion_id, newer.c.version > r.version,
                                        newer.c.ingested_at <= cutoff))
                 .order_by(r.prediction_id, r.lesion_id))
        columns = ["prediction_id", "lesion_id", "centre_x_mm", "centre_y_mm", "centre_z_mm", "diameter_mm",
                   "lesion_type"]
        return pd.DataFrame([tuple(row) for row in self.conn.execute(query).all()], columns=columns)
