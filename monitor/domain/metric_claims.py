"""Claims on any metric (issue 17 item 5): the evidence each device-kind section gives for a stratum and metric,
and the pre-specified decision of every claim of ``claims.metrics``.

A section (ordinal outputs, low-confidence flags, review triggers, agreement with the reader, lesions, ...)
measures its metrics per model version and stratum and hands them over as :class:`MetricEvidence`:

* a **proportion** (accuracy, agreement, a false-negative or flag rate, lesion sensitivity, share within the SLA)
  as ``events`` of ``trials``: decided by the exact one-sided binomial tests of the proportions
  (:func:`monitor.stats.binomial_tests.goal_tests`), as sensitivity and specificity are;
* an **estimate** with its standard error (AUC with DeLong's, kappa with Fleiss-Cohen-Everitt's, false
  positives per scan with the patient bootstrap's): decided by the one-sided Wald z-test against the goal.

:func:`decide_metric_claims` decides each claimed (model version, stratum, metric) with the goal of its claim
(:meth:`monitor.domain.device.Claims.metric_claim_for`) and the families of the proportions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.domain.strata import StratumDefinition

__all__ = ["MetricEvidence"]


@dataclass(frozen=True)
class MetricEvidence:
    """What a section measured of one metric in one stratum of one model version.

    ``kind`` ``proportion``: ``events`` of ``trials`` (the estimate is their ratio); ``estimate``: ``estimate``
    and ``standard_error`` (``trials`` is then the number of cases it rests on, for the report). ``source`` names
    the section that measured it (its key in the analysis document).
    """

    metric: str
    model_version: str
    stratum: StratumDefinition
    kind: Literal["proportion", "estimate"]
    source: str
    events: int | None = None
    trials: int | None = None
    estimate: float | None = None
    standard_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
