"""Per-row samples of a window's drift inputs, for the Evidently drift report.

The values are those the analysis' drift histograms count (``AggregateRepository.feature_histogram`` on
``AggregateRepository.window_cases``, binned by :func:`half_up_bin`): a categorical attribute's stratum
label, a numeric attribute's raw value rounded to a whole number, the site and the score rounded to 0.01, of
the window's active predictions ingested by the cut-off. The sample is stratified by site: each site's rows are ranked
by row id in the database (``ROW_NUMBER``, the same on SQLite and PostgreSQL) and the ranks drawn by
:func:`monitor.domain.drift_sample.sample_ranks` kept; only the sampled rows leave the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, and_, false, func, or_, select

from monitor.adapters.db.repositories.aggregates import _numeric_input, half_up_bin
from monitor.adapters.db.repositories.results import _period_filter, attribute_expression
from monitor.adapters.db.tables import predictions
from monitor.domain.drift_sample import feature_name
from monitor.domain.strata import AttributeSpec

__all__ = ["DriftSampleRepository"]


class DriftSampleRepository:
    """Site sizes and stratified row samples of a window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def site_sizes(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> dict[str, int]:
        """Predictions of the window (as of ``cutoff``) per site, in site order."""
        query = (select(predictions.c.site_id, func.count().label("n"))
                 .where(*_period_filter(device_id, start, end, cutoff))
                 .group_by(predictions.c.site_id).order_by(predictions.c.site_id))
        return {str(r.site_id): int(r.n) for r in self._conn.execute(query)}

    def sample(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
               attributes: Sequence[AttributeSpec], ranks: Mapping[str, Sequence[int]]) -> pd.DataFrame:
        """The rows of rank ``ranks[site]`` (1-based, by row id within the site) of each site: one column per
        attribute (:func:`feature_name`), ``site_id`` and ``score``, ordered by site and rank."""
        values = [half_up_bin(self._conn, _numeric_input(a), 1).label(feature_name(a)) if a.is_numeric
                  else attribute_expression(a).label(feature_name(a)) for a in attributes]
        rank = func.row_number().over(partition_by=predictions.c.site_id, order_by=predictions.c.id).label("rank")
        ranked = (select(predictions.c.id, predictions.c.site_id, rank)
                  .where(*_period_filter(device_id, start, end, cutoff)).subquery("ranked"))
        chosen = [and_(ranked.c.site_id == site, ranked.c.rank.in_([int(r) for r in taken]))
                  for site, taken in ranks.items() if taken]
        picked = select(ranked.c.id).where(or_(false(), *chosen))
        names = [feature_name(a) for a in attributes]
        # the attribute expressions are evaluated for the sampled rows only
        score_pct = half_up_bin(self._conn, predictions.c.score, 100).label("score_pct")
        query = (select(*values, predictions.c.site_id, score_pct)
                 .where(predictions.c.id.in_(picked)).order_by(predictions.c.site_id, predictions.c.id))
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=[*names, "site_id", "score"])
        for a in attributes:
            name = feature_name(a)
            frame[name] = frame[name].astype("float64") if a.is_numeric else frame[name].astype("object")
        frame["score"] = frame["score"].astype("float64") / 100  # as the analysis' score histogram
        return frame
