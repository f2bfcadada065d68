"""Lesion-level detection: which AI finding hits which reference lesion (issue 17 item 2).

The rule is the device's (:class:`monitor.domain.device_kinds.LesionMatching`):

* ``centre_within_reference``: a finding hits a reference lesion when the finding's centre lies within the
  lesion, taken as the sphere of its reference diameter: ``distance(centres) <= diameter / 2`` (the LIDC / LUNA16
  hit criterion; Setio et al., Med Image Anal 2017;42:1-13, section 3.1);
* ``centre_distance``: when ``distance(centres) <= max_distance_mm``.

Matching is **one-to-one and greedy by score** within a scan: the findings are taken from the highest score down
(ties by lesion id); each takes, among the reference lesions it hits that no earlier finding took, the nearest
(ties by lesion id). A matched finding is a true positive (TP) and its lesion is detected at the finding's score;
an unmatched finding is a false positive (FP), including a second finding on an already detected lesion (stricter
than LUNA16, which ignores such duplicates); an unmatched reference lesion is a false negative (FN).

Because the greedy order is by score, the matches of the findings at or above any threshold ``t`` do not depend on
the findings below it: one matching of all findings gives the TP / FP / FN counts at every threshold, and so the
whole FROC curve (:mod:`monitor.stats.froc`).

Examples
--------
Two findings near one lesion of diameter 10 mm: the higher-scored one is the hit, the other a false positive.

>>> from monitor.domain.device_kinds import LesionMatching
>>> findings = [Finding("f1", (0, 0, 0), 0.9), Finding("f2", (1, 0, 0), 0.8), Finding("f3", (40, 0, 0), 0.7)]
>>> lesions = [ReferenceLesion("L1", (2, 0, 0), 10.0), ReferenceLesion("L2", (0, 30, 0), 6.0)]
>>> match_scan(findings, lesions, LesionMatching())
{'f1': 'L1', 'f2': None, 'f3': None}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.domain.device_kinds import LesionMatching

__all__ = ["Finding", "ReferenceLesion", "distance_mm", "hits", "match_scan"]

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Finding:
    """One AI finding of a scan: its lesion id (tracking UID), centre in mm (patient coordinates) and score."""

    lesion_id: str
    centre: Point
    score: float


@dataclass(frozen=True)
class ReferenceLesion:
    """One reference lesion of a scan: its id, centre in mm and diameter in mm (``None`` if not measured)."""

    lesion_id: str
    centre: Point
    diameter_mm: float | None


def distance_mm(a: Point, b: Point) -> float:
    """Euclidean distance between two centres (mm)."""
    return math.dist(a, b)


def hits(finding: Finding, lesion: ReferenceLesion, rule: LesionMatching) -> bool:
    """Whether ``finding`` hits ``lesion`` under ``rule`` (a lesion without a diameter is never hit by
    ``centre_within_reference``; ingestion requires the diameter for devices with that rule)."""
    distance = distance_mm(finding.centre, lesion.centre)
    if rule.rule == "centre_distance":
        assert rule.max_distance_mm is not None
        return distance <= rule.max_distance_mm
    return lesion.diameter_mm is not None and distance <= lesion.diameter_mm / 2


def match_scan(findings: Sequence[Finding], lesions: Sequence[ReferenceLesion],
               rule: LesionMatching) -> dict[str, str | None]:
    """The reference lesion each finding of one scan is matched to (``None``: a false positive), greedy by score.

    Returns the findings' lesion ids in matching order (highest score first) mapped to the matched reference
    lesion's id.
    """
    taken: set[str] = set()
    matched: dict[str, str | None] = {}
    for finding in sorted(findings, key=lambda f: (-f.score, f.lesion_id)):
        candidates = [(distance_mm(finding.centre, lesion.centre), lesion.lesion_id) for lesion in lesions
                      if lesion.lesion_id not in taken and hits(finding, lesion, rule)]
        best = min(candidates)[1] if candidates else None
        if best is not None:
            taken.add(best)
        matched[finding.lesion_id] = best
    return matched
