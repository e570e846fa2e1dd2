"""Health: heartbeats (to notice downtime after a restart), the queue's counts for the log, and the one
judgement of both that ``GET /healthz`` answers and ``aftercare check`` prints (:func:`health_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from jobs.storage.models import Heartbeat, Reminder
from jobs.storage.states import ReminderStatus

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
    pending = session.exec(select(func.count()).select_from(Reminder)
                           .where(Reminder.status == ReminderStatus.PENDING)).one()
    due = session.exec(select(func.count()).select_from(Reminder)
                       .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now)).one()
    failed = session.exec(select(func.count()).select_from(Reminder)
                          .where(Reminder.status == ReminderStatus.FAILED)).one()
    return {"pending": pending, "due": due, "failed": failed}


# The heartbeat job beats every minute: three missed beats is a process that is not running.
HEARTBEAT_STALE_AFTER = timedelta(minutes=3)
# A reminder due this long without being sent: the dispatcher is stuck or far behind.
DUE_TOO_LONG = timedelta(minutes=15)


@dataclass(frozen=True)
class Health:
    """What ``GET /healthz`` and ``aftercare check`` say: the facts, and what is wrong (empty: healthy)."""

    database: bool
    heartbeat_at: datetime | None
    pending: int = 0
    due: int = 0
    failed: int = 0
    oldest_due_at: datetime | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Healthy: nothing wrong."""
        return not self.problems

    def as_json(self, *, now: datetime) -> dict:
        """The small JSON of ``/healthz`` (no patient data: counts and times only)."""
        return {
            "status": "ok" if self.ok else "unhealthy",
            "database": "reachable" if self.database else "unreachable",
            "dispatcher_heartbeat": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "heartbeat_age_seconds": (round((now - self.heartbeat_at).total_seconds())
                                      if self.heartbeat_at else None),
            "pending": self.pending, "due": self.due, "failed": self.failed,
            "problems": list(self.problems),
        }


def health_report(session: Session, *, now: datetime) -> Health:
    """The dispatcher's heartbeat and the queue, judged: stale beat or a long-due reminder is a problem."""
    heartbeat = last_beat(session)
    counts = queue_counts(session, now=now)
    oldest = session.exec(select(func.min(Reminder.due_at)).where(Reminder.status == ReminderStatus.PENDING,
                                                                  Reminder.due_at <= now)).one()
    problems = []
    if heartbeat is None:
        problems.append("the dispatcher has never run on this database")
    elif now - heartbeat > HEARTBEAT_STALE_AFTER:
        problems.append(f"no dispatcher heartbeat for {int((now - heartbeat).total_seconds() // 60)} minutes")
    if oldest is not None and now - oldest > DUE_TOO_LONG:
        problems.append(f"{counts['due']} reminders due, the oldest for "
                        f"{int((now - oldest).total_seconds() // 60)} minutes")
    return Health(database=True, heartbeat_at=heartbeat, pending=counts["pending"], due=counts["due"],
                  failed=counts["failed"], oldest_due_at=oldest, problems=tuple(problems))


def unreachable(reason: str) -> Health:
    """The report when the database itself cannot be asked (``reason``: an error's class, never its text)."""
    return Health(database=False, heartbeat_at=None, problems=(f"database unreachable ({reason})",))
