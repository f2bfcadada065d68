"""Sequential monitoring: the Bernoulli CUSUM charts (Page 1954; Reynolds & Stoumbos 1999) with their dated
alarms and daily path, the EWMA charts of the per-period rates (Lucas & Saccucci 1990), and the CUSUM charts
that alarmed in the period (sequential_alarms); docs/sequential.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import ClosedPart, Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import (
    AboveOne, AtLeastOne, Count, Date, Metric, ModelVersion, NonNegative, Number, OpenUnit, PeriodLabel, Positive,
    PositiveCount, PositiveUnit, Probability, StratumKey, TicketId, TimestampZ, Uuid,
)

__all__ = ["CusumAlarm", "CusumChart", "CusumPath", "EwmaChart", "Sequential", "SequentialAlarm"]

#: What fixed a CUSUM chart's ARL0 before the period.
DesignBasis = Literal["cases_known_before_period", "cases_per_year_configured", "minimum_arl0"]


#: Descriptions the charts and the alarms they raise share.
_H_DESCRIPTION = (
    "Decision threshold on the log-likelihood-ratio CUSUM statistic: the smallest multiple of 0.001 whose"
    " in-control average run length (Markov chain of Brook & Evans 1972, on the charted rates) reaches "
    "the chart's target ARL0.")
_ARL0_DESCRIPTION = (
    "In-control average run length attained at h, in charted cases (at least its target). The target is "
    "fixed before the period (design_basis): the chart's cases known by the period's start and predicted "
    "in the year before it, annualised, x the number of charts of the model version / "
    "rules.cusum_false_alarms_per_year, at least rules.cusum_arl0, rounded up to the grid 1000 x 2^k (so "
    "at least 1000).")
_DELAY_DESCRIPTION = (
    "Expected detection delay: average run length (ARL1, in confirmed cases of the chart) when the event "
    "rate is designed_event_rate.")


class CusumAlarm(Part):
    """One CUSUM alarm, dated by when its case became known to the service."""

    known_on: Date = Field(description=(
        "Calendar date, in the device time zone (rules timezone), on which the alarming case became known: "
        "the alarm's date."))
    known_at_utc: TimestampZ = Field(description="The same instant in UTC.")
    case_index: PositiveCount = Field(description=(
        "1-based position of the alarming case in the chart since the model version's first known case."))
    case_in_period: PositiveCount = Field(description="1-based position of the alarming case in the period's segment.")
    statistic: Positive = Field(description="CUSUM statistic reached (at least h).")


class CusumPath(ClosedPart):
    """The chart's path over the period's segment, one entry per local day (device time zone) with cases of the segment,
    oldest first: the day (days), the highest statistic reached that day (max; on an alarm day the value at the alarm,
    >= h), the statistic after the day's last case (end; 0 when that case alarmed, the chart restarting) and the day's
    cases (cases). Statistics rounded to 4 decimals (a drawing aid: the alarms keep the exact values). Parallel arrays
    of equal length, at most one entry per day. Absent in documents written before issue 16."""

    days: list[Date] = Field(description="Local days with cases of the segment, oldest first.")
    max_: list[NonNegative] = Field(alias="max", description=(
        "The highest statistic reached on each day (on an alarm day the value at the alarm, >= h)."))
    end: list[NonNegative] = Field(description=(
        "The statistic after each day's last case (0 when that case alarmed, the chart restarting)."))
    cases: list[PositiveCount] = Field(description="The cases of each day.")


class CusumChart(Part):
    """One Bernoulli CUSUM chart (Page 1954; Reynolds & Stoumbos 1999) of one stratum-metric of one model version
    (monitor.domain.sequential_monitoring.CusumMonitor; docs/sequential.md): misses among confirmed positives
    (sensitivity) or false positives among confirmed negatives (specificity), case by case in the order the cases became
    known to the service (the later of the prediction's and its current label's ingestion; ties by clinical time, then
    row id), from the model version's first known case (a new model version starts new charts) up to the end of the
    period's segment. A later data cut-off only appends cases, so an alarm once reported keeps its case, date and
    position (label corrections and prediction retractions are the documented exception). The chart restarts at 0 after
    an alarm. Under verification by audit sample the chart sees only verified cases and is designed on their event rates
    (charted_*)."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "Stratum level of the stratum (0 overall, 1 single attribute, 2 pairwise, 3 three-way intersection)."))
    metric: Literal["sensitivity", "specificity"] = Field(description=(
        "The watched metric: sensitivity (events are misses among confirmed positives) or specificity (events"
        " are false positives among confirmed negatives)."))
    order: Literal["known_at"] = Field(description=(
        "Order in which cases enter the chart: known_at (when both the prediction and its current label had "
        "been ingested)."))
    verification: Literal["complete", "audit_sample"] = Field(description=(
        "The device's verification design (labels.verification)."))
    in_control_event_rate: OpenUnit = Field(description=(
        "In-control event rate p0 = 1 - claim of the metric in this stratum (among all cases of the stratum)."))
    designed_event_rate: OpenUnit = Field(description=(
        "Event rate p1 the chart is designed to detect: p0 + rules.cusum_drop (default: the claim's margin), "
        "at most 0.999."))
    charted_in_control_event_rate: OpenUnit = Field(description=(
        "In-control event rate among the cases the chart sees: in_control_event_rate under complete "
        "verification; under audit_sample its image among the verified cases, p a / (p a + (1 - p) b) with a,"
        " b the sampling fractions of the event's and the other AI call (Begg & Greenes 1983)."))
    charted_designed_event_rate: OpenUnit = Field(description=(
        "Designed event rate among the cases the chart sees (designed_event_rate mapped as "
        "charted_in_control_event_rate)."))
    h: Positive = Field(description=_H_DESCRIPTION)
    arl0: AboveOne = Field(description=_ARL0_DESCRIPTION)
    detection_delay: AtLeastOne = Field(description=_DELAY_DESCRIPTION)
    design_basis: DesignBasis = Field(description=(
        "What fixed the chart's ARL0 before the period: cases_known_before_period (the chart's yearly volume "
        "from the cases known by the period's start), cases_per_year_configured (none known: "
        "rules.cusum_cases_per_year for every chart) or minimum_arl0 (none known and no volume configured: "
        "rules.cusum_arl0)."))
    segment_start_utc: TimestampZ = Field(description="Start of the period's segment: the period's start (UTC).")
    segment_end_utc: TimestampZ = Field(description=(
        "End of the period's segment (exclusive): the earlier of the period's end and the data cut-off (UTC)."))
    cases_since_start: Count = Field(description=(
        "Charted cases from the model version's first known case to the end of the period's segment."))
    cases_in_period: Count = Field(description=(
        "Of these, the cases of the period's segment (known between segment_start_utc and segment_end_utc)."))
    events_in_period: Count = Field(description=(
        "Events (misses or false positives) among the cases of the period's segment."))
    corrected_labels: Count = Field(description=(
        "Charted cases whose current label is a correction (they entered at the correction's ingestion and "
        "left their earlier position: the documented exception to fixed alarms)."))
    statistic: NonNegative = Field(description=(
        "CUSUM statistic (sum of log-likelihood-ratio weights, Lindley recursion) after the last case of the "
        "segment; below h."))
    alarms_in_period: Count = Field(description=(
        "Alarms raised in the period's segment (each restarts the chart at 0): the length of alarms."))
    alarms: list[CusumAlarm] = Field(description="Dated alarm records of the period's segment, oldest first.")
    first_alarm: CusumAlarm | None = Field(description=(
        "The first alarm of the period's segment (alarms[0]); null when there was none."))
    restarted_at_utc: TimestampZ | None = Field(description=(
        "When the chart last restarted after an alarm (the alarming case's known-at instant, UTC), possibly "
        "before the period; null when it never alarmed."))
    statistic_at_segment_start: NonNegative | MISSING = Field(MISSING, description=(
        "CUSUM statistic before the first case of the period's segment (carried over from the chart's "
        "history; 0 after a restart), rounded to 4 decimals. Absent in documents written before issue 16."))
    path: CusumPath | MISSING = Field(MISSING, description=(
        "The chart's path over the period's segment, one entry per local day (device time zone) with cases of"
        " the segment, oldest first: the day (days), the highest statistic reached that day (max; on an alarm"
        " day the value at the alarm, >= h), the statistic after the day's last case (end; 0 when that case "
        "alarmed, the chart restarting) and the day's cases (cases). Statistics rounded to 4 decimals (a "
        "drawing aid: the alarms keep the exact values). Parallel arrays of equal length, at most one entry "
        "per day. Absent in documents written before issue 16."))


