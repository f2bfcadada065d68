"""CUSUM checkpoints and design bases (docs/sequential.md, section 1c).

A checkpoint is the state of a model version's charts over the cases known before an instant (a period's
end), as of the data cut-off it was computed at, under each chart's design. It is valid for an analysis
with a cut-off at or after that one as long as no label correction and no retraction of the device was
ingested in between: every other row ingested later is a case known after the cut-off, so after the
instant (the rule of the count cells, docs/count-cells.md). The design basis of a period (each chart's
confirmed cases known by the period's start) is counted once and kept: nothing ingested later changes it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

from sqlalchemy import Connection, exists, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from monitor.adapters.db.tables import (
    cusum_checkpoint_charts,
    cusum_checkpoints,
    cusum_design_bases,
    ground_truth,
    ingestion_batches,
    prediction_retractions,
)
from monitor.domain.sequential_monitoring import ChartState
from monitor.domain.strata import StratumDefinition

__all__ = ["CusumCheckpointRepository"]

#: the ingestion batches whose rows can rewrite a chart's past (a new label version, a retraction)
_REWRITING_KINDS = ("ground_truth", "retractions")


def _designs(states: list[ChartState]) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Each chart's design: two checkpoints of the same instant and cut-off differ only by it."""
    return {(s.stratum.key, s.metric): s.design for s in states}


class CusumCheckpointRepository:
    """Stored chart states and design bases of the CUSUM charts."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def unchanged_between(self, device_id: str, since: datetime, until: datetime) -> bool:
        """True when no label correction (a ground-truth version > 1) and no retraction of the device was
        ingested in ``(since, until]``. Rows carry their batch's start instant (``ingested_at``), so the
        small ``ingestion_batches`` table answers first; the rows are read only when such a batch exists."""
        if until <= since:
            return True
        b = ingestion_batches
        batches = [r[0] for r in self._conn.execute(select(b.c.batch_id).where(
            b.c.kind.in_(_REWRITING_KINDS), b.c.started_at > since, b.c.started_at <= until))]
        if not batches:
            return True
        g, r = ground_truth, prediction_retractions
        corrected = exists().where(g.c.device_id == device_id, g.c.version > 1, g.c.ingested_at > since,
                                   g.c.ingested_at <= until)
        retracted = exists().where(r.c.device_id == device_id, r.c.ingested_at > since, r.c.ingested_at <= until)
        return not self._conn.execute(select(corrected | retracted)).scalar_one()

    def latest(self, device_id: str, model_version: str, *, config_hash: str, at_or_before: datetime,
               cutoff: datetime, prefer: Callable[[list[ChartState]], bool] | None = None, candidates: int = 8
               ) -> tuple[datetime, list[ChartState]] | None:
        """The newest checkpoint valid for an analysis at ``cutoff`` whose instant is at or before
        ``at_or_before``: ``(instant, chart states)``, or None (replay from the start). Of several valid at
        that instant (stored under different designs: the end of one period and the start of the next), the
        first whose states ``prefer`` accepts (the analysis's own design: no chart replayed), else the first."""
        c = cusum_checkpoints
        rows = self._conn.execute(
            select(c.c.checkpoint_id, c.c.known_before, c.c.cutoff)
            .where(c.c.device_id == device_id, c.c.model_version == model_version, c.c.config_hash == config_hash,
                   c.c.known_before <= at_or_before, c.c.cutoff <= cutoff)
            .order_by(c.c.known_before.desc(), c.c.cutoff.desc(), c.c.checkpoint_id.desc())
            .limit(candidates)).all()
        checked: dict[datetime, bool] = {}
        chosen: tuple[datetime, list[ChartState]] | None = None
        for checkpoint_id, known_before, computed_at in rows:
            if chosen is not None and known_before != chosen[0]:
                break
            if computed_at not in checked:
                checked[computed_at] = self.unchanged_between(device_id, computed_at, cutoff)
            if not checked[computed_at]:
                continue
            states = self._states(checkpoint_id)
            if prefer is None or prefer(states):
                return known_before, states
            chosen = chosen or (known_before, states)
        return chosen

    def _states(self, checkpoint_id: int) -> list[ChartState]:
        t = cusum_checkpoint_charts
        rows = self._conn.execute(select(t).where(t.c.checkpoint_id == checkpoint_id)).all()
        return [ChartState(StratumDefinition.of(json.loads(r.stratum)), r.metric, (r.q0, r.q1, r.h),
                           r.running_sum, r.running_min, int(r.cases), int(r.corrected),
                           None if r.restarted_ns is None else int(r.restarted_ns)) for r in rows]

    def store(self, device_id: str, model_version: str, *, config_hash: str, known_before: datetime,
              cutoff: datetime, states: list[ChartState], at: datetime) -> None:
        """Store the charts' states over the cases known before ``known_before`` as of ``cutoff`` (an
        instant at or before the cut-off), unless that checkpoint is stored already (it is the same)."""
        c = cusum_checkpoints
        stored = self._conn.execute(select(c.c.checkpoint_id).where(
            c.c.device_id == device_id, c.c.model_version == model_version, c.c.config_hash == config_hash,
            c.c.known_before == known_before, c.c.cutoff == cutoff)).scalars().all()
        if any(_designs(self._states(checkpoint_id)) == _designs(states) for checkpoint_id in stored):
            return
        checkpoint_id = self._conn.execute(insert(c).values(
            device_id=device_id, model_version=model_version, known_before=known_before, config_hash=config_hash,
            cutoff=cutoff, created_at=at)).inserted_primary_key[0]
        if states:
            self._conn.execute(insert(cusum_checkpoint_charts), [
                {"checkpoint_id": checkpoint_id, "stratum": json.dumps(s.stratum.as_dict(), sort_keys=True),
                 "metric": s.metric, "q0": s.design[0], "q1": s.design[1], "h": s.design[2],
                 "running_sum": s.running, "running_min": s.floor, "cases": s.cases, "corrected": s.corrected,
                 "restarted_ns": s.restarted_ns} for s in states])

    def design_basis(self, device_id: str, *, period_start: datetime, config_hash: str
                     ) -> dict[str, dict[tuple[str, str], int]] | None:
        """The stored design basis of the period starting at ``period_start``: model version -> (stratum
        key, metric) -> confirmed cases; None when not counted yet."""
        t = cusum_design_bases
        text = self._conn.execute(select(t.c.chart_cases).where(
            t.c.device_id == device_id, t.c.period_start == period_start, t.c.config_hash == config_hash)
        ).scalar_one_or_none()
        if text is None:
            return None
        return {version: {(key, metric): int(n) for key, metric, n in charts}
                for version, charts in json.loads(text).items()}

    def store_design_basis(self, device_id: str, *, period_start: datetime, config_hash: str,
                           basis: dict[str, dict[tuple[str, str], int]], at: datetime) -> None:
        """Keep a period's design basis (model version -> (stratum key, metric) -> confirmed cases); a
        concurrent analysis that stored it first wins (the same counts)."""
        payload = {version: [[key, metric, int(n)] for (key, metric), n in sorted(charts.items())]
                   for version, charts in basis.items()}
        values = {"device_id": device_id, "period_start": period_start, "config_hash": config_hash,
                  "chart_cases": json.dumps(payload, sort_keys=True), "counted_at": at}
        dialect = sqlite_insert if self._conn.dialect.name == "sqlite" else postgresql_insert
        self._conn.execute(dialect(cusum_design_bases).values(**values).on_conflict_do_nothing())
