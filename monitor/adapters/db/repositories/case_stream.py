"""The stream of a model version's labelled cases in the order they became known to the service (both the
prediction and its current label ingested), in chunks, for the sequential charts (docs/sequential.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.repositories._active import active_prediction_clause
from monitor.adapters.db.repositories.results import _label_join, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.strata import AttributeSpec

__all__ = ["CaseStreamRepository", "known_at"]


def known_at() -> ColumnElement[datetime]:
    """When a prediction and its current label (the latest version received by the cut-off, joined by
    :func:`_label_join`) were both known to the service: the later of the two ingestion instants."""
    return case((ground_truth.c.ingested_at > predictions.c.ingested_at, ground_truth.c.ingested_at),
                else_=predictions.c.ingested_at)


def _in_any(strata: Sequence[Mapping[str, str]], attributes: Sequence[AttributeSpec]) -> ColumnElement[bool]:
    """The cases in any of ``strata`` (each an attribute -> label mapping; an empty one holds every case)."""
    specs = {spec.name: spec for spec in attributes}
    return or_(*[and_(true(), *[attribute_expression(specs[name]) == value for name, value in stratum.items()])
                 for stratum in strata])


class CaseStreamRepository:
    """The known-at ordered case stream of the CUSUM charts."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def known_case_stream(self, device_id: str, model_version: str, *, until: datetime, cutoff: datetime,
                          attributes: Sequence[AttributeSpec], chunk_rows: int = 200_000,
                          mature_after_days: int | None = None, label: int | None = None,
                          since: datetime | None = None, strata: Sequence[Mapping[str, str]] | None = None
                          ) -> Iterator[pd.DataFrame]:
        """The labelled cases of one model version in the order they became known to the service, in chunks.

        Every active prediction of the model version (whatever its prediction time) joined to its current
        label as of ``cutoff``, known (:meth:`known_at`) before ``until``. Order: the known-at instant, then
        the clinical instant (the later of prediction and confirmation: cases ingested together, e.g. a
        back-fill, are charted in clinical order), then the prediction's row id, so that a later cut-off
        only appends cases. Columns: stratum labels, ``label``, ``predicted_label``, ``known_at`` (int64,
        nanoseconds since the epoch, UTC) and ``corrected`` (1 when the current label is a correction: the
        case left its earlier position in the chart).

        With ``mature_after_days``, a case is taken only once its prediction is that many days old (per
        matured cohort: the later of that instant and its known-at); ``label`` keeps the cases of one outcome;
        ``since`` keeps the cases known at or after it (a suffix of the order: a chart resumed from a
        checkpoint holding the earlier ones); ``strata`` (attribute -> label mappings) keeps the cases in
        any of them (a subsequence of the order: the charts of those strata replayed from their start).
        """
        if since is not None and since >= until:
            return iter(())  # no instant is both at or after ``since`` and before ``until``
        known = known_at()
        # A case taken once matured is known no earlier than its prediction + ``mature_after_days`` (SQLite's
        # arithmetic drops the fraction of a second; a day's slack covers any offset change on PostgreSQL), so
        # only predictions before ``until`` less that many days can be known before ``until``: a range of the
        # (device, predicted_at) index instead of every prediction of the model version (redundant, exact).
        matured_by = [] if mature_after_days is None else [
            predictions.c.predicted_at < until - timedelta(days=int(mature_after_days) - 1)]
        if mature_after_days is not None:
            if self._conn.dialect.name == "sqlite":  # stored as text: SQLite's own date arithmetic, whole seconds
                # written in the stored form (".000000" appended), so that it compares as an instant with the
                # stored and bound instants (a bare "HH:MM:SS" sorts before the same second's "HH:MM:SS.000000")
                whole = func.datetime(predictions.c.predicted_at, f"+{int(mature_after_days)} days")
                mature: Any = type_coerce(whole.op("||")(literal(".000000")), predictions.c.predicted_at.type)
            else:
                mature = type_coerce(predictions.c.predicted_at + literal_column(f"INTERVAL '{int(mature_after_days)} days'"),
                                     predictions.c.predicted_at.type)
            known = case((mature > known, mature), else_=known)
        clinical = case((ground_truth.c.confirmed_at > predictions.c.predicted_at, ground_truth.c.confirmed_at),
                        else_=predictions.c.predicted_at)
        labels = [attribute_expression(spec).label(spec.name) for spec in attributes]
        query = (select(*labels, ground_truth.c.label, predictions.c.predicted_label,
                        self._epoch_microseconds(known).label("known_at"),
                        case((ground_truth.c.version > 1, 1), else_=0).label("corrected"))
                 .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                 .where(predictions.c.device_id == device_id, predictions.c.model_version == model_version,
                        predictions.c.ingested_at <= cutoff, active_prediction_clause(cutoff), *matured_by, known < until,
                        *([] if label is None else [ground_truth.c.label == label]),
                        *([] if since is None else [known >= since]),
                        *([] if strata is None else [_in_any(strata, attributes)]))
                 .order_by(known, clinical, predictions.c.id))
        return self._stream(query, [a.name for a in attributes], chunk_rows)

    def _epoch_microseconds(self, instant: ColumnElement[datetime]) -> ColumnElement[int]:
        """An instant as whole microseconds since the epoch (UTC), computed by the database: an integer
        column, converted by numpy at once instead of a datetime object per row. SQLite keeps instants as
        ``YYYY-MM-DD HH:MM:SS.ffffff`` text (whole seconds from ``strftime('%s')``, microseconds from the
        text); PostgreSQL's ``EXTRACT(EPOCH ...)`` is an exact numeric (version 14 and later)."""
        if self._conn.dialect.name == "sqlite":
            seconds = cast(func.strftime("%s", instant), BigInteger)
            return seconds * 1_000_000 + cast(func.substr(instant, 21, 6), BigInteger)
        return cast(func.extract("epoch", instant) * 1_000_000, BigInteger)

    def _stream(self, query: Select[Any], names: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The rows of ``query`` (stratum labels, label, call, known-at instant, corrected) in chunks of
        ``chunk_rows``.

        Columns: stratum labels (categorical), ``label``, ``predicted_label`` and ``corrected`` (int8),
        ``known_at`` (int64 ns, UTC). Used by the sequential charts, which carry their state from chunk to
        chunk, so memory stays bounded: rows are fetched in slices of at most 25,000 and folded at once
        into compact arrays (a code per label), never held as Python rows for a whole chunk. Each slice is
        converted column by column in C (``zip``, ``numpy``, ``pandas.factorize``; the known-at instant
        arrives as an integer): no Python code runs per value.
        """
        slice_rows = max(1, min(chunk_rows, 25_000))
        lookups: list[dict[Any, int]] = [{} for _ in names]  # label -> code, per attribute, across chunks
        codes = np.empty((len(names), chunk_rows), dtype=np.int32)
        outcome = np.empty((3, chunk_rows), dtype=np.int8)
        known = np.empty(chunk_rows, dtype=np.int64)
        filled = 0

        def chunk(size: int) -> pd.DataFrame:
            frame = {name: pd.Categorical.from_codes(codes[i, :size].copy(), categories=list(lookups[i]))
                     for i, name in enumerate(names)}
            return pd.DataFrame(frame | {"label": outcome[0, :size].copy(), "predicted_label": outcome[1, :size].copy(),
                                         "known_at": known[:size].copy(), "corrected": outcome[2, :size].copy()})

        result = self._conn.execute(query.execution_options(yield_per=slice_rows))
        n = len(names)
        for part in result.partitions(slice_rows):
            taken = 0
            while taken < len(part):
                rows = part[taken:taken + chunk_rows - filled]
                columns = list(zip(*rows, strict=True))
                for i, lookup in enumerate(lookups):
                    local, uniques = pd.factorize(np.asarray(columns[i], dtype=object), use_na_sentinel=False)
                    to_code = np.array([lookup.setdefault(v, len(lookup)) for v in uniques], dtype=np.int32)
                    codes[i, filled:filled + len(rows)] = to_code[local]
                outcome[0, filled:filled + len(rows)] = columns[n]
                outcome[1, filled:filled + len(rows)] = columns[n + 1]
                known[filled:filled + len(rows)] = np.asarray(columns[n + 2], dtype=np.int64) * 1000
                outcome[2, filled:filled + len(rows)] = columns[n + 3]
                filled += len(rows)
                taken += len(rows)
                if filled == chunk_rows:
                    yield chunk(filled)
                    filled = 0
        if filled:
            yield chunk(filled)
