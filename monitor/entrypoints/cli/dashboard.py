"""``samd-monitor dashboard``: run the Streamlit drift dashboard on the configured database.

Streamlit runs as a child process that never outlives this command: SIGTERM, SIGINT and SIGHUP are passed
on to it (a second one kills it), this command waits for it to end, and on Linux the child is sent SIGTERM
by the kernel if this process dies without passing anything on (``prctl(PR_SET_PDEATHSIG)``, e.g. after
SIGKILL). The child has a process group of its own, so a Ctrl-C in the terminal reaches it once, from here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Optional

import typer

from monitor.entrypoints.cli._common import app, say, settings, state
from monitor.errors import ConfigError
from monitor.resources import resource_path

__all__ = ["DASHBOARD_APP", "dashboard", "run_child", "streamlit_command"]

DASHBOARD_APP = resource_path("dashboards", "app.py")


def streamlit_command(*, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of the dashboard (headless, no usage statistics)."""
    return [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive SIGTERM when ``parent`` dies (Linux only; elsewhere none)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:  # runs in the child between fork and exec: async-signal-safe calls only
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def run_child(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``command`` until it ends, passing this process's stop signals on to it; its exit status (0 when
    it ended because it was asked to stop)."""
    group = {"process_group": 0} if os.name == "posix" else {}  # Ctrl-C reaches the child once: from here
    child = subprocess.Popen(list(command), env=dict(env), preexec_fn=_die_with(os.getpid()), **group)
    asked: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        asked.append(signum)
        try:
            child.send_signal(signum if len(asked) == 1 else signal.SIGKILL)  # a second request: no more waiting
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # this process is leaving for another reason (an exception): take the child along
            child.kill()
            child.wait()
    if asked:
        return 0
    return code if code >= 0 else 128 - code


@app.command()
def dashboard(
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port to serve the dashboard on."),
    address: str = typer.Option("127.0.0.1", "--address",
                                help="Interface to listen on (0.0.0.0 for every interface; put TLS in front)."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (overrides the global --db)."),
) -> None:
    """Serve the drift dashboard (sign in with a user created by `samd-monitor user add`)."""
    from monitor.adapters.db.engine import check_schema, make_engine

    if db:
        state["db"] = db
    url = settings().database_url
    if not DASHBOARD_APP.is_file():
        raise ConfigError(f"the dashboard app is missing at {DASHBOARD_APP} "
                          "(an incomplete installation: reinstall samd-monitor)")
    engine = make_engine(url, create=False)
    try:
        check_schema(engine)  # an un-migrated database fails here with one line, not in the browser
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    say(f"dashboard on http://{address}:{port} (database {where}); Ctrl+C stops it")
    code = run_child(streamlit_command(port=port, address=address), {**os.environ, "MONITOR_DATABASE_URL": url})
    raise typer.Exit(code)
