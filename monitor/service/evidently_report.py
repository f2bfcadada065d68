"""The inputs of the Evidently data-drift report written beside a periodic report (format ``evidently``).

The report's deciding drift is the analysis' own (``data_drift`` of the analysis document: histograms of
every row, :mod:`monitor.domain.data_drift`). For readers who know Evidently, the same comparison - the
period against its *preceding* reference window, as of the run's data cut-off - is also run by Evidently
(``DataDriftPreset``) on a bounded sample of the rows: at most
:data:`~monitor.domain.drift_sample.SAMPLE_ROWS` rows per side, stratified by site with proportional
allocation, each site's rows drawn at random by NumPy's seeded generator (:mod:`monitor.domain.drift_sample`).
The columns are the analysis' drift features (the stratification inputs, the site and the score, with the
same rounding), each with the method and threshold that decided it in the analysis.
``docs/drift-evidently.md`` explains what is sampled and why ours decides.

This module gathers that sample from the database (:func:`drift_sample`); the rendering adapter runs
Evidently on it (imported only then: it takes seconds to import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from monitor.domain.drift_sample import SAMPLE_ROWS, SAMPLE_SEED, feature_name, proportional_allocation, sample_ranks

__all__ = ["DECIDING_METHOD", "DriftSample", "drift_sample"]

#: What decides drift, as the report and the dashboard say it.
DECIDING_METHOD = ("samd-monitor's histogram drift on every row of both windows (the analysis document's "
                   "data_drift) decides; this Evidently report, on a bounded stratified sample, is a second view "
                   "for readers who know Evidently and decides nothing.")

_METHODS = ("wasserstein", "jensenshannon", "psi", "chisquare")


@dataclass(frozen=True)
class DriftSample:
    """The two sampled windows and what the analysis decided on the full windows.

    ``reference`` / ``current`` have one column per feature of ``kinds`` (empty frames when a window
    has no cases); ``ours`` holds the analysis' ``data_drift`` row of each feature (preceding reference);
    ``sample`` describes the windows and the sampling (sizes, quotas, seed).
    """

    device_id: str
    period: str
    run_id: str
    kinds: dict[str, str]
    methods: dict[str, str]
    thresholds: dict[str, float]
    reference: pd.DataFrame
    current: pd.DataFrame
    ours: dict[str, dict[str, Any]]
    sample: dict[str, Any] = field(default_factory=dict)

    @property
    def comparable(self) -> bool:
        """Both windows have rows (Evidently needs a reference)."""
        return bool(self.kinds) and not self.reference.empty and not self.current.empty


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _side(unit: Any, device_id: str, attributes: list[Any], start: datetime, end: datetime, cutoff: datetime,
          rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    samples = unit.drift_samples
    sizes = samples.site_sizes(device_id, start=start, end=end, cutoff=cutoff) if start < end else {}
    quotas = proportional_allocation(sizes, rows)
    ranks = sample_ranks(sizes, quotas, seed)
    frame = samples.sample(device_id, start=start, end=end, cutoff=cutoff, attributes=attributes,
                           ranks=ranks) if sum(quotas.values()) else None
    info = {"start_utc": _iso(start), "end_utc": _iso(end), "population": sum(sizes.values()),
            "rows": sum(quotas.values()),
            "by_site": [{"site_id": s, "population": sizes[s], "rows": quotas[s]} for s in sizes]}
    return frame, info


def drift_sample(unit: Any, document: dict[str, Any], *, rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED
                 ) -> DriftSample | None:
    """The Evidently sample of a stored analysis run's ``document``, or ``None`` when it has no preceding
    drift comparison (an annual roll-up's document, or one without a ``data_drift`` section).

    ``rows`` bounds each side (the period, its preceding reference window); ``seed`` draws the period's
    rows, ``seed + 1`` the reference window's. The windows are the document's period and preceding
    reference window, counted as of the run's data cut-off, so a later ingestion does not change the
    sample of a stored run.
    """
    preceding = next((c for c in document.get("data_drift") or [] if c.get("reference") == "preceding"), None)
    if preceding is None:
        return None
    device_id = document["device"]["id"]
    config = unit.devices.get(device_id)
    stored = {r["feature"]: r for r in preceding["rows"] if r["kind"] in ("numeric", "categorical")}
    features = [(feature_name(a), a, "numeric" if a.is_numeric else "categorical") for a in config.strata.attributes]
    features += [("site_id", None, "categorical"), ("score", None, "numeric")]
    features = [(name, spec, kind) for name, spec, kind in features if name in stored]
    kinds = {name: kind for name, _, kind in features}
    methods = {name: str(stored[name]["method"] or _default(kind)) for name, _, kind in features}
    methods = {name: m if m in _METHODS else _default(kinds[name]) for name, m in methods.items()}
    thresholds = {name: float(stored[name]["threshold"] or 0.1) for name in kinds}
    cutoff = _moment(document["data_cutoff"])
    period = document["period"]
    attributes = [spec for _, spec, _ in features if spec is not None]
    columns = list(kinds)
    sides = {}
    for side, (start, end) in {"current": (period["start_utc"], period["end_utc"]),
                               "reference": (preceding["start_utc"], preceding["end_utc"])}.items():
        if not preceding["periods"] and side == "reference":  # no preceding window (first or explicit period)
            sides[side] = (pd.DataFrame(columns=columns), {"start_utc": None, "end_utc": None, "population": 0,
                                                            "rows": 0, "by_site": []})
            continue
        frame, info = _side(unit, device_id, attributes, _moment(start), _moment(end), cutoff, rows,
                            seed + (side == "reference"))
        sides[side] = (pd.DataFrame(columns=columns) if frame is None else frame[columns], info)
    sample = {"max_rows_per_side": rows, "seed": seed, "stratified_by": "site_id", "allocation": "proportional",
              "data_cutoff": _iso(cutoff), "reference_periods": list(preceding["periods"]),
              "current": sides["current"][1], "reference": sides["reference"][1]}
    return DriftSample(device_id=device_id, period=period["label"], run_id=document["run_id"], kinds=kinds,
                       methods=methods, thresholds=thresholds, reference=sides["reference"][0],
                       current=sides["current"][0],
                       ours={name: dict(stored[name]) for name in kinds}, sample=sample)


def _default(kind: str) -> str:
    return "wasserstein" if kind == "numeric" else "jensenshannon"
