"""Backups and restores: a consistent copy of the database while the bot runs, and putting one back.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the pages of one snapshot
while the bot keeps writing (WAL lets readers and one writer work side by side), into a file
only its owner may read. PostgreSQL: ``pg_dump -Fc`` (custom format, compressed, restored by
``pg_restore``); the password reaches it through the environment, never the command line.

A restore checks the file first (SQLite: ``PRAGMA integrity_check`` and a schema version this
code knows; PostgreSQL: ``pg_restore --list`` reads the archive whole) and refuses to overwrite
a database that holds data unless told to. Both record themselves in the audit trail.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL
from sqlmodel import Session

from jobs.ops import audit
from jobs.ops.health import last_beat
from jobs.storage.db import PRIVATE_FILE_MODE, current_revision, head_revision, known_revisions, sqlite_file

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Tables whose rows say "this database is in use" (a restore over them needs --force).
DATA_TABLES = ("patient", "staff_member", "api_key", "audit_event")
# A dispatcher heartbeat this recent means a bot still runs on the database (it beats every minute).
RUNNING_IF_BEAT_WITHIN = timedelta(minutes=3)


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; ``str()`` is one line for the admin (no URL, no password)."""


@dataclass(frozen=True)
class Restored:
    """What a restore put back: the schema version and the audit trail's verdict."""

    revision: str | None
    audit: audit.Verified


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is needed for a PostgreSQL database: install the PostgreSQL client "
                          f"(e.g. apt install postgresql-client, the same major version as the server)")
    return found


def _create_private(path: Path) -> None:
    if path.exists():
        raise BackupError(f"{path} already exists: give a new file")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror or type(exc).__name__}") from None


def backup(engine: Engine, target: Path, *, now: datetime) -> int:
    """Copy the database ``engine`` names into the new file ``target`` (mode 0600); its size in bytes."""
    _create_private(target)
    try:
        if engine.dialect.name == "sqlite":
            source_file = sqlite_file(engine.url.render_as_string(hide_password=False))
            if source_file is None or not source_file.exists():
                raise BackupError("DATABASE_URL names no SQLite file to copy")
            # Read-only on the source: a backup never takes the write lock the bot's writers queue on.
            source = sqlite3.connect(f"{source_file.resolve().as_uri()}?mode=ro", uri=True)
            copy = sqlite3.connect(target)
            try:
                with copy:
                    source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            finally:
                copy.close()
                source.close()
        else:
            dsn, env = _libpq(engine.url)
            done = subprocess.run([_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(target), "-d", dsn],
                                  env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {_first_line(done.stderr)}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    os.chmod(target, PRIVATE_FILE_MODE)
    with Session(engine) as session:
        audit.record(session, action=audit.Action.BACKUP, now=now)
        session.commit()
    return target.stat().st_size


def _first_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no reason given"


def has_data(engine: Engine) -> bool:
    """Whether the database holds patients, staff, keys or an audit trail (a restore would overwrite them)."""
    present = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for table in DATA_TABLES:
            if table in present and connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return True
    return False


def check_sqlite_backup(path: Path, *, engine: Engine) -> str | None:
    """The schema version of the SQLite backup ``path`` after checking it whole; BackupError if unusable."""
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(PGDUMP_MAGIC):
        raise BackupError(f"{path} is a PostgreSQL backup (pg_dump): restore it with DATABASE_URL naming "
                          "a PostgreSQL database")
    if magic != SQLITE_MAGIC:
        raise BackupError(f"{path} is not a backup made by `aftercare backup`")
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            raise BackupError(f"{path} is damaged (integrity check: {verdict[0]})")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as a database: {exc}") from None
    finally:
        connection.close()
    revision = row[0] if row else None
    _check_revision(revision, engine=engine)
    return revision


def _check_revision(revision: str | None, *, engine: Engine) -> None:
    if revision is None:
        raise BackupError("the backup holds no schema version: not a backup of this bot's database")
    if revision not in known_revisions(engine):
        raise BackupError(f"the backup's schema ({revision}) is newer than this code knows "
                          f"(up to {head_revision(engine)}): install the version that made it")


def restore(engine: Engine, source: Path, *, now: datetime, force: bool = False) -> Restored:
    """Put the backup ``source`` into the database ``engine`` names (empty, unless ``force``)."""
    if not source.is_file():
        raise BackupError(f"no such file {str(source)!r}")
    if engine.dialect.name == "sqlite":
        check_sqlite_backup(source, engine=engine)
    else:
        with source.open("rb") as handle:
            if handle.read(5) != PGDUMP_MAGIC:
                raise BackupError(f"{source} is not a PostgreSQL backup (pg_dump -Fc): a SQLite backup goes back "
                                  "into SQLite, then `aftercare db copy-to` moves it")
        listed = subprocess.run([_tool("pg_restore"), "--list", str(source)], capture_output=True, text=True,
                                check=False)
        if listed.returncode != 0:
            raise BackupError(f"{source} is damaged: pg_restore says {_first_line(listed.stderr)}")
    if has_data(engine):
        if not force:
            raise BackupError("the database already holds data: restore into an empty one, or add --force to "
                              "replace everything in it with the backup")
        _refuse_if_running(engine, now=now)
    engine.dispose()
    if engine.dialect.name == "sqlite":
        _restore_sqlite(engine, source)
    else:
        _restore_postgres(engine, source)
    engine.dispose()
    revision = current_revision(engine)
    _check_revision(revision, engine=engine)
    with Session(engine) as session:
        verdict = audit.verify(session)
        audit.record(session, action=audit.Action.RESTORE, now=now)
        session.commit()
    return Restored(revision, verdict)


def _refuse_if_running(engine: Engine, *, now: datetime) -> None:
    """A bot writing to the database being replaced would carry on against data it no longer matches."""
    if "heartbeat" not in inspect(engine).get_table_names():
        return
    with Session(engine) as session:
        beat = last_beat(session)
    if beat is not None and now - beat < RUNNING_IF_BEAT_WITHIN:
        raise BackupError(f"a bot beat on this database {int((now - beat).total_seconds())} s ago: stop every "
                          "instance first, then restore")


def _restore_sqlite(engine: Engine, source: Path) -> None:
    target_file = sqlite_file(engine.url.render_as_string(hide_password=False))
    if target_file is None:
        raise BackupError("DATABASE_URL names no SQLite file to restore into")
    copy = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    # The backup API replaces every page of the target at once, under its write lock.
    target = sqlite3.connect(target_file, timeout=30)
    try:
        with target:
            copy.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        copy.close()
    os.chmod(target_file, PRIVATE_FILE_MODE)


def _restore_postgres(engine: Engine, source: Path) -> None:
    dsn, env = _libpq(engine.url)
    present = set(inspect(engine).get_table_names())
    if present:
        # --force: the backup replaces the schema whole (tables the backup lacks would otherwise stay).
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    done = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
                           "-d", dsn, str(source)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing restored): {_first_line(done.stderr)}")
