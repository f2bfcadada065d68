"""The one read side: every read of stored data that the HTTP API, the dashboard and the report make.

All reads go through one repository port (:class:`monitor.service.ports.ReadRepo`, ``unit.queries``) and
return the typed rows of :mod:`monitor.service.read_models` (the dashboard's pages also get frames built
from them). Nothing here recomputes a statistic: every number comes from what an analysis run stored
(:func:`monitor.service.analyze.analyze_period`), so a page costs a few indexed queries whatever the
size of the prediction logs.

Filters are checked before any query: a period must be a period label (``2025Q3``, ``2025-07``,
``2025``, ``2025-07-01..2025-09-30``; ``2025q3`` is read as ``2025Q3``) and enumerated filters (statuses,
batch kind, metric) one of their values, else :class:`~monitor.errors.InputError` (the API answers
422). A filter that is well formed but matches nothing gives an empty page.

Three groups of functions:

- **lists and records** (the API): ``list_*`` return a :class:`~monitor.service.read_models.Page`,
  ``get_*`` one record or :class:`~monitor.errors.NotFoundError`;
- **dashboard pages**: :func:`overview`, :func:`device_periods`, :func:`strata`, :func:`stratum_grid`,
  :func:`stratum_trend`, :func:`period_findings`, :func:`data_drift`, :func:`report_files_frame`;
- **report reads** inside the report's own transaction: :func:`period_run`, :func:`device_tickets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, TypeVar

import pandas as pd

from monitor.domain import evaluation
from monitor.domain import tickets as ticket_rules
from monitor.domain.periods import Period
from monitor.domain.strata import MISSING_LABEL, StratumDefinition
from monitor.errors import InputError, NotFoundError, PeriodError
from monitor.service.ports import ReadRepo, UnitOfWork, UnitOfWorkFactory
from monitor.service.read_models import (
    AuditRecord,
    Batch,
    Device,
    DeviceSummary,
    Finding,
    Page,
    PeriodSummary,
    ReadModel,
    RejectedRow,
    ReportFile,
    ReportRevision,
    Run,
    RunHeader,
    StratumResult,
    Ticket,
    TicketDetail,
)

__all__ = [
    "BatchKind", "CurrentPeriod", "DeviceOverview", "GRID_COLUMNS", "Metric", "PERIOD_PATTERN", "RejectionStatus", "ResultStatus",
    "RevisionStatus", "TicketStatus", "DEVICE_OUTPUT_TABLES", "DeviceOutputs", "attribute_levels", "check_period",
    "data_drift", "device_outputs", "device_periods",
    "device_tickets", "get_batch", "get_device", "get_report_file", "get_run", "get_ticket", "list_audit",
    "list_batches", "list_devices", "list_findings", "list_periods", "list_rejected_rows", "list_report_files",
    "list_report_revisions", "list_results", "list_runs", "list_ticket_details", "list_tickets", "newest_run_id", "overview",
    "period_findings", "period_run", "report_files_frame", "require_device", "strata", "stratum_grid", "stratum_trend",
]

E = TypeVar("E", bound=StrEnum)

# --- enumerated filters --------------------------------------------------------------------------
#: The values of the enumerated filters (the API declares them, so OpenAPI lists them and FastAPI
#: refuses others with 422 before the service sees them).
ResultStatus = StrEnum("ResultStatus", [(s, s) for s in evaluation.STATUSES])  # type: ignore[misc]
TicketStatus = StrEnum("TicketStatus", [(s, s) for s in ticket_rules.STATUSES])  # type: ignore[misc]
RevisionStatus = StrEnum("RevisionStatus", [(s, s) for s in ("draft", "signed", "superseded")])  # type: ignore[misc]
RejectionStatus = StrEnum("RejectionStatus", [(s, s) for s in ("open", "resubmitted", "dismissed")])  # type: ignore[misc]
BatchKind = StrEnum("BatchKind", [(s, s) for s in ("predictions", "ground_truth", "retractions")])  # type: ignore[misc]
Metric = StrEnum("Metric", [(s, s) for s in ("sensitivity", "specificity", "ppv", "npv")])  # type: ignore[misc]


def _choice(value: str | None, choices: type[StrEnum], name: str) -> str | None:
    """``value`` as a plain string when it is one of ``choices``; :class:`InputError` otherwise (the
    message names the accepted values, never the value given)."""
    if value is None:
        return None
    try:
        return str(choices(value).value)
    except ValueError:
        raise InputError(f"{name}: use one of {', '.join(c.value for c in choices)}") from None


#: The form of a period label (:class:`monitor.domain.periods.Period`): a quarter (2025Q3), a month
#: (2025-07), a year (2025) or a window (2025-07-01..2025-09-30). The API declares it for its period filters.
PERIOD_PATTERN = (r"^[0-9]{4}([Qq][1-4]|-(0[1-9]|1[0-2]))?$"
                  r"|^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\.\.[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
_PERIOD_FORM = re.compile(PERIOD_PATTERN)


def check_period(period: str | None) -> str | None:
    """A period filter as its canonical label (``2025q3`` -> ``2025Q3``), or :class:`InputError` when it does
    not have the form of a period label (the message names the accepted forms, never the value given).

    A window of the right form whose dates cannot be (``2025-02-30..``, or ending before it starts) names
    no stored period: it is kept as given and finds nothing.
    """
    if period is None:
        return None
    if not _PERIOD_FORM.fullmatch(period):
        raise InputError("period: use a quarter (2025Q3), a month (2025-07), a year (2025) "
                         "or a window (2025-07-01..2025-09-30)")
    try:
        return Period.parse(period).label
    except PeriodError:
        return period


# --- lists and records (the HTTP API) -------------------------------------------------------------

def list_devices(uow: UnitOfWorkFactory, *, limit: int, offset: int) -> Page[DeviceSummary]:
    """Registered devices with their configuration version and numbers of model versions and sites."""
    with uow() as unit:
        return unit.queries.devices(limit=limit, offset=offset)


def require_device(uow: UnitOfWorkFactory, device_id: str) -> None:
    """:class:`NotFoundError` unless ``device_id`` is registered."""
    with uow() as unit:
        if not unit.queries.device_exists(device_id):
            raise NotFoundError(f"device {device_id!r} is not registered")


def get_device(uow: UnitOfWorkFactory, device_id: str) -> Device:
    """One device with its current configuration."""
    with uow() as unit:
        return unit.queries.device(device_id)


def list_periods(uow: UnitOfWorkFactory, device_id: str, *, limit: int, offset: int) -> Page[PeriodSummary]:
    """Periods of a registered device that have analysis runs, newest first."""
    with uow() as unit:
        if not unit.queries.device_exists(device_id):
            raise NotFoundError(f"device {device_id!r} is not registered")
        return unit.queries.periods(device_id, limit=limit, offset=offset)


def list_runs(uow: UnitOfWorkFactory, *, device_id: str | None = None, period: str | None = None, limit: int,
              offset: int) -> Page[RunHeader]:
    """Analysis runs (without documents), newest first."""
    period = check_period(period)
    with uow() as unit:
        return unit.queries.runs(device_id=device_id, period=period, limit=limit, offset=offset)


def get_run(uow: UnitOfWorkFactory, run_id: str) -> Run:
    """One analysis run with its document."""
    with uow() as unit:
        return unit.queries.run(run_id)


def list_results(uow: UnitOfWorkFactory, run_id: str, *, model_version: str | None = None,
                 metric: str | None = None, status: str | None = None, stratum_prefix: str | None = None,
                 limit: int, offset: int) -> Page[StratumResult]:
    """A stored run's stratum results, filtered, in stored order."""
    metric, status = _choice(metric, Metric, "metric"), _choice(status, ResultStatus, "status")
    with uow() as unit:
        if not unit.queries.run_exists(run_id):
            raise NotFoundError(f"analysis run {run_id!r} does not exist")
        return unit.queries.stratum_results(run_id, model_version=model_version, metric=metric, status=status,
                                            stratum_prefix=stratum_prefix, limit=limit, offset=offset)


