"""Analyse one device and period: counts from the database, statistics from the pure core,
results, findings and retraining tickets stored in one transaction.

The analysis document (``schemas/analysis.schema.json``) is the single source of every
number a report prints; it records the data cut-off and an input fingerprint so that
re-running the analysis with the same cut-off reproduces it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from monitor import __version__
from monitor.domain.analysis_document import as_json, validated
from monitor.domain.evaluation import (
    DECISION_RULE,
    TESTED_STATUSES,
    StratumMetricResult,
    evaluate_cells,
    family_summary,
    stratum_counts,
)
from monitor.domain.metric_claims import decide_metric_claims
from monitor.domain.periods import Period, resolve_timezone
from monitor.errors import InputError
from monitor.service.cells import stratified_cells, window_aggregates
from monitor.service.clinical_sections import failure_rate_findings
from monitor.service.device_sections import build_device_sections
from monitor.service.evidence import gather_evidence
from monitor.service.metric_claim_tickets import metric_claim_findings
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.service.sections import Window, build_sections
from monitor.service.window import WindowReads, materialised_cases
from monitor.service.tickets import attach_group_evidence, ticket_finding_groups

__all__ = ["ANALYSIS_SCHEMA_VERSION", "AnalysisOutcome", "analyze_period"]

ANALYSIS_SCHEMA_VERSION = 1
METRIC_TITLES = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV"}


@dataclass
class AnalysisOutcome:
    """What an analysis produced: the document, and the tickets it opened or added evidence to."""

    document: dict[str, Any]
    opened_tickets: list[str] = field(default_factory=list)
    updated_tickets: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The stored run's id."""
        return str(self.document["run_id"])


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _finding(result: StratumMetricResult, run_id: str, device_id: str) -> dict[str, Any]:
    return {
        "finding_id": str(uuid.uuid4()), "run_id": run_id, "device_id": device_id,
        "model_version": result.model_version, "stratum": result.stratum, "metric": result.metric,
        "kind": "performance",
        "evidence": {k: v for k, v in result.as_dict().items()
                     if k in ("stratum", "attributes", "metric", "successes", "trials", "estimate", "ci_low",
                              "ci_high", "claim", "margin", "performance_goal", "p_value", "log10_p_value",
                              "p_shortfall", "log10_p_shortfall", "q_value", "log10_q_value", "family",
                              "family_size", "family_level", "effective_successes", "effective_trials", "basis",
                              "design_effect", "expected_share", "provisional", "minimal_detectable_drop")},
    }


def _cusum_findings(charts: list[dict[str, Any]], run_id: str, device_id: str, created: datetime
                    ) -> list[dict[str, Any]]:
    """A finding per CUSUM chart that alarmed in the period (a signal: it joins an open ticket of the same
    stratum-metric when there is one; it does not open tickets by itself)."""
    return [{
        "finding_id": str(uuid.uuid4()), "run_id": run_id, "device_id": device_id,
        "model_version": c["model_version"], "stratum": c["stratum"], "metric": c["metric"],
        "kind": "cusum_alarm", "created_at": created, "ticket_id": None,
        "evidence": {k: c[k] for k in ("model_version", "stratum", "level", "metric", "in_control_event_rate",
                                       "designed_event_rate", "charted_in_control_event_rate",
                                       "charted_designed_event_rate", "verification", "h", "arl0",
                                       "detection_delay", "design_basis", "statistic", "alarms_in_period",
                                       "first_alarm", "alarms", "segment_start_utc", "segment_end_utc",
                                       "cases_in_period", "events_in_period")},
    } for c in charts if c["alarms_in_period"]]


def _ticket_title(result: StratumMetricResult) -> str:
    return (f"{METRIC_TITLES[result.metric]} below claim in {result.stratum} "
            f"(model {result.model_version}): {result.estimate:.3f} vs claim {result.claim:.3f}")


