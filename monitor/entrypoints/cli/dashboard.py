"""``samd-monitor dashboard``: run the Streamlit drift dashboard on the configured database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from monitor.entrypoints.cli._common import app, say, settings, state
from monitor.errors import ConfigError

__all__ = ["DASHBOARD_APP", "dashboard", "streamlit_command"]

DASHBOARD_APP = Path(__file__).resolve().parents[3] / "dashboards" / "app.py"


def streamlit_command(*, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of the dashboard (headless, no usage statistics)."""
    return [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]


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
        raise ConfigError(f"the dashboard app is missing at {DASHBOARD_APP} (run from a source checkout)")
    engine = make_engine(url)
    try:
        check_schema(engine)  # an un-migrated database fails here with one line, not in the browser
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    say(f"dashboard on http://{address}:{port} (database {where}); Ctrl+C stops it")
    result = subprocess.run(streamlit_command(port=port, address=address),
                            env={**os.environ, "MONITOR_DATABASE_URL": url}, check=False)
    raise typer.Exit(result.returncode)