def list_findings(uow: UnitOfWorkFactory, *, device_id: str | None = None, run_id: str | None = None,
                  metric: str | None = None, limit: int, offset: int) -> Page[Finding]:
    """Findings, newest first."""
    metric = _choice(metric, Metric, "metric")
    with uow() as unit:
        return unit.queries.findings(device_id=device_id, run_id=run_id, metric=metric, limit=limit, offset=offset)


def list_tickets(uow: UnitOfWorkFactory, *, device_id: str | None = None, status: str | None = None, limit: int,
                 offset: int) -> Page[Ticket]:
    """Corrective-action tickets (without evidence), oldest first."""
    status = _choice(status, TicketStatus, "status")
    with uow() as unit:
        return unit.queries.tickets(device_id=device_id, status=status, limit=limit, offset=offset)


def list_ticket_details(uow: UnitOfWorkFactory, *, device_id: str | None = None) -> list[TicketDetail]:
    """Tickets with their evidence, transitions and comments, oldest first (every ticket: no page)."""
    with uow() as unit:
        return unit.queries.ticket_details(device_id=device_id)


def get_ticket(uow: UnitOfWorkFactory, ticket_id: str) -> TicketDetail:
    """One ticket with its evidence, transitions and comments."""
    with uow() as unit:
        return unit.queries.ticket(ticket_id)


