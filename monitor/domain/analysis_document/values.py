"""The value types of the analysis document: identifiers, timestamps, counts, probabilities and the stratum
vocabulary, each an ``Annotated`` type carrying its JSON Schema.

Numbers keep the JSON type the producer wrote: a ``number`` field accepts an int or a float and returns it
unchanged (``1`` stays ``1``, ``1.0`` stays ``1.0``), so that a document validated and dumped again is the same
JSON text, byte for byte (stored documents are hashed). Booleans and numeric strings are refused, as JSON
Schema refuses them.

:data:`SHARED` names the types other schemas refer to as ``analysis.schema.json#/$defs/<name>``
(tickets, report, site summaries, lake analyses): ``schemas/generate.py`` writes them under these names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, GetCoreSchemaHandler, StrictInt, StrictStr, WithJsonSchema
from pydantic_core import core_schema

__all__ = [
    "SHARED", "TIMESTAMP_UTC_PATTERN", "AboveOne", "AtLeastOne", "AttributeName", "CiHigh", "CiLow", "Claim", "Count",
    "Date", "Estimate", "Level", "Margin", "Metric", "MinimalDetectableDrop", "ModelVersion", "NonNegative",
    "NonPositive", "Number", "OpenUnit", "PValue", "PerformanceGoal", "PeriodLabel", "Positive", "PositiveCount",
    "PositiveUnit", "Probability", "ProbabilityOrNull", "QValue", "Sha256", "SignedUnit", "StratumAttributes",
    "StratumKey", "Successes", "Text", "TicketId", "TimestampUtc", "TimestampUtcOffset", "TimestampZ", "Trials", "Uuid",
    "number",
]

_BOUND_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


class _JsonNumber:
    """A JSON number within bounds: a strict int or a strict float, returned as given. The bounds are checked by
    pydantic-core itself (a ``Field`` bound on a union would be a Python call per value)."""

    def __init__(self, bounds: dict[str, float]) -> None:
        self.bounds = bounds

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.union_schema([core_schema.int_schema(strict=True, **self.bounds),  # type: ignore[arg-type]
                                         core_schema.float_schema(strict=True, **self.bounds)])


def number(description: str | None = None, **bounds: float) -> Any:
    """A JSON number within ``bounds`` (``ge``, ``le``, ``gt``, ``lt``), int or float as written."""
    schema: dict[str, Any] = {"type": "number", **{_BOUND_KEYWORDS[k]: v for k, v in bounds.items()}}
    if description:
        schema["description"] = description
    return Annotated[float, _JsonNumber(bounds), WithJsonSchema(schema)]


def _string(description: str, *, pattern: str | None = None, min_length: int | None = None,
            fmt: str | None = None) -> Any:
    extra = {"format": fmt} if fmt else None
    return Annotated[StrictStr, Field(description=description, pattern=pattern, min_length=min_length,
                                      json_schema_extra=extra)]


def _nullable(kind: Any, description: str) -> Any:
    return Annotated[kind | None, Field(description=description)]


# --- numbers (the bounds the document uses)
Number = number()
NonNegative = number(ge=0)
Positive = number(gt=0)
AtLeastOne = number(ge=1)
AboveOne = number(gt=1)
NonPositive = number(le=0)
SignedUnit = number(ge=-1, le=1)
OpenUnit = number(gt=0, lt=1)
PositiveUnit = number(gt=0, le=1)
Probability = number("A number from 0 to 1.", ge=0, le=1)
ProbabilityOrNull = _nullable(Probability, "A number from 0 to 1, or null when it cannot be estimated "
                                           "(the code writes null for NaN).")

# --- counts
Count = Annotated[StrictInt, Field(ge=0, description="A count.")]
PositiveCount = Annotated[StrictInt, Field(ge=1)]

# --- text
Text = Annotated[StrictStr, Field(min_length=1)]

# --- identifiers and time
TIMESTAMP_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
Uuid = _string("A UUID in its canonical lower-case text form.",
               pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", fmt="uuid")
TimestampUtc = _string("A UTC instant in ISO-8601 / RFC 3339 form with a Z suffix, e.g. 2026-02-01T08:00:01Z "
                       "(fractional seconds when not zero).", pattern=TIMESTAMP_UTC_PATTERN, fmt="date-time")
TimestampZ = _string("A UTC instant in ISO-8601 / RFC 3339 form ending in Z.", pattern="Z$", fmt="date-time")
TimestampUtcOffset = _string(
    "A UTC instant in ISO-8601 / RFC 3339 form with a +00:00 offset (Python isoformat), e.g. "
    "2025-03-31T16:00:00+00:00; a Z suffix is accepted too.",
    pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$", fmt="date-time")
Date = _string("A calendar date, YYYY-MM-DD.", pattern=r"^\d{4}-\d{2}-\d{2}$", fmt="date")
Sha256 = _string("A SHA-256 digest in lower-case hex.", pattern="^[0-9a-f]{64}$")
TicketId = _string("A retraining ticket id: RT- and a zero-padded sequence number.", pattern=r"^RT-\d{6,}$")
PeriodLabel = _string(
    "Canonical period label: a quarter (2025Q3), a month (2025-07), a year (2025) or an explicit window "
    "(2025-07-01..2025-09-30, both days included).",
    pattern=r"^(\d{4}Q[1-4]|\d{4}-(0[1-9]|1[0-2])|\d{4}|\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2})$")

# --- the stratum vocabulary
ModelVersion = _string("A model version (model_version of the prediction log).", min_length=1)
_ATTRIBUTE_PATTERN = "^[a-z][a-z0-9_]{0,39}$"
AttributeName = _string("A stratification attribute name (strata.attributes[].name of the configuration).",
                        pattern=_ATTRIBUTE_PATTERN)
Metric = Annotated[Literal["sensitivity", "specificity", "ppv", "npv"], Field(
    description="The metric: sensitivity = tp/(tp+fn), specificity = tn/(tn+fp), ppv = tp/(tp+fp), npv = tn/(tn+fn).")]
StratumKey = _string(
    "Canonical stratum key: overall for the whole population, attribute=label for a single stratum, attribute=label "
    "& attribute=label (attributes sorted by name) for an intersection; e.g. age_band=>=75 & emphysema_grade=severe. "
    "Missing attribute values have the label unknown.", pattern=r"^(overall|[a-z][a-z0-9_]{0,39}=.*)$")
Level = Annotated[Literal[0, 1, 2, 3], Field(
    description="Stratum level: 0 overall, 1 single attribute, 2 pairwise intersection, 3 three-way intersection.")]
_ATTRIBUTES_DESCRIPTION = "The stratum's assignments as attribute name -> label; empty for overall."
StratumAttributes = Annotated[
    dict[Annotated[StrictStr, Field(pattern=_ATTRIBUTE_PATTERN)], StrictStr],
    Field(max_length=3),
    WithJsonSchema({"description": _ATTRIBUTES_DESCRIPTION, "type": "object",
                    "propertyNames": {"pattern": _ATTRIBUTE_PATTERN}, "additionalProperties": {"type": "string"},
                    "maxProperties": 3}),
]

# --- the statistics of a stratum-metric (shared by results, findings and ticket evidence)
Successes = Annotated[Count, Field(
    description="Numerator of the metric: tp for sensitivity and ppv, tn for specificity and npv.")]
Trials = Annotated[Count, Field(
    description="Denominator of the metric: tp+fn (reference positives) for sensitivity, tn+fp (reference negatives) "
                "for specificity, tp+fp (positive calls) for ppv, tn+fn (negative calls) for npv.")]
Estimate = _nullable(Probability, "Point estimate successes/trials; null when trials is 0.")
CiLow = _nullable(Probability, "Lower limit of the two-sided interval at rules.confidence by rules.interval_method; "
                               "null when trials is 0.")
CiHigh = _nullable(Probability, "Upper limit of the two-sided interval at rules.confidence by rules.interval_method; "
                                "null when trials is 0.")
Claim = _nullable(Probability, "Claimed value of the metric for this stratum: the most specific claims.strata entry "
                               "containing the stratum (ties: the lower value), else the overall claim; null when the "
                               "metric has no claim.")
Margin = _nullable(Probability, "Clinically relevant drop below the claim that goes with it; null when there is no "
                                "claim.")
PerformanceGoal = _nullable(SignedUnit, "claim - margin: an estimate below it (with a significant q-value) is "
                                        "flagged; null when there is no claim. Negative only if a margin exceeds its "
                                        "claim.")
PValue = _nullable(Probability, "Exact one-sided binomial p-value of H0: metric >= claim on the evidence (the NMPA "
                                "'difference from the registered value' test): reported, not deciding; null when not "
                                "tested (no claim, or too few trials). 0.0 when below the float range: log10_p_value "
                                "keeps it.")
QValue = _nullable(Probability, "The shortfall p-value (p_shortfall) adjusted within its family: Holm-adjusted for "
                                "the confirmatory family, Benjamini-Hochberg for the exploratory family, over the "
                                "family's fixed size (members not tested this period count as p = 1); the result is "
                                "flagged when it is at most family_level. Null when not tested.")
MinimalDetectableDrop = _nullable(
    Probability, "Drop below the claim at which the decision rule flags with rules.power given this stratum's "
                 "effective trials: exact power of the test of H0: p >= performance_goal at the family's first-step "
                 "level (family_level / family_size), solved exactly in the true value; null when there is no claim, "
                 "no family, or the rule cannot flag at this n.")

#: The types other schemas refer to as ``analysis.schema.json#/$defs/<name>``, by that name.
SHARED: dict[str, Any] = {
    "uuid": Uuid, "timestamp_utc": TimestampUtc, "date": Date, "sha256": Sha256, "probability": Probability,
    "count": Count, "model_version": ModelVersion, "attribute_name": AttributeName, "metric": Metric,
    "stratum": StratumKey, "level": Level, "stratum_attributes": StratumAttributes, "successes": Successes,
    "trials": Trials, "estimate": Estimate, "ci_low": CiLow, "ci_high": CiHigh, "claim": Claim, "margin": Margin,
    "performance_goal": PerformanceGoal, "p_value": PValue, "q_value": QValue,
    "minimal_detectable_drop": MinimalDetectableDrop, "ticket_id": TicketId, "period_label": PeriodLabel,
    "probability_or_null": ProbabilityOrNull, "timestamp_utc_offset": TimestampUtcOffset,
}