class EwmaChart(Part):
    """EWMA chart (Lucas & Saccucci 1990) of one claimed metric's per-period rate in one stratum (overall or single
    attribute) of one model version, over the period and the consecutive preceding periods with confirmed cases (at most
    12 periods in all), with exact time-varying limits (Montgomery 2013, section 9.2) around the reference level
    (reference, reference_source) (monitor.domain.sequential_monitoring.ewma_by_stratum; docs/sequential.md). Under
    verification by audit sample the chart runs on the verified cases and every number is reported on the metric's
    scale, verification-corrected (Begg-Greenes)."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level of the stratum (0 overall, 1 single attribute).")
    metric: Metric = Field(description="The metric.")
    claim: OpenUnit = Field(description=(
        "Claimed value of the metric for this stratum (for comparison; the centre line is reference)."))
    reference: OpenUnit = Field(description="Centre line and start value z_0 of the chart (metric scale).")
    reference_source: Literal["configured", "established", "claim"] = Field(description=(
        "configured (rules.ewma_reference), established (the model version's first "
        "rules.ewma_reference_periods periods pooled, as of the cut-off, once they have ended) or claim (no "
        "established level yet, or an established level of 0 or 1)."))
    reference_periods: list[PeriodLabel] = Field(description=(
        "Periods pooled for an established level (empty otherwise)."))
    reference_trials: Count | None = Field(description="Trials pooled for an established level; null otherwise.")
    verification: Literal["complete", "audit_sample"] = Field(description=(
        "The device's verification design (labels.verification)."))
    lambda_: PositiveUnit = Field(alias="lambda", description="Smoothing constant (rules.ewma_lambda).")
    L: Positive = Field(description="Limit width in standard deviations of the EWMA statistic (rules.ewma_limit).")
    periods: Annotated[list[PeriodLabel], Field(min_length=1)] = Field(description=(
        "Labels of the periods with trials for this stratum-metric, oldest first; the last is normally the "
        "analysed period."))
    rates: Annotated[list[Probability], Field(min_length=1)] = Field(description=(
        "The metric's observed rate successes/trials in each period (under audit_sample the Begg-Greenes "
        "corrected rate), one number per entry of periods."))
    ewma: Annotated[list[Probability], Field(min_length=1)] = Field(description=(
        "EWMA statistic z_t = lambda x_t + (1 - lambda) z_(t-1), z_0 = reference (one number per entry of "
        "periods)."))
    lower: Annotated[list[Number], Field(min_length=1)] = Field(description=(
        "Lower control limit reference - L sd(z_t) (one number per entry of periods; not clipped to [0, 1]; "
        "under audit_sample computed on the verified scale, clipped to [0, 1] and mapped back)."))
    upper: Annotated[list[Number], Field(min_length=1)] = Field(description=(
        "Upper control limit reference + L sd(z_t) (as lower)."))
    periods_below_lower_limit: list[PeriodLabel] = Field(description=(
        "Periods whose EWMA statistic is below the lower limit: the degradation signal."))
    periods_above_upper_limit: list[PeriodLabel] = Field(description=(
        "Periods whose EWMA statistic is above the upper limit (a shift up from the reference level)."))


class Sequential(Part):
    """Sequential monitoring charts."""

    cusum: list[CusumChart] = Field(description=(
        "Bernoulli CUSUM charts of every monitored stratum (overall, single, monitored intersections) with a "
        "sensitivity or specificity claim and confirmed cases, per model version with cases in the period "
        "(ordered by model version, then level, stratum and metric)."))
    ewma: list[EwmaChart] = Field(description=(
        "EWMA charts of every claimed metric per model version, overall and single strata (ordered by model "
        "version, level, stratum and metric)."))


class SequentialAlarm(Part):
    """A CUSUM chart that alarmed in the period, stored as a finding of kind cusum_alarm (a signal: it adds evidence to
    an open ticket of the same model version, stratum and metric when there is one, and never opens a ticket by itself).
    Its fields are those of the chart in sequential.cusum."""

    finding_id: Uuid = Field(description="Id of the finding (a random UUID).")
    ticket_id: TicketId | None = Field(description=(
        "The open retraining ticket of the same device, model version, stratum and metric to which the alarm "
        "was added as evidence; null when there was none."))
    model_version: str = Field(description="Model version whose chart alarmed.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "0 overall, 1 single attribute, 2 pairwise intersection, 3 three-way intersection."))
    metric: Literal["sensitivity", "specificity"] = Field(description=(
        "The watched metric: sensitivity (events are misses among confirmed positives) or specificity (events"
        " are false positives among confirmed negatives)."))
    in_control_event_rate: OpenUnit = Field(description=(
        "In-control event rate p0 = 1 - claim of the metric in this stratum (among all cases of the stratum)."))
    designed_event_rate: OpenUnit = Field(description=(
        "Event rate p1 the chart is designed to detect: p0 + rules.cusum_drop (default: the claim's margin), "
        "at most 0.999."))
    charted_in_control_event_rate: OpenUnit | MISSING = Field(MISSING, description=(
        "In-control event rate among the cases the chart sees: in_control_event_rate under complete "
        "verification; under audit_sample its image among the verified cases, p a / (p a + (1 - p) b) with a,"
        " b the sampling fractions of the event's and the other AI call (Begg & Greenes 1983)."))
    charted_designed_event_rate: OpenUnit | MISSING = Field(MISSING, description=(
        "Designed event rate among the cases the chart sees (designed_event_rate mapped as "
        "charted_in_control_event_rate)."))
    verification: Literal["complete", "audit_sample"] | MISSING = Field(MISSING, description=(
        "The device's verification design (labels.verification)."))
    h: Positive = Field(description=_H_DESCRIPTION)
    arl0: AboveOne = Field(description=_ARL0_DESCRIPTION)
    detection_delay: AtLeastOne = Field(description=_DELAY_DESCRIPTION)
    design_basis: DesignBasis | MISSING = Field(MISSING, description=(
        "What fixed the chart's ARL0 before the period: cases_known_before_period (the chart's yearly volume "
        "from the cases known by the period's start), cases_per_year_configured (none known: "
        "rules.cusum_cases_per_year for every chart) or minimum_arl0 (none known and no volume configured: "
        "rules.cusum_arl0)."))
    statistic: NonNegative = Field(description=(
        "CUSUM statistic (sum of log-likelihood-ratio weights, Lindley recursion) after the last case of the "
        "segment; below h."))
    alarms_in_period: PositiveCount = Field(description="Times the statistic reached h during the period (at least 1).")
    first_alarm: CusumAlarm = Field(description="The first alarm of the period's segment (dated).")
    alarms: list[CusumAlarm] = Field(description="Dated alarm records of the period's segment, oldest first.")
    segment_start_utc: TimestampZ = Field(description="Start of the period's segment: the period's start (UTC).")
    segment_end_utc: TimestampZ = Field(description=(
        "End of the period's segment (exclusive): the earlier of the period's end and the data cut-off (UTC)."))
    cases_in_period: Count = Field(description=(
        "Of these, the cases of the period's segment (known between segment_start_utc and segment_end_utc)."))
    events_in_period: Count = Field(description=(
        "Events (misses or false positives) among the cases of the period's segment."))
