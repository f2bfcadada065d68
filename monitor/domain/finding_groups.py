"""Shortfall findings on overlapping strata grouped under one primary finding (one ticket per cause).

One cause (a drop in a subgroup) shows in every monitored stratum that shares its cases: a drop in
``age>=75 x emphysema=severe`` also pulls down ``emphysema=severe`` and may show in
``age>=75 x sex=F``. :func:`group_findings` groups a run's shortfall findings of the same model
version and metric whose strata *overlap*, and names the most specific cell the group's primary
finding (its ticket's stratum); the others are related evidence of the same ticket.

Two strata overlap (:func:`strata_overlap`) when they agree on every attribute they share, and either
one's attributes contain the other's (the overall population contains every stratum; a single
stratum contains its intersections) or they share at least one attribute (two intersections that agree
on a shared attribute: ``age>=75 x sex=F`` and ``age>=75 x emphysema=severe`` share the cases
``age>=75 x sex=F x emphysema=severe``). Strata on disjoint attributes (``age>=75`` and
``emphysema=severe``) are not linked directly: they are two readings of a cross-classification, and
are linked only through a finding that overlaps both as its primary.

Grouping is greedy from the most specific finding (:func:`specificity_order`): most attributes, then
the largest shortfall of the upper confidence bound below the performance goal, then the fewest cases
(the sharpest localisation), then the stratum key. The first finding not yet grouped becomes a primary;
every ungrouped finding overlapping *it* joins its group. So each related finding shares cases with
its primary (not only with another related finding), and two disjoint cells each open their own ticket
even when a stratum containing both is short too (that one joins the first cell's group). The result
does not depend on the input order.

This is a rule for routing evidence, not a statistical test: it changes which ticket a finding is
attached to, never whether a stratum is short (the decision rule of :mod:`monitor.domain.evaluation`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["FindingGroup", "Shortfall", "group_findings", "specificity_order", "strata_overlap"]


@dataclass(frozen=True)
class Shortfall:
    """One shortfall finding of a run, as the grouping sees it.

    ``attributes`` are the stratum's assignments (empty for the overall population); ``upper_bound``
    the upper confidence bound of the metric and ``goal`` its performance goal (claim - margin):
    ``goal - upper_bound`` is the shortfall shown (``None`` when either is unknown, ranked last).
    """

    finding_id: str
    model_version: str
    metric: str
    stratum: str
    attributes: Mapping[str, str]
    upper_bound: float | None
    goal: float | None
    trials: int

    @property
    def shortfall(self) -> float | None:
        """How far the upper bound lies below the goal (positive for a shown shortfall)."""
        if self.upper_bound is None or self.goal is None:
            return None
        value = self.goal - self.upper_bound
        return value if math.isfinite(value) else None


@dataclass(frozen=True)
class FindingGroup:
    """A primary finding (the ticket's stratum) and the overlapping findings related to it."""

    primary: Shortfall
    related: tuple[Shortfall, ...] = field(default_factory=tuple)

    @property
    def members(self) -> tuple[Shortfall, ...]:
        """The primary, then the related findings in specificity order."""
        return (self.primary, *self.related)


def strata_overlap(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Whether two strata (attribute assignments) overlap in the sense of this module.

    Examples
    --------
    >>> strata_overlap({"age": ">=75", "emph": "severe"}, {"emph": "severe"})  # one contains the other
    True
    >>> strata_overlap({"age": ">=75", "emph": "severe"}, {"age": ">=75", "sex": "F"})  # agree on age
    True
    >>> strata_overlap({"age": ">=75", "sex": "M"}, {"age": ">=75", "sex": "F"})  # disjoint cells
    False
    >>> strata_overlap({"age": ">=75"}, {"emph": "severe"}), strata_overlap({}, {"emph": "severe"})
    (False, True)
    """
    shared = a.keys() & b.keys()
    if any(a[k] != b[k] for k in shared):
        return False
    return bool(shared) or a.keys() <= b.keys() or b.keys() <= a.keys()


def specificity_order(finding: Shortfall) -> tuple[int, float, int, str]:
    """Sort key, most specific first: most attributes, largest shortfall, fewest cases, stratum key.

    Examples
    --------
    >>> cell = Shortfall("f1", "2.1.0", "sensitivity", "a=1|b=2", {"a": "1", "b": "2"}, 0.80, 0.85, 300)
    >>> specificity_order(cell)
    (-2, -0.04999999999999993, 300, 'a=1|b=2')
    """
    shortfall = finding.shortfall
    return (-len(finding.attributes), -shortfall if shortfall is not None else math.inf, finding.trials,
            finding.stratum)


def group_findings(findings: Iterable[Shortfall]) -> list[FindingGroup]:
    """Group shortfall findings of the same model version and metric whose strata overlap.

    Returns the groups ordered by model version, metric and their primary's specificity; every finding
    appears in exactly one group.

    Raises
    ------
    ValueError
        Two findings with the same ``finding_id``, or two of the same model version, metric and stratum.

    Examples
    --------
    >>> def f(i, attrs, upper, n):
    ...     key = "|".join(f"{k}={v}" for k, v in attrs.items()) or "overall"
    ...     return Shortfall(f"f{i}", "2.1.0", "sensitivity", key, attrs, upper, 0.85, n)
    >>> groups = group_findings([f(1, {"emph": "severe"}, 0.83, 900),
    ...                          f(2, {"age": ">=75", "emph": "severe"}, 0.78, 300),
    ...                          f(3, {"age": ">=75", "sex": "F"}, 0.82, 500),
    ...                          f(4, {"age": "<45", "sex": "M"}, 0.80, 200)])
    >>> [(g.primary.finding_id, [r.finding_id for r in g.related]) for g in groups]
    [('f2', ['f3', 'f1']), ('f4', [])]
    """
    items = list(findings)
    if len({f.finding_id for f in items}) != len(items):
        raise ValueError("findings must have distinct finding ids")
    if len({(f.model_version, f.metric, f.stratum) for f in items}) != len(items):
        raise ValueError("a model version, metric and stratum can have one finding per run")
    groups: list[FindingGroup] = []
    by_kind: dict[tuple[str, str], list[Shortfall]] = {}
    for finding in items:
        by_kind.setdefault((finding.model_version, finding.metric), []).append(finding)
    for key in sorted(by_kind):
        pending = sorted(by_kind[key], key=specificity_order)
        while pending:
            primary, *rest = pending
            related = tuple(f for f in rest if strata_overlap(primary.attributes, f.attributes))
            groups.append(FindingGroup(primary, related))
            pending = [f for f in rest if f not in related]
    return groups
