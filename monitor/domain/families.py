"""The decision families, enumerated from the device configuration (never from the data).

Per model version, every stratum-metric the configuration pre-specifies with a claim belongs to one of two
families:

* **confirmatory** (Holm at ``monitoring.alpha``, family-wise error rate): the overall population, the
  single strata of the ``strata.confirmatory`` attributes and the ``strata.confirmatory_intersections``
  (pairs or triples), each with every metric that has a claim there;
* **exploratory** (Benjamini-Hochberg at ``monitoring.fdr``, false discovery rate): every other monitored
  stratum (single strata of the other attributes, every monitored intersection: pairs and triples) with a
  claim.

Three-way intersections (a triple listed in ``strata.intersections``) join the same two families as pairs: a
triple stratum is confirmatory only when it is listed in ``strata.confirmatory_intersections``, otherwise it
is exploratory (BH). Every triple enlarges its family by the product of its attributes' enumerated labels
(times the claimed metrics), so the configuration, not the data, fixes the family sizes; a triple's strata are
small, so their minimal detectable drop is larger than a pair's.

The strata are the labels the configuration enumerates (:meth:`AttributeSpec.labels`): the bins of a
numeric attribute and the declared ``values`` of a categorical one. A stratum whose label the
configuration does not enumerate (``unknown`` for a missing value, a category outside ``values``, every
category of an attribute declared without ``values``) is in no family: it is reported, but it decides
nothing, so that the families (and every adjusted p-value) do not move with what the data happen to
contain. A family member that cannot be tested in a period enters its family with p = 1.

Example: the lung-nodule example (4 age bands and 2 sexes confirmatory, 4 emphysema grades and 4 vendors,
all 6 pairs, one confirmatory intersection, claims on sensitivity and specificity) has 8 confirmatory
strata (16 tests) and 4 + 4 + 71 = 79 exploratory strata (158 tests) per model version. Adding the triple
``[age_band, sex, emphysema_grade]`` (4 x 2 x 4 = 32 strata) adds 32 exploratory strata (64 tests); listing
``{age_band: '>=75', sex: F, emphysema_grade: severe}`` in ``confirmatory_intersections`` moves that one triple
stratum to the confirmatory family (2 tests) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Literal

from monitor.domain.device import DeviceConfig
from monitor.stats.metrics import METRIC_NAMES
from monitor.domain.strata import StratumDefinition

__all__ = ["FAMILY_NAMES", "Family", "FamilyName", "decision_families", "enumerated_strata", "family_of"]

FamilyName = Literal["confirmatory", "exploratory"]
FAMILY_NAMES: tuple[FamilyName, ...] = ("confirmatory", "exploratory")


@dataclass(frozen=True)
class Family:
    """One pre-specified family of (stratum key, metric) hypotheses and how it is controlled."""

    name: FamilyName
    method: Literal["holm", "bh"]
    level: float
    members: frozenset[tuple[str, str]]

    @property
    def size(self) -> int:
        """Number of stratum-metrics in the family (fixed by the configuration)."""
        return len(self.members)

    @property
    def first_step_level(self) -> float:
        """The level at which a single shortfall among true nulls is rejected: ``level / size`` (Holm's first
        step; BH's threshold for its smallest p-value). The power figures use it."""
        return self.level / max(self.size, 1)

    def as_dict(self) -> dict[str, object]:
        """Plain-data form for the analysis document."""
        return {"size": self.size, "method": self.method, "level": self.level,
                "error_rate": "FWER" if self.method == "holm" else "FDR"}


def enumerated_strata(config: DeviceConfig) -> list[StratumDefinition]:
    """Every stratum the configuration pre-specifies: overall, each enumerated label of each attribute, and
    each combination of enumerated labels of every monitored intersection (pair or triple), in report order."""
    labels = {a.name: a.labels() for a in config.strata.attributes}
    strata = [StratumDefinition.of({})]
    strata += [StratumDefinition.of({name: label}) for name, values in labels.items() for label in values]
    for grouping in config.strata.monitored_intersections():
        strata += [StratumDefinition.of(dict(zip(grouping, combination, strict=True)))
                   for combination in product(*(labels[name] for name in grouping))]
    return strata


def _is_confirmatory(stratum: StratumDefinition, config: DeviceConfig) -> bool:
    if stratum.level == 0:
        return True
    if stratum.level == 1:
        return stratum.attributes[0] in config.strata.confirmatory
    return any(StratumDefinition.of(where) == stratum for where in config.strata.confirmatory_intersections)


def decision_families(config: DeviceConfig) -> dict[FamilyName, Family]:
    """The confirmatory and exploratory families of one model version (identical for every model version)."""
    members: dict[FamilyName, set[tuple[str, str]]] = {"confirmatory": set(), "exploratory": set()}
    for stratum in enumerated_strata(config):
        name: FamilyName = "confirmatory" if _is_confirmatory(stratum, config) else "exploratory"
        for metric in METRIC_NAMES:
            if config.claims.claim_for(metric, stratum) is not None:  # type: ignore[arg-type]
                members[name].add((stratum.key, metric))
    rules = config.monitoring
    return {"confirmatory": Family("confirmatory", "holm", float(rules.alpha), frozenset(members["confirmatory"])),
            "exploratory": Family("exploratory", "bh", float(rules.fdr), frozenset(members["exploratory"]))}


def family_of(families: dict[FamilyName, Family], stratum_key: str, metric: str) -> Family | None:
    """The family a stratum-metric belongs to, or ``None`` (no claim, or a label outside the enumeration)."""
    for family in families.values():
        if (stratum_key, metric) in family.members:
            return family
    return None
