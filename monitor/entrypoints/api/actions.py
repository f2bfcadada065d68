"""Actions over HTTP: run an analysis of a device and period, and write a new draft report revision.

The same services as ``samd-monitor analyze`` and ``samd-monitor report`` (and the scheduler): the
analysis run, its findings and tickets, the report files and revision are stored and audited by them
(``analysis.run``, ``report.generate``) with the caller's name as the actor. Both need the permission of
their role (qa: ``analysis:run``, ``reports:write``; docs/api.md). They run while the request waits (an
analysis takes seconds to minutes, a PDF report longer): set the client's timeout accordingly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path as PathParam, Response
from pydantic import AwareDatetime, BaseModel, Field

from monitor.domain.periods import Period
from monitor.domain.roles import Permission
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.service.access import Principal
from monitor.service.analyze import analyze_period
from monitor.service.report import write_report

__all__ = ["actions_router"]

#: A device id's form (monitor/domain/device.py); a malformed one is refused (422) before any query.
DEVICE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
#: The period forms of monitor/domain/periods.py (a date that does not exist is still refused there: 422).
PERIOD_TEXT = (r"^(\d{4}|\d{4}[Qq][1-4]|\d{4}-(0[1-9]|1[0-2])|"
               r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\.\.\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))$")
PERIOD_HELP = "2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30 (in the device's time zone)."


class AnalysisRequest(BaseModel):
    """What to analyse."""

    period: str = Field(..., pattern=PERIOD_TEXT, max_length=24, description=PERIOD_HELP, examples=["2025Q3"])
    cutoff: AwareDatetime | None = Field(
        None, description="Data cut-off (default: now; a later one is taken as now). Re-running with the "
                          "recorded cut-off reproduces a run.")


class AnalysisFinding(BaseModel):
    model_version: str
    stratum: str
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    claim: float
    trials: int
    ticket_id: str | None = None


class AnalysisSummary(BaseModel):
    """The stored run in brief; the whole analysis document is at ``GET /v1/runs/{run_id}``."""

    run_id: str
    device_id: str
    period: str
    data_cutoff: datetime
    predictions: int
    with_ground_truth: int
    awaiting_ground_truth: int
    strata: int
    tests: int
    flagged: int
    insufficient: int
    findings: list[AnalysisFinding]
    opened_tickets: list[str]
    updated_tickets: list[str]


class ReportRequest(BaseModel):
    """Which report to write (by default the period's newest analysis run)."""

    period: str = Field(..., pattern=PERIOD_TEXT, max_length=24, description=PERIOD_HELP + " A year with rollup.",
                        examples=["2025Q3"])
    formats: list[Literal["html", "pdf", "json", "csv", "xlsx", "evidently"]] | None = Field(
        None, min_length=1, max_length=6, description="Default: the service's MONITOR_REPORT_FORMATS.")
    languages: list[Literal["en", "zh-CN", "both"]] | None = Field(
        None, min_length=1, max_length=3, description="For html and pdf. Default: MONITOR_REPORT_LANGUAGES.")
    run_id: str | None = Field(None, pattern=r"^[0-9a-fA-F-]{36}$",
                               description="The analysis run to report (of this device and period).")
    rollup: bool = Field(False, description="Annual roll-up of the year's stored quarterly runs.")
    reason: str | None = Field(None, max_length=2000,
                               description="Why a new revision is made: required when the period already has a "
                                           "revision (the new one supersedes it; audited as report.supersede).")


class ReportFileOut(BaseModel):
    key: str = Field(..., description="json, xlsx, html:<language>, pdf:<language> or csv:<table>.")
    name: str = Field(..., description="File name (download from GET /v1/report-files?device_id=&period=).")
    sha256: str


class ReportSummary(BaseModel):
    """The new draft revision."""

    report_id: str
    run_id: str
    device_id: str
    period: str
    revision: int
    status: Literal["draft"] = "draft"
    content_sha256: str
    files: list[ReportFileOut]


def actions_router(app: App, auth: Authenticator) -> APIRouter:
    """``POST /v1/devices/{device_id}/analyses`` (qa) and ``POST /v1/devices/{device_id}/reports`` (qa)."""
    router = APIRouter(prefix="/v1/devices/{device_id}", tags=["actions"],
                       responses=problem_responses(401, 403, 404, 409, 422, 429, 503))
    device_path = PathParam(pattern=DEVICE_ID, max_length=128, description="Device id.")

    @router.post("/analyses", response_model=AnalysisSummary, status_code=201, summary="Run an analysis")
    def run_analysis(request: AnalysisRequest, response: Response, device_id: str = device_path,
                     principal: Principal = Depends(auth.require(Permission.RUN_ANALYSIS))) -> dict[str, Any]:
        """Analyse the device over the period with data up to the cut-off: stratified metrics, tests against
        the claims, findings and tickets, stored as a new run (audited as ``analysis.run``)."""
        outcome = analyze_period(device_id, Period.parse(request.period), uow=app.uow, clock=app.clock,
                                 actor=principal.name, cutoff=request.cutoff)
        doc = outcome.document
        total = doc["completeness"]["total"]
        response.headers["Location"] = f"/v1/runs/{outcome.run_id}"
        return {
            "run_id": outcome.run_id, "device_id": device_id, "period": doc["period"]["label"],
            "data_cutoff": doc["data_cutoff"], "predictions": total["predictions"],
            "with_ground_truth": total["with_ground_truth"], "awaiting_ground_truth": total["awaiting_ground_truth"],
            "strata": doc["summary"]["strata"], "tests": doc["summary"]["tests"],
            "flagged": doc["summary"]["flagged"], "insufficient": doc["summary"]["insufficient"],
            "findings": doc["findings"], "opened_tickets": outcome.opened_tickets,
            "updated_tickets": outcome.updated_tickets,
        }

    @router.post("/reports", response_model=ReportSummary, status_code=201, summary="Write a report draft")
    def write_report_draft(request: ReportRequest, device_id: str = device_path,
                           principal: Principal = Depends(auth.require(Permission.WRITE_REPORTS))) -> dict[str, Any]:
        """Write a new draft revision of the device's report for the period into the service's report folder
        (``$MONITOR_DATA_DIR/reports``), recorded with each file's SHA-256 (audited as ``report.generate``).
        A second revision of the period needs ``reason`` (422 without it) and supersedes the previous one.
        Signing stays with people: ``samd-monitor signoff sign`` re-authenticates the signer."""
        service = app.settings.service
        period = Period.parse(request.period).label
        files = write_report(device_id, period, formats=request.formats or list(service.report_formats),
                             languages=request.languages or list(service.report_languages), rollup=request.rollup,
                             run_id=request.run_id, out_dir=app.settings.data_dir / "reports", uow=app.uow,
                             clock=app.clock, actor=principal.name, renderer=app.report_renderer,
                             reason=request.reason)
        return {"report_id": files.report_id, "run_id": files.run_id, "device_id": device_id, "period": period,
                "revision": files.revision, "content_sha256": files.content_sha256,
                "files": [{"key": key, "name": path.name, "sha256": files.sha256[key]}
                          for key, path in files.files.items()]}

    return router
