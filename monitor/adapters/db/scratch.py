"""A throw-away database, migrated like any other, gone when the block ends.

A site summarising its logs (``samd-monitor site summarize``) ingests them here with the ordinary
ingestion, counts the cells and discards everything. The database is a SQLite file in a private
temporary folder (mode 0700) deleted on exit, or lives in memory, so that nothing of the logs reaches
the disk (memory then grows with the logs: about 1.2 GB per million predictions).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from monitor.adapters.db.engine import make_engine, upgrade
from monitor.adapters.db.unit_of_work import unit_of_work_factory
from monitor.errors import InputError
from monitor.service.ports import UnitOfWorkFactory

__all__ = ["scratch_database"]


@contextmanager
def scratch_database(folder: Path | None = None) -> Iterator[UnitOfWorkFactory]:
    """A unit-of-work factory on a fresh database: in memory, or a file under ``folder``; disposed of on exit."""
    if folder is None:
        yield from _database("sqlite://")
        return
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder for the scratch database")
    with tempfile.TemporaryDirectory(prefix="samd-site-", dir=folder) as private:  # created with mode 0700
        yield from _database(f"sqlite:///{Path(private, 'scratch.sqlite').as_posix()}")


def _database(url: str) -> Iterator[UnitOfWorkFactory]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield unit_of_work_factory(engine)
    finally:
        engine.dispose()
