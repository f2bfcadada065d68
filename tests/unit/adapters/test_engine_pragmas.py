"""Every SQLite connection of the engine gets WAL, a busy timeout and its page cache (issue 20: the default
2 MiB cache made an analysis re-read the database's pages through the operating system)."""

from __future__ import annotations

from pathlib import Path

from monitor.adapters.db.engine import SQLITE_CACHE_KIB, make_engine


def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with engine.connect() as conn:
            read = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                    for name in ("journal_mode", "busy_timeout", "cache_size", "foreign_keys")}
    finally:
        engine.dispose()
    assert read == {"journal_mode": "wal", "busy_timeout": 30000, "cache_size": -SQLITE_CACHE_KIB, "foreign_keys": 1}
