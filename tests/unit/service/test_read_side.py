"""The one read side (monitor/service/queries.py) over a fake unit of work: filters checked before any
query (a wrong period form or enumerated value is an InputError that never quotes the value, and the
repository is not called), periods normalised, the dashboard's overview and findings built from typed
rows, the report's run check, and the ticket document without row ids. No database."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterator

import pytest

from monitor.errors import InputError, NotFoundError
from monitor.service import queries
from monitor.service.read_models import (
    Device,
    Finding,
    Page,
    ReportFile,
    Run,
    RunHeader,
    TicketComment,
    TicketDetail,
)

T0 = datetime(2025, 10, 2, tzinfo=UTC)
DOCUMENT = {
    "completeness": {"total": {"predictions": 200, "with_ground_truth": 150},
                     "by_model_version": [{"model_version": "2.1.0"}]},
    "summary": {"tests": 12, "flagged": 1, "insufficient": 3, "outcomes": {"flagged": 1, "conforming": 11}},
    "data_drift": [{"reference": "preceding", "rows": [{"feature": "age", "drifted": True},
                                                       {"feature": "sex", "drifted": False}]}],
    "results": [],
}


def header(run_id: str, period: str, device_id: str = "dev-a") -> RunHeader:
    return RunHeader(run_id=run_id, device_id=device_id, period=period, period_start=T0, period_end=T0,
                     data_cutoff=T0, created_at=T0, software_version="1", config_hash="c", input_fingerprint="f",
                     actor="pytest")


def finding(finding_id: str, kind: str, stratum: str) -> Finding:
    return Finding(finding_id=finding_id, run_id="r2", device_id="dev-a", model_version="2.1.0", stratum=stratum,
                   metric="sensitivity", kind=kind, evidence={}, ticket_id=None, created_at=T0)


@dataclass
class FakeReads:
    """An in-memory ReadRepo: the rows it holds, and the calls it was asked."""

    runs_by_device: dict[str, list[RunHeader]] = field(default_factory=dict)
    found: list[Finding] = field(default_factory=list)
    files: list[ReportFile] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def all_devices(self) -> list[Device]:
        return [Device(device_id=d, name=d.upper(), config_version=1, config_hash="c", created_at=T0, updated_at=T0,
                       config={}) for d in ("dev-a", "dev-b")]

    def latest_runs(self, device_id: str) -> list[RunHeader]:
        return self.runs_by_device.get(device_id, [])

    def ticket_counts(self, device_id: str) -> dict[str, int]:
        return {"open": 2, "closed": 5, "triaged": 1} if device_id == "dev-a" else {}

    def document(self, run_id: str) -> dict[str, Any]:
        return DOCUMENT

    def findings_of_runs(self, run_ids: list[str]) -> list[Finding]:
        return [f for f in self.found if f.run_id in run_ids]

    def runs(self, **kwargs: Any) -> Page[RunHeader]:
        self.calls.append(("runs", kwargs))
        return Page(items=[], limit=kwargs["limit"], offset=kwargs["offset"], has_more=False)

    def tickets(self, **kwargs: Any) -> Page[Any]:
        self.calls.append(("tickets", kwargs))
        return Page(items=[], limit=kwargs["limit"], offset=kwargs["offset"], has_more=False)

    def batches(self, **kwargs: Any) -> Page[Any]:
        self.calls.append(("batches", kwargs))
        return Page(items=[], limit=kwargs["limit"], offset=kwargs["offset"], has_more=False)

    def run_exists(self, run_id: str) -> bool:
        return False

    def run(self, run_id: str) -> Run:
        return Run(**header(run_id, "2025Q2").model_dump(),
                   document=DOCUMENT)

    def report_files(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> Page[ReportFile]:
        mine = [f for f in self.files if f.device_id == device_id]
        return Page(items=mine[offset:offset + limit], limit=limit, offset=offset, has_more=len(mine) > offset + limit)


@dataclass
class FakeUnit:
    queries: FakeReads


def fake_uow(reads: FakeReads) -> Any:
    @contextmanager
    def open_unit() -> Iterator[FakeUnit]:
        yield FakeUnit(reads)
    return open_unit


def test_periods_are_normalised_and_a_wrong_form_is_refused_before_any_query() -> None:
    reads = FakeReads()
    queries.list_runs(fake_uow(reads), period="2025q3", limit=10, offset=0)
    assert reads.calls == [("runs", {"device_id": None, "period": "2025Q3", "limit": 10, "offset": 0})]
    messages = set()
    for bad in ("2025-Q3", "Q3", "2025-13", "2025Q3 ", "2025Q3\n", "2025Q5", "MRN-123456"):
        with pytest.raises(InputError) as caught:
            queries.list_runs(fake_uow(reads), period=bad, limit=10, offset=0)
        messages.add(str(caught.value))
    assert messages == {"period: use a quarter (2025Q3), a month (2025-07), a year (2025) "
                        "or a window (2025-07-01..2025-09-30)"}  # the forms, never the value given
    assert len(reads.calls) == 1
    # a window of the right form whose dates cannot be names no stored period: kept, and finds nothing
    assert queries.check_period("2025-09-30..2025-07-01") == "2025-09-30..2025-07-01"


def test_enumerated_filters_are_checked_before_any_query() -> None:
    reads = FakeReads()
    with pytest.raises(InputError, match="status: use one of open, triaged, in_progress"):
        queries.list_tickets(fake_uow(reads), status="opened", limit=10, offset=0)
    with pytest.raises(InputError, match="kind: use one of predictions, ground_truth, retractions"):
        queries.list_batches(fake_uow(reads), kind="prediction", limit=10, offset=0)
    with pytest.raises(InputError, match="metric"):
        queries.list_results(fake_uow(reads), "r1", metric="auc", limit=10, offset=0)
    assert reads.calls == []
    queries.list_tickets(fake_uow(reads), status=queries.TicketStatus("triaged"), limit=5, offset=0)
    assert reads.calls[-1][1]["status"] == "triaged" and type(reads.calls[-1][1]["status"]) is str
    with pytest.raises(NotFoundError):  # a valid filter on a missing run: not found, not an empty page
        queries.list_results(fake_uow(reads), "r1", status="flagged", limit=10, offset=0)


def test_overview_and_findings_come_from_the_stored_rows() -> None:
    reads = FakeReads(runs_by_device={"dev-a": [header("r1", "2025Q2"), header("r2", "2025Q3")]},
                      found=[finding("f1", "cusum_alarm", "a"), finding("f2", "performance", "b"),
                             finding("f3", "performance", "a")])
    rows = {o.device_id: o for o in queries.overview(fake_uow(reads))}
    assert rows["dev-b"].current is None and rows["dev-b"].periods == 0
    a = rows["dev-a"]
    assert (a.periods, a.open_tickets, a.tickets_by_status["closed"]) == (2, 3, 5)
    current = a.current
    assert current is not None
    assert (current.period, current.run_id, current.label_completeness, current.open_findings) == ("2025Q3", "r2",
                                                                                                  0.75, 3)
    assert current.drifted_features == ["age"] and current.model_versions == ["2.1.0"]
    assert queries.device_periods(fake_uow(reads), "dev-a") == ["2025Q3", "2025Q2"]
    assert [f.finding_id for f in queries.period_findings(fake_uow(reads), "dev-a", "2025Q3")] == ["f3", "f2", "f1"]
    assert queries.period_findings(fake_uow(reads), "dev-a", "2024Q1") == []


def test_report_files_frame_reads_every_page_and_asks_the_caller_about_files() -> None:
    files = [ReportFile(id=i, report_id="rep", run_id="r2", device_id="dev-a", period="2025Q3", format="json",
                        path=f"/srv/reports/{i}.json", sha256="s", created_at=T0, actor="pytest", language=None)
             for i in range(1, 1203)]
    frame = queries.report_files_frame(fake_uow(FakeReads(files=files)), "dev-a",
                                       file_exists=lambda path: path.endswith("7.json"))
    assert len(frame) == 1202 and int(frame["exists"].sum()) == 120


def test_the_report_run_must_be_of_its_device_and_period() -> None:
    unit = FakeUnit(FakeReads())
    assert queries.period_run(unit, "dev-a", "2025Q2", "r9").run_id == "r9"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="is of device 'dev-a' and period 2025Q2, not of 'dev-a' and 2025Q3"):
        queries.period_run(unit, "dev-a", "2025Q3", "r9")  # type: ignore[arg-type]


def test_ticket_document_leaves_out_comment_row_ids() -> None:
    ticket = TicketDetail(ticket_id="RT-000001", device_id="dev-a", model_version="2.1.0", stratum="a",
                          metric="sensitivity", status="open", title="t", created_at=T0, updated_at=T0,
                          comments=[TicketComment(id=7, actor="qa1", body="looked", at=T0)])
    document = ticket.as_document()
    assert document["comments"] == [{"actor": "qa1", "body": "looked", "at": T0}]
    assert document["evidence"] == [] and document["status"] == "open"
