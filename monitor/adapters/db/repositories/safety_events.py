"""The safety-event log (complaints, adverse events, incidents, feedback, overrides): versions of each event.

A few rows a period: plain SQLAlchemy Core inserts and selects on the unit of work's connection.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
from sqlalchemy import Connection, select

from monitor.adapters.db.tables import safety_events
from monitor.domain.safety_summary import SafetyEvent

__all__ = ["SafetyEventRepository"]

_COLUMNS = ("device_id", "event_id", "site_id", "received_at", "occurred_at", "kind", "seriousness", "model_version",
            "patient_hash", "accession_hash", "description", "row_hash")


def _value(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


class SafetyEventRepository:
    """Stored versions of safety events, and the latest version of each known by a cut-off."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def versions(self, device_id: str, event_ids: Sequence[str]) -> dict[str, tuple[int, datetime, set[str]]]:
        """Per stored event of ``event_ids``: its newest version number, its awareness date and the row hashes
        of all its versions."""
        found: dict[str, tuple[int, datetime, set[str]]] = {}
        if not event_ids:
            return found
        t = safety_events.c
        rows = self.conn.execute(select(t.event_id, t.version, t.received_at, t.row_hash)
                                 .where(t.device_id == device_id, t.event_id.in_(sorted(set(event_ids))))
                                 .order_by(t.event_id, t.version)).all()
        for event_id, version, received_at, row_hash in rows:
            hashes = found.get(event_id, (0, received_at, set()))[2] | {row_hash}
            found[event_id] = (version, received_at, hashes)
        return found

    def insert(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Store accepted rows (with their ``version``) of one batch."""
        if frame.empty:
            return
        records = []
        for row in frame.to_dict("records"):
            record = {c: _value(row[c]) for c in _COLUMNS}
            record |= {"version": int(row["version"]), "imdrf_codes": json.loads(row["imdrf_codes"]),
                       "attributes": json.loads(row["attributes"]), "decisions": json.loads(row["decisions"]),
                       "batch_id": batch_id, "ingested_at": at}
            records.append(record)
        self.conn.execute(safety_events.insert(), records)

    def known_by(self, device_id: str, cutoff: datetime) -> list[SafetyEvent]:
        """The latest version of each event of the device ingested at or before ``cutoff``."""
        t = safety_events.c
        rows = self.conn.execute(select(safety_events).where(t.device_id == device_id, t.ingested_at <= cutoff)
                                 .order_by(t.event_id, t.version)).mappings().all()
        latest = {r["event_id"]: r for r in rows}  # ordered by version: the last one wins
        return [SafetyEvent(event_id=r["event_id"], site_id=r["site_id"], received_at=r["received_at"],
                            occurred_at=r["occurred_at"], kind=r["kind"], seriousness=r["seriousness"],
                            imdrf_codes=list(r["imdrf_codes"]), model_version=r["model_version"],
                            attributes=dict(r["attributes"]),
                            decisions={j: {k: v for k, v in d.items()} for j, d in r["decisions"].items()})
                for r in latest.values()]
