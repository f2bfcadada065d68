"""The ``samd-monitor`` command line: thin wrappers around the services.

Each sub-command group lives in its own module and registers itself on the root
app when imported here. User mistakes (:class:`monitor.errors.MonitorError`) end
with one ``error:`` line on standard error and exit status 2; never a traceback. So does a full or
read-only file system (an ``OSError`` the services did not translate).
"""

from __future__ import annotations

import sys

from monitor.adapters.db.engine import storage_condition
from monitor.entrypoints.cli import access, analysis, dashboard, db, demo, device, ingest, tickets  # noqa: F401  (registration)
from monitor.entrypoints.cli import serve, watch  # noqa: F401  (registration)
from monitor.entrypoints.cli import audit, signoff, submission  # noqa: F401  (registration)
from monitor.entrypoints.cli import site  # noqa: F401  (registration)
from monitor.entrypoints.cli import backup  # noqa: F401  (registration)
from monitor.entrypoints.cli import cells  # noqa: F401  (registration)
from monitor.entrypoints.cli._common import app, err, say
from monitor.errors import MonitorError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: user errors become one line and exit status 2."""
    try:
        app()
    except MonitorError as exc:
        say(("error:", "bold red"), f" {exc}", console=err)
        sys.exit(2)
    except OSError as exc:  # a full or read-only file system met outside the unit of work: not a bug
        condition = storage_condition(exc)
        if condition is None:
            raise
        say(("error:", "bold red"), f" storage {condition}: {exc.strerror or type(exc).__name__}", console=err)
        sys.exit(2)
    except KeyboardInterrupt:
        say("interrupted", console=err)
        sys.exit(130)


if __name__ == "__main__":
    main()
