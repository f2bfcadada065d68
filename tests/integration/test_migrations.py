"""The schema is created and changed only by Alembic, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from monitor.adapters.db.engine import alembic_config, check_schema, downgrade, make_engine, upgrade
from monitor.adapters.db.tables import metadata
from monitor.errors import SchemaOutOfDateError

import pytest


def test_upgrade_creates_every_table_and_matches_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    with pytest.raises(SchemaOutOfDateError, match="samd-monitor db upgrade"):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    command.check(alembic_config(engine))  # raises when the models and the migrations disagree
    engine.dispose()


def test_downgrade_to_base_removes_everything_and_upgrade_restores(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
