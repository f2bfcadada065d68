"""Device configuration for the deployments beyond one binary call (issue 17): ordered outputs, review
triggers, a comparator, lesion-level detection, and claims on any metric.

Each part is optional in :class:`monitor.domain.device.DeviceConfig`; a configuration without it behaves as
before and keeps its configuration hash (the fields enter the hash only when set).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAXIMUM_METRICS",
    "MINIMUM_METRICS",
    "ClaimableMetric",
    "Comparator",
    "LesionMatching",
    "MetricClaim",
    "OutputLevel",
    "Outputs",
    "ReviewTriggers",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputLevel(_Strict):
    """One level of an ordered (ordinal) output, e.g. ``refer_now``."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$", description="Level name as logs and reports give it.")
    name_zh: str | None = Field(default=None, description="Level name in Chinese, for zh-CN reports.")


class Outputs(_Strict):
    """What one AI result is: one binary call (default) or one of several ordered levels.

    For an ``ordinal`` device the logs give ``predicted_label`` (and the ground-truth ``label``, the reference
    grade) as the level's name or its index in ``levels`` (0 = the lowest); the stored binary call is
    ``level >= positive_from`` (so sensitivity, specificity and every section beside them read the primary cut),
    and the level itself is kept (``predicted_level``, ``label_level``) for the ordinal section: metrics at every
    cut between levels, the per-level confusion matrix, weighted kappa and the false-negative rate of the lowest
    level.
    """

    type: Literal["binary", "ordinal"] = Field(default="binary", description="'binary' or 'ordinal'.")
    levels: list[OutputLevel] = Field(default_factory=list, description=(
        "Ordinal only: the levels from the lowest (e.g. low_risk) to the highest (e.g. refer_now), at least 3."))
    positive_from: str | None = Field(default=None, description=(
        "Ordinal only: the lowest level whose call counts as positive for the binary metrics (default: the "
        "second level, so that every call above the lowest level is positive)."))
    kappa_weights: Literal["linear", "quadratic"] = Field(
        default="quadratic", description="Weights of the weighted kappa against the reference grade (Cohen 1968).")

    @model_validator(mode="after")
    def _levels_fit_type(self) -> Outputs:
        names = [level.name for level in self.levels]
        if self.type == "binary":
            if self.levels or self.positive_from is not None:
                raise ValueError("levels and positive_from apply to type 'ordinal' only")
            return self
        if len(names) < 3:
            raise ValueError("an ordinal output needs at least 3 levels (2 levels: use type 'binary')")
        if len(set(names)) != len(names):
            raise ValueError(f"level names must be unique, got {names}")
        if self.positive_from is not None and self.positive_from not in names:
            raise ValueError(f"positive_from {self.positive_from!r} is not one of the levels {names}")
        if self.positive_from == names[0]:
            raise ValueError("positive_from cannot be the lowest level (every call would be positive)")
        return self

    def positive_index(self) -> int:
        """Index of the lowest positive level (ordinal), 1 for binary."""
        if self.type == "binary":
            return 1
        names = [level.name for level in self.levels]
        return names.index(self.positive_from) if self.positive_from is not None else 1

    def level_names(self) -> list[str]:
        """The level names, lowest first (``['0', '1']`` for binary)."""
        return [level.name for level in self.levels] if self.type == "ordinal" else ["0", "1"]


class ReviewTriggers(_Strict):
    """Which AI results must go to secondary review (the review worklist); any trigger that fires sends the case."""

    volume_disagreement: float | None = Field(default=None, gt=0, lt=1, description=(
        "Relative tolerance of the AI volume against the reviewed volume, e.g. 0.15: a case whose "
        "|AI - reviewed| > tolerance x reviewed goes to review."))
    reader_disagreement: bool = Field(default=False, description="The AI call differs from the reader's (human_label).")
    low_confidence: bool = Field(default=False, description="The AI flagged the result as low confidence.")
    failure: bool = Field(default=False, description="The AI returned no result (result_status failed / no_result).")

    @model_validator(mode="after")
    def _one_trigger(self) -> ReviewTriggers:
        if self.volume_disagreement is None and not (self.reader_disagreement or self.low_confidence or self.failure):
            raise ValueError("declare at least one review trigger")
        return self


class Comparator(_Strict):
    """A reference reader or guideline score logged beside the AI on the same studies (``comparator_score``,
    ``comparator_label``): compared with paired methods, never a model version, never claimed or ticketed."""

    name: str = Field(min_length=1, description="What the comparator is, e.g. 'Lung-RADS v2022' or 'radiologist read'.")
    name_zh: str | None = Field(default=None, description="The name in Chinese.")
    kind: Literal["guideline", "reader"] = Field(description="'guideline' (a score such as Lung-RADS) or 'reader'.")
    positive_from: float | None = Field(default=None, description=(
        "Comparator score at or above which its call is positive, when comparator_label is not logged "
        "(e.g. 4 for Lung-RADS 4A and above)."))