def list_report_files(uow: UnitOfWorkFactory, *, device_id: str | None = None, period: str | None = None,
                      limit: int, offset: int) -> Page[ReportFile]:
    """Recorded report files, newest first."""
    period = check_period(period)
    with uow() as unit:
        return unit.queries.report_files(device_id=device_id, period=period, limit=limit, offset=offset)


def get_report_file(uow: UnitOfWorkFactory, file_id: int) -> ReportFile:
    """One recorded report file (with its server path: for the server's use only)."""
    with uow() as unit:
        return unit.queries.report_file(file_id)


def list_report_revisions(uow: UnitOfWorkFactory, *, device_id: str | None = None, period: str | None = None,
                          status: str | None = None, limit: int, offset: int) -> Page[ReportRevision]:
    """Report revisions and their state, newest first."""
    period, status = check_period(period), _choice(status, RevisionStatus, "status")
    with uow() as unit:
        return unit.queries.report_revisions(device_id=device_id, period=period, status=status, limit=limit,
                                             offset=offset)


def list_batches(uow: UnitOfWorkFactory, *, kind: str | None = None, limit: int, offset: int) -> Page[Batch]:
    """Ingestion batches, newest first."""
    kind = _choice(kind, BatchKind, "kind")
    with uow() as unit:
        return unit.queries.batches(kind=kind, limit=limit, offset=offset)


def get_batch(uow: UnitOfWorkFactory, batch_id: int) -> Batch:
    """One ingestion batch."""
    with uow() as unit:
        return unit.queries.batch(batch_id)


def list_rejected_rows(uow: UnitOfWorkFactory, *, batch_id: int | None = None, reason_code: str | None = None,
                       status: str | None = None, limit: int, offset: int) -> Page[RejectedRow]:
    """Rejected rows with their reasons (patient ids only as keyed hashes), by batch and row number."""
    status = _choice(status, RejectionStatus, "status")
    with uow() as unit:
        return unit.queries.rejected_rows(batch_id=batch_id, reason_code=reason_code, status=status, limit=limit,
                                          offset=offset)


def list_audit(uow: UnitOfWorkFactory, *, action: str | None = None, entity: str | None = None,
               entity_id: str | None = None, actor: str | None = None, since: datetime | None = None, limit: int,
               offset: int) -> Page[AuditRecord]:
    """The audit trail, newest first."""
    if since is not None and since.tzinfo is None:
        raise InputError("since: give a time zone (e.g. 2025-07-01T00:00:00Z)")
    with uow() as unit:
        return unit.queries.audit_records(action=action, entity=entity, entity_id=entity_id, actor=actor,
                                          since=since, limit=limit, offset=offset)


# --- report reads (inside the report's transaction) -----------------------------------------------

def period_run(unit: UnitOfWork, device_id: str, period: str, run_id: str | None = None) -> Run:
    """The stored run ``run_id`` (checked to be of this device and period), or the period's newest run."""
    if run_id is None:
        return unit.queries.latest_run(device_id, period)
    run = unit.queries.run(run_id)
    if (run.device_id, run.period) != (device_id, period):
        raise InputError(f"analysis run {run_id} is of device {run.device_id!r} and period {run.period}, "
                         f"not of {device_id!r} and {period}")
    return run


def device_tickets(unit: UnitOfWork, device_id: str) -> list[TicketDetail]:
    """The tickets of a device with their evidence, transitions and comments, oldest first."""
    return unit.queries.ticket_details(device_id=device_id)


# --- dashboard pages --------------------------------------------------------------------------------

