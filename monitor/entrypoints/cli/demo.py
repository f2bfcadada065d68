"""``samd-monitor demo``: the whole pipeline on a synthetic deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from monitor.entrypoints.cli._common import app, out, state, warn_deprecated


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo-output"), "--out-dir",
                                 help="Folder for the demo database, logs and reports."),
    legacy_out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Deprecated name of --out-dir."),
    seed: int = typer.Option(20251, "--seed", help="Random seed of the synthetic deployment."),
    scale: float = typer.Option(1.0, "--scale", min=0.001, help="Fraction of the full demo volume."),
) -> None:
    """Run the whole pipeline on a synthetic lung-nodule deployment into a fresh SQLite file."""
    from monitor.entrypoints.demo import run_demo

    if legacy_out is not None:
        warn_deprecated("demo --out DIR", "--out-dir DIR")
        out_dir = legacy_out

    run_demo(out_dir=out_dir, seed=seed, scale=scale, database_url=state.get("db"), console=out)
