"""Iterate the monitored strata of any frame carrying stratum labels.

The same strata as the claims evaluation: the whole population, each single attribute and each
monitored intersection (the pairs and triples of ``strata.intersections``), per model version, in report
order (configured label order).

A frame is either grouped by every attribute (one row per full combination of labels), or already
summed to the groupings it is read with (*grouping sets*, as SQL ``GROUPING SETS`` returns them):
then its column :data:`GROUPING_COLUMN` names each row's grouping (``""`` for the whole population,
``"age_band"`` for a single attribute, ``"age_band|sex"`` for a pair, ``"age_band|sex|emphysema_grade"``
for a triple) and the attributes outside
that grouping are null. Summed tables stay small whatever the number of cases, so sections that
only report the whole population and single strata read those instead of every combination.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.strata import StratumDefinition

__all__ = ["GROUPING_COLUMN", "grouping_name", "iter_strata", "label_rank", "monitored_groupings", "overall_rows"]

#: Column of a grouping-sets frame naming each row's grouping (see the module docstring).
GROUPING_COLUMN = "grouping"


def monitored_groupings(config: DeviceConfig, *, max_level: int | None = None) -> list[tuple[str, ...]]:
    """Attribute groupings: ``()``, each single attribute, then the monitored intersections (pairs and triples,
    :meth:`~monitor.domain.device.StrataConfig.monitored_intersections`); ``max_level`` keeps the groupings of
    at most that many attributes (``None``: every monitored grouping)."""
    candidates = [(), *[(a.name,) for a in config.strata.attributes], *config.strata.monitored_intersections()]
    return [g for g in candidates if max_level is None or len(g) <= max_level]


def grouping_name(grouping: tuple[str, ...]) -> str:
    """The value of :data:`GROUPING_COLUMN` for ``grouping`` (``""`` for the whole population)."""
    return "|".join(grouping)


def overall_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that count every case once: the whole frame, or of a grouping-sets frame its
    whole-population rows."""
    if GROUPING_COLUMN not in frame.columns:
        return frame
    return frame.loc[frame[GROUPING_COLUMN] == ""]


def label_rank(config: DeviceConfig, name: str) -> dict[str, int]:
    """Each configured label of attribute ``name`` -> its position in the configured order (report order)."""
    return {label: i for i, label in enumerate(config.strata.attribute(name).labels())}


def iter_strata(frame: pd.DataFrame, config: DeviceConfig, *, max_level: int | None = None
                ) -> Iterator[tuple[str, StratumDefinition, pd.DataFrame]]:
    """Yield ``(model_version, stratum, rows of the frame in that stratum)`` of every monitored grouping of at
    most ``max_level`` attributes (``None``: all); ``frame`` is grouped by every attribute or a grouping-sets
    frame holding (at least) those groupings."""
    if frame.empty:
        return
    sets = GROUPING_COLUMN in frame.columns
    for model_version in sorted(frame["model_version"].astype(str).unique()):
        version_rows = frame.loc[frame["model_version"].astype(str) == model_version]
        for grouping in monitored_groupings(config, max_level=max_level):
            rows_of = version_rows
            if sets:
                rows_of = version_rows.loc[version_rows[GROUPING_COLUMN] == grouping_name(grouping)]
                if rows_of.empty:
                    raise ValueError(f"the grouping-sets frame has no rows of grouping {grouping!r}")
            if not grouping:
                yield model_version, StratumDefinition(), rows_of
                continue
            groups = list(rows_of.groupby(list(grouping), sort=False, observed=True))
            ranks = [label_rank(config, g) for g in grouping]

            def order(item: tuple[object, pd.DataFrame], ranks: list[dict[str, int]] = ranks) -> tuple[object, ...]:
                key = item[0] if isinstance(item[0], tuple) else (item[0],)
                return tuple(x for label, r in zip(key, ranks, strict=True) for x in (r.get(str(label), len(r)), str(label)))

            for key, rows in sorted(groups, key=order):
                labels = key if isinstance(key, tuple) else (key,)
                yield model_version, StratumDefinition.of(dict(zip(grouping, map(str, labels), strict=True))), rows
