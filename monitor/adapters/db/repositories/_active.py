"""The one SQL condition that keeps retracted predictions out of every analysis.

A device may retract (recall) a result it delivered (``samd-monitor ingest retractions``).
An analysis with data cut-off ``cutoff`` must ignore every prediction whose retraction was
*ingested* by then, and only those: re-running an old period with its old cut-off then gives
the old result, because a later retraction is not yet visible at that cut-off.

Every analysis query over ``predictions`` adds :func:`active_prediction_clause` to its WHERE
clause (``results._period_filter`` does, so the queries of ``results.py`` and ``aggregates.py``
all do). New analysis queries must use it as well, e.g.::

    select(...).where(predictions.c.device_id == device_id, active_prediction_clause(cutoff))
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.tables import prediction_retractions, predictions

__all__ = ["active_prediction_clause"]


def active_prediction_clause(cutoff: datetime) -> ColumnElement[bool]:
    """``NOT EXISTS`` a retraction of the ``predictions`` row ingested at or before ``cutoff``.

    Correlates on ``predictions.device_id`` and ``predictions.prediction_id`` (answered by the
    unique index of ``prediction_retractions``); usable in any query that selects from
    ``predictions`` (not an alias of it).
    """
    retraction = prediction_retractions
    return ~exists().where(retraction.c.device_id == predictions.c.device_id,
                           retraction.c.prediction_id == predictions.c.prediction_id,
                           retraction.c.ingested_at <= cutoff)
