"""``samd-monitor serve``: the HTTP API and the scheduler in one process, with JSON logs."""

from __future__ import annotations

import logging
import signal
from functools import partial
from types import FrameType

import typer

from monitor.entrypoints.cli._common import app, build_app
from monitor.errors import InputError

log = logging.getLogger("monitor.serve")
LOG_LEVELS = ("debug", "info", "warning", "error")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler",
                                   help="Run the scheduled jobs in this process (docs/service.md)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run the API and the scheduler until SIGTERM or Ctrl-C; logs are JSON lines on standard error."""
    import uvicorn  # here, not at module level: `samd-monitor --help` must not import the service (cli helper)

    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.logs import configure_logging
    from monitor.entrypoints.scheduler import (
        register_service_accounts,
        scheduler_problem,
        start_scheduler,
        stop_scheduler,
    )

    if log_level.lower() not in LOG_LEVELS:
        raise InputError(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    configure_logging(log_level)
    application = build_app()
    api = create_api(application)
    stop_counting_jobs = api.state.metrics.watch_jobs()  # /metrics: job runs by job and outcome
    if scheduler:
        register_service_accounts(application)
    jobs = start_scheduler(application) if scheduler else None
    if jobs is not None:  # /ready answers 503 with the reason while the scheduler is stopped, paused or dead
        api.state.scheduler_status = partial(scheduler_problem, jobs)
    # access_log=False: the API writes one access record per request itself, as fields (docs/service.md, Logs)
    server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_config=None, log_level=log_level.lower(),
                                           access_log=False, timeout_graceful_shutdown=30))

    def request_stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn handles SIGTERM / SIGINT while it runs, then restores these handlers and re-raises the signal
    # to them: with them, the process does not die there but returns here and stops the scheduler cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    log.info("serving", extra={"host": host, "port": port, "scheduler": jobs is not None})
    try:
        server.run()  # returns after SIGTERM / SIGINT, once open requests are answered
    finally:
        if jobs is not None:
            stop_scheduler(jobs)
        stop_counting_jobs()
        application.engine.dispose()
        log.info("stopped")
