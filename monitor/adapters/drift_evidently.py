"""Evidently 0.7 adapter: per-column ``ValueDrift`` on data frames.

Runs Evidently's drift methods on per-row frames: :func:`evidently_drift_report`
builds the Evidently data-drift report (``DataDriftPreset``) written beside a
periodic report (format ``evidently``, :mod:`monitor.service.evidently_report`),
and :func:`evidently_value_drift` is the tests' oracle of the count-based
measures of :mod:`monitor.stats.drift` (which reproduce Evidently's ``psi``,
``jensenshannon`` and ``wasserstein`` scores on the same bins).

Importing this module imports Evidently (seconds): import it only where a
report of format ``evidently`` is written.

Evidently's anonymous usage telemetry is switched off: ``DO_NOT_TRACK=1`` is
set (unless already set) before Evidently is imported.

Notes on Evidently 0.7 behaviour that matter here
-------------------------------------------------
* ``Report.run(current, reference)`` takes the *current* data first.
* A numeric column with more than 20 distinct reference values is re-binned by
  ``psi`` and ``jensenshannon`` on Sturges edges of the pooled data; with 20
  or fewer, each distinct value is its own category.
* ``wasserstein`` is only allowed on numeric columns, ``chisquare`` only on
  categorical ones; ``chisquare`` is a goodness-of-fit test against the
  reference proportions (``p = 0`` for a category absent from the reference),
  not the homogeneity test of :func:`monitor.stats.drift.chi_square_test`.
* When the method is left to Evidently, the snapshot names it by its display
  name (e.g. ``"Wasserstein distance (normed)"``); this adapter maps it back to
  the registry name (``"wasserstein"``).
* Rows with NaN or infinite values are dropped per column by Evidently.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

os.environ.setdefault("DO_NOT_TRACK", "1")  # before Evidently is imported: telemetry off

import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.legacy.calculations import stattests as _stattests  # noqa: E402
from evidently.metrics import ValueDrift  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

from monitor.stats.drift import DRIFT_KINDS, DriftResult  # noqa: E402

__all__ = ["DISTANCE_METHODS", "EvidentlyDrift", "evidently_drift_report", "evidently_value_drift"]

#: Evidently methods whose score is a distance (the others return p-values).
DISTANCE_METHODS: Final[frozenset[str]] = frozenset(
    {"psi", "jensenshannon", "wasserstein", "kl_div", "hellinger", "ed"}
)

_NAME_BY_DISPLAY: Final[dict[str, str]] = {
    obj.display_name: obj.name for obj in vars(_stattests).values() if isinstance(obj, _stattests.StatTest)
}


def _method_name(reported: str) -> str:
    """Registry name of a method from the name or display name in a snapshot."""
    return _NAME_BY_DISPLAY.get(reported, reported)


def evidently_value_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    method: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
) -> list[DriftResult]:
    """Run Evidently 0.7 ``ValueDrift`` on each listed column.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        Per-row data of the reference and current windows.
    kinds : mapping of str to {"numeric", "categorical"}
        The columns to check and their kinds, in report order.
    method : str or mapping of column to str, optional
        Evidently method name (``"psi"``, ``"jensenshannon"``,
        ``"wasserstein"``, ``"chisquare"``, ``"ks"``, ...), for all columns or
        per column. ``None`` lets Evidently choose (K-S / chi-square / Z-test up
        to 1,000 reference rows, Wasserstein / Jensen-Shannon above).
    threshold : float or mapping of column to float, optional
        Drift threshold; ``None`` uses the method's Evidently default.

    Returns
    -------
    list of DriftResult
        One per column, in the order of ``kinds``: ``value`` is Evidently's raw
        score (distance or p-value), ``threshold`` the one applied,
        ``drifted`` Evidently's test verdict (status ``FAIL``), ``method`` the
        registry name, and ``effect_size`` the score for distance methods
        (:data:`DISTANCE_METHODS`), NaN for p-value methods (Evidently applies
        no effect-size floor).

    Raises
    ------
    ValueError
        Unknown kind, a column missing from a frame, or an error raised by
        Evidently (e.g. a method not allowed for the column's kind).

    References
    ----------
    Evidently 0.7 documentation, "Data drift" and "Customize data drift"
    (methods and defaults); ``evidently/legacy/calculations/stattests``.

    Examples
    --------
    >>> ref = pd.DataFrame({"site": list("aabbc") * 10})
    >>> cur = pd.DataFrame({"site": list("abbcc") * 10})
    >>> [r] = evidently_value_drift(ref, cur, {"site": "categorical"}, method="psi")
    >>> r.method, round(r.value, 4), r.drifted
    ('psi', 0.2773, True)
    """
    columns = list(kinds)
    if not columns:
        return []
    for name, kind in kinds.items():
        if kind not in DRIFT_KINDS:
            raise ValueError(f"unknown kind {kind!r} for column {name!r}; expected one of {DRIFT_KINDS}")
        for label, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                raise ValueError(f"column {name!r} is missing from the {label} frame")

    def _per_column(option: Any, name: str) -> Any:
        return option.get(name) if isinstance(option, Mapping) else option

    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numeric"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
    )
    metrics = [
        ValueDrift(column=c, method=_per_column(method, c), threshold=_per_column(threshold, c)) for c in columns
    ]
    report = Report(metrics, include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    result = snapshot.dict()
    failed = {
        test["metric_config"]["metric_id"]: test["status"] == "FAIL" for test in result.get("tests", [])
    }
    out: list[DriftResult] = []
    for column, entry in zip(columns, result["metrics"], strict=True):
        config = entry["config"]
        if config["column"] != column:  # defensive: Evidently keeps the metric order
            raise ValueError(f"unexpected metric order in the Evidently snapshot: {config['column']!r}")
        name = _method_name(str(config["method"]))
        value = float(entry["value"])
        out.append(
            DriftResult(
                feature=column,
                kind=kinds[column],
                method=name,
                value=value,
                threshold=float(config["threshold"]),
                drifted=bool(failed[entry["id"]]),
                effect_size=value if name in DISTANCE_METHODS else math.nan,
            )
        )
    return out


@dataclass(frozen=True)
class EvidentlyDrift:
    """An Evidently data-drift report: its standalone HTML page, its results (``Snapshot.dict()``, JSON
    types only) and one :class:`DriftResult` per column (Evidently's score and test verdict)."""

    html: str
    snapshot: dict[str, Any]
    results: list[DriftResult]
    version: str


def _results(snapshot: dict[str, Any], kinds: Mapping[str, str]) -> list[DriftResult]:
    failed = {test["metric_config"]["metric_id"]: test["status"] == "FAIL" for test in snapshot.get("tests", [])}
    by_column = {}
    for entry in snapshot["metrics"]:
        config = entry["config"]
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        column, name = config["column"], _method_name(str(config["method"]))
        value = float(entry["value"])
        by_column[column] = DriftResult(feature=column, kind=kinds[column], method=name, value=value,
                                        threshold=float(config["threshold"]), drifted=bool(failed[entry["id"]]),
                                        effect_size=value if name in DISTANCE_METHODS else math.nan)
    return [by_column[c] for c in kinds]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stable_ids(html: str, page_id: str) -> str:
    """The page with Evidently's random element ids replaced by ids derived from ``page_id`` (in order
    of appearance): the same data give byte-identical pages."""
    html = re.sub(r"metric_[0-9a-f]{32}", f"metric_{page_id}", html)
    namespace = uuid.UUID(hex=hashlib.sha256(page_id.encode()).hexdigest()[:32])
    seen: dict[str, str] = {}

    def stable(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(0), str(uuid.uuid5(namespace, str(len(seen)))))

    return _UUID.sub(stable, html)


def evidently_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
    page_id: str | None = None,
) -> EvidentlyDrift:
    """Evidently 0.7 ``DataDriftPreset`` of ``current`` against ``reference`` on the columns of ``kinds``.

    Each column is checked with the method and threshold given (``per_column_method`` /
    ``per_column_threshold``), so the report applies the rule the analysis applied. ``page_id`` (hex)
    replaces the random id Evidently gives the page's root element, so the same data give the same page.

    Examples
    --------
    >>> ref = pd.DataFrame({"site": list("aabbc") * 10, "x": [1.0, 2.0, 3.0, 4.0, 5.0] * 10})
    >>> cur = pd.DataFrame({"site": list("abbcc") * 10, "x": [2.0, 3.0, 4.0, 5.0, 6.0] * 10})
    >>> report = evidently_drift_report(ref, cur, {"site": "categorical", "x": "numeric"},
    ...     methods={"site": "jensenshannon", "x": "wasserstein"}, thresholds={"site": 0.1, "x": 0.1})
    >>> [(r.feature, r.method, round(r.value, 4), r.drifted) for r in report.results]
    [('site', 'jensenshannon', 0.1843, True), ('x', 'wasserstein', 0.7071, True)]
    >>> report.html.lstrip().startswith("<!DOCTYPE html>")
    True
    """
    columns = list(kinds)
    for name, kind in kinds.items():
        if kind not in DRIFT_KINDS:
            raise ValueError(f"unknown kind {kind!r} for column {name!r}; expected one of {DRIFT_KINDS}")
    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numeric"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
    )
    preset = DataDriftPreset(columns=columns, per_column_method={c: methods[c] for c in columns},
                             per_column_threshold={c: float(thresholds[c]) for c in columns})
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    html = snapshot.get_html_str(as_iframe=False)
    if page_id is not None:
        html = _stable_ids(html, page_id)
    result = json.loads(snapshot.json())  # numpy values as JSON types
    from evidently import __version__ as version

    return EvidentlyDrift(html=html, snapshot=result, results=_results(result, kinds), version=str(version))
