"""Engines, sessions and migrations: the one place that knows which database we talk to.

SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction
(so two writers queue on the lock instead of failing half-way); PostgreSQL needs nothing
special. Data functions are plain synchronous functions taking a ``Session`` first; the bot
runs them through :meth:`Store.run`, which moves them off the event loop onto a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a transaction waits for SQLite's write lock: the dispatcher can wait; a person cannot.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A handler gives up after this and says "busy, try again" long before the user gives up.
HANDLER_BUSY_TIMEOUT_MS = 2_000
# The busy timeout of the transaction being begun on this thread (set by Store.call).
_busy_timeout_ms: contextvars.ContextVar[int] = contextvars.ContextVar("busy_timeout_ms",
                                                                      default=SQLITE_BUSY_TIMEOUT_MS)
# The database file and its -wal and -shm companions hold every patient's name and answers.
PRIVATE_FILE_MODE = 0o600



class StorageError(RuntimeError):
    """The database cannot be used as configured; ``str()`` is one line for the admin (no URL, no password)."""


P = ParamSpec("P")
T = TypeVar("T")


def is_busy(error: BaseException | None) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (another process holds the write lock)."""
    return isinstance(error, OperationalError) and any(
        phrase in str(error.orig) for phrase in ("database is locked", "database is busy"))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas above.

    ``hide_parameters``: a failed statement's error text (which reaches the log) never carries its
    parameters, and those are patient names and answers.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Enough pooled connections for the dispatcher's sends in flight plus the handlers, so
        # connections are reused rather than opened and closed all the time; pre-ping survives a
        # database restart or a standby taking over.
        return create_engine(url, pool_pre_ping=True, pool_size=12, max_overflow=8, hide_parameters=True)
    database_file = sqlite_file(url)
    if database_file is not None:
        folder = database_file.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the database's folder {str(folder)!r}: "
                               f"{exc.strerror or type(exc).__name__}") from None
        _create_private(database_file)
    engine = create_engine(
        url,
        hide_parameters=True,
        # Sessions run on worker threads (Store.run): allow a connection to move between them.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # The wait for the lock is the caller's (Store.busy_timeout_ms); set only when it changes.
        wanted, info = _busy_timeout_ms.get(), connection.connection.info
        if info.get("busy_timeout_ms", SQLITE_BUSY_TIMEOUT_MS) != wanted:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wanted)}")
            info["busy_timeout_ms"] = wanted
        # Take the write lock up front: a claim that reads then updates can't lose a race half-way.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sqlite_files(engine: Engine) -> list[Path]:
    """The files of a SQLite database that exist (the database, its -wal and -shm); none for PostgreSQL."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return []
    path = Path(database).expanduser()
    return [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite creates it 0644.

    SQLite gives the -wal and -shm files the database file's permission bits, so they follow.
    """
    if path.exists():
        return
    old_umask = os.umask(0o077)  # and no wider for anything SQLite creates meanwhile
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    finally:
        os.umask(old_umask)


def _advisory(connection, function: str, key: int) -> bool:
    result = connection.execute(text(f"SELECT {function}(:key)"), {"key": key}).scalar()
    connection.commit()  # the lock is the session's: it outlives this transaction, which must not idle
    return bool(result)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for our migrations, bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # No sqlalchemy.url: env.py migrates over this engine. (An URL there would have to escape every
    # "%" for ConfigParser, and a percent-encoded password would crash with the password in the error.)
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations (see :func:`migrate` for starting instances: this one takes no lock)."""
    command.upgrade(alembic_config(engine), revision)


class SchemaTooNew(StorageError):
    """The database was migrated by a newer version of the bot than this one."""


# How long a starting instance waits for another one's migration (they may rewrite big tables).
MIGRATION_WAIT_MS = 15 * 60 * 1000
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"aftercare migrations").digest()[:8], "big", signed=True)


def known_revisions(engine: Engine) -> set[str]:
    """Every revision this code's migrations know."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config(engine)).walk_revisions()}


