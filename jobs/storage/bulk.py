"""Many rows at once: ids drawn ahead, then the driver's ``executemany`` (PostgreSQL: ``COPY``).

For a bulk import of 100,000 patients (some 700,000 reminders), SQLAlchemy's per-value bind
processing (our UTC type, then SQLite's text format) was most of the time. Here each value is
converted once, the way the column type would convert it (aware datetimes to naive UTC text on
SQLite, as :class:`jobs.storage.types.UTCDateTime` and SQLAlchemy store them; as they are on
PostgreSQL), and the rows go to the driver in batches inside the caller's transaction.

Ids are drawn before the rows are written, so that rows referring to each other (a reminder to
its patient) need no ``RETURNING`` round trip: on SQLite the transaction holds the write lock
from its start (``BEGIN IMMEDIATE``), so the next ids are simply the ones after the highest; on
PostgreSQL they come from the table's own sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Table, text

from jobs.storage.types import UTCDateTime

BATCH_ROWS = 20_000
# SQLite's page cache for a bulk write: 256 MB took no less time than this for 100,000 patients
# (34 s of CPU either way) and was most of the import's memory (448 MB at its peak against 225).
SQLITE_BULK_CACHE_KB = 64 * 1024


def allocate_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table`` (in the caller's transaction)."""
    if count <= 0:
        return []
    if connection.dialect.name == "postgresql":
        return list(connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count}).scalars())
    highest = connection.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


def _sqlite_datetime() -> callable:
    cache: dict[datetime, str] = {}

    def convert(value: datetime | None) -> str | None:
        if value is None:
            return None
        found = cache.get(value)
        if found is None:
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"naive datetime given to the database: {value!r}")
            # SQLAlchemy's SQLite DATETIME text: "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC.
            found = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
            if len(cache) < 200_000:  # many reminders share a due time ("day 1 at 09:00")
                cache[value] = found
        return found
    return convert


def datetime_to_driver(dialect: str):
    """How a datetime goes to the ``dialect``'s driver: text on SQLite (cached), itself on PostgreSQL."""
    return (lambda value: value) if dialect == "postgresql" else _sqlite_datetime()


def insert_rows(connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence], *,
                converted: bool = False) -> int:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``; return how many.

    ``converted``: the rows' datetimes already went through :func:`datetime_to_driver`.
    """
    postgres = connection.dialect.name == "postgresql"
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(column) for column in columns)
    if postgres:
        return _copy(connection, f"COPY {quote(table.name)} ({names}) FROM STDIN", rows)
    if not connection.info.get("bulk_cache"):
        # SQLite's page cache (2 MB by default) is far smaller than the indexes a big import grows.
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KB}")
        connection.info["bulk_cache"] = True
    datetimes = {index for index, column in enumerate(columns) if isinstance(table.c[column].type, UTCDateTime)}
    convert = _row_converter(len(columns), set() if converted else datetimes)
    statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    count, batch = 0, []
    for row in rows:
        batch.append(convert(row))
        if len(batch) >= BATCH_ROWS:
            connection.exec_driver_sql(statement, batch)
            count, batch = count + len(batch), []
    if batch:
        connection.exec_driver_sql(statement, batch)
        count += len(batch)
    return count


def _row_converter(width: int, datetimes: set[int]):
    """A function turning one row into what SQLite stores: one tuple built per row, datetimes as text."""
    if not datetimes:
        return tuple
    parts = ", ".join(f"text(row[{index}])" if index in datetimes else f"row[{index}]" for index in range(width))
    # A generated one-line function: a row is converted without a loop over its columns.
    return eval(f"lambda row: ({parts},)", {"text": _sqlite_datetime()})  # noqa: S307 - built from column indexes


def _copy(connection: Connection, statement: str, rows: Iterable[Sequence]) -> int:
    """PostgreSQL's COPY through psycopg, on the connection of the caller's transaction."""
    count = 0
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