def analyze_period(
    device_id: str, period: Period, *, uow: UnitOfWorkFactory, clock: Clock, actor: str,
    cutoff: datetime | None = None,
) -> AnalysisOutcome:
    """Analyse ``device_id`` over ``period`` with data received up to ``cutoff`` (default, and at most: now).

    The cut-off is a *receipt* time (docs/cutoff.md): the period selects predictions by ``predicted_at``; the
    cut-off keeps the predictions, ground-truth versions and retractions *ingested* by then. The analysis first
    waits for any open ingest transaction to end, so it never half-sees a batch: a re-run with the recorded
    cut-off counts exactly the same rows. An analysis that would count no prediction (none in the period, or
    the cut-off or retractions exclude them all) raises :class:`InputError` and stores nothing.
    """
    created = clock()
    explicit_cutoff = cutoff is not None
    cutoff = cutoff or created
    if cutoff.tzinfo is None:
        raise InputError("the data cut-off needs a UTC offset (e.g. 2026-01-31T23:59:59+08:00)")
    # A cut-off in the future is taken as now (and recorded so): data ingested later must not change a
    # re-run with the recorded cut-off.
    cutoff = min(cutoff, created)
    with uow() as unit:
        unit.logs.wait_for_ingestion()  # every batch stamped by the cut-off has committed (none is half-seen)
        config = unit.devices.get(device_id)
        tz = resolve_timezone(config.monitoring.timezone)
        start, end = period.bounds_utc(tz)
        window = dict(start=start, end=end, cutoff=cutoff)
        completeness = unit.results.completeness(device_id, **window)
        retracted = unit.results.retracted_count(device_id, **window)
        if not sum(c["predictions"] for c in completeness):
            raise _nothing_to_analyse(unit, device_id, period, window, retracted, explicit=explicit_cutoff)
        read = stratified_cells(unit, config, **window, now=created)  # count cells when exact, else rows
        cells = read.cells
        fingerprint, sources = unit.results.input_fingerprint(device_id, **window)
        site_counts = unit.results.sites_in_period(device_id, **window)
        run_window = Window(device_id, start, end, cutoff)
        with materialised_cases(unit, config, run_window) as cases:  # the window's rows joined once
            current = window_aggregates(unit, config, run_window, created, cases=cases)  # months when exact
            evidence = gather_evidence(unit, config, run_window, cells, cases=cases, current=current.aggregates)
            sections = build_sections(unit, config, period, run_window, cells, cases=cases, now=created,
                                      current=current) | evidence.sections
            # ordinal, low confidence, review, lesions, comparator, claimed metrics
            kinds = build_device_sections(unit, config, WindowReads(run_window, cases, current.aggregates))
        results = evaluate_cells(cells, config, evidence.adjustments)
        sections |= kinds.sections
        run_id = str(uuid.uuid4())
        # A shortfall shown on provisional evidence (too few of the expected labels have arrived) is reported with
        # its outcome but opens no ticket and adds no ticket evidence: it is decided again at the next cut-off.
        shortfalls = [r for r in results if r.status == "flagged" and not r.provisional]
        found = [_finding(r, run_id, device_id) for r in shortfalls]
        grouped = ticket_finding_groups(unit, found, shortfalls, config, run_id=run_id, at=created, actor=actor,
                                        title=_ticket_title)
        # Claims of claims.metrics, decided on the sections' evidence: a flagged row (not provisional) is a finding of
        # kind metric_claim that opens or updates its ticket (monitor.service.metric_claim_tickets).
        claimed = metric_claim_findings(unit, decide_metric_claims(kinds.evidence, config), config, run_id=run_id,
                                        at=created, actor=actor)
        if config.claims.metrics or kinds.evidence:
            sections["metric_claims"] = [row.model_dump(mode="json") for row in claimed.rows]
        outcome = AnalysisOutcome(document={}, opened_tickets=grouped.opened + claimed.tickets.opened,
                                  updated_tickets=grouped.updated + claimed.tickets.updated)
        alarms = _cusum_findings(sections["sequential"]["cusum"], run_id, device_id, created)
        for alarm in alarms:
            ticket = unit.tickets.find_open(device_id, alarm["model_version"], alarm["stratum"], alarm["metric"])
            alarm["ticket_id"] = ticket["ticket_id"] if ticket else None
        failure_found = failure_rate_findings(sections.get("failure_rate", []), run_id, device_id, created)
        found_all = found + alarms + failure_found + claimed.findings
        document = _document(
            run_id=run_id, created=created, cutoff=cutoff, actor=actor, config=config, period=period,
            bounds=(start, end), fingerprint=fingerprint, sources=sources, completeness=completeness,
            site_counts=site_counts, counts=[c.as_dict() for c in stratum_counts(cells, config)],
            results=[r.as_dict() for r in results], found=found,
        ) | sections | {"sequential_alarms": [
            {"finding_id": a["finding_id"], "ticket_id": a["ticket_id"], **a["evidence"]} for a in alarms]}
        document["completeness"]["retracted"] = retracted  # retracted by the cut-off: left out
        # Validated by the typed model (the schema is generated from it) and stored as the model gives it back:
        # the same JSON, byte for byte (numbers keep their int / float type, absent optional fields stay absent).
        document = as_json(validated(document))
        unit.results.save_run(
            {"run_id": run_id, "device_id": device_id, "period": period.label, "period_start": start,
             "period_end": end, "data_cutoff": cutoff, "created_at": created, "software_version": __version__,
             "config_hash": config.config_hash(), "input_fingerprint": fingerprint, "document": document,
             "actor": actor},
            [r.as_dict() for r in results], found_all,
        )
        for tickets in (grouped, claimed.tickets):
            attach_group_evidence(unit, tickets, run_id=run_id, period=period.label, data_cutoff=_iso(cutoff),
                                  at=created)
        for finding in [f for f in alarms + failure_found if f["ticket_id"]]:
            unit.tickets.add_evidence(finding["ticket_id"], run_id=run_id, finding_id=finding["finding_id"],
                                      evidence=finding["evidence"] | {"run_id": run_id, "period": period.label,
                                                                      "data_cutoff": _iso(cutoff)},
                                      at=created)
        unit.audit.append(at=created, actor=actor, action="analysis.run", entity="analysis_run", entity_id=run_id,
                          details={"device_id": device_id, "period": period.label, "data_cutoff": _iso(cutoff),
                                   "input_fingerprint": fingerprint, "flagged": len(found),
                                   "counted_from": read.as_dict(), "aggregates_from": current.as_dict(),
                                   "opened_tickets": outcome.opened_tickets,
                                   "updated_tickets": outcome.updated_tickets})
        outcome.document = document
    return outcome


