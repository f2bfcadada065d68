"""Federated site summaries: the site-side case counts, and the centre's keys, bundles and cells."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
from sqlalchemy import Connection, and_, func, select

from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions, site_keys, site_summaries, site_summary_cells
from monitor.domain.site_summary import CELL_COUNTS, BundleHeader
from monitor.domain.strata import AttributeSpec

__all__ = ["SummaryRepository"]


class SummaryRepository:
    """Counts for a site's bundle (on the site's scratch database) and the centre's stored bundles."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # the site: cases of its own logs ------------------------------------------------------
    def prediction_span(self, device_id: str, *, cutoff: datetime) -> tuple[datetime, datetime] | None:
        """First and last prediction time of the device (ingested by ``cutoff``), or None without any."""
        row = self._conn.execute(select(func.min(predictions.c.predicted_at), func.max(predictions.c.predicted_at))
                                 .where(predictions.c.device_id == device_id,
                                        predictions.c.ingested_at <= cutoff)).first()
        return None if row is None or row[0] is None else (row[0], row[1])

    def case_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                    attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Active predictions of ``[start, end)`` by model version, site, stratum labels, call and latest label.

        Columns ``model_version, site_id, <attribute names>, predicted_label, label`` (missing while the
        ground truth is awaited) and ``n``: the database path's join and filters
        (:meth:`ResultRepository.confusion_cells`), with the cases still awaiting ground truth kept.
        """
        keys = [predictions.c.model_version.label("model_version"), predictions.c.site_id.label("site_id")]
        keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
        query = (select(*keys, predictions.c.predicted_label, ground_truth.c.label, func.count().label("n"))
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff))
                 .group_by(*keys, predictions.c.predicted_label, ground_truth.c.label))
        names = ["model_version", "site_id", *[a.name for a in attributes], "predicted_label", "label", "n"]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=names)
        frame["label"] = pd.to_numeric(frame["label"]).astype(float)
        return frame

    # the centre: site keys ------------------------------------------------------------------
    def active_key(self, site_id: str) -> dict[str, Any] | None:
        """The site's current (not revoked) key, or None."""
        row = self._conn.execute(select(site_keys).where(site_keys.c.site_id == site_id,
                                                         site_keys.c.revoked_at.is_(None))).first()
        return None if row is None else dict(row._mapping)

    def key(self, key_id: str) -> dict[str, Any] | None:
        """A key by id (revoked or not), or None."""
        row = self._conn.execute(select(site_keys).where(site_keys.c.key_id == key_id)).first()
        return None if row is None else dict(row._mapping)

    def add_key(self, *, site_id: str, key_id: str, public_key: bytes, devices: Sequence[str], at: datetime,
                actor: str) -> None:
        """Register a key of a site."""
        self._conn.execute(site_keys.insert().values(
            key_id=key_id, site_id=site_id, public_key=public_key.hex(), devices=sorted(devices), registered_at=at,
            registered_by=actor))

    def set_devices(self, key_id: str, devices: Sequence[str]) -> None:
        """The devices a key may send summaries of."""
        self._conn.execute(site_keys.update().where(site_keys.c.key_id == key_id).values(devices=sorted(devices)))

    def revoke_key(self, key_id: str, *, at: datetime, actor: str) -> None:
        """Mark a key replaced: bundles it signed stay stored, new ones are refused."""
        self._conn.execute(site_keys.update().where(site_keys.c.key_id == key_id)
                           .values(revoked_at=at, revoked_by=actor))

    def sites(self) -> list[dict[str, Any]]:
        """Every registered key (newest first per site) with the number of bundles it signed."""
        signed = (select(site_summaries.c.key_id, func.count().label("bundles"))
                  .group_by(site_summaries.c.key_id).subquery())
        query = (select(site_keys, func.coalesce(signed.c.bundles, 0).label("bundles"))
                 .select_from(site_keys.outerjoin(signed, signed.c.key_id == site_keys.c.key_id))
                 .order_by(site_keys.c.site_id, site_keys.c.registered_at.desc()))
        return [dict(r._mapping) for r in self._conn.execute(query)]

    # the centre: bundles ----------------------------------------------------------------------
    def has_bundle(self, bundle_id: str) -> bool:
        """Whether a bundle with this id is stored."""
        return self._conn.execute(select(site_summaries.c.bundle_id)
                                  .where(site_summaries.c.bundle_id == bundle_id)).first() is not None

    def add_bundle(self, header: dict[str, Any], cells: pd.DataFrame, attributes: Sequence[str]) -> None:
        """Store a verified bundle and its cells (columns of :class:`SiteSummary.cells`)."""
        self._conn.execute(site_summaries.insert().values(**header))
        if cells.empty:
            return
        keys = [json.dumps(dict(zip(attributes, labels, strict=True)), sort_keys=True, ensure_ascii=False)
                for labels in cells[list(attributes)].itertuples(index=False, name=None)] if attributes \
            else ["{}"] * len(cells)
        rows = [{"bundle_id": header["bundle_id"], "month": m, "model_version": v, "stratum_key": k,
                 **{c: int(x) for c, x in zip(CELL_COUNTS, counts, strict=True)}, "small": bool(s)}
                for m, v, k, counts, s in zip(cells["month"], cells["model_version"], keys,
                                              cells[list(CELL_COUNTS)].itertuples(index=False, name=None),
                                              cells["small"], strict=True)]
        self._conn.execute(site_summary_cells.insert(), rows)

    def headers(self, device_id: str, *, first_month: str, last_month: str,
                received_by: datetime | None = None) -> list[BundleHeader]:
        """Bundles of the device overlapping ``[first_month, last_month]`` (received by ``received_by``)."""
        s = site_summaries
        query = select(s.c.bundle_id, s.c.site_id, s.c.config_hash, s.c.first_month, s.c.last_month, s.c.created_at,
                       s.c.received_at).where(s.c.device_id == device_id, s.c.first_month <= last_month,
                                              s.c.last_month >= first_month)
        if received_by is not None:
            query = query.where(s.c.received_at <= received_by)
        return [BundleHeader(*r) for r in self._conn.execute(query.order_by(s.c.received_at, s.c.bundle_id))]

    def bundles(self, device_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Stored bundles (without their content), newest received first."""
        columns = [c for c in site_summaries.c if c.name != "bundle"]
        query = select(*columns).order_by(site_summaries.c.received_at.desc(), site_summaries.c.bundle_id).limit(limit)
        if device_id is not None:
            query = query.where(site_summaries.c.device_id == device_id)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def bundle_document(self, bundle_id: str) -> str | None:
        """A stored bundle's file content, or None."""
        return self._conn.execute(select(site_summaries.c.bundle).where(site_summaries.c.bundle_id == bundle_id)
                                  ).scalar_one_or_none()

    def cells(self, used: dict[tuple[str, str], str], attributes: Sequence[str]) -> pd.DataFrame:
        """The cells of the chosen (site, month) -> bundle pairs: ``site_id, month, model_version,
        <attributes>, tp, fp, fn, tn, pending, small``."""
        names = ["site_id", "month", "model_version", *attributes, *CELL_COUNTS, "small"]
        if not used:
            return pd.DataFrame(columns=names)
        c = site_summary_cells
        bundle_ids = sorted(set(used.values()))
        months = sorted({m for _, m in used})
        query = (select(site_summaries.c.site_id, c.c.bundle_id, c.c.month, c.c.model_version, c.c.stratum_key,
                        *[c.c[n] for n in CELL_COUNTS], c.c.small)
                 .select_from(c.join(site_summaries, site_summaries.c.bundle_id == c.c.bundle_id))
                 .where(c.c.bundle_id.in_(bundle_ids), and_(c.c.month >= months[0], c.c.month <= months[-1])))
        rows = []
        for r in self._conn.execute(query):
            if used.get((r.site_id, r.month)) != r.bundle_id:
                continue
            labels = json.loads(r.stratum_key)
            rows.append((r.site_id, r.month, r.model_version, *(labels[a] for a in attributes),
                         *(int(getattr(r, n)) for n in CELL_COUNTS), bool(r.small)))
        return pd.DataFrame(rows, columns=names)
