"""The ticket CSV exports neutralise spreadsheet formulas in every cell (site ids, strata, reasons...)."""

from __future__ import annotations

import csv
import io

from monitor.service.tickets import tickets_as_csv, transitions_as_csv


def test_ticket_csv_neutralises_formula_payloads() -> None:
    payloads = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rx"]
    tickets = [{
        "ticket_id": "RT-000001", "status": "open", "severity": "major", "device_id": "dev",
        "model_version": p, "stratum": f"site_id={p}", "metric": "sensitivity", "title": p,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "evidence": [],
        "data_collection_target": 78, "containment": p, "acceptance_criteria": None, "closed_run_id": None,
        "resolution": p, "transitions": [{"from_status": None, "to_status": "open", "at": "2026-01-01T00:00:00Z",
                                          "actor": p, "reason": p, "run_id": None}],
    } for p in payloads]
    for text in (tickets_as_csv(tickets), transitions_as_csv(tickets)):
        for row in csv.reader(io.StringIO(text, newline="")):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    rows = list(csv.DictReader(io.StringIO(tickets_as_csv(tickets), newline="")))
    assert rows[0]["stratum"] == "site_id==HYPERLINK(\"http://x\")"  # not at the start: left as is
    assert rows[0]["model_version"] == "'=HYPERLINK(\"http://x\")"
