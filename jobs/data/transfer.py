"""Copy a whole Aftercare database to another one: SQLite to PostgreSQL when a clinic outgrows the
file (or back, for a local copy to look into).

The target gets the schema by the same migrations as always, must be empty, and is filled in one
transaction, table by table in foreign-key order, in batches: it ends with all of the source or
none of it. Ids are copied as they are (invites, buttons and relayed messages refer to them), and
PostgreSQL's id sequences are moved past the copied ids, so the next enrollment does not collide.
The source is only read. The bot must be stopped meanwhile: rows written during the copy would be
missed, so a dispatcher heartbeat in the last few minutes stops the copy unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Integer, func, inspect, select, text
from sqlmodel import Session, SQLModel

from jobs.ops.health import last_beat
from jobs.storage import models  # noqa: F401 - registers every table on SQLModel.metadata
from jobs.storage.db import current_revision, head_revision, upgrade

BATCH_ROWS = 5_000
# The dispatcher beats every minute; a beat this recent means a bot is probably still running.
RUNNING_IF_BEAT_WITHIN = timedelta(minutes=3)


class TransferError(Exception):
    """Why a copy was refused; nothing was written to the target."""


@dataclass(frozen=True)
class TransferReport:
    """Rows copied, by table, in the order they were copied."""

    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_database(source: Engine, target: Engine, *, now: datetime, even_if_running: bool = False) -> TransferReport:
    """Copy every table of ``source`` into the empty ``target``; see the module's docstring."""
    head = head_revision(source)
    if current_revision(source) != head:
        raise TransferError("the source database is not at the current schema: run `aftercare db upgrade` on it "
                            "first (with DATABASE_URL pointing at it)")
    if not even_if_running:
        with Session(source) as session:
            beat = last_beat(session)
        if beat is not None and now - beat < RUNNING_IF_BEAT_WITHIN:
            raise TransferError(f"a bot beat on the source database {int((now - beat).total_seconds())} s ago: stop "
                                "it first (rows written during the copy would be missed), or pass --even-if-running")
    tables = SQLModel.metadata.sorted_tables
    # Checked before the migrations run, so that a wrong target is refused untouched.
    existing = set(inspect(target).get_table_names())
    with target.connect() as connection:
        occupied = [table.name for table in tables if table.name in existing
                    and connection.execute(select(func.count()).select_from(table)).scalar()]
    if occupied:
        raise TransferError(f"the target database is not empty (rows in: {', '.join(occupied)}); "
                            "give a new, empty database")
    upgrade(target)
    copied: dict[str, int] = {}
    # One snapshot of the source on PostgreSQL; SQLite's transaction (BEGIN IMMEDIATE) is one anyway.
    reading_options = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
    with source.connect().execution_options(**reading_options) as reading, target.begin() as writing:
        for table in tables:
            count = 0
            result = reading.execution_options(yield_per=BATCH_ROWS).execute(select(table))
            for batch in result.mappings().partitions():
                writing.execute(table.insert(), [dict(row) for row in batch])
                count += len(batch)
            copied[table.name] = count
        if writing.dialect.name == "postgresql":
            _move_sequences_past_copied_ids(writing, tables)
    return TransferReport(copied)


def _move_sequences_past_copied_ids(connection, tables) -> None:
    # Rows inserted with explicit ids leave the id sequence at 1: set it to the highest id copied.
    for table in tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                         f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 1), "
                         f"(SELECT MAX({column.name}) FROM {table.name}) IS NOT NULL)"),
                    {"table": table.name, "column": column.name})
