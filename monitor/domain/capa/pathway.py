"""The regulatory pathway of a proposed modification, decided by a rule fixed before the data are seen.

The rule (docs/tickets.md, "Regulatory pathway"), per jurisdiction:

* **NMPA** (深度学习辅助决策医疗器械软件审评要点 2019, kept by the 2022 AI guideline; regulatory.md 1.1):
  an *algorithm change* (algorithm, structure, inputs or outputs, or retraining that discards the old data) is
  a major update: 变更注册 (``change_registration``). A *data-driven retrain* or a *threshold recalibration* is
  major when its performance "与前次注册所批准的算法性能评估结果相比存在统计学显著差异": the two-sided exact
  binomial test of H0: metric = registered value, on the comparison's counts, rejects at ``alpha``
  (the device's ``monitoring.alpha``); otherwise it is a minor change controlled in the QMS
  (``minor_change_qms``).
* **FDA**: the change is ``within_pccp`` when the device's authorised PCCP lists a modification of the same
  type (its id is recorded; FDA PCCP final guidance, Dec 2024, regulatory.md 1.2); otherwise
  ``submission_assessment`` (a new-submission decision per the FDA software-change guidance is needed).
* **EU MDR** (MDCG 2020-3 [R], regulatory.md 1.3): an algorithm change is a ``significant_change``; a retrain or
  recalibration is significant when the NMPA test above is significant (the same pre-specified comparison),
  else ``not_significant``.

The comparison is the trigger's counts (the deployed model against its registered value) until a validation
analysis of the modified model exists; then it is that model's counts in the same stratum and metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import binomtest

__all__ = ["ModificationType", "PathwayComparison", "PathwayDecision", "PccpModification", "RULE_TEXT",
           "decide_pathway", "significant_difference"]

ModificationType = Literal["threshold_recalibration", "data_driven_retrain", "algorithm_change"]

RULE_TEXT = (
    "NMPA: algorithm change -> 变更注册; data-driven retrain or threshold recalibration -> 变更注册 when the two-sided "
    "exact binomial test of H0: metric = registered value rejects at alpha, else minor change (QMS) "
    "(深度学习辅助决策医疗器械软件审评要点 2019; regulatory.md 1.1). FDA: within the PCCP when the device's PCCP "
    "lists the modification type (its id), else a submission assessment (PCCP final guidance 2024; regulatory.md "
    "1.2). EU MDR: algorithm change -> significant change; otherwise significant when the NMPA test is "
    "(MDCG 2020-3 [R]; regulatory.md 1.3)."
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PccpModification(_Frozen):
    """One modification an authorised PCCP covers (device configuration, when it declares a PCCP)."""

    id: str = Field(min_length=1, description="Modification id in the PCCP's modification protocol.")
    modification_type: ModificationType = Field(description="The kind of change it covers.")


class PathwayComparison(_Frozen):
    """The counts the pre-specified significance test compares with the registered value."""

    source: Literal["trigger", "validation_run"] = Field(
        description="trigger: the deployed model's counts of the trigger evidence; validation_run: the modified "
                    "model's counts in the run named by run_id.")
    run_id: str = Field(description="The analysis run the counts come from.")
    model_version: str = Field(description="The model version the counts are of.")
    successes: int = Field(ge=0, description="Successes (true positives for sensitivity).")
    trials: int = Field(ge=1, description="Trials (confirmed positives for sensitivity).")
    registered_value: float = Field(ge=0, le=1, description="The registered (claimed) value of the metric.")
    alpha: float = Field(gt=0, lt=1, description="Significance level (the device's monitoring.alpha).")
    p_value: float = Field(ge=0, le=1, description="Two-sided exact binomial p-value of H0: metric = registered value.")


class PathwayDecision(_Frozen):
    """What the rule decided, with the comparison it used and the rule in words."""

    modification_type: ModificationType = Field(description="The proposed modification's type.")
    nmpa: Literal["minor_change_qms", "change_registration"] = Field(
        description="NMPA: minor change controlled in the QMS, or 变更注册 (change registration).")
    fda: Literal["within_pccp", "submission_assessment"] = Field(
        description="FDA: covered by the authorised PCCP, or a new-submission assessment is needed.")
    pccp_modification_id: str | None = Field(description="The PCCP modification id that covers it, if any.")
    eu: Literal["significant_change", "not_significant"] = Field(description="EU MDR significant change or not.")
    significant: bool = Field(description="Whether the pre-specified test rejected H0: metric = registered value.")
    comparison: PathwayComparison = Field(description="The counts and test the decision rests on.")
    rule: str = Field(description="The pre-specified rule, in words, with its references.")


def significant_difference(successes: int, trials: int, registered_value: float, alpha: float) -> tuple[bool, float]:
    """Two-sided exact binomial test of H0: p = ``registered_value``: (rejected at ``alpha``, p-value)."""
    p_value = float(binomtest(successes, trials, registered_value, alternative="two-sided").pvalue)
    return p_value < alpha, p_value


def decide_pathway(modification_type: ModificationType, *, source: Literal["trigger", "validation_run"],
                   run_id: str, model_version: str, successes: int, trials: int, registered_value: float,
                   alpha: float, pccp: Sequence[PccpModification] = ()) -> PathwayDecision:
    """Apply the pre-specified rule (module docstring) to one comparison."""
    significant, p_value = significant_difference(successes, trials, registered_value, alpha)
    major = modification_type == "algorithm_change" or significant
    covered = next((m.id for m in pccp if m.modification_type == modification_type), None)
    return PathwayDecision(
        modification_type=modification_type,
        nmpa="change_registration" if major else "minor_change_qms",
        fda="within_pccp" if covered else "submission_assessment",
        pccp_modification_id=covered,
        eu="significant_change" if major else "not_significant",
        significant=significant,
        comparison=PathwayComparison(source=source, run_id=run_id, model_version=model_version, successes=successes,
                                     trials=trials, registered_value=registered_value, alpha=alpha, p_value=p_value),
        rule=RULE_TEXT,
    )