def _nothing_to_analyse(unit: Any, device_id: str, period: Period, window: dict[str, datetime], retracted: int, *,
                        explicit: bool) -> InputError:
    """Why an analysis would count no prediction, and what to do (counts only: no data value)."""
    cutoff = window["cutoff"]
    where = f"device {device_id!r} has no predictions in {period.label}"
    if retracted:
        return InputError(f"{where} to analyse: all {retracted:,} were retracted by the data cut-off {_iso(cutoff)}")
    if explicit:
        later = sum(c["predictions"] for c in unit.results.completeness(
            device_id, start=window["start"], end=window["end"], cutoff=datetime(9999, 12, 31, tzinfo=timezone.utc)))
        if later:
            return InputError(
                f"{where} ingested by the data cut-off {_iso(cutoff)}: its {later:,} predictions were ingested "
                "after it (the cut-off counts rows by when they were ingested, not by when they were predicted "
                "or confirmed); use a later --cutoff, or none (now); see docs/cutoff.md")
    return InputError(f"{where} (predicted_at within the period in the device's time zone): nothing to analyse")


def _document(*, run_id: str, created: datetime, cutoff: datetime, actor: str, config: Any, period: Period,
              bounds: tuple[datetime, datetime], fingerprint: str, sources: list[dict[str, Any]],
              completeness: list[dict[str, Any]], site_counts: list[dict[str, Any]],
              counts: list[dict[str, Any]], results: list[dict[str, Any]], found: list[dict[str, Any]]) -> dict[str, Any]:
    """The analysis document (``schemas/analysis.schema.json``)."""
    identity = config.device
    tested = [r for r in results if r["status"] in TESTED_STATUSES]
    decided = family_summary(config, results)
    totals = {k: sum(c[k] for c in completeness) for k in
              ("predictions", "with_ground_truth", "awaiting_ground_truth", "positives", "negatives")}
    return {
        "schema": "samd-monitor/analysis",
        "schema_version": ANALYSIS_SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": _iso(created),
        "actor": actor,
        "software_version": __version__,
        "config_hash": config.config_hash(),
        "input_fingerprint": fingerprint,
        "device": {
            "id": identity.id, "name": identity.name, "name_zh": identity.name_zh,
            "manufacturer": identity.manufacturer, "intended_use": identity.intended_use,
            "intended_use_zh": identity.intended_use_zh,
            "registrations": [r.model_dump(mode="json") for r in identity.registrations],
            "operating_threshold": config.operating_threshold,
        },
        "period": {"label": period.label, "kind": period.kind, "timezone": config.monitoring.timezone,
                   "first_day": period.start_local.isoformat(),
                   "last_day": period.end_local.fromordinal(period.end_local.toordinal() - 1).isoformat(),
                   "start_utc": _iso(bounds[0]), "end_utc": _iso(bounds[1])},
        "data_cutoff": _iso(cutoff),
        "rules": config.monitoring.model_dump(mode="json") | {
            "claims": config.claims.model_dump(mode="json"),
            "strata": [a.name for a in config.strata.attributes],
            "intersections": [list(p) for p in config.strata.monitored_intersections()],
            "confirmatory": list(config.strata.confirmatory),
            "confirmatory_intersections": [dict(w) for w in config.strata.confirmatory_intersections],
            "decision_rule": DECISION_RULE,
            "families": decided["families"],
        },
        "sources": sources,
        "completeness": {"by_model_version": completeness, "total": totals},
        "sites": site_counts,
        "counts": counts,
        "results": results,
        "findings": [
            {"finding_id": f["finding_id"], "ticket_id": f["ticket_id"], "model_version": f["model_version"],
             "stratum": f["stratum"], "metric": f["metric"], **{k: v for k, v in f["evidence"].items()
                                                               if k not in ("stratum", "metric")}}
            for f in found
        ],
        "summary": {"strata": len({(c["model_version"], c["stratum"]) for c in counts}), "tests": len(tested),
                    "flagged": len(found),
                    "insufficient": sum(1 for r in results if r["status"] == "insufficient"),
                    "families": decided["families"], "outcomes": decided["outcomes"]},
    }
