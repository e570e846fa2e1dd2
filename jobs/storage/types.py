"""Column types: timezone-aware UTC datetimes that round-trip the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; always hands back aware UTC datetimes.

    SQLite has no time zone type and would give naive values back; PostgreSQL's timestamptz
    gives aware ones in the session zone. Both come out as UTC here, and a naive value going
    in is a bug we want to hear about at once.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime given to the database: {value!r}")
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so comparisons as text stay correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