class LesionMatching(_Strict):
    """Lesion-level detection: how an AI finding is matched to a reference lesion, and the FROC figures."""

    rule: Literal["centre_within_reference", "centre_distance"] = Field(default="centre_within_reference", description=(
        "'centre_within_reference': a finding hits a reference lesion when its centre lies within the reference "
        "lesion (distance between centres <= the reference diameter / 2); 'centre_distance': when the distance "
        "between centres is at most max_distance_mm."))
    max_distance_mm: float | None = Field(default=None, gt=0, description="Distance limit of 'centre_distance'.")
    operating_threshold: float | None = Field(default=None, ge=0, le=1, description=(
        "Finding score at or above which a finding is reported (default: the device's operating_threshold)."))
    fp_per_scan_points: list[float] = Field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], description=(
        "False positives per scan at which the FROC sensitivity is reported (and averaged as the CPM figure)."))
    bootstrap_replicates: int = Field(default=1000, ge=100, le=100_000, description=(
        "Bootstrap replicates (resampling patients) for the lesion-level intervals."))
    seed: int = Field(default=20250101, description="Seed of the bootstrap (reproducible intervals).")

    @model_validator(mode="after")
    def _distance_given(self) -> LesionMatching:
        if self.rule == "centre_distance" and self.max_distance_mm is None:
            raise ValueError("rule 'centre_distance' needs max_distance_mm")
        return self


#: Metrics a device may claim beyond sensitivity, specificity, PPV and NPV, and which way each must go.
ClaimableMetric = Literal[
    "accuracy", "auc", "kappa", "weighted_kappa", "ppa", "npa", "overall_agreement", "within_sla",
    "lowest_level_fnr", "low_confidence_rate", "review_rate", "lesion_sensitivity", "fp_per_scan",
]
MINIMUM_METRICS = frozenset({"accuracy", "auc", "kappa", "weighted_kappa", "ppa", "npa", "overall_agreement",
                             "within_sla", "lesion_sensitivity"})
MAXIMUM_METRICS = frozenset({"lowest_level_fnr", "low_confidence_rate", "review_rate", "fp_per_scan"})


class MetricClaim(_Strict):
    """A registered value of any metric (beyond sensitivity / specificity / PPV / NPV), overall or in one stratum.

    A metric that must stay high (accuracy, AUC, agreement, ...) is claimed with ``minimum``: the performance
    goal is minimum - margin and a shortfall below it is flagged. A rate that must stay low (false-negative rate
    of the lowest level, low-confidence rate, review rate, false positives per scan) is claimed with
    ``maximum``: the goal is maximum + margin and an excess above it is flagged.
    """

    metric: ClaimableMetric = Field(description="The claimed metric.")
    minimum: float | None = Field(default=None, description="Claimed value of a metric that must stay high.")
    maximum: float | None = Field(default=None, description="Claimed maximum of a rate that must stay low.")
    margin: float = Field(default=0.0, ge=0, description="Clinically relevant distance from the claim.")
    where: dict[str, str] = Field(default_factory=dict, description=(
        "Attribute name -> stratum label the claim applies to (and every intersection inside it); empty: "
        "overall and every stratum without a more specific claim."))

    @model_validator(mode="after")
    def _direction(self) -> MetricClaim:
        if self.metric in MINIMUM_METRICS:
            if self.minimum is None or self.maximum is not None:
                raise ValueError(f"{self.metric} must stay high: give minimum (not maximum)")
            value = self.minimum
        else:
            if self.maximum is None or self.minimum is not None:
                raise ValueError(f"{self.metric} must stay low: give maximum (not minimum)")
            value = self.maximum
        if self.metric != "fp_per_scan" and not 0 <= value <= 1:
            raise ValueError(f"{self.metric} is a proportion: its claimed value must be within 0..1")
        if self.metric in ("kappa", "weighted_kappa") and not -1 <= value <= 1:
            raise ValueError("kappa must be within -1..1")
        if value < 0:
            raise ValueError("the claimed value cannot be negative")
        return self

    @property
    def direction(self) -> Literal["minimum", "maximum"]:
        """'minimum' (shortfall is flagged) or 'maximum' (excess is flagged)."""
        return "minimum" if self.metric in MINIMUM_METRICS else "maximum"

    @property
    def value(self) -> float:
        """The claimed value (minimum or maximum)."""
        return self.minimum if self.minimum is not None else self.maximum  # type: ignore[return-value]

    @property
    def goal(self) -> float:
        """The performance goal: minimum - margin, or maximum + margin."""
        return self.value - self.margin if self.direction == "minimum" else self.value + self.margin
