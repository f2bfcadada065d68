"""Data drift of the inputs that define strata, of acquisition metadata, of the score and of rates.

Each input's current-period histogram is compared with the reference window's (the preceding
period(s)), from counts aggregated by the database: a distance with an effect-size threshold by
type (Wasserstein for numeric inputs, Jensen-Shannon for categorical ones; see
``monitor.stats.drift``), and two-proportion tests with an effect-size floor for the positive-call
rate and the confirmed prevalence. Results are leading indicators to investigate, not proof of a
performance loss.

References
----------
Rabanser S, Günnemann S, Lipton Z. NeurIPS 2019 ("Failing loudly"). Evidently AI data-drift defaults
(Wasserstein / Jensen-Shannon at 0.1 for large samples).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from monitor.stats.drift import drift_from_counts, rate_shift

__all__ = ["drift_of_feature", "drift_of_rate"]


def _clean(result: Any) -> dict[str, Any]:
    row = asdict(result)
    for key, value in row.items():
        if isinstance(value, float) and not np.isfinite(value):
            row[key] = None
    return row


def drift_of_feature(feature: str, kind: str, reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Drift of one input from two histograms with columns ``value`` and ``n``."""
    values = sorted(set(reference["value"].dropna().tolist()) | set(current["value"].dropna().tolist()),
                    key=lambda v: (float(v) if kind == "numeric" else 0, str(v)))
    ref = reference.groupby("value")["n"].sum().reindex(values, fill_value=0).to_numpy()
    cur = current.groupby("value")["n"].sum().reindex(values, fill_value=0).to_numpy()
    base = {"reference_n": int(ref.sum()), "current_n": int(cur.sum())}
    if not ref.sum() or not cur.sum():
        return base | {"feature": feature, "kind": kind, "method": None, "value": None, "threshold": None,
                       "drifted": False, "effect_size": None}
    bins = np.asarray(values, dtype=float) if kind == "numeric" else np.asarray([str(v) for v in values])
    return base | _clean(drift_from_counts(feature, kind, bins, ref, cur))


def drift_of_rate(feature: str, reference: tuple[int, int], current: tuple[int, int]) -> dict[str, Any]:
    """Shift of a rate (``(events, cases)`` in the reference and current windows)."""
    base = {"reference_n": int(reference[1]), "current_n": int(current[1])}
    if not reference[1] or not current[1]:
        return base | {"feature": feature, "kind": "rate", "method": None, "value": None, "threshold": None,
                       "drifted": False, "effect_size": None}
    return base | _clean(rate_shift(reference[0], reference[1], current[0], current[1], feature=feature)) | {"kind": "rate"}
