"""``samd-monitor backup`` and ``samd-monitor restore``: the whole database in one file and back."""

from __future__ import annotations

from pathlib import Path

import typer

from monitor.entrypoints.cli._common import app, build_app, say


@app.command()
def backup(
    file: Path = typer.Argument(..., help="The backup file to write."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
) -> None:
    """Back up the database into FILE (also while the service runs; only reads the database).

    SQLite: the online backup API; PostgreSQL: pg_dump custom format (pg_dump on PATH).
    """
    from monitor.service.backup import backup_database

    application = build_app(require_schema=False, require_database=True)
    try:
        written = backup_database(file, store=application.database_backup(), force=force)
    finally:
        application.engine.dispose()
    say(f"backup of {application.engine.url.render_as_string(hide_password=True)} written to {written.path} "
        f"({written.bytes:,} bytes, sha256 {written.sha256})")


@app.command()
def restore(
    file: Path = typer.Argument(..., help="A backup written by `samd-monitor backup`."),
    force: bool = typer.Option(False, "--force", help="Replace the content of a database that is not empty."),
) -> None:
    """Restore a backup FILE into an empty database (stop the service first).

    A database holding any row is refused unless --force. The restored audit trail is verified and the
    restore is recorded in it, acting as the named user (--user / MONITOR_USER) when it is an enabled user of
    the restored database, else as restore:<OS account> (the name given kept in the record's details).
    PostgreSQL: pg_restore on PATH.
    """
    from monitor.adapters.db.backup import backup_file_engine
    from monitor.adapters.db.engine import check_schema
    from monitor.errors import InputError, SchemaOutOfDateError
    from monitor.service.actors import acting_user, os_account
    from monitor.service.backup import restore_database

    from monitor.adapters.audit_key import key_source_for

    engine_of_file = backup_file_engine(file)
    application = build_app(require_schema=False)
    key = key_source_for(application.settings.database_url, application.settings.audit_key_file).key_for_reading()
    named = application.settings.user

    def actor() -> str:  # asked after the restore: the named user must be a user of the restored database
        if named:
            try:
                return acting_user(application.uow, named)
            except InputError:
                pass
        return f"restore:{os_account()}"

    try:
        outcome = restore_database(file, store=application.database_backup(), file_engine=engine_of_file,
                                   uow=application.uow, clock=application.clock, actor=actor,
                                   force=force, audit_keys=[key] if key is not None else [],
                                   context={"named_user": named, "os_account": os_account()})
        try:
            check_schema(application.engine)
            note = ""
        except SchemaOutOfDateError as exc:
            note = f"; {exc}"
    finally:
        application.engine.dispose()
    say(f"restored {file} (sha256 {outcome.file.sha256}) into "
        f"{application.engine.url.render_as_string(hide_password=True)}: audit trail intact "
        f"({outcome.records} records), restore recorded{note}")
