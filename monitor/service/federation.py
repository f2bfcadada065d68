"""Federated site summaries: summarise a site's logs at home, verify and merge the bundles centrally.

At the site, :func:`summarize_site` runs the ordinary ingestion (the same validation, duplicate and
conflict rules, label versions, study expansion and retractions, with the same rejections counted)
into a throw-away database, then counts the cells month by month with the database path's join and
stratum labels. Only the counts leave: :func:`sign_summary` signs them with the site's key.

At the centre, :func:`ingest_summary` verifies a bundle (registered site, its current key, the
signature, the device and the configuration hash) and stores it; :func:`analyze_summaries` merges
the newest bundle of each site and month and evaluates the sums with the unchanged statistics core
(:func:`monitor.service.lake.analyze_lake`), so its document compares with the database path's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, Sequence

import pandas as pd

from monitor import __version__
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period, resolve_timezone
from monitor.domain.privacy import PatientHasher
from monitor.domain.site_summary import (
    CELL_COUNTS,
    SIGNATURE_ALGORITHM,
    BundleHeader,
    SignedBundle,
    SiteSummary,
    add_cells,
    canonical_bytes,
    check_id,
    count_cells,
    evaluation_cells,
    flag_small,
    month_range,
    months_period,
    parse_bundle,
    period_months,
    select_bundles,
)
from monitor.errors import (AuthenticationError, ConflictError, InputError, NotFoundError, PermissionDeniedError,
                            TamperedError)
from monitor.service.devices import register_device
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.service.lake import analyze_lake
from monitor.service.ports import Clock, LogSource, UnitOfWorkFactory

__all__ = [
    "MergedCells",
    "SiteLogs",
    "SummaryReceipt",
    "analyze_summaries",
    "ingest_summary",
    "merged_cells",
    "register_site",
    "sign_summary",
    "summarize_site",
]

Verify = Callable[[bytes, bytes, bytes], bool]
#: A bundle may say it was made this far ahead of the centre's clock (clock skew), not more: the newest
#: bundle of a month counts, so a date far ahead would let one bundle win for ever.
FUTURE_TOLERANCE = timedelta(days=1)


class Signer(Protocol):
    """A site's private key (``monitor.adapters.site_keys.Signer``)."""

    key_id: str

    def sign(self, message: bytes) -> bytes: ...


@dataclass
class SiteLogs:
    """The site's log files, opened: predictions, ground truth and (optional) retractions."""

    predictions: Sequence[LogSource]
    ground_truth: Sequence[LogSource] = ()
    retractions: Sequence[LogSource] = ()


# --------------------------------------------------------------------------- at the site
def _intake(summary: BatchSummary) -> dict[str, Any]:
    """What became of one input file's rows, without its name (which may say more than it should)."""
    return {"sha256": summary.sha256, "rows": summary.rows, "accepted": summary.accepted,
            "duplicates": summary.duplicates, "rejected": summary.rejected, "expanded": summary.expanded,
            "reasons": dict(sorted(summary.reasons.items()))}


def _ingest_all(logs: SiteLogs, *, scratch: UnitOfWorkFactory, clock: Clock, actor: str,
                hash_patient: PatientHasher, exact_ages: bool) -> dict[str, list[dict[str, Any]]]:
    common = dict(uow=scratch, clock=clock, actor=actor)
    intake: dict[str, list[dict[str, Any]]] = {"predictions": [], "ground_truth": [], "retractions": []}
    for i, log in enumerate(logs.predictions):
        intake["predictions"].append(_intake(ingest_predictions(
            log, source=f"predictions-{i + 1}", hash_patient=hash_patient, exact_ages=exact_ages, **common)))
    for i, log in enumerate(logs.ground_truth):
        intake["ground_truth"].append(_intake(ingest_ground_truth(log, source=f"ground-truth-{i + 1}", **common)))
    for i, log in enumerate(logs.retractions):
        intake["retractions"].append(_intake(ingest_retractions(log, source=f"retractions-{i + 1}", **common)))
    return intake


