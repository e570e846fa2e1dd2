"""Health: heartbeats (to notice downtime after a restart) and the queue's counts for the log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from jobs.storage.models import FAILED, PENDING, Heartbeat, Reminder

DISPATCHER = "dispatcher"


def last_beat(session: Session, *, name: str = DISPATCHER) -> datetime | None:
    """When the process last beat, or None on a new database."""
    beat = session.get(Heartbeat, name)
    return beat.at if beat else None


def beat(session: Session, *, now: datetime, name: str = DISPATCHER) -> None:
    """Record that we are alive now."""
    row = session.get(Heartbeat, name) or Heartbeat(name=name, at=now)
    row.at = now
    session.add(row)


def queue_counts(session: Session, *, now: datetime) -> dict[str, int]:
    """Pending reminders, how many of them are due now, and failed ones."""
    pending = session.exec(select(func.count()).select_from(Reminder).where(Reminder.status == PENDING)).one()
    due = session.exec(select(func.count()).select_from(Reminder)
                       .where(Reminder.status == PENDING, Reminder.due_at <= now)).one()
    failed = session.exec(select(func.count()).select_from(Reminder).where(Reminder.status == FAILED)).one()
    return {"pending": pending, "due": due, "failed": failed}
