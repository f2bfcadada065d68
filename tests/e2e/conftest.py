"""The command line run in this process, as the console script runs it.

Starting ``samd-monitor`` costs seconds of imports per command (more on a loaded machine), which made the
CLI tests the slowest of the suite. ``cli`` calls the console script's entry point, ``main()``, with the
arguments and environment a subprocess would get, and returns what the subprocess would: the exit status,
standard output and standard error. As in a fresh interpreter, warnings are printed on standard error
(Python's default filters) and so are log records of WARNING and above (``logging.lastResort``), so a
stray warning still breaks a test that wants one error line. The console script itself (the installed
``samd-monitor`` starting ``main``) is run as a real subprocess by a few tests (test_cli.py's
``test_unmigrated_database_says_how_to_fix`` and ``test_the_installed_command_starts``, test_cli_corrective.py,
test_serve.py, test_demo.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest


def _python_default_warning_filters() -> None:
    """The filters of an interpreter started without -W options (the "Default Warning Filter" of the
    ``warnings`` docs): first match wins, anything else is shown once per location."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__", append=True)
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category, append=True)


def _to_stderr(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, env=...)``: run ``samd-monitor ARGS`` in this process with exactly the ``MONITOR_*``
    variables of ``env`` (the others removed, as the subprocess tests pass them), in ``tmp_path`` as the
    working directory; a :class:`subprocess.CompletedProcess` with the exit status and the output."""
    from monitor.entrypoints.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        wanted = {k: v for k, v in (env or {}).items() if k.startswith("MONITOR_")}
        with monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("MONITOR_")]:
                patch.delenv(name)
            for name, value in wanted.items():
                patch.setenv(name, value)
            patch.setattr(sys, "argv", ["samd-monitor", *args])
            patch.setattr(warnings, "showwarning", _to_stderr)
            root, last_resort = logging.getLogger(), logging.lastResort or logging.StreamHandler()
            root.addHandler(last_resort)  # pytest's handlers on the root logger would keep it from running
            capsys.readouterr()
            try:
                with warnings.catch_warnings():
                    _python_default_warning_filters()
                    main()
                status = 0
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    sys.stderr.write(exc.code + "\n")
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                root.removeHandler(last_resort)
            captured = capsys.readouterr()
        return subprocess.CompletedProcess(["samd-monitor", *args], status, captured.out, captured.err)

    return run
