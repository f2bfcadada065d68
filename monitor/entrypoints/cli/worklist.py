"""``samd-monitor worklist``: the review worklist of a device and period (docs/review-worklists.md)."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, jsonable, out, say, write_out_file

if TYPE_CHECKING:  # pragma: no cover
    from monitor.service.worklist import Worklist

#: Worklist statuses (monitor.domain.review_events.WORKLIST_STATUSES; a test checks they agree).
Status = Literal["pending", "in_review", "confirmed", "edited", "rejected"]

worklist_app = typer.Typer(help="The review worklist: cases sent to secondary review and their review status.",
                           no_args_is_help=True)
app.add_typer(worklist_app, name="worklist")

_DEVICE = typer.Option(..., "--device", help="Registered device with review triggers.")
_PERIOD = typer.Option(..., "--period", help="Period: 2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30.")
_STATUS = typer.Option(None, "--status", help="Only cases whose latest review has this status.")


def _read(device: str, period: str, status: Optional[str]) -> tuple[Worklist, object]:
    from monitor.service.worklist import get_worklist

    application = build_app()
    return get_worklist(application.uow, device, period, clock=application.clock, status=status), application  # type: ignore[arg-type]


@worklist_app.command("list")
def worklist_list(device: str = _DEVICE, period: str = _PERIOD, status: Optional[Status] = _STATUS,
                  as_json: bool = typer.Option(False, "--json", help="Print the worklist as one JSON object.")) -> None:
    """List the cases the review triggers sent to review, with the status of their latest review."""
    worklist, _ = _read(device, period, status)
    if as_json:
        emit_json(worklist.model_dump(mode="python"))
        return
    counts = ", ".join(f"{n} {s}" for s, n in worklist.counts.items())
    say(f"{worklist.device_id} {worklist.period}: {sum(worklist.counts.values())} of {worklist.cases} cases sent "
        f"to review ({counts}); triggers: {', '.join(worklist.triggers)}")
    table = DataTable("prediction", "study", "model", "site", "triggers", "AI mm3", "reviewed mm3", "diff",
                      "status", "reviewer", "reviewed at", ids=("prediction",))
    for item in worklist.items:
        table.add_row(item.prediction_id, item.study_uid or "", item.model_version, item.site_id,
                      ", ".join(item.triggers), _number(item.ai_volume_mm3), _number(item.reviewed_volume_mm3),
                      "" if item.relative_difference is None else f"{item.relative_difference:+.1%}", item.status,
                      item.reviewer or "", jsonable(item.reviewed_at) or "")
    out.print(table)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def worklist_csv(worklist: Worklist) -> str:
    """The worklist's items as CSV text (columns :data:`monitor.service.worklist.EXPORT_COLUMNS`; triggers joined
    by ``;``, timestamps in UTC ISO 8601)."""
    from monitor.service.worklist import EXPORT_COLUMNS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for item in worklist.items:
        row = jsonable(item.model_dump(mode="python"))
        writer.writerow(["" if row[c] is None else ";".join(row[c]) if c == "triggers" else row[c]
                         for c in EXPORT_COLUMNS])
    return buffer.getvalue()


@worklist_app.command("export")
def worklist_export(device: str = _DEVICE, period: str = _PERIOD, status: Optional[Status] = _STATUS,
                    out_file: Path = typer.Option(..., "--out", help="CSV file to write.")) -> None:
    """Write the worklist to a CSV file (audited worklist.export, with the file's SHA-256)."""
    from monitor.service.worklist import record_worklist_export

    worklist, application = _read(device, period, status)
    actor = application.actor  # type: ignore[attr-defined]  # a named user: the export is audited
    data = worklist_csv(worklist).encode("utf-8")
    write_out_file(out_file, data)
    record_worklist_export(application.uow, worklist, clock=application.clock, actor=actor,  # type: ignore[attr-defined]
                           target=out_file.name, sha256=hashlib.sha256(data).hexdigest(), status=status)
    say(f"wrote {len(worklist.items)} worklist case(s) to {out_file}")
