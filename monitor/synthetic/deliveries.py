"""Replay a synthetic deployment as it happened: the logs cut into monthly deliveries, each taken in by the
service at the end of its month.

A real deployment sends a prediction soon after the AI call and the ground truth when it is established
(a biopsy within weeks, a stable follow-up CT after a year). The service dates each case by when it became
known (the ingestion of its prediction and of its current label); the sequential charts are fed in that
order (docs/sequential.md). Ingesting a whole history at once would make every case known on one day, so
the demo and the scenarios replay it month by month.

Examples
--------
>>> from monitor.synthetic import DemoScenario, generate
>>> data = generate(DemoScenario(scale=0.001))
>>> steps = monthly_deliveries(data, until=DemoScenario().as_of)
>>> sum(len(s.predictions) for s in steps) == len(data.predictions)
True
>>> sum(len(s.ground_truth) for s in steps) == len(data.ground_truth)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from monitor.synthetic.lung_nodule import DemoData

__all__ = ["Delivery", "monthly_deliveries"]


@dataclass(frozen=True)
class Delivery:
    """The rows the service takes in at ``at``: predictions made and ground truth established since the
    previous delivery."""

    at: pd.Timestamp
    predictions: pd.DataFrame
    ground_truth: pd.DataFrame


def monthly_deliveries(data: DemoData, *, until: pd.Timestamp, time_zone: str | None = None) -> list[Delivery]:
    """Cut ``data`` (a :class:`~monitor.synthetic.lung_nodule.DemoData`) into deliveries at the end of each
    calendar month (in the time zone of ``until`` unless ``time_zone`` is given), the last at ``until``.

    A prediction is delivered at the end of the month of its ``predicted_at``; a ground-truth row at the end
    of the month of its ``confirmed_at`` or, when later, its ``intervention_at`` (never before its
    prediction's delivery). Months without rows are
    left out. Every row is delivered exactly once."""
    until = pd.Timestamp(until)
    zone = time_zone or until.tz
    predicted = pd.to_datetime(data.predictions["predicted_at"]).dt.tz_convert(zone)
    confirmed = pd.to_datetime(data.ground_truth["confirmed_at"]).dt.tz_convert(zone)
    if "intervention_at" in data.ground_truth:  # a record is sent once complete: after its intervention too
        intervention = pd.to_datetime(data.ground_truth["intervention_at"]).dt.tz_convert(zone)
        confirmed = confirmed.where(~(intervention > confirmed), intervention)
    month_of = {"predictions": predicted.dt.tz_localize(None).dt.to_period("M"),
                "ground_truth": confirmed.dt.tz_localize(None).dt.to_period("M")}
    months = sorted(set(month_of["predictions"]) | set(month_of["ground_truth"]))
    last = until.tz_convert(zone).tz_localize(None).to_period("M")
    steps = []
    for month in months:
        at = (month + 1).start_time.tz_localize(zone) - pd.Timedelta(seconds=1) if month < last else until
        p = data.predictions.loc[(month_of["predictions"] == month).to_numpy()]
        g = data.ground_truth.loc[(month_of["ground_truth"] == month).to_numpy()]
        if len(p) or len(g):
            steps.append(Delivery(at=at, predictions=p, ground_truth=g))
    return steps
