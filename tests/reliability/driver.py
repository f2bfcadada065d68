"""A child process for the crash and concurrency tests: runs one service call, pausing where told.

``python driver.py ingest URL FILE CHUNK_ROWS [PAUSES]`` ingests a prediction log in chunks of CHUNK_ROWS
rows; ``python driver.py analyze URL DEVICE PERIOD CUTOFF [PAUSES]`` analyses a period;
``python driver.py report URL DEVICE PERIOD OUT_DIR [PAUSES]`` writes a report revision (HTML, JSON, CSV,
XLSX; English). PAUSES is a comma-separated list of points where the process prints ``paused <point>``
and waits for a line on its standard input before going on: ``start`` (set up, before the service is
called: a test can start several drivers at once and use them one after the other), ``chunk`` (after
each chunk has been written into the still open transaction), ``save_run`` (after the analysis run, its
results and findings have been written), ``file`` (after each report file has been written to disk and
its row added), ``revision`` (after the report revision row has been added) and ``commit`` (after every
write of the service, just before its transaction commits). The parent kills the process with SIGKILL
while it waits, so the point of the crash is exact. Only public service APIs are used, wrapped here: no
hook exists in production code. The process prints ``done`` and the batch summary (JSON), run id or
report id when it ends normally; a :class:`monitor.errors.MonitorError` ends it as the CLI does (one
``error:`` line on standard error, exit status 2) after printing ``failed <error class>`` on standard
output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from reliability_support import PATIENT_KEY, REPORT_FORMATS  # type: ignore[import-not-found]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _pause(point: str, pauses: set[str]) -> None:
    if point in pauses:
        _say(f"paused {point}")
        sys.stdin.readline()


def _app(url: str, pauses: set[str]):  # type: ignore[no-untyped-def]
    from monitor.adapters.db.repositories.reports import ReportRepository
    from monitor.adapters.db.repositories.results import ResultRepository
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    app = bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))
    opened = app.uow

    @contextmanager
    def paused_uow() -> Iterator[object]:
        with opened() as unit:
            yield unit
            _pause("commit", pauses)

    save_run = ResultRepository.save_run

    def paused_save_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        save_run(self, *args, **kwargs)
        _pause("save_run", pauses)

    ResultRepository.save_run = paused_save_run  # type: ignore[method-assign]
    add_file, add_revision = ReportRepository.add, ReportRepository.add_revision

    def paused_add_file(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        add_file(self, *args, **kwargs)
        _pause("file", pauses)

    def paused_add_revision(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        add_revision(self, *args, **kwargs)
        _pause("revision", pauses)

    ReportRepository.add = paused_add_file  # type: ignore[method-assign]
    ReportRepository.add_revision = paused_add_revision  # type: ignore[method-assign]
    app.uow = paused_uow
    return app


def main(argv: list[str]) -> None:
    """Run the command of ``argv`` (see the module docstring)."""
    command, url = argv[0], argv[1]
    if command == "ingest":
        from monitor.service.ingest import ingest_predictions

        path, chunk_rows = Path(argv[2]), int(argv[3])
        pauses = set(argv[4].split(",")) if len(argv) > 4 else set()
        app = _app(url, pauses)
        _say("ready")
        _pause("start", pauses)
        summary = ingest_predictions(app.open_log(path), source=path.name, uow=app.uow,
                                     hash_patient=app.patient_hasher(), clock=app.clock, actor="driver",
                                     chunk_rows=chunk_rows, progress=lambda _n: _pause("chunk", pauses))
        _say("done")
        _say(json.dumps(summary.as_dict()))
    elif command == "analyze":
        from monitor.domain.periods import Period
        from monitor.service.analyze import analyze_period

        pauses = set(argv[5].split(",")) if len(argv) > 5 else set()
        app = _app(url, pauses)
        _say("ready")
        _pause("start", pauses)
        outcome = analyze_period(argv[2], Period.parse(argv[3]), uow=app.uow, clock=app.clock, actor="driver",
                                 cutoff=datetime.fromisoformat(argv[4]))
        _say("done")
        _say(outcome.run_id)
    elif command == "report":
        from monitor.service.report import write_report

        pauses = set(argv[5].split(",")) if len(argv) > 5 else set()
        app = _app(url, pauses)
        _say("ready")
        _pause("start", pauses)
        files = write_report(argv[2], argv[3], formats=REPORT_FORMATS, out_dir=Path(argv[4]), uow=app.uow,
                             clock=app.clock, actor="driver", renderer=app.report_renderer,
                             reason="driver: a report generated again")
        _say("done")
        _say(files.report_id)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    from monitor.errors import MonitorError

    try:
        main(sys.argv[1:])
    except MonitorError as exc:  # what the CLI does with it: one line, exit status 2
        _say(f"failed {type(exc).__name__}")
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