GRID_COLUMNS = ["row", "column", "stratum", "successes", "trials", "estimate", "ci_low", "ci_high", "claim",
                "margin", "difference", "q_value", "status", "family", "provisional", "expected_share",
                "q_conformity", "minimal_detectable_drop"]
#: Fields of the decision rule read from the run's document (the stratum_results table does not hold them).
DECISION_FIELDS = ("family", "family_size", "family_level", "provisional", "expected_share", "q_conformity",
                   "minimal_detectable_drop", "design_effect")
_RESULT_FIELDS = ("successes", "trials", "estimate", "ci_low", "ci_high", "claim", "margin", "q_value", "status",
                  "stratum")


class CurrentPeriod(ReadModel):
    """A device's newest analysed period, from its newest run's document."""

    period: str
    run_id: str
    analysed_at: datetime
    data_cutoff: datetime
    model_versions: list[str]
    predictions: int
    with_ground_truth: int
    label_completeness: float | None
    tests: int
    flagged: int
    insufficient: int
    outcomes: dict[str, int] | None
    open_findings: int
    drifted_features: list[str]


class DeviceOverview(ReadModel):
    """One device on the overview: its periods, tickets by status and its current period (if analysed)."""

    device_id: str
    name: str
    periods: int
    open_tickets: int
    tickets_by_status: dict[str, int]
    current: CurrentPeriod | None = None


