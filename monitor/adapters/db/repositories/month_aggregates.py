"""Per-month window aggregates (``month_aggregates``) beside the count cells.

One row per device, local month and frame of :class:`~monitor.domain.window_aggregates.WindowAggregates`
(other than ``confusion``, whose month parts are the count cells), the frame stored as an Arrow IPC
stream. A month's rows are replaced in the same recount as its cells and share its ``cell_months`` state
(:mod:`monitor.service.cells`): this table has no freshness of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, delete, insert, select

from monitor.adapters.db.tables import month_aggregates
from monitor.domain.window_aggregates import FRAMES, columns_of

__all__ = ["MonthAggregateRepository", "from_ipc", "to_ipc"]


def to_ipc(frame: pd.DataFrame) -> bytes:
    """``frame`` as an Arrow IPC stream (no index; object columns as nullable strings)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(payload: bytes) -> pd.DataFrame:
    """The frame of :func:`to_ipc` (null strings as ``None``)."""
    frame = pa.ipc.open_stream(payload).read_all().to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


class MonthAggregateRepository:
    """Reads and writes of the month aggregates."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def replace_month(self, device_id: str, month: str, frames: dict[str, pd.DataFrame], *, config_hash: str,
                      refreshed_at: datetime) -> None:
        """Store a month's frames (``FRAMES``), replacing what it held."""
        self._conn.execute(delete(month_aggregates).where(month_aggregates.c.device_id == device_id,
                                                          month_aggregates.c.month == month))
        self._conn.execute(insert(month_aggregates), [
            {"device_id": device_id, "month": month, "kind": kind, "payload": to_ipc(frames[kind]),
             "config_hash": config_hash, "refreshed_at": refreshed_at} for kind in FRAMES])

    def read(self, device_id: str, months: Sequence[str], names: Sequence[str],
             kinds: Sequence[str] = FRAMES) -> dict[str, list[pd.DataFrame]]:
        """``{frame: [the frame of each month that has one]}`` of the frames ``kinds`` (attributes ``names``,
        for the columns)."""
        rows = self._conn.execute(select(month_aggregates.c.month, month_aggregates.c.kind, month_aggregates.c.payload)
                                  .where(month_aggregates.c.device_id == device_id,
                                         month_aggregates.c.month.in_(list(months)),
                                         month_aggregates.c.kind.in_(list(kinds)))
                                  .order_by(month_aggregates.c.month, month_aggregates.c.kind))
        read: dict[str, list[pd.DataFrame]] = {kind: [] for kind in kinds}
        for row in rows:
            if row.kind in read:
                read[row.kind].append(from_ipc(bytes(row.payload))[columns_of(row.kind, names)])
        return read

    def months_held(self, device_id: str, months: Sequence[str]) -> set[str]:
        """The months among ``months`` with every frame stored."""
        rows = self._conn.execute(select(month_aggregates.c.month, month_aggregates.c.kind)
                                  .where(month_aggregates.c.device_id == device_id,
                                         month_aggregates.c.month.in_(list(months))))
        kinds: dict[str, set[str]] = {}
        for row in rows:
            kinds.setdefault(row.month, set()).add(row.kind)
        return {m for m, k in kinds.items() if k >= set(FRAMES)}
