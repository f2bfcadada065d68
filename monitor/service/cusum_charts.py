"""The CUSUM charts of an analysis (docs/sequential.md): each model version's charts fed case by case
in the order the cases became known to the service, designed from the cases known before the period."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.domain.sequential_monitoring import (
    CusumMonitor,
    chart_cases,
    prespecified_volumes,
    volumes_from_cases,
)
from monitor.domain.strata import StratumDefinition
from monitor.service.window import Window

__all__ = ["cusum_charts"]


def cusum_charts(unit: Any, config: DeviceConfig, period: Period, window: Window, cells: pd.DataFrame, *,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """CUSUM charts of each model version with cases in the period, fed from the rows in the order the
    cases became known to the service (:meth:`CaseStreamRepository.known_case_stream`), from the model
    version's first known case to the end of the period's known-at window ``[period start, min(period end,
    cut-off))``; the cases known in that window are the period's segment, and its alarms are dated.
    (The window's materialised cases are not used: the charts' order is not the window's.)

    Checkpoints (docs/sequential.md, section 1c): the charts resume from the newest valid stored state at
    or before the segment's start (only the cases known after it are streamed); their state at the segment's
    start is stored when it was not read from a checkpoint there with this period's design (a re-run of the
    period then streams the period only), and their state at the period's end when the period has ended by
    the cut-off. The design basis is counted once per period and kept. ``now``: the analysis's time, recorded
    with what is stored (default: the cut-off)."""
    from monitor.domain.periods import resolve_timezone

    stamped = now or window.cutoff

    tz = resolve_timezone(config.monitoring.timezone)
    segment = (window.start, min(window.end, window.cutoff))
    rows: list[dict[str, Any]] = []
    year = timedelta(days=365.25)
    period_length = max(window.end - window.start, timedelta(days=1))
    # The design (each chart's ARL0 and h) is fixed before the period: from the cases known by its start
    # and predicted in the year before it, annualised; none known (a model version's first period, a
    # back-fill): the configured minimum ARL0. A later cut-off cannot change it.
    checkpoints = _checkpoints(unit)
    config_hash = config.config_hash() if checkpoints is not None else ""
    basis = _design_basis(unit, checkpoints, config, window, config_hash, stamped)
    for model_version in sorted(cells["model_version"].astype(str).unique()) if not cells.empty else []:
        first = unit.aggregates.first_prediction_at(window.device_id, model_version)
        span = window.start - max(window.start - year, first) if first is not None else period_length
        per_year = year / max(span, period_length)
        volumes = volumes_from_cases(basis.get(model_version, {}), per_year)
        design_basis = "cases_known_before_period"
        if not volumes and config.monitoring.cusum_cases_per_year:  # a design period: the pre-specified volume
            volumes, design_basis = prespecified_volumes(config), "cases_per_year_configured"
        monitor = CusumMonitor(config, model_version, volumes, segment=segment, timezone=tz, design_basis=design_basis)
        found = None  # stream every case from the model version's first, unless a checkpoint holds them
        if checkpoints is not None:
            found = checkpoints.latest(window.device_id, model_version, config_hash=config_hash,
                                       at_or_before=segment[0], cutoff=window.cutoff, prefer=monitor.designed_as)
            if found is not None:
                monitor.resume(*found)
        feed = partial(_feed, unit, config, window, monitor, found, model_version)
        if checkpoints is not None and segment[0] <= window.cutoff and (
                found is None or found[0] < segment[0] or monitor.replayed):
            # Fed up to the segment's start first, that state is kept as a checkpoint (this period's design):
            # a re-run of the period resumes there instead of replaying the history again.
            feed(since=None, until=segment[0])
            checkpoints.store(window.device_id, model_version, config_hash=config_hash, known_before=segment[0],
                              cutoff=window.cutoff, states=monitor.states(), at=stamped)
            feed(since=segment[0], until=segment[1])
        else:
            feed(since=None, until=segment[1])
        if checkpoints is not None and window.end <= window.cutoff:  # the period has ended: its end is final
            checkpoints.store(window.device_id, model_version, config_hash=config_hash, known_before=window.end,
                              cutoff=window.cutoff, states=monitor.states(), at=stamped)
        rows += monitor.results()
    return rows


def _feed(unit: Any, config: DeviceConfig, window: Window, monitor: CusumMonitor,
          found: tuple[datetime, Any] | None, model_version: str, *, since: datetime | None, until: datetime) -> None:
    """Feed ``monitor`` the cases known in ``[since, until)`` (``since=None``: from the model version's first),
    stream by stream (:func:`_chart_streams`): every chart from the rows without a checkpoint (``found``);
    else the resumed charts from the checkpoint's instant on and the replayed ones (design changed) from
    their start, each from its own stream restricted to its outcome and strata. Feeding ``[None, t)`` then
    ``[t, u)`` gives every chart the cases of ``[None, u)`` in the same order: the same state."""
    for label, mature_after in _chart_streams(config):
        stream = partial(unit.case_stream.known_case_stream, window.device_id, model_version, until=until,
                         cutoff=window.cutoff, attributes=config.strata.attributes, mature_after_days=mature_after)
        later = {} if since is None else {"since": since}
        if found is None:
            for chunk in stream(label=label, **later):
                monitor.update(chunk)
            continue
        for chunk in stream(label=label, since=max(found[0], since) if since is not None else found[0]):
            monitor.update(chunk, feed="resumed")  # the cases after the checkpoint
        replay = _replay(monitor.replayed, label)
        if replay is not None:  # the charts whose design changed, from their start: their cases only
            outcome, strata = replay
            for chunk in stream(label=outcome, strata=strata, **later):
                monitor.update(chunk, feed="replayed")


def _replay(charts: dict[tuple[str, str], StratumDefinition], label: int | None
            ) -> tuple[int | None, list[dict[str, str]] | None] | None:
    """The cases to replay for ``charts`` from a stream of outcome ``label`` (None: both): (outcome, strata),
    None for either meaning no restriction; None when none of the charts reads this stream."""
    metrics = {1: {"sensitivity"}, 0: {"specificity"}, None: {"sensitivity", "specificity"}}[label]
    chosen = {key: stratum for key, stratum in charts.items() if key[1] in metrics}
    if not chosen:
        return None
    read = {metric for _, metric in chosen}
    outcome = label if label is not None else (1 if read == {"sensitivity"} else 0 if read == {"specificity"} else None)
    strata = [s.as_dict() for s in {s.key: s for s in chosen.values()}.values()]
    return outcome, None if any(not s for s in strata) else strata


def _checkpoints(unit: Any) -> Any:
    """The unit's CUSUM checkpoint repository, if it has one (a unit without: replay from the start)."""
    return getattr(unit, "cusum_checkpoints", None)


def _design_basis(unit: Any, checkpoints: Any, config: DeviceConfig, window: Window, config_hash: str,
                  at: datetime) -> dict[str, dict[tuple[str, str], int]]:
    """Each chart's confirmed cases known by the period's start and predicted in the year before it, per
    model version: the basis of the period's design. Nothing ingested after the period's start changes
    it, so it is counted once and kept (once the cut-off has reached the period's start)."""
    if checkpoints is not None:
        kept = checkpoints.design_basis(window.device_id, period_start=window.start, config_hash=config_hash)
        if kept is not None:
            return kept  # type: ignore[no-any-return]
    year = timedelta(days=365.25)
    cells = unit.results.confusion_cells(window.device_id, start=window.start - year, end=window.start,
                                         cutoff=window.start, attributes=config.strata.attributes)
    basis = {} if cells.empty else {version: chart_cases(cells, config, version)
                                    for version in sorted(cells["model_version"].astype(str).unique())}
    if checkpoints is not None and window.start <= window.cutoff:
        checkpoints.store_design_basis(window.device_id, period_start=window.start, config_hash=config_hash,
                                       basis=basis, at=at)
    return basis


def _chart_streams(config: DeviceConfig) -> list[tuple[int | None, int | None]]:
    """The case streams that feed the charts, as (outcome kept, days after prediction a case is taken): one
    stream in known-at order; or, when some metric is charted per matured cohort
    (``labels.charted_when_mature``), one stream per outcome (positives feed sensitivity, negatives
    specificity), each in its own order."""
    cohort = set(config.labels.charted_when_mature)
    if not cohort:
        return [(None, None)]
    window = config.monitoring.maturity_window_days
    return [(1, window if "sensitivity" in cohort else None), (0, window if "specificity" in cohort else None)]
