"""The layering is enforced, not just described: import-linter contracts from pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_statistics_core_imports_without_io_packages() -> None:
    """Importing the pure core loads no database, web, scheduler or rendering package."""
    code = (
        "import sys; import monitor.stats, monitor.domain.evaluation, monitor.domain.logs; "
        "bad = [m for m in ('sqlalchemy', 'alembic', 'jinja2', 'fastapi', 'apscheduler', 'streamlit', 'typer') "
        "if m in sys.modules]; print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"forbidden modules loaded: {result.stdout}{result.stderr}"
