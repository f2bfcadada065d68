"""Count cells per device and local month (``case_cells``) and their freshness (``cell_months``).

An ingest marks the months it touched *dirty* in its own transaction; a refresh recounts a
month from the rows with one GROUP BY and marks it *fresh* as of its cut-off. An analysis
whose months are all fresh reads cells instead of rows (:mod:`monitor.service.cells`).
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from monitor.adapters.db.repositories.logs import _one_of
from monitor.adapters.db.tables import case_cells, cell_months, predictions
from monitor.domain.cells import stratum_key
from monitor.domain.strata import AttributeSpec

__all__ = ["CellRepository"]

_CELLS_LOCK_SPACE = 0x5A4D_0002  # advisory-lock namespace of count-cell recounts ("SM", 2)


class CellRepository:
    """Reads and writes of the count cells."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_device(self, device_id: str) -> None:
        """Serialise recounts of one device's cells until the end of this transaction (PostgreSQL: an
        advisory lock; SQLite serialises writers itself). Two analyses recounting the same month at once
        would otherwise both delete, then both insert the same cell keys."""
        if self._conn.dialect.name == "postgresql":
            key = zlib.crc32(device_id.encode("utf-8")) - 2**31  # a signed 32-bit key per device
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _CELLS_LOCK_SPACE,
                                                                                    "key": key})

    def mark_dirty(self, device_id: str, months: Sequence[str]) -> None:
        """Mark ``months`` of the device as needing a recount (inside the ingest's transaction)."""
        if not months:
            return
        dialect_insert = pg_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(cell_months).values(
            [{"device_id": device_id, "month": m, "state": "dirty"} for m in sorted(set(months))])
        self._conn.execute(statement.on_conflict_do_update(index_elements=["device_id", "month"],
                                                           set_={"state": "dirty"}))

    def prediction_span(self, device_id: str, ids: Sequence[str] | None = None) -> tuple[datetime, datetime] | None:
        """Earliest and latest ``predicted_at`` of the device's stored predictions (only those with ``ids``
        when given); ``None`` when there is none."""
        if ids is not None and not ids:
            return None
        conditions = [predictions.c.device_id == device_id]
        if ids is not None:
            conditions.append(_one_of(self._conn, predictions.c.prediction_id, list(ids)))
        row = self._conn.execute(select(func.min(predictions.c.predicted_at), func.max(predictions.c.predicted_at))
                                 .where(*conditions)).one()
        return None if row[0] is None else (row[0], row[1])

    def month_states(self, device_id: str, months: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{month: {state, config_hash, refreshed_at}}`` of the months that have a record."""
        rows = self._conn.execute(select(cell_months).where(cell_months.c.device_id == device_id,
                                                            cell_months.c.month.in_(list(months))))
        return {r.month: dict(r._mapping) for r in rows}

    def replace_month(self, device_id: str, month: str, counted: pd.DataFrame, *,
                      attributes: Sequence[AttributeSpec], config_hash: str, refreshed_at: datetime) -> None:
        """Store a month's recount (replacing its cells) and mark it fresh as of ``refreshed_at``."""
        self._conn.execute(delete(case_cells).where(case_cells.c.device_id == device_id, case_cells.c.month == month))
        names = [a.name for a in attributes]
        if not counted.empty:
            records = [{"device_id": device_id, "month": month, "model_version": row[0],
                        "stratum_key": stratum_key(dict(zip(names, row[1:1 + len(names)], strict=True))),
                        "tp": int(row[-5]), "fp": int(row[-4]), "fn": int(row[-3]), "tn": int(row[-2]),
                        "pending": int(row[-1])}
                       for row in counted.itertuples(index=False, name=None)]
            self._conn.execute(insert(case_cells), records)
        total = int(counted[["tp", "fp", "fn", "tn", "pending"]].to_numpy().sum()) if not counted.empty else 0
        dialect_insert = pg_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        values = {"state": "fresh", "config_hash": config_hash, "refreshed_at": refreshed_at, "predictions": total}
        self._conn.execute(dialect_insert(cell_months).values(device_id=device_id, month=month, **values)
                           .on_conflict_do_update(index_elements=["device_id", "month"], set_=values))

    def read(self, device_id: str, months: Sequence[str]) -> pd.DataFrame:
        """The cells of ``months`` summed over months: ``model_version``, ``stratum_key`` and the counts."""
        query = (select(case_cells.c.model_version, case_cells.c.stratum_key,
                        *[func.sum(case_cells.c[c]).label(c) for c in ("tp", "fp", "fn", "tn", "pending")])
                 .where(case_cells.c.device_id == device_id, case_cells.c.month.in_(list(months)))
                 .group_by(case_cells.c.model_version, case_cells.c.stratum_key))
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)],
                             columns=["model_version", "stratum_key", "tp", "fp", "fn", "tn", "pending"])
        for c in ("tp", "fp", "fn", "tn", "pending"):
            frame[c] = frame[c].astype("int64")
        return frame

    def months(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Every month record (state, config hash, refresh time, predictions counted)."""
        query = select(cell_months).order_by(cell_months.c.device_id, cell_months.c.month)
        if device_id is not None:
            query = query.where(cell_months.c.device_id == device_id)
        return [dict(r._mapping) for r in self._conn.execute(query)]
