"""Federated site summaries: count tables a hospital sends instead of patient-level rows.

A site that may not export its logs reduces them, at home, to *cells*: one row per local calendar
month (device time zone), model version and stratum labels (one per configured attribute), with
the confusion counts ``tp, fp, fn, tn`` of the cases whose ground truth has arrived and ``pending``,
the cases still awaiting it. Every monitored stratum of every quarter or year is a sum of cells, and
cells of disjoint case sets (two sites, two halves of one log) add: the centre's analysis of merged
bundles therefore equals the analysis of the pooled raw logs.

The bundle is a JSON document ``{schema, schema_version, payload, signature}``
(``schemas/site_summary.schema.json``). The signature is Ed25519 (RFC 8032) over the payload's
canonical JSON (keys sorted, no insignificant white space, UTF-8; the payload holds no floating-point
numbers, so the form is unique, as in RFC 8785). The bundle's id is the SHA-256 of those bytes.

Cells smaller than the site's minimum cell size are *flagged*, not suppressed (suppression would
break the equality with the pooled analysis): the flag tells the site's privacy officer and the
centre which counts need disclosure control before any publication (cf. the CMS cell-size
suppression policy, which withholds cells of 1 to 10 beneficiaries: the default size is 11).

References
----------
Josefsson & Liusvaara, "Edwards-Curve Digital Signature Algorithm (EdDSA)", RFC 8032, 2017.
Rundgren, Jordan & Erdtman, "JSON Canonicalization Scheme (JCS)", RFC 8785, 2020.
Agresti, Categorical Data Analysis, 3rd ed., Wiley 2013, section 2.1 (additivity of cell counts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from monitor.domain.periods import Period
from monitor.domain.strata import AttributeSpec
from monitor.errors import InputError, PeriodError

__all__ = [
    "BUNDLE_SCHEMA",
    "BUNDLE_SCHEMA_VERSION",
    "CELL_COUNTS",
    "DEFAULT_MIN_CELL_SIZE",
    "MAX_BUNDLE_DEPTH",
    "SIGNATURE_ALGORITHM",
    "BundleHeader",
    "SignedBundle",
    "SiteSummary",
    "add_cells",
    "canonical_bytes",
    "check_id",
    "count_cells",
    "evaluation_cells",
    "month_range",
    "months_period",
    "parse_bundle",
    "period_months",
    "select_bundles",
]

BUNDLE_SCHEMA = "samd-monitor/site_summary"
BUNDLE_SCHEMA_VERSION = 1
SIGNATURE_ALGORITHM = "Ed25519"
#: The confusion counts of the cases with ground truth, then the cases still awaiting it.
CELL_COUNTS = ("tp", "fp", "fn", "tn", "pending")
CONFUSION = CELL_COUNTS[:4]
DEFAULT_MIN_CELL_SIZE = 11
_KEYS = ("month", "model_version")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
#: Nesting levels a bundle document may have (its payload needs 6): deeper JSON is refused before any
#: recursive walk (the JSON decoder, the float check, the canonical encoder) can exhaust the stack.
MAX_BUNDLE_DEPTH = 16
#: A cell count above this is refused (counts are stored as 64-bit integers).
MAX_COUNT = 2**53


def check_id(value: str, what: str) -> str:
    """``value`` when it is a valid device or site id (1 to 64 letters, digits, ``._@:-``), else InputError."""
    if not _ID.match(value):
        raise InputError(f"{what} {value!r} is not valid: use 1 to 64 letters, digits, '.', '_', '@', ':' or '-'")
    return value


# --------------------------------------------------------------------------- months
def month_range(first: str, last: str) -> list[str]:
    """Every month ``YYYY-MM`` from ``first`` to ``last``, both included.

    >>> month_range("2024-11", "2025-02")
    ['2024-11', '2024-12', '2025-01', '2025-02']
    """
    for month in (first, last):
        if not _MONTH.match(month):
            raise InputError("a month is not in the form YYYY-MM")
    year, month = int(first[:4]), int(first[5:])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def months_period(first: str, last: str) -> Period:
    """The period made of the months ``first`` to ``last``: one month, or a window of whole months.

    >>> months_period("2025-07", "2025-07").label, months_period("2024-11", "2025-02").label
    ('2025-07', '2024-11-01..2025-02-28')
    """
    months = month_range(first, last)
    if not months:
        raise InputError(f"the months {first}..{last} end before they start")
    if len(months) == 1:
        return Period.parse(first)
    following = Period.parse(last).end_local
    return Period.parse(f"{first}-01..{date.fromordinal(following.toordinal() - 1).isoformat()}")


def period_months(period: Period) -> list[str]:
    """The calendar months a period consists of; a window must start and end on month boundaries.

    >>> period_months(Period.parse("2025Q3"))
    ['2025-07', '2025-08', '2025-09']
    """
    start, end = period.start_local, period.end_local
    if start.day != 1 or end.day != 1:
        raise PeriodError(f"period {period.label!r}: site summaries hold whole calendar months; use a month, "
                          "a quarter, a year or a window from the first of a month to the last day of a month")
    last = date.fromordinal(end.toordinal() - 1)
    return month_range(f"{start.year:04d}-{start.month:02d}", f"{last.year:04d}-{last.month:02d}")


# --------------------------------------------------------------------------- count algebra
def _check_names(attributes: Sequence[str]) -> list[str]:
    names = list(attributes)
    clash = sorted(set(names) & {*_KEYS, "site_id", *CELL_COUNTS, "small", "n", "predicted_label", "label"})
    if clash:
        raise InputError(f"a stratification attribute may not be named {', '.join(clash)} in a site summary")
    return names


def _summed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    counts = list(CELL_COUNTS)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in keys}
                            | {c: pd.Series(dtype=np.int64) for c in counts})
    grouped = frame.groupby(keys, sort=True, dropna=False)[counts].sum().reset_index()
    grouped[counts] = grouped[counts].astype(np.int64)
    return grouped[keys + counts].reset_index(drop=True)


def count_cells(cases: pd.DataFrame, attributes: Sequence[str | AttributeSpec]) -> pd.DataFrame:
    """Cells of a frame of cases (or of case counts).

    Parameters
    ----------
    cases
        Columns ``month``, ``model_version``, one column per attribute name (stratum labels) or, for
        an attribute given as a specification, its raw source column, ``predicted_label`` (0/1),
        ``label`` (0/1, missing while ground truth is awaited) and optionally ``n``, the number of
        cases the row stands for (default 1).
    attributes
        The stratification attributes, in configuration order: names (the labels are in ``cases``),
        or specifications, whose labels are computed from the raw values by the domain's binning rule
        (:meth:`monitor.domain.binning.BinningRule.evaluate`, the rule every engine compiles).

    Returns
    -------
    pandas.DataFrame
        Columns ``month, model_version, <attributes>, tp, fp, fn, tn, pending`` (int64), one row
        per key combination present, sorted by the keys.

    Examples
    --------
    >>> cases = pd.DataFrame({"month": ["2025-07"] * 3, "model_version": ["1"] * 3, "sex": ["F", "F", "M"],
    ...                       "predicted_label": [1, 0, 1], "label": [1, None, 0]})
    >>> count_cells(cases, ["sex"])
         month model_version sex  tp  fp  fn  tn  pending
    0  2025-07             1   F   1   0   0   0        1
    1  2025-07             1   M   0   1   0   0        0
    >>> count_cells(cases.assign(age=[44, 95, None]), [AttributeSpec(name="age_band", column="age", bins=[45, 90])])
         month model_version age_band  tp  fp  fn  tn  pending
    0  2025-07             1      <45   1   0   0   0        0
    1  2025-07             1     >=90   0   0   0   0        1
    2  2025-07             1  unknown   0   1   0   0        0
    """
    specs = [a for a in attributes if not isinstance(a, str)]
    if specs:
        cases = cases.assign(**{a.name: a.rule.evaluate(cases[a.rule.column]) for a in specs})
    keys = [*_KEYS, *_check_names([a if isinstance(a, str) else a.name for a in attributes])]
    weight = cases["n"].to_numpy(dtype=np.int64) if "n" in cases.columns else np.ones(len(cases), dtype=np.int64)
    call = pd.to_numeric(cases["predicted_label"]).to_numpy(dtype=float)
    truth = pd.to_numeric(cases["label"]).to_numpy(dtype=float)
    if not np.isin(call, (0.0, 1.0)).all() or not np.isin(truth[~np.isnan(truth)], (0.0, 1.0)).all():
        raise InputError("predicted_label must be 0 or 1, and label 0, 1 or missing")
    masks = {"tp": (truth == 1) & (call == 1), "fp": (truth == 0) & (call == 1),
             "fn": (truth == 1) & (call == 0), "tn": (truth == 0) & (call == 0), "pending": np.isnan(truth)}
    frame = cases[keys].astype(str).assign(**{c: np.where(m, weight, 0) for c, m in masks.items()})
    return _summed(frame, keys)


def add_cells(tables: Iterable[pd.DataFrame], attributes: Sequence[str], *, by_site: bool = False) -> pd.DataFrame:
    """Cell tables of disjoint case sets merged by adding their counts (``site_id`` kept when ``by_site``).

    >>> a = pd.DataFrame({"month": ["2025-07"], "model_version": ["1"], "tp": [1], "fp": [0], "fn": [0],
    ...                   "tn": [2], "pending": [1]})
    >>> add_cells([a, a], [])[["tp", "tn", "pending"]].to_numpy().tolist()
    [[2, 4, 2]]
    """
    keys = [*(["site_id"] if by_site else []), *_KEYS, *_check_names(attributes)]
    parts = [t[keys + list(CELL_COUNTS)] for t in tables if len(t)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=keys + list(CELL_COUNTS))
    return _summed(frame, keys)


def evaluation_cells(cells: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """The cell table :func:`monitor.domain.evaluation.evaluate_cells` takes: counts summed over months
    (and sites), only cells with at least one case with ground truth, sorted like the database path's
    (model version, then the attribute labels)."""
    keys = ["model_version", *_check_names(attributes)]
    columns = keys + list(CONFUSION)
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in keys}
                            | {c: pd.Series(dtype=np.int64) for c in CONFUSION})
    summed = cells.groupby(keys, sort=True)[list(CONFUSION)].sum().reset_index()
    summed = summed.loc[summed[list(CONFUSION)].sum(axis=1) > 0, columns]
    summed[list(CONFUSION)] = summed[list(CONFUSION)].astype(np.int64)
    return summed.sort_values(keys, kind="stable").reset_index(drop=True)


def flag_small(cells: pd.DataFrame, min_cell_size: int) -> pd.Series:
    """Whether each cell holds fewer than ``min_cell_size`` cases (with or without ground truth)."""
    return cells[list(CELL_COUNTS)].sum(axis=1) < min_cell_size


# --------------------------------------------------------------------------- the bundle
def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The signed form of a payload: canonical JSON (sorted keys, no white space, UTF-8).

    >>> canonical_bytes({"b": [1, "ü"], "a": None})
    b'{"a":null,"b":[1,"\\xc3\\xbc"]}'
    """
    def check(node: Any) -> None:
        if isinstance(node, float):
            raise InputError("a site-summary payload holds no floating-point numbers")
        if isinstance(node, dict):
            for value in node.values():
                check(value)
        elif isinstance(node, list):
            for value in node:
                check(value)

    check(payload)
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SiteSummary:
    """The content of a bundle: who made it, with which configuration, for which months, and its cells.

    ``cells`` has the columns ``month, model_version, <attributes>, tp, fp, fn, tn, pending, small``.
    ``intake`` holds, per log kind, what became of the rows of each input file (the batch summary
    of ingestion: rows, accepted, duplicates, rejected and the rejection reasons), and ``excluded``
    the accepted predictions left out of the cells, by reason.
    """

    device_id: str
    site_id: str
    config_hash: str
    timezone: str
    period: str
    first_month: str
    last_month: str
    created_at: datetime
    software_version: str
    attributes: tuple[str, ...]
    min_cell_size: int
    cells: pd.DataFrame
    intake: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def months(self) -> list[str]:
        """The months the summary covers (a month without cells had no predictions)."""
        return month_range(self.first_month, self.last_month)

    def to_payload(self) -> dict[str, Any]:
        """The payload to sign (``schemas/site_summary.schema.json#/properties/payload``)."""
        counts = self.cells[list(CELL_COUNTS)].to_numpy(dtype=np.int64)
        totals = counts.sum(axis=0) if len(counts) else np.zeros(len(CELL_COUNTS), dtype=np.int64)
        cells = [
            {"month": row[0], "model_version": row[1],
             "strata": dict(zip(self.attributes, row[2:2 + len(self.attributes)], strict=True)),
             **{c: int(v) for c, v in zip(CELL_COUNTS, numbers, strict=True)}, "small": bool(row[-1])}
            for row, numbers in zip(self.cells[[*_KEYS, *self.attributes, "small"]].itertuples(index=False, name=None),
                                    counts, strict=True)
        ]
        return {
            "device_id": self.device_id, "site_id": self.site_id, "config_hash": self.config_hash,
            "timezone": self.timezone,
            "period": {"label": self.period, "first_month": self.first_month, "last_month": self.last_month},
            "created_at": _iso(self.created_at), "software_version": self.software_version,
            "attributes": list(self.attributes), "min_cell_size": self.min_cell_size,
            "intake": self.intake, "excluded": dict(sorted(self.excluded.items())),
            "totals": {"predictions": int(totals.sum()), "with_ground_truth": int(totals[:4].sum()),
                       "awaiting_ground_truth": int(totals[4]),
                       "small_cells": int(self.cells["small"].sum()) if len(self.cells) else 0},
            "cells": cells,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> SiteSummary:
        """Read and check a payload; raise :class:`InputError` naming the first problem."""
        return _read_payload(payload)


def _need(mapping: Any, key: str, kind: type | tuple[type, ...], where: str = "payload") -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise InputError(f"site summary: {where}.{key} is missing")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise InputError(f"site summary: {where}.{key} has the wrong type")
    return value


def _read_cells(records: list[Any], attributes: tuple[str, ...], months: list[str]) -> pd.DataFrame:
    rows = []
    for i, cell in enumerate(records):
        where = f"payload.cells[{i}]"
        strata = _need(cell, "strata", dict, where)
        if sorted(strata) != sorted(attributes) or not all(isinstance(v, str) for v in strata.values()):
            raise InputError(f"site summary: {where}.strata must give a label for each attribute (as text)")
        month = _need(cell, "month", str, where)
        if month not in months:
            raise InputError(f"site summary: {where}.month is outside the bundle's period")
        counts = [_need(cell, c, int, where) for c in CELL_COUNTS]
        if min(counts) < 0 or sum(counts) == 0 or max(counts) > MAX_COUNT:
            raise InputError(f"site summary: {where} has a negative count, no case or a count above {MAX_COUNT}")
        version = _need(cell, "model_version", str, where)
        if not 0 < len(version) <= 64:
            raise InputError(f"site summary: {where}.model_version must have 1 to 64 characters")
        rows.append((month, version, *(strata[a] for a in attributes), *counts,
                     bool(_need(cell, "small", bool, where))))
    frame = pd.DataFrame(rows, columns=[*_KEYS, *attributes, *CELL_COUNTS, "small"])
    if frame.duplicated([*_KEYS, *attributes]).any():
        raise InputError("site summary: a cell (month, model version, strata) appears twice")
    for c in CELL_COUNTS:
        frame[c] = frame[c].astype(np.int64)
    return frame


def _read_payload(payload: Any) -> SiteSummary:
    if not isinstance(payload, dict):
        raise InputError("site summary: the payload is not an object")
    period = _need(payload, "period", dict)
    first, last = (_need(period, k, str, "payload.period") for k in ("first_month", "last_month"))
    months = month_range(first, last)
    label = _need(period, "label", str, "payload.period")
    try:
        labelled = period_months(Period.parse(label))
    except PeriodError as exc:
        raise InputError("site summary: payload.period.label is not a period of whole months") from exc
    if labelled != months:
        raise InputError(f"site summary: payload.period.label is not the months {first} to {last}")
    attributes = tuple(_need(payload, "attributes", list))
    if not all(isinstance(a, str) and _ID.match(a) for a in attributes) or len(set(attributes)) != len(attributes):
        raise InputError("site summary: payload.attributes must be distinct attribute names")
    _check_names(list(attributes))
    for key in ("device_id", "site_id"):
        if not _ID.match(_need(payload, key, str)):
            raise InputError(f"site summary: payload.{key} is not a valid id")
    if not _SHA256.match(_need(payload, "config_hash", str)):
        raise InputError("site summary: payload.config_hash is not a SHA-256")
    try:
        created = datetime.fromisoformat(_need(payload, "created_at", str).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError("site summary: payload.created_at is not an ISO-8601 time") from exc
    if created.tzinfo is None:
        raise InputError("site summary: payload.created_at has no UTC offset")
    min_size = _need(payload, "min_cell_size", int)
    return SiteSummary(
        device_id=payload["device_id"], site_id=payload["site_id"], config_hash=payload["config_hash"],
        timezone=_need(payload, "timezone", str), period=label,
        first_month=first, last_month=last, created_at=created,
        software_version=_need(payload, "software_version", str), attributes=attributes, min_cell_size=min_size,
        cells=_read_cells(_need(payload, "cells", list), attributes, months),
        intake=_need(payload, "intake", dict), excluded=_need(payload, "excluded", dict))


@dataclass(frozen=True)
class SignedBundle:
    """A bundle as received: the payload, its canonical bytes and the signature over them."""

    payload: dict[str, Any]
    algorithm: str | None
    key_id: str | None
    signature: bytes | None

    @property
    def message(self) -> bytes:
        """The signed bytes."""
        return canonical_bytes(self.payload)

    @property
    def bundle_id(self) -> str:
        """SHA-256 of the signed bytes: an identical re-sent bundle has the same id."""
        return hashlib.sha256(self.message).hexdigest()

    @property
    def site_id(self) -> str:
        """The site the bundle claims to come from (trusted only once the signature verifies)."""
        return str(self.payload["site_id"])

    def document(self) -> dict[str, Any]:
        """The bundle file's content."""
        signature = None if self.signature is None else {
            "algorithm": self.algorithm, "key_id": self.key_id,
            "value": base64.b64encode(self.signature).decode("ascii")}
        return {"schema": BUNDLE_SCHEMA, "schema_version": BUNDLE_SCHEMA_VERSION, "payload": self.payload,
                "signature": signature}


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _check_depth(text: str) -> None:
    """Refuse JSON text nested deeper than :data:`MAX_BUNDLE_DEPTH` (brackets outside strings)."""
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_BUNDLE_DEPTH:
            raise InputError(f"not a site-summary bundle: nested deeper than {MAX_BUNDLE_DEPTH} levels")


def parse_bundle(data: bytes) -> SignedBundle:
    """The envelope of a bundle file; the payload is checked separately (after the signature)."""
    try:
        text = data.decode("utf-8")
        _check_depth(text)
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InputError(f"not a site-summary bundle: not UTF-8 JSON (byte {exc.start + 1})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not a site-summary bundle: not UTF-8 JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                         ) from exc
    if not isinstance(document, dict) or document.get("schema") != BUNDLE_SCHEMA:
        raise InputError(f"not a site-summary bundle: schema is not {BUNDLE_SCHEMA!r}")
    version = document.get("schema_version")
    if type(version) is not int or version != BUNDLE_SCHEMA_VERSION:
        shown = f"version {version}" if type(version) is int and abs(version) < 10**6 else "its schema_version"
        raise InputError(f"site-summary bundle {shown} is not supported (this software reads version "
                         f"{BUNDLE_SCHEMA_VERSION})")
    payload = document.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("site_id"), str) or not _ID.match(
            payload["site_id"]):
        raise InputError("not a site-summary bundle: no payload naming its site by a valid site id")
    signature = document.get("signature")
    if not signature:
        return SignedBundle(payload, None, None, None)
    if not isinstance(signature, dict) or not all(isinstance(signature.get(k), str)
                                                   for k in ("algorithm", "key_id", "value")):
        raise InputError("site-summary bundle: the signature needs algorithm, key_id and value")
    try:
        value = base64.b64decode(signature["value"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("site-summary bundle: the signature value is not base64") from exc
    return SignedBundle(payload, signature["algorithm"], signature["key_id"], value)


# --------------------------------------------------------------------------- merging at the centre
@dataclass(frozen=True)
class BundleHeader:
    """What the centre needs to choose among stored bundles."""

    bundle_id: str
    site_id: str
    config_hash: str
    first_month: str
    last_month: str
    created_at: datetime
    received_at: datetime


def select_bundles(headers: Iterable[BundleHeader], months: Sequence[str], *, config_hash: str
                   ) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """For each (site, month) of ``months``, the bundle whose cells count, and the bundles left out.

    Among the bundles made with ``config_hash`` that cover a month, the one the site made last
    (``created_at``; ties broken by bundle id) counts: a newer bundle supersedes an older one month by
    month. Returns ``({(site, month): bundle_id}, {bundle_id: reason})`` with the reasons
    ``superseded`` (no month left in the period) and ``other_configuration``.
    """
    wanted = set(months)
    used: dict[tuple[str, str], BundleHeader] = {}
    left_out: dict[str, str] = {}
    candidates = []
    for header in headers:
        covered = wanted.intersection(month_range(header.first_month, header.last_month))
        if not covered:
            continue
        if header.config_hash != config_hash:
            left_out[header.bundle_id] = "other_configuration"
            continue
        candidates.append((header, covered))
    for header, covered in candidates:
        for month in covered:
            best = used.get((header.site_id, month))
            if best is None or (header.created_at, header.bundle_id) > (best.created_at, best.bundle_id):
                used[(header.site_id, month)] = header
    winners = {h.bundle_id for h in used.values()}
    for header, _ in candidates:
        if header.bundle_id not in winners:
            left_out[header.bundle_id] = "superseded"
    return {key: h.bundle_id for key, h in sorted(used.items())}, dict(sorted(left_out.items()))
