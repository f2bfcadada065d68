"""Alembic environment: the engine comes from samd-monitor (``config.attributes['engine']``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from monitor.adapters.db.tables import metadata
from monitor.adapters.db.engine import make_engine
from monitor.settings import load_settings

config = context.config
target_metadata = metadata


#: Tables in the database that Alembic does not manage (APScheduler's job store of ``samd-monitor serve``).
UNMANAGED_TABLES = frozenset({"apscheduler_jobs"})


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave unmanaged tables out of autogenerate and ``alembic check``."""
    return not (type_ == "table" and name in UNMANAGED_TABLES)


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    return engine if engine is not None else make_engine(load_settings().database_url)


def run_migrations_online() -> None:
    """Run migrations in a transaction on the configured engine."""
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=_include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
