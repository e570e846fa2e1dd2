"""Who holds a claim, and whether that holder is known to be gone.

Every bot process takes a *presence* at start: a holder id it writes on the reminders and
updates it claims, and a lock that lives exactly as long as the process does.

- **SQLite**: one file means one instance, and the presence is that rule made real: an exclusive
  ``flock`` on ``<database file>.lock``, which the kernel drops the moment the process dies
  (kill -9 included). A second instance on the same file is refused at start. The instance that
  holds the lock knows that every claim with another holder id belongs to a dead process.
- **PostgreSQL**: a session advisory lock ``(NAMESPACE, holder)`` on a connection of its own;
  when the process dies its connection closes and the lock goes with it. A claim whose holder has
  no such lock in ``pg_locks`` belongs to a process that is gone.

Either way a dead holder's claims are taken again at the next claim, not after the lease. Claims
made without a presence (tests that call the dispatcher directly, tools) carry no holder and wait
out their lease as before.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import Engine, and_, bindparam, literal_column, select, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# First key of the advisory lock pair: "Aftc", so our presence locks are easy to spot in pg_locks.
NAMESPACE = 0x41667463
# The bound parameter every claim statement takes for "this process's holder id" (None: no presence).
ME = "me"


class AlreadyRunning(RuntimeError):
    """Another bot process holds this SQLite database."""


class Presence:
    """This process's holder id and the lock that proves it is alive."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.holder: int | None = None
        self._file = None
        self._connection = None

    def acquire(self) -> Presence:
        """Take the lock (SQLite: refuse if another process holds the file)."""
        if self.engine.dialect.name == "postgresql":
            self._lock_postgres()
        else:
            self._lock_sqlite()
        return self

    def _lock_sqlite(self) -> None:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return  # nothing another process could share
        path = Path(f"{Path(database).expanduser()}.lock")
        handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunning(f"another bot process (pid {other}) is running on this database file; "
                                 "SQLite serves one instance (use PostgreSQL for several)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        self.holder = secrets.randbelow(2**62) + 1

    def _lock_postgres(self) -> None:
        connection = self.engine.connect()
        for _ in range(8):
            holder = secrets.randbelow(2**31 - 2) + 1
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:ns, :holder)"),
                                       {"ns": NAMESPACE, "holder": holder}).scalar()
            connection.commit()  # the lock is the session's; the transaction must not stay open
            if taken:
                self._connection, self.holder = connection, holder
                return
        connection.close()
        raise RuntimeError("could not take a presence lock")

    def refresh(self) -> None:
        """PostgreSQL: make sure the lock's connection is still there (a database restart drops it)."""
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
        except Exception:  # noqa: BLE001 - a broken connection: take the lock again on a new one
            log.warning("presence: the database connection was lost; taking the presence lock again")
            self._connection.invalidate()
            self._connection = self.engine.connect()
            self._connection.execute(text("SELECT pg_advisory_lock(:ns, :holder)"),
                                     {"ns": NAMESPACE, "holder": self.holder}).scalar()
            self._connection.commit()

    def release(self) -> None:
        """Give the lock back (a clean stop)."""
        if self._connection is not None:
            try:
                self._connection.close()  # closing the session releases its advisory locks
            finally:
                self._connection = None
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None


def holder_gone(column, dialect: str):
    """SQL: the claim's holder (``column``) is known to be gone.

    SQLite: the claim is not ours and we hold the file's only presence (``:me`` is set), so its
    holder cannot be alive. PostgreSQL: no live session holds the holder's advisory lock.
    """
    if dialect == "postgresql":
        live = (
            select(literal_column("objid::bigint"))
            .select_from(text("pg_locks"))
            .where(text(f"locktype = 'advisory' AND classid = {NAMESPACE} AND objsubid = 2 AND granted "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
        )
        return and_(column.is_not(None), column.not_in(live))
    return and_(column.is_not(None), bindparam(ME).is_not(None), column != bindparam(ME))
