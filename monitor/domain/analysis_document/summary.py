"""The run's headline numbers: strata, tests, findings and the outcome counts of the decision rule."""

from __future__ import annotations

from pydantic import Field

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.identity import DecisionFamilies
from monitor.domain.analysis_document.values import Count

__all__ = ["OutcomeCounts", "Summary"]


class OutcomeCounts(Part):
    """Number of results per outcome (and how many tested ones are provisional)."""

    flagged: Count = Field(description="Shortfall shown.")
    conforming: Count = Field(description="Conformity shown.")
    inconclusive: Count = Field(description="Neither shown.")
    insufficient: Count = Field(description="Below the minimum count.")
    not_tested: Count = Field(description="No claim, or outside the families.")
    provisional: Count = Field(description="Tested results decided on provisional evidence.")


class Summary(Part):
    """Headline numbers of the run."""

    strata: Count = Field(description="Number of distinct (model version, stratum) pairs in counts.")
    tests: Count = Field(description="Number of results the rule tested (status flagged, conforming or inconclusive).")
    flagged: Count = Field(description=(
        "Number of findings (results with a shortfall shown on evidence that is not provisional)."))
    insufficient: Count = Field(description="Number of results with status insufficient.")
    families: DecisionFamilies = Field(description=(
        "The decision families of each model version (keyed by model version), fixed by the configuration "
        "(monitor.domain.families)."))
    outcomes: OutcomeCounts = Field(description=(
        "Number of results per outcome (and how many tested ones are provisional)."))
