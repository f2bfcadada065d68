"""Iterate the monitored strata of any frame carrying stratum labels.

The same strata as the claims evaluation: the whole population, each single attribute and each
monitored pairwise intersection, per model version, in report order (configured label order).
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.strata import StratumDefinition

__all__ = ["monitored_groupings", "iter_strata"]


def monitored_groupings(config: DeviceConfig, *, max_level: int = 2) -> list[tuple[str, ...]]:
    """Attribute groupings: ``()``, each single attribute, then the monitored pairs (up to ``max_level``)."""
    singles = [(a.name,) for a in config.strata.attributes]
    groupings: list[tuple[str, ...]] = [()]
    if max_level >= 1:
        groupings += singles
    if max_level >= 2:
        groupings += list(config.strata.pairs())
    return groupings


def _rank(config: DeviceConfig, name: str) -> dict[str, int]:
    return {label: i for i, label in enumerate(config.strata.attribute(name).labels())}


def iter_strata(frame: pd.DataFrame, config: DeviceConfig, *, max_level: int = 2
                ) -> Iterator[tuple[str, StratumDefinition, pd.DataFrame]]:
    """Yield ``(model_version, stratum, rows of the frame in that stratum)``."""
    if frame.empty:
        return
    for model_version in sorted(frame["model_version"].astype(str).unique()):
        version_rows = frame.loc[frame["model_version"].astype(str) == model_version]
        for grouping in monitored_groupings(config, max_level=max_level):
            if not grouping:
                yield model_version, StratumDefinition(), version_rows
                continue
            groups = list(version_rows.groupby(list(grouping), sort=False, observed=True))
            ranks = [_rank(config, g) for g in grouping]

            def order(item: tuple[object, pd.DataFrame], ranks: list[dict[str, int]] = ranks) -> tuple[object, ...]:
                key = item[0] if isinstance(item[0], tuple) else (item[0],)
                return tuple(x for label, r in zip(key, ranks, strict=True) for x in (r.get(str(label), len(r)), str(label)))

            for key, rows in sorted(groups, key=order):
                labels = key if isinstance(key, tuple) else (key,)
                yield model_version, StratumDefinition.of(dict(zip(grouping, map(str, labels), strict=True))), rows
