"""Content section ``trends``: each flagged or alarmed stratum-metric over the stored periods, against its
claim and performance goal (issue 16, item 6; the rules: :mod:`monitor.domain.report_trends`).

The periods are those analysed up to the report's own, each by its newest run created at or before the
report's run, so that a report regenerated later shows the same points."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from monitor.domain.report_trends import MAX_TREND_SERIES, trend_points, watched_series
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["SECTION", "TrendPoint", "TrendSeries", "TrendsSection"]

Status = Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested", "ok"]
Reason = Literal["flagged", "cusum_alarm"]


class TrendPoint(BaseModel):
    """One period of a stratum-metric, from that period's newest run (as of the report's run)."""

    period: str = Field(description="The period's label, e.g. 2025Q3.")
    run_id: str = Field(description="The analysis run the point is taken from.")
    successes: int = Field(ge=0, description="Numerator of the metric in the stratum in the period.")
    trials: int = Field(ge=0, description="Denominator of the metric in the stratum in the period.")
    estimate: float | None = Field(description="Point estimate successes/trials; null when not estimable.")
    ci_low: float | None = Field(description="Lower limit of the two-sided confidence interval of the estimate.")
    ci_high: float | None = Field(description="Upper limit of the two-sided confidence interval of the estimate.")
    claim: float | None = Field(description="Claimed value of the metric for the stratum; null without a claim.")
    performance_goal: float | None = Field(description="claim - margin")
    status: Status = Field(description="The decision rule's outcome for the stratum-metric in that period.")

    @field_validator("estimate", "ci_low", "ci_high", "claim", "performance_goal")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return value if value is None or math.isfinite(value) else None


class TrendSeries(BaseModel):
    """A stratum-metric the period flagged or whose CUSUM chart alarmed, over the stored periods."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key, e.g. overall or age_band=>=75.")
    metric: str = Field(description="The metric (sensitivity, specificity, ...).")
    reasons: list[Reason] = Field(description="Why it is drawn: flagged by the claims test of the report's period "
                                              "and / or cusum_alarm (its CUSUM chart alarmed).")
    points: list[TrendPoint] = Field(description="One point per stored period with a result, oldest first.")


class TrendsSection(BaseModel):
    """The stratum-metrics drawn (at most ``MAX_TREND_SERIES``) and how many more were watched."""

    series: list[TrendSeries] = Field(description="The stratum-metrics drawn (flagged first, then alarmed).")
    not_drawn: int = Field(ge=0, description="Flagged or alarmed stratum-metrics beyond the cap (in the tables).")


_PAGE = 500


def build(source: ReportSource) -> TrendsSection | None:
    """The trends of the report's watched stratum-metrics; None for a roll-up or when nothing was watched."""
    if source.rollup:
        return None
    watched = watched_series(source.document)
    if not watched:
        return None
    queries = source.unit.queries
    run = source.run
    newest: dict[str, tuple[object, str]] = {}  # period -> (created_at, run id), the newest as of the report's run
    starts: dict[str, object] = {}
    offset: int | None = 0
    while offset is not None:
        page = queries.runs(device_id=run.device_id, period=None, limit=_PAGE, offset=offset)
        for r in page.items:
            if r.created_at > run.created_at or r.period_start > run.period_start:
                continue
            if r.period not in newest or (r.created_at, r.run_id) > newest[r.period]:
                newest[r.period], starts[r.period] = (r.created_at, r.run_id), r.period_start
        offset = page.next_offset
    order = sorted(newest, key=lambda p: starts[p])  # type: ignore[arg-type,return-value]
    period_of = {run_id: period for period, (_, run_id) in newest.items()}
    shown = watched[:MAX_TREND_SERIES]
    series = []
    for key, reasons in shown:
        stored = queries.results_of_runs(list(period_of), metric=key[2], stratum=key[1])
        points = trend_points(stored, period_of, order, key)
        series.append(TrendSeries(model_version=key[0], stratum=key[1], metric=key[2], reasons=reasons,
                                  points=[TrendPoint(**p) for p in points]))
    return TrendsSection(series=series, not_drawn=len(watched) - len(shown))


SECTION = ContentSection("trends", TrendsSection, build)