def migrate(engine: Engine) -> None:
    """Bring the schema to this code's head, one instance at a time; SchemaTooNew on a newer database.

    Two instances started together must not both apply a migration. PostgreSQL: a session advisory
    lock, waited for, on a connection of its own (gone with the process if it dies); the second
    instance then finds the schema at head and does nothing. SQLite: each migration transaction
    begins IMMEDIATE (make_engine), holding the write lock from reading the version to the
    commit; the wait for it is made long enough for another instance's migration.
    """
    token = _busy_timeout_ms.set(MIGRATION_WAIT_MS)
    try:
        if engine.dialect.name != "postgresql":
            _check_not_newer(engine)
            upgrade(engine)
            return
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
            try:
                _check_not_newer(engine)
                upgrade(engine)
            finally:
                holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                holder.commit()
    finally:
        _busy_timeout_ms.reset(token)


def _check_not_newer(engine: Engine) -> None:
    current = current_revision(engine)
    if current is not None and current not in known_revisions(engine):
        raise SchemaTooNew(f"the database's schema ({current}) is newer than this version of the bot knows "
                           f"(up to {head_revision(engine)}): install the version that migrated it, or restore "
                           "the backup taken before the upgrade")


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision``."""
    command.downgrade(alembic_config(engine), revision)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None for other databases and for ``:memory:``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


class Store:
    """The database handle the bot and the dispatcher share.

    ``busy_timeout_ms``: how long each transaction waits for SQLite's write lock (handlers use a
    :meth:`with_busy_timeout` copy with a short one). PostgreSQL ignores it.
    """

    def __init__(self, engine: Engine, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.engine = engine
        self.busy_timeout_ms = busy_timeout_ms
        # This process's claim-holder identity (jobs/storage/presence.py), once the bot has taken it.
        self.presence = None

    def with_busy_timeout(self, busy_timeout_ms: int) -> Store:
        """The same database (and claim holder), waiting at most ``busy_timeout_ms`` for the write lock."""
        copy = Store(self.engine, busy_timeout_ms=busy_timeout_ms)
        copy.presence = self.presence
        return copy

    @property
    def holder(self) -> int | None:
        """The id this process writes on its claims (None: no presence taken, claims wait out their lease)."""
        return self.presence.holder if self.presence is not None else None

    def take_presence(self):
        """Take this process's presence (SQLite: refuse if another process runs on the file)."""
        from jobs.storage.presence import Presence

        self.presence = Presence(self.engine).acquire()
        return self.presence

    def call(self, function: Callable[..., T], /, **kwargs) -> T:
        """Run ``function(session, **kwargs)`` in one transaction, committed if it returns."""
        token = _busy_timeout_ms.set(self.busy_timeout_ms)
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                result = function(session, **kwargs)
                session.commit()
                return result
        finally:
            _busy_timeout_ms.reset(token)

    async def run(self, function: Callable[..., T], /, **kwargs) -> T:
        """:meth:`call` on a worker thread, so the event loop keeps serving Telegram meanwhile."""
        return await asyncio.to_thread(self.call, function, **kwargs)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process may do ``name`` now, alone among every instance on this database.

        On PostgreSQL: a session advisory lock, tried (never waited for) on a connection of its
        own and held until the block ends; if the process dies, its connection closes and the lock
        goes with it. Yields False while another instance holds it. On SQLite always True: one
        file means one host, and ``BEGIN IMMEDIATE`` already queues its writers.
        """
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        connection = await asyncio.to_thread(self.engine.connect)
        try:
            held = await asyncio.to_thread(_advisory, connection, "pg_try_advisory_lock", key)
            try:
                yield held
            finally:
                if held:
                    await asyncio.to_thread(_advisory, connection, "pg_advisory_unlock", key)
        except BaseException:
            # Never hand a connection that may still hold the lock back to the pool.
            connection.invalidate()
            raise
        finally:
            await asyncio.to_thread(connection.close)

    def dispose(self) -> None:
        """Give the presence back and close pooled connections."""
        if self.presence is not None:
            self.presence.release()
            self.presence = None
        self.engine.dispose()
