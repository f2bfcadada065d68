"""The ``samd-monitor`` command line: thin wrappers around the services.

Each sub-command group lives in its own module and registers itself on the root app when imported here;
the modules import nothing heavy at module level, so ``--help``, ``--version`` and shell completion start at
once (the services are imported by the command that runs).

Exit status (docs/cli.md):

* 0: done;
* 1: a verification found broken evidence (:class:`monitor.errors.IntegrityError`: a broken audit chain, a
  tampered submission archive, a report file changed after it was recorded);
* 2: a usage or input mistake (an unknown option or choice, or any other :class:`monitor.errors.MonitorError`:
  a bad file, an unknown device, an un-migrated database, ...), and a full or read-only file system;
* 130: interrupted (Ctrl-C) or aborted at a prompt.

Every failure is one ``error:`` line on standard error, never a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from monitor.entrypoints.cli import access, analysis, dashboard, db, demo, device, ingest, tickets  # noqa: F401  (registration)
from monitor.entrypoints.cli import serve, watch  # noqa: F401  (registration)
from monitor.entrypoints.cli import audit, signoff, submission  # noqa: F401  (registration)
from monitor.entrypoints.cli import site  # noqa: F401  (registration)
from monitor.entrypoints.cli import backup  # noqa: F401  (registration)
from monitor.entrypoints.cli import cells  # noqa: F401  (registration)
from monitor.entrypoints.cli import lesions  # noqa: F401  (registration)
from monitor.entrypoints.cli import worklist  # noqa: F401  (registration)
from monitor.entrypoints.cli._common import app, err, say
from monitor.errors import IntegrityError, MonitorError

__all__ = ["EXIT_FAILED_VERIFICATION", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USER_ERROR", "app", "main"]

EXIT_OK = 0
EXIT_FAILED_VERIFICATION = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, status: int) -> NoReturn:
    say(("error:", "bold red"), f" {message}", console=err)
    sys.exit(status)


def main() -> None:
    """Console-script entry point: every failure one ``error:`` line and its exit status (module docstring)."""
    import typer
    from typer._click import exceptions as click_errors  # Typer's own copy of Click: its usage errors

    try:
        status = app(prog_name="samd-monitor", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:  # a group without a sub-command: its help is printed already
        sys.exit(EXIT_USER_ERROR)
    except click_errors.UsageError as exc:  # unknown option, missing argument, a value not among the choices
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _fail(exc.format_message().replace("Value error, ", "") + where, EXIT_USER_ERROR)
    except click_errors.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except typer.Abort:
        say("aborted", console=err)
        sys.exit(EXIT_INTERRUPTED)
    except IntegrityError as exc:
        _fail(str(exc), EXIT_FAILED_VERIFICATION)
    except MonitorError as exc:
        _fail(str(exc), EXIT_USER_ERROR)
    except OSError as exc:  # a full or read-only file system met outside the unit of work: not a bug
        from monitor.adapters.db.engine import storage_condition

        condition = storage_condition(exc)
        if condition is None:
            raise
        _fail(f"storage {condition}: {exc.strerror or type(exc).__name__}", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        say("interrupted", console=err)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(status if isinstance(status, int) else EXIT_OK)


if __name__ == "__main__":
    main()