def _decisions(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The decision fields of each result of an analysis document, by (model version, stratum, metric);
    a document of the earlier rule has none of them (absent fields are None)."""
    return {(r["model_version"], r["stratum"], r["metric"]): {k: r.get(k) for k in DECISION_FIELDS}
            for r in document.get("results", [])}


def _dated_alarms(chart: dict[str, Any]) -> str:
    """A CUSUM chart's alarm dates in the period ("2025-08-14 (case 1,712)"), or the undated position an
    earlier document stored."""
    dated = [f"{a['known_on']} (case {a['case_index']:,})" for a in chart.get("alarms") or [] if a.get("known_on")]
    if dated:
        return "; ".join(dated)
    first = chart.get("first_alarm_case_in_period")
    return f"case {first} of the period (undated)" if first else ""


def _run_of(reads: ReadRepo, device_id: str, period: str) -> RunHeader | None:
    return next((r for r in reads.latest_runs(device_id) if r.period == period), None)


def newest_run_id(uow: UnitOfWorkFactory) -> str | None:
    """Id of the newest stored analysis run (changes whenever an analysis is stored: the dashboard's cache key)."""
    with uow() as unit:
        return unit.queries.newest_run_id()


def device_periods(uow: UnitOfWorkFactory, device_id: str) -> list[str]:
    """Analysed periods of a device, newest first."""
    with uow() as unit:
        return [r.period for r in reversed(unit.queries.latest_runs(device_id))]


def _current(reads: ReadRepo, run: RunHeader) -> CurrentPeriod:
    doc = reads.document(run.run_id)
    total = doc["completeness"]["total"]
    return CurrentPeriod(
        period=run.period, run_id=run.run_id, analysed_at=run.created_at, data_cutoff=run.data_cutoff,
        model_versions=[c["model_version"] for c in doc["completeness"]["by_model_version"]],
        predictions=total["predictions"], with_ground_truth=total["with_ground_truth"],
        label_completeness=total["with_ground_truth"] / total["predictions"] if total["predictions"] else None,
        tests=doc["summary"]["tests"], flagged=doc["summary"]["flagged"],
        insufficient=doc["summary"]["insufficient"], outcomes=doc["summary"].get("outcomes"),
        open_findings=len(reads.findings_of_runs([run.run_id])),
        drifted_features=sorted({d["feature"] for g in doc.get("data_drift", [])
                                 for d in g.get("rows", [g]) if d.get("drifted")}))


def overview(uow: UnitOfWorkFactory) -> list[DeviceOverview]:
    """One row per device: its current (newest analysed) period, label completeness, tests, flags,
    findings, tickets by status and drifted features."""
    rows = []
    with uow() as unit:
        reads = unit.queries
        for device in reads.all_devices():
            runs = reads.latest_runs(device.device_id)
            counts = reads.ticket_counts(device.device_id)
            rows.append(DeviceOverview(
                device_id=device.device_id, name=device.name, periods=len(runs),
                open_tickets=sum(n for s, n in counts.items() if s not in ticket_rules.TERMINAL),
                tickets_by_status=counts, current=_current(reads, runs[-1]) if runs else None))
    return rows


def attribute_levels(uow: UnitOfWorkFactory, device_id: str) -> dict[str, list[str]]:
    """Stratification attributes of a device and their labels in report order."""
    with uow() as unit:
        config = unit.devices.get(device_id)
    return {a.name: a.labels() for a in config.strata.attributes}


def strata(uow: UnitOfWorkFactory, device_id: str, period: str) -> pd.DataFrame:
    """The strata of a period's newest run with their status per metric (one row per model version,
    stratum and metric)."""
    with uow() as unit:
        run = _run_of(unit.queries, device_id, period)
        rows = unit.queries.results_of_runs([run.run_id]) if run else []
        decided = _decisions(unit.queries.document(run.run_id)) if run else {}
    columns = ["model_version", "stratum", "level", "metric", "status", "estimate", "trials", "family",
               "provisional", "expected_share", "minimal_detectable_drop"]
    return pd.DataFrame([{k: getattr(r, k) for k in columns[:7]}
                         | {k: decided.get((r.model_version, r.stratum, r.metric), {}).get(k) for k in columns[7:]}
                         for r in rows], columns=columns)


def stratum_grid(uow: UnitOfWorkFactory, device_id: str, period: str, *, metric: str, rows: str, columns: str,
                 model_version: str | None = None) -> pd.DataFrame:
    """The stored results of the intersection ``rows x columns`` in a period, one row per cell.

    Cells are ordered by the attributes' labels; a cell without a stored result (no case, or an
    intersection the device does not monitor) has status ``no_data``. ``difference`` is the
    estimate minus the claim (negative: below the claim).
    """
    if rows == columns:
        raise InputError("choose two different attributes")
    levels = attribute_levels(uow, device_id)
    with uow() as unit:
        run = _run_of(unit.queries, device_id, period)
        stored = unit.queries.results_of_runs([run.run_id], metric=metric, level=2) if run else []
        decided = _decisions(unit.queries.document(run.run_id)) if run else {}
    versions = sorted({r.model_version for r in stored})
    version = model_version or (versions[-1] if versions else None)
    by_key = {r.stratum: r for r in stored if r.model_version == version}
    cells = []
    for row_label in [*levels[rows], MISSING_LABEL]:
        for col_label in [*levels[columns], MISSING_LABEL]:
            key = StratumDefinition.of({rows: row_label, columns: col_label}).key
            found = by_key.get(key)
            if found is None:
                if MISSING_LABEL in (row_label, col_label):
                    continue
                cells.append({"row": row_label, "column": col_label, "stratum": key, "status": "no_data",
                              "successes": 0, "trials": 0})
                continue
            difference = (found.estimate - found.claim
                          if found.estimate is not None and found.claim is not None else None)
            values = {k: getattr(found, k) for k in _RESULT_FIELDS} | decided.get((found.model_version, key,
                                                                                   found.metric), {})
            cells.append({"row": row_label, "column": col_label, "difference": difference,
                          **{k: values[k] for k in GRID_COLUMNS if k in values}})
    return pd.DataFrame(cells, columns=GRID_COLUMNS)


def stratum_trend(uow: UnitOfWorkFactory, device_id: str, *, stratum: str, metric: str,
                  model_version: str) -> dict[str, pd.DataFrame]:
    """A stratum-metric over the analysed periods: ``estimates`` (estimate, interval, claim and
    performance goal per period, from each period's newest run), ``ewma`` (the newest run's EWMA
    chart with its control limits) and ``cusum`` (each period's CUSUM statistic and decision limit h)."""
    with uow() as unit:
        runs = unit.queries.latest_runs(device_id)
        period_of = {r.run_id: r.period for r in runs}
        stored = unit.queries.results_of_runs(list(period_of), metric=metric, stratum=stratum)
        documents = [(r.period, unit.queries.document(r.run_id)) for r in runs]
    decided = {r.run_id: _decisions(doc) for r, (_, doc) in zip(runs, documents, strict=True)}
    estimates = pd.DataFrame([{
        "period": period_of[r.run_id], "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
        "claim": r.claim, "goal": (r.claim - r.margin) if r.claim is not None and r.margin is not None else None,
        "successes": r.successes, "trials": r.trials, "status": r.status, "q_value": r.q_value,
        "provisional": decided[r.run_id].get((model_version, stratum, metric), {}).get("provisional"),
    } for r in stored if r.model_version == model_version],
        columns=["period", "estimate", "ci_low", "ci_high", "claim", "goal", "successes", "trials", "status",
                 "q_value", "provisional"])

    def chart(doc: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((c for c in doc.get("sequential", {}).get(kind, []) if c["stratum"] == stratum
                     and c["metric"] == metric and c["model_version"] == model_version), None)

    ewma_rows: list[dict[str, Any]] = []
    if documents and (latest := chart(documents[-1][1], "ewma")) is not None:
        reference = latest.get("reference", latest["claim"])
        ewma_rows = [{"period": p, "rate": rate, "ewma": e, "lower": lo, "upper": hi, "claim": latest["claim"],
                      "reference": reference, "reference_source": latest.get("reference_source")}
                     for p, rate, e, lo, hi in zip(latest["periods"], latest["rates"], latest["ewma"],
                                                   latest["lower"], latest["upper"], strict=True)]
    cusum_rows = [{"period": p, "statistic": c["statistic"], "h": c["h"], "alarms": c["alarms_in_period"],
                   "cases": c["cases_in_period"],
                   "peak": max([a["statistic"] for a in c.get("alarms") or []], default=None),
                   "alarm_dates": _dated_alarms(c)}
                  for p, doc in documents if (c := chart(doc, "cusum")) is not None]
    return {"estimates": estimates,
            "ewma": pd.DataFrame(ewma_rows, columns=["period", "rate", "ewma", "lower", "upper", "claim", "reference",
                                                     "reference_source"]),
            "cusum": pd.DataFrame(cusum_rows, columns=["period", "statistic", "h", "alarms", "cases", "peak",
                                                       "alarm_dates"])}


def period_findings(uow: UnitOfWorkFactory, device_id: str, period: str) -> list[Finding]:
    """The findings of a period's newest run with their evidence, performance findings first."""
    with uow() as unit:
        run = _run_of(unit.queries, device_id, period)
        found = unit.queries.findings_of_runs([run.run_id]) if run else []
    return sorted(found, key=lambda f: (f.kind != "performance", f.stratum, f.metric))


def data_drift(uow: UnitOfWorkFactory, device_id: str, period: str) -> pd.DataFrame:
    """Per-feature data drift of a period, one row per comparison (the preceding window, the fixed baseline)
    and feature: method, value, threshold, effect size and the floor that decided, ``drifted`` (None: no
    reference, never "not drifted") and the reason."""
    columns = ["reference", "reference_periods", "feature", "kind", "method", "value", "threshold", "effect_size",
               "effect_floor", "drifted", "reason", "reference_n", "current_n"]
    with uow() as unit:
        run = _run_of(unit.queries, device_id, period)
        stored = unit.queries.document(run.run_id).get("data_drift", []) if run else []
    if stored and not all("rows" in g for g in stored):  # a document before the fixed baseline: one flat list
        stored = [{"reference": "preceding", "periods": None, "rows": stored}]
    return pd.DataFrame([{k: r.get(k) for k in columns[2:]}
                         | {"reference": g.get("reference"), "reference_periods": ", ".join(g.get("periods") or [])}
                         for g in stored for r in g.get("rows", [])], columns=columns)


def report_files_frame(uow: UnitOfWorkFactory, device_id: str, *,
                       file_exists: Callable[[str], bool]) -> pd.DataFrame:
    """Report files recorded for a device, newest first, with whether each file is still there
    (``file_exists(path)``: the caller looks, the service does no file access)."""
    columns = ["period", "format", "language", "created_at", "path", "sha256", "run_id", "report_id", "exists"]
    rows: list[ReportFile] = []
    with uow() as unit:
        offset = 0
        while True:  # every file of the device, a page at a time
            page = unit.queries.report_files(device_id=device_id, period=None, limit=1000, offset=offset)
            rows.extend(page.items)
            if page.next_offset is None:
                break
            offset = page.next_offset
    return pd.DataFrame([{k: getattr(r, k) for k in columns[:-1]} | {"exists": file_exists(r.path)} for r in rows],
                        columns=columns)


# --------------------------------------------------------------------------- device kinds (issue 17)
DEVICE_OUTPUT_TABLES = ("claims", "ordinal_cuts", "ordinal_matrix", "low_confidence", "review", "comparator",
                        "lesions", "froc")


@dataclass(frozen=True)
class DeviceOutputs:
    """The device-kind sections of a period's stored analysis as tables (each empty when the section is absent):
    ``claims`` (every claimed stratum-metric of claims.metrics with its decision), ``ordinal_cuts`` and
    ``ordinal_matrix`` (the overall population of each model version), ``low_confidence``, ``review``,
    ``comparator`` and ``lesions`` (one row per model version and stratum), and ``froc`` (the overall FROC curve
    of each model version)."""

    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    ordinal_cuts: pd.DataFrame = field(default_factory=pd.DataFrame)
    ordinal_matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    low_confidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    review: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparator: pd.DataFrame = field(default_factory=pd.DataFrame)
    lesions: pd.DataFrame = field(default_factory=pd.DataFrame)
    froc: pd.DataFrame = field(default_factory=pd.DataFrame)

    def present(self) -> list[str]:
        """The names of the tables that have rows."""
        return [name for name in DEVICE_OUTPUT_TABLES if not getattr(self, name).empty]


def _ordinal_tables(section: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = [level["name"] for level in section["levels"]]
    cuts, matrices = [], []
    for stratum in section["strata"]:
        if stratum["level"] != 0:
            continue
        for cut in stratum["cuts"]:
            for metric in ("sensitivity", "specificity"):
                rate = cut[metric]
                cuts.append({"model_version": stratum["model_version"], "positive_from": cut["positive_from"],
                             "primary": cut["primary"], "metric": metric, "estimate": rate["estimate"],
                             "ci_low": rate["ci_low"], "ci_high": rate["ci_high"], "successes": rate["successes"],
                             "trials": rate["trials"]})
        for level, row in zip(names, stratum["matrix"], strict=True):  # rows: the AI's level; columns: the grade
            matrices.append({"model_version": stratum["model_version"], "ai_level": level}
                            | {f"grade {grade}": n for grade, n in zip(names, row, strict=True)})
    return pd.DataFrame(cuts), pd.DataFrame(matrices)


def device_outputs(uow: UnitOfWorkFactory, device_id: str, period: str) -> DeviceOutputs:
    """The device-kind sections of the period's newest analysis (nothing recomputed)."""
    with uow() as unit:
        run = _run_of(unit.queries, device_id, period)
        document = unit.queries.document(run.run_id) if run else {}
    frames: dict[str, pd.DataFrame] = {}
    keep = ["model_version", "stratum"]
    claimed = [r for r in document.get("metric_claims") or [] if r["claim"] is not None]
    if claimed:
        frames["claims"] = pd.DataFrame(claimed)[
            [*keep, "metric", "estimate", "ci_low", "ci_high", "direction", "claim", "goal", "status", "q_value",
             "family", "ticket_id"]]
    if document.get("ordinal"):
        frames["ordinal_cuts"], frames["ordinal_matrix"] = _ordinal_tables(document["ordinal"])
    if document.get("low_confidence"):
        frames["low_confidence"] = pd.DataFrame(document["low_confidence"])[
            [*keep, "assessed", "flagged", "rate", "ci_low", "ci_high", "goal"]]
    if document.get("review"):
        frames["review"] = pd.DataFrame(document["review"].get("rates") or [])
    if document.get("comparator"):
        frames["comparator"] = pd.DataFrame(document["comparator"]["rows"])[
            [*keep, "metric", "cases", "ai", "comparator", "difference", "ci_low", "ci_high", "p_value", "test"]]
    if document.get("lesions"):
        rows = document["lesions"]["rows"]
        frames["lesions"] = pd.DataFrame([{
            "model_version": r["model_version"], "stratum": r["stratum"], "scans": r["scans"], "lesions": r["lesions"],
            "lesion_sensitivity": r["lesion_sensitivity"]["estimate"], "ci_low": r["lesion_sensitivity"]["ci_low"],
            "ci_high": r["lesion_sensitivity"]["ci_high"], "fp_per_scan": r["fp_per_scan"]["estimate"],
            "cpm": r["cpm"]["estimate"]} for r in rows])
        frames["froc"] = pd.DataFrame([p | {"model_version": r["model_version"]} for r in rows if r["level"] == 0
                                       for p in r.get("froc") or []])
    return DeviceOutputs(**frames)