def _covered_months(unit: Any, config: DeviceConfig, period: Period | None, cutoff: datetime) -> list[str]:
    """The months of ``period``, else from the first to the last stored prediction's month."""
    if period is not None:
        return period_months(period)
    span = unit.summaries.prediction_span(config.device.id, cutoff=cutoff)
    if span is None:
        raise InputError(f"the prediction logs hold no accepted prediction of device {config.device.id!r}")
    tz = resolve_timezone(config.monitoring.timezone)
    return month_range(*(moment.astimezone(tz).strftime("%Y-%m") for moment in span))


def _count_months(unit: Any, config: DeviceConfig, site_id: str, months: list[str], cutoff: datetime
                  ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The site's cells of ``months``, and the stored predictions left out, by reason."""
    attributes = [a.name for a in config.strata.attributes]
    tz = resolve_timezone(config.monitoring.timezone)
    parts, other_site = [], 0
    for month in months:
        start, end = Period.parse(month).bounds_utc(tz)
        counts = unit.summaries.case_counts(config.device.id, start=start, end=end, cutoff=cutoff,
                                            attributes=config.strata.attributes)
        own = counts["site_id"] == site_id
        other_site += int(counts.loc[~own, "n"].sum())
        parts.append(count_cells(counts.loc[own].assign(month=month), attributes))
    cells = add_cells(parts, attributes)
    excluded = {"other_site": other_site, "outside_period": 0, "retracted": 0}
    span = unit.summaries.prediction_span(config.device.id, cutoff=cutoff)
    if span is not None:
        whole = dict(start=span[0], end=span[1] + timedelta(microseconds=1), cutoff=cutoff)
        stored = sum(r["predictions"] for r in unit.results.completeness(config.device.id, **whole))
        excluded["retracted"] = unit.results.retracted_count(config.device.id, **whole)
        excluded["outside_period"] = stored - int(cells[list(CELL_COUNTS)].to_numpy().sum()) - other_site
    return cells, {k: v for k, v in excluded.items() if v}


def summarize_site(
    config: DeviceConfig, logs: SiteLogs, *, site_id: str, period: Period | None, scratch: UnitOfWorkFactory,
    clock: Clock, actor: str, hash_patient: PatientHasher, min_cell_size: int, exact_ages: bool = False,
) -> SiteSummary:
    """Count a site's logs into cells (nothing patient-level is kept in the result).

    ``scratch`` is an empty, migrated database that the caller discards afterwards; ``hash_patient``
    may use a throw-away key (patient hashes only link rows within this run). Predictions of other
    sites, of months outside ``period`` (default: every month from the first to the last prediction)
    and retracted ones are left out and counted in ``excluded``.
    """
    check_id(site_id, "site id")
    if min_cell_size < 1:
        raise InputError("the minimum cell size must be at least 1")
    register_device(config, uow=scratch, clock=clock, actor=actor, source="site summary")
    intake = _ingest_all(logs, scratch=scratch, clock=clock, actor=actor, hash_patient=hash_patient,
                         exact_ages=exact_ages)
    cutoff = clock()
    with scratch() as unit:
        months = _covered_months(unit, config, period, cutoff)
        cells, excluded = _count_months(unit, config, site_id, months, cutoff)
    cells["small"] = flag_small(cells, min_cell_size).to_numpy(dtype=bool)
    return SiteSummary(
        device_id=config.device.id, site_id=site_id, config_hash=config.config_hash(),
        timezone=config.monitoring.timezone, period=(period or months_period(months[0], months[-1])).label,
        first_month=months[0], last_month=months[-1], created_at=cutoff, software_version=__version__,
        attributes=tuple(a.name for a in config.strata.attributes), min_cell_size=min_cell_size, cells=cells,
        intake=intake, excluded=excluded)


def sign_summary(summary: SiteSummary, signer: Signer) -> SignedBundle:
    """The bundle: the summary's payload and its Ed25519 signature."""
    payload = summary.to_payload()
    return SignedBundle(payload, SIGNATURE_ALGORITHM, signer.key_id, signer.sign(canonical_bytes(payload)))


# --------------------------------------------------------------------------- at the centre: sites
def register_site(site_id: str, public_key: bytes, *, key_id: str, devices: Sequence[str], replace: bool,
                  uow: UnitOfWorkFactory, clock: Clock, actor: str) -> dict[str, Any]:
    """Register (an administration action, audited) the public key a site signs its bundles with.

    The same key again adds devices; another key for a registered site needs ``replace``: the old
    key is revoked (bundles it signed stay stored and count), new bundles must use the new key.
    """
    check_id(site_id, "site id")
    if not devices:
        raise InputError("name at least one device the site sends summaries of (--device)")
    with uow() as unit:
        for device_id in devices:
            unit.devices.get(device_id)  # NotFoundError for an unregistered device
        at = clock()
        current = unit.summaries.active_key(site_id)
        other = unit.summaries.key(key_id)
        if other is not None and other["site_id"] != site_id:
            raise ConflictError(f"this public key is already registered for site {other['site_id']!r}")
        if other is not None and other["revoked_at"] is not None:
            raise ConflictError(f"this public key of site {site_id!r} was replaced on "
                                f"{other['revoked_at']:%Y-%m-%d}: a replaced key cannot come back")
        if current is not None and current["key_id"] == key_id:
            added = sorted(set(devices) - set(current["devices"]))
            if added:
                unit.summaries.set_devices(key_id, sorted(set(current["devices"]) | set(devices)))
                unit.audit.append(at=at, actor=actor, action="site.devices", entity="site", entity_id=site_id,
                                  details={"key_id": key_id, "added_devices": added})
            return {"site_id": site_id, "key_id": key_id, "devices": sorted(set(current["devices"]) | set(devices)),
                    "changed": bool(added), "replaced_key_id": None}
        if current is not None and not replace:
            raise ConflictError(f"site {site_id!r} already has key {current['key_id'][:16]}...: "
                                "use --replace-key to replace it")
        if current is not None:
            unit.summaries.revoke_key(current["key_id"], at=at, actor=actor)
        unit.summaries.add_key(site_id=site_id, key_id=key_id, public_key=public_key, devices=devices, at=at,
                               actor=actor)
        replaced = current["key_id"] if current else None
        unit.audit.append(at=at, actor=actor, action="site.register", entity="site", entity_id=site_id,
                          details={"key_id": key_id, "devices": sorted(devices), "replaced_key_id": replaced})
    return {"site_id": site_id, "key_id": key_id, "devices": sorted(devices), "changed": True,
            "replaced_key_id": replaced}


# --------------------------------------------------------------------------- at the centre: bundles
@dataclass
class SummaryReceipt:
    """What became of one received bundle."""

    bundle_id: str
    status: str  # stored | duplicate
    device_id: str
    site_id: str
    period: str
    cells: int = 0
    small_cells: int = 0
    supersedes: list[str] = field(default_factory=list)
    superseded_by: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output and the audit log."""
        return {"bundle_id": self.bundle_id, "status": self.status, "device_id": self.device_id,
                "site_id": self.site_id, "period": self.period, "cells": self.cells,
                "small_cells": self.small_cells, "supersedes": self.supersedes, "superseded_by": self.superseded_by}


def _verified(unit: Any, bundle: SignedBundle, verify: Verify) -> dict[str, Any]:
    """The site key that signed ``bundle``; refuse unsigned, unknown-site, other-key and altered bundles."""
    site = bundle.site_id
    if bundle.signature is None:
        raise AuthenticationError(f"bundle of site {site!r} is not signed: refused (sign it with "
                                  "`samd-monitor site summarize --key`)")
    if bundle.algorithm != SIGNATURE_ALGORITHM:
        raise AuthenticationError(f"bundle of site {site!r}: its signature algorithm is not "
                                  f"{SIGNATURE_ALGORITHM}: refused")
    key = unit.summaries.active_key(site)
    if key is None:
        raise AuthenticationError(f"site {site!r} is not registered: refused (an administrator registers its "
                                  "public key with `samd-monitor site register`)")
    if bundle.key_id != key["key_id"]:
        old = unit.summaries.key(bundle.key_id or "")
        why = "a replaced key" if old is not None and old["site_id"] == site else "a key that is not the site's"
        raise AuthenticationError(f"bundle of site {site!r} is signed with {why}: refused")
    if not verify(bytes.fromhex(key["public_key"]), bundle.message, bundle.signature):
        raise TamperedError(f"bundle of site {site!r}: the signature does not verify (the bundle was "
                                  "altered after signing): refused")
    return key


def _check_device(unit: Any, summary: SiteSummary, key: dict[str, Any]) -> DeviceConfig:
    try:
        config: DeviceConfig = unit.devices.get(summary.device_id)
    except LookupError as exc:
        raise NotFoundError(f"bundle of site {summary.site_id!r} is for device {summary.device_id!r}, which is "
                            "not registered: refused") from exc
    if summary.device_id not in key["devices"]:
        raise PermissionDeniedError(f"site {summary.site_id!r} is not registered for device {summary.device_id!r} "
                                    f"(only {', '.join(key['devices'])}): refused")
    if summary.config_hash != config.config_hash():
        raise ConflictError(f"bundle of site {summary.site_id!r} was made with device configuration "
                            f"{summary.config_hash[:12]}..., the registered one is {config.config_hash()[:12]}...: "
                            "refused (summarise again with the current configuration file)")
    if list(summary.attributes) != [a.name for a in config.strata.attributes]:
        raise InputError(f"bundle of site {summary.site_id!r}: its attributes do not match the configuration")
    return config


def ingest_summary(data: bytes, *, uow: UnitOfWorkFactory, clock: Clock, actor: str, verify: Verify
                   ) -> SummaryReceipt:
    """Verify and store a bundle; an identical re-sent bundle is a duplicate and changes nothing.

    A bundle made later than the stored one of the same site supersedes it for the months both cover
    (both stay stored; the audit record names what was superseded).
    """
    bundle = parse_bundle(data)
    with uow() as unit:
        key = _verified(unit, bundle, verify)
        bundle_id = bundle.bundle_id
        summary = SiteSummary.from_payload(bundle.payload)
        receipt = SummaryReceipt(bundle_id, "stored", summary.device_id, summary.site_id, summary.period)
        if unit.summaries.has_bundle(bundle_id):
            receipt.status = "duplicate"
            return receipt
        config = _check_device(unit, summary, key)
        at = clock()
        if summary.created_at > at + FUTURE_TOLERANCE:
            raise InputError(f"bundle of site {summary.site_id!r} was made in the future ({_iso(summary.created_at)}): "
                             "refused (check the site's clock)")
        header = BundleHeader(bundle_id, summary.site_id, summary.config_hash, summary.first_month,
                              summary.last_month, summary.created_at, at)
        stored = [h for h in unit.summaries.headers(summary.device_id, first_month=summary.first_month,
                                                    last_month=summary.last_month) if h.site_id == summary.site_id]
        before, _ = select_bundles(stored, summary.months, config_hash=config.config_hash())
        after, _ = select_bundles([*stored, header], summary.months, config_hash=config.config_hash())
        receipt.supersedes = sorted({b for k, b in before.items() if after[k] == bundle_id})
        receipt.superseded_by = sorted({b for b in after.values() if b != bundle_id})
        receipt.cells, receipt.small_cells = len(summary.cells), int(summary.cells["small"].sum())
        unit.summaries.add_bundle(
            {"bundle_id": bundle_id, "device_id": summary.device_id, "site_id": summary.site_id,
             "key_id": key["key_id"], "config_hash": summary.config_hash, "period": summary.period,
             "first_month": summary.first_month, "last_month": summary.last_month,
             "created_at": summary.created_at, "received_at": at, "received_by": actor,
             "min_cell_size": summary.min_cell_size, "cells": receipt.cells, "small_cells": receipt.small_cells,
             "bundle": data.decode("utf-8")}, summary.cells, summary.attributes)
        unit.audit.append(at=at, actor=actor, action="summary.ingest", entity="site_summary", entity_id=bundle_id,
                          details=receipt.as_dict() | {"created_at": _iso(summary.created_at),
                                                       "intake": summary.intake, "excluded": summary.excluded})
    return receipt


# --------------------------------------------------------------------------- the merged analysis
@dataclass
class MergedCells:
    """The merged cell table in the shape :func:`analyze_lake` expects, and where it came from."""

    cells: pd.DataFrame
    predictions_read: int
    predictions_counted: int
    excluded: dict[str, int]
    federation: dict[str, Any]
    bundles: list[str]


def merged_cells(unit: Any, config: DeviceConfig, months: list[str], *, cutoff: datetime) -> MergedCells:
    """The cells of the newest bundle of each site and month received by ``cutoff``, summed."""
    attributes = [a.name for a in config.strata.attributes]
    headers = unit.summaries.headers(config.device.id, first_month=months[0], last_month=months[-1],
                                     received_by=cutoff)
    used, left_out = select_bundles(headers, months, config_hash=config.config_hash())
    cells = unit.summaries.cells(used, attributes)
    totals = cells[list(CELL_COUNTS)].to_numpy().sum(axis=0) if len(cells) else [0] * len(CELL_COUNTS)
    by_header = {h.bundle_id: h for h in headers}
    sites = []
    for site_id in sorted({s for s, _ in used}):
        own = cells.loc[cells["site_id"] == site_id]
        counts = own[list(CELL_COUNTS)].to_numpy().sum(axis=0) if len(own) else [0] * len(CELL_COUNTS)
        bundles = sorted({b for (s, _), b in used.items() if s == site_id})
        sites.append({
            "site_id": site_id, "predictions": int(sum(counts)), "with_ground_truth": int(sum(counts[:4])),
            "awaiting_ground_truth": int(counts[4]), "small_cells": int(own["small"].sum()),
            "bundles": [{"bundle_id": b, "months": sorted(m for (s, m), x in used.items() if x == b and s == site_id),
                         "created_at": _iso(by_header[b].created_at),
                         "received_at": _iso(by_header[b].received_at)} for b in bundles]})
    registered = sorted(k["site_id"] for k in unit.summaries.sites()
                        if k["revoked_at"] is None and config.device.id in k["devices"])
    missing = [{"site_id": s, "months": [m for m in months if (s, m) not in used]} for s in registered]
    federation = {
        "months": months, "sites": sites,
        "missing": [m for m in missing if m["months"]],
        "left_out": [{"bundle_id": b, "site_id": by_header[b].site_id, "reason": r} for b, r in left_out.items()],
        "totals": {"predictions": int(sum(totals)), "with_ground_truth": int(sum(totals[:4])),
                   "awaiting_ground_truth": int(totals[4]), "small_cells": int(cells["small"].sum())},
    }
    counted = federation["totals"]["predictions"]
    return MergedCells(evaluation_cells(cells, attributes), counted, counted, {}, federation,
                       sorted(set(used.values())))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def analyze_summaries(device_id: str, period: Period, *, uow: UnitOfWorkFactory, cutoff: datetime
                      ) -> dict[str, Any]:
    """The lake-analysis document (engine ``summaries``) of the merged bundles; nothing is stored.

    The newest bundle of each site and month received by ``cutoff`` counts; the document's
    ``federation`` section names the bundles used, those left out and the months a registered site
    has not sent.
    """
    if cutoff.tzinfo is None:
        raise InputError("the cut-off needs a UTC offset (e.g. 2026-01-31T23:59:59+08:00)")
    months = period_months(period)
    with uow() as unit:
        config = unit.devices.get(device_id)
        merged = merged_cells(unit, config, months, cutoff=cutoff)

    def count_cells_of(**_: Any) -> MergedCells:
        return merged

    document = analyze_lake(config, period, cutoff=cutoff, engine="summaries", count_cells=count_cells_of,
                            inputs={"bundles": merged.bundles})
    return document | {"federation": merged.federation}

