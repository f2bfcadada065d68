"""``samd-monitor db``: database schema (Alembic migrations)."""

from __future__ import annotations

import typer

from monitor.entrypoints.cli._common import app, say, settings

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database schema to the latest (or given) revision."""
    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.engine import upgrade as db_upgrade

    engine = make_engine(settings().database_url)
    db_upgrade(engine, revision)
    say(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("downgrade")
def db_downgrade_cmd(revision: str = typer.Argument(..., help="Target revision ('base' removes everything).")) -> None:
    """Revert the schema to an older revision."""
    from monitor.adapters.db.engine import downgrade as db_downgrade
    from monitor.adapters.db.engine import make_engine, require_existing

    engine = make_engine(settings().database_url, create=False)
    require_existing(engine)  # a missing SQLite file is refused, never created by a downgrade
    db_downgrade(engine, revision)
    say(f"database at {revision}")
