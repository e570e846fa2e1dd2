"""What ``GET /metrics`` reports, read from the database at scrape time (counts only, never a name).

Every instance that shares the database reports the same figures: they are the database's, not
this process's, so a restart loses nothing and a scrape of any instance tells the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, inspect, literal_column, text
from sqlmodel import Session, select

from jobs.storage.models import Reminder
from jobs.storage.states import InboxStatus, ReminderStatus

# Dispatch lag (due -> sent) buckets, in seconds: from "on time" to "a day late after downtime".
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0)
# Failure reasons as the dispatcher writes them (jobs/dispatch/loop.py), as outcome labels.
_FAILURE_PREFIXES = (("blocked:%", "blocked"), ("bad request:%", "refused"), ("error:%", "broken"))


@dataclass(frozen=True)
class Lag:
    """A cumulative histogram of how late sent reminders went out."""

    buckets: tuple[tuple[float, int], ...]  # (upper bound in seconds, how many took at most that)
    count: int
    total_seconds: float


def reminders_by_status(session: Session) -> dict[str, int]:
    """How many reminder rows are in each status."""
    rows = session.exec(select(Reminder.status, func.count()).group_by(Reminder.status)).all()
    return {status: count for status, count in rows}


def deliveries_by_outcome(session: Session) -> dict[str, int]:
    """Sends and failures by what became of them: sent, skipped, and failed by cause."""
    sent, failed, skipped = ReminderStatus.SENT, ReminderStatus.FAILED, ReminderStatus.SKIPPED
    label = case(
        (Reminder.status == sent, "sent"),
        *(((Reminder.status == failed) & Reminder.outcome.like(pattern), name) for pattern, name in _FAILURE_PREFIXES),
        (Reminder.status == skipped, "skipped"),
        else_="gave_up",
    )
    rows = session.exec(select(label, func.count()).where(Reminder.status.in_([sent, failed, skipped]))
                        .group_by(label)).all()
    return {name: count for name, count in rows}


def dispatch_lag(session: Session) -> Lag:
    """Sent reminders' lag from due to sent, counted into :data:`LAG_BUCKETS` by the database."""
    if session.get_bind().dialect.name == "sqlite":
        lag = literal_column("((julianday(reminder.sent_at) - julianday(reminder.due_at)) * 86400.0)")
    else:
        lag = literal_column("EXTRACT(EPOCH FROM (reminder.sent_at - reminder.due_at))")
    columns = [func.sum(case((lag <= bound, 1), else_=0)) for bound in LAG_BUCKETS]
    row = session.exec(select(func.count(), func.coalesce(func.sum(lag), 0.0), *columns)
                       .select_from(Reminder)
                       .where(Reminder.status == ReminderStatus.SENT, Reminder.sent_at.is_not(None))).one()
    count, total, *cumulative = row
    return Lag(buckets=tuple((bound, int(value or 0)) for bound, value in zip(LAG_BUCKETS, cumulative, strict=True)),
               count=int(count), total_seconds=float(total or 0.0))


def open_inbox_items(session: Session) -> dict[str, int] | None:
    """Open staff inbox items by kind, where the inbox exists (None when there is no ``inbox_item`` table)."""
    inspector = inspect(session.connection())  # this transaction's connection: SQLite would lock out another
    if not inspector.has_table("inbox_item"):
        return None
    columns = {column["name"] for column in inspector.get_columns("inbox_item")}
    kind = "kind" if "kind" in columns else "'all'"
    where = f"WHERE status != '{InboxStatus.RESOLVED.value}'" if "status" in columns else ""
    rows = session.exec(text(f"SELECT {kind}, COUNT(*) FROM inbox_item {where} GROUP BY 1")).all()  # noqa: S608
    return {str(name): int(count) for name, count in rows}
