"""Read and export retraining tickets."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from monitor.service.ports import UnitOfWorkFactory

__all__ = ["TICKET_CSV_COLUMNS", "list_tickets", "tickets_as_csv", "tickets_as_json"]

TICKET_CSV_COLUMNS = (
    "ticket_id", "status", "device_id", "model_version", "stratum", "metric", "title", "created_at", "updated_at",
    "evidence_runs", "latest_period", "latest_estimate", "latest_ci_low", "latest_ci_high", "claim", "margin",
    "latest_q_value", "latest_successes", "latest_trials",
)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def list_tickets(*, uow: UnitOfWorkFactory, device_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Tickets with their evidence, oldest first."""
    with uow() as unit:
        return unit.tickets.list(device_id=device_id, status=status)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def tickets_as_json(tickets: list[dict[str, Any]]) -> str:
    """Tickets as a JSON document (``schemas/tickets.schema.json``)."""
    return json.dumps({"schema": "samd-monitor/tickets", "schema_version": 1, "tickets": _jsonable(tickets)},
                      indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(_jsonable(value))
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def tickets_as_csv(tickets: list[dict[str, Any]]) -> str:
    """Tickets as CSV, one row per ticket with its latest evidence; cells neutralised against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TICKET_CSV_COLUMNS)
    for t in tickets:
        latest = t["evidence"][-1]["evidence"] if t["evidence"] else {}
        writer.writerow([_cell(v) for v in (
            t["ticket_id"], t["status"], t["device_id"], t["model_version"], t["stratum"], t["metric"], t["title"],
            t["created_at"], t["updated_at"], len(t["evidence"]), latest.get("period"), latest.get("estimate"),
            latest.get("ci_low"), latest.get("ci_high"), latest.get("claim"), latest.get("margin"),
            latest.get("q_value"), latest.get("successes"), latest.get("trials"))])
    return out.getvalue()
