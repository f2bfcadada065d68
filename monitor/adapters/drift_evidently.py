"""Evidently 0.7 adapter: per-column ``ValueDrift`` on data frames.

Runs Evidently's drift methods on per-row frames. The service uses it for
small windows; the tests use it as the oracle of the count-based measures of
:mod:`monitor.stats.drift` (which reproduce Evidently's ``psi``,
``jensenshannon`` and ``wasserstein`` scores on the same bins).

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

import math
import os
from collections.abc import Mapping
from typing import Any, Final

os.environ.setdefault("DO_NOT_TRACK", "1")  # before Evidently is imported: telemetry off

import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.legacy.calculations import stattests as _stattests  # noqa: E402
from evidently.metrics import ValueDrift  # noqa: E402

from monitor.stats.drift import DRIFT_KINDS, DriftResult  # noqa: E402

__all__ = ["DISTANCE_METHODS", "evidently_value_drift"]

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
