"""The staff outbox: every message to staff is a row, sent by its own job at the staff chat's own pace.

Telegram lets a bot write about 20 messages a minute into one group and about one a second into any
chat; a forum costs three calls for a patient's first alert (the topic, its introduction, the alert).
Sent from wherever they arose, staff alerts waited in python-telegram-bot's rate limiter -- inside the
dispatcher, holding back every patient reminder due meanwhile. Here they are queued instead (a durable
row, in the same database as everything else), and one recurring job sends them (bot/outbox.py):

- a notice is claimed atomically with a lease, like a reminder (DESIGN decisions 2, 3): a process that
  dies mid-send leaves a claim the next pass takes again; delivery is at-least-once;
- the most urgent first (:class:`Priority`), then in the order they were queued;
- :class:`StaffPacer` keeps each chat's budget (20 a minute in a group, a second between two calls to
  one chat); a notice whose chat has no budget now waits in the table, ``due_at`` set to when it has;
- Telegram's 429 holds every notice of that chat until its ``retry_after`` (:func:`hold_chat`);
- a notice queued twice under one ``dedup_key`` is queued once: a silence alert whose reminder was
  claimed again, an edit of an inbox item that is already waiting (it renders the item as it is when
  sent, so one edit shows every change made meanwhile).

Sent and failed notices lose their words at once and their rows after ``UPDATE_RETENTION_HOURS``.
Nothing here imports ``telegram``: the sending side is bot/outbox.py.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from sqlalchemy import and_, bindparam, case, delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from jobs.storage.models import StaffNotice
from jobs.storage.presence import ME, holder_gone
from jobs.storage.states import NoticeStatus

ERROR_LENGTH = 200  # the column's size


class Action(StrEnum):
    """What a notice does in its staff chat."""

    SEND = "send"  # an alert (text, photo or a copied message; follow-up messages; an inbox item's view)
    EDIT = "edit"  # edit every view of an inbox item in this chat to the item's current state
    SETTLE = "settle"  # close or reopen the patients' topics the lifecycle marked (a forum staff chat)
    REOPEN = "reopen"  # the patient wrote: their closed topic opens again
    UNNAME = "unname"  # edit this chat's messages that name an erased patient to drop the name


# Queued again under the same key while one is waiting, these are one notice (they read the current
# state when sent); the key is freed when the notice is claimed, so a change made during the send
# queues one more.
COALESCING = frozenset({Action.EDIT, Action.SETTLE, Action.REOPEN, Action.UNNAME})


class Priority(IntEnum):
    """Which notices go first when a staff chat has more waiting than its budget allows."""

    BACKGROUND = 0  # topic upkeep: closing topics of finished plans
    ROUTINE = 1  # "no answer" alerts, bookings, staff joined, blocked patients
    PATIENT = 2  # a patient's own message or photo
    URGENT = 3  # "I'm worried", red flags, items raised again, edits that say someone took one


@dataclass(frozen=True)
class Notice:
    """A notice to queue: one chat, one action."""

    chat_id: int
    action: Action
    payload: dict = field(default_factory=dict)
    patient_id: int | None = None
    priority: Priority = Priority.ROUTINE
    dedup_key: str | None = None


@dataclass(frozen=True)
class ClaimedNotice:
    """A notice taken for sending, copied out of the session."""

    id: int
    chat_id: int
    patient_id: int | None
    action: Action
    payload: dict
    attempts: int


def enqueue(session: Session, *, notices: list[Notice], now: datetime) -> int:
    """Queue ``notices`` (due now); one whose ``dedup_key`` is already queued is left out. Return how many."""
    if not notices:
        return 0
    rows = [{"chat_id": notice.chat_id, "patient_id": notice.patient_id, "action": notice.action.value,
             "payload": json.dumps(notice.payload), "priority": int(notice.priority), "dedup_key": notice.dedup_key,
             "status": NoticeStatus.PENDING, "created_at": now, "due_at": now, "attempts": 0} for notice in notices]
    connection = session.connection()
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(StaffNotice.__table__)
    added = 0
    for row in rows:  # one by one: a batch's rowcount is not reliable with ON CONFLICT on every driver
        added += connection.execute(insert.on_conflict_do_nothing(index_elements=["dedup_key"]), row).rowcount
    return added


def _claim_statements(dialect: str):
    table = StaffNotice
    now = bindparam("now")
    takeable = or_(
        and_(table.status == NoticeStatus.PENDING, table.due_at <= now),
        and_(table.status == NoticeStatus.CLAIMED, or_(table.claimed_until <= now, holder_gone(table.holder, dialect))),
    )
    candidates = (
        select(table.id)
        .where(table.status.in_((NoticeStatus.PENDING, NoticeStatus.CLAIMED)), takeable)
        .order_by(table.priority.desc(), table.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    coalescing = [action.value for action in COALESCING]
    mark = (
        update(table)
        .where(table.id.in_(bindparam("ids", expanding=True)))
        .values(status=NoticeStatus.CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME),
                # An edit or topic work being sent no longer stands for changes made from now on.
                dedup_key=case((table.action.in_(coalescing), None), else_=table.dedup_key))
        .returning(table.id, table.chat_id, table.patient_id, table.action, table.payload, table.attempts,
                   table.priority)
    )
    return candidates, mark


_CLAIMS = {dialect: _claim_statements(dialect) for dialect in ("sqlite", "postgresql")}


def claim_notices(session: Session, *, now: datetime, limit: int, lease: timedelta,
                  holder: int | None) -> list[ClaimedNotice]:
    """Take up to ``limit`` notices whose time has come: the most urgent first, then the oldest."""
    connection = session.connection()
    candidates, mark = _CLAIMS[connection.dialect.name]
    ids = [row.id for row in connection.execute(candidates, {"now": now, "limit": limit, ME: holder})]
    if not ids:
        return []
    rows = connection.execute(mark, {"ids": ids, "until": now + lease, ME: holder}).all()
    rows.sort(key=lambda row: (-row.priority, row.id))
    return [ClaimedNotice(row.id, row.chat_id, row.patient_id, Action(row.action), json.loads(row.payload or "{}"),
                          row.attempts) for row in rows]


def notice_sent(session: Session, *, notice_id: int, now: datetime) -> None:
    """Telegram took it: done, and its words are no longer kept."""
    _finish(session, notice_id, NoticeStatus.SENT, now, None)


def notice_failed(session: Session, *, notice_id: int, now: datetime, error: str) -> None:
    """Refused for good (or failed too often): kept, without its words, with why."""
    _finish(session, notice_id, NoticeStatus.FAILED, now, error)


def _finish(session: Session, notice_id: int, status: str, now: datetime, error: str | None) -> None:
    session.exec(update(StaffNotice).where(StaffNotice.id == notice_id, StaffNotice.status == NoticeStatus.CLAIMED)
                 .values(status=status, payload="", done_at=now, claimed_until=None,
                         last_error=error[:ERROR_LENGTH] if error else None))


def notice_later(session: Session, *, notice_id: int, due_at: datetime, attempts: int,
                 error: str | None = None) -> None:
    """Back to waiting until ``due_at`` (its chat had no budget, or Telegram said wait, or a retry)."""
    session.exec(update(StaffNotice).where(StaffNotice.id == notice_id, StaffNotice.status == NoticeStatus.CLAIMED)
                 .values(status=NoticeStatus.PENDING, due_at=due_at, attempts=attempts, claimed_until=None, holder=None,
                         last_error=error[:ERROR_LENGTH] if error else None))


def hold_chat(session: Session, *, chat_id: int, until: datetime) -> int:
    """Telegram said to wait: nothing waiting for ``chat_id`` goes before ``until``. Return how many were held."""
    return session.exec(update(StaffNotice)
                        .where(StaffNotice.chat_id == chat_id, StaffNotice.status == NoticeStatus.PENDING,
                               StaffNotice.due_at < until)
                        .values(due_at=until)).rowcount


def next_due(session: Session) -> datetime | None:
    """When the earliest waiting notice may go (None: nothing waits)."""
    return session.exec(select(func.min(StaffNotice.due_at)).where(StaffNotice.status == NoticeStatus.PENDING)).one()


def outbox_counts(session: Session, *, now: datetime) -> dict[str, int]:
    """Waiting, of which due now, and failed for good: for the heartbeat and /metrics."""
    waiting = StaffNotice.status.in_((NoticeStatus.PENDING, NoticeStatus.CLAIMED))
    pending = session.exec(select(func.count()).where(waiting)).one()
    due = session.exec(select(func.count()).where(waiting, StaffNotice.due_at <= now)).one()
    failed = session.exec(select(func.count()).where(StaffNotice.status == NoticeStatus.FAILED)).one()
    return {"pending": pending, "due": due, "failed": failed}


def forget_notices(session: Session, *, patient_id: int) -> int:
    """Drop the alerts about ``patient_id`` not sent yet, and the reopening of their topic (they erased
    their data); return how many."""
    return session.exec(delete(StaffNotice).where(
        StaffNotice.patient_id == patient_id, StaffNotice.action.in_((Action.SEND.value, Action.REOPEN.value)),
        StaffNotice.status.in_((NoticeStatus.PENDING, NoticeStatus.CLAIMED)))).rowcount


def prune_notices(session: Session, *, before: datetime) -> int:
    """Delete sent and failed notices done before ``before``; return how many."""
    return session.exec(delete(StaffNotice).where(StaffNotice.status.in_((NoticeStatus.SENT, NoticeStatus.FAILED)),
                                                  StaffNotice.done_at < before)).rowcount


# --------------------------------------------------------------------------- pacing


@dataclass(frozen=True)
class StaffPacing:
    """Telegram's limits for one chat, as the outbox keeps them."""

    # A group or supergroup (a negative chat id): at most this many calls in ``group_window``.
    group_limit: int = 20
    group_window: timedelta = timedelta(minutes=1)
    # Any chat: this long between two calls.
    gap: timedelta = timedelta(seconds=1)


class StaffPacer:
    """Each staff chat's budget: when its next calls may go. Remembered across outbox passes.

    Time is whatever ``now`` the caller passes (the services' clock), so tests move it by hand.
    """

    def __init__(self, pacing: StaffPacing = StaffPacing()) -> None:
        self.pacing = pacing
        self._calls: dict[int, deque[datetime]] = {}
        self._held: dict[int, datetime] = {}

    def ready_at(self, chat_id: int, now: datetime, calls: int = 1) -> datetime:
        """The earliest moment, from ``now`` on, at which ``chat_id`` may get ``calls`` calls in a row."""
        pacing, at = self.pacing, now
        held = self._held.get(chat_id)
        if held is not None:
            if held > now:
                at = held
            else:
                del self._held[chat_id]
        recent = self._recent(chat_id, now)
        if recent:
            at = max(at, recent[-1] + pacing.gap)
        if chat_id < 0 and pacing.group_limit > 0:
            calls = min(calls, pacing.group_limit)
            over = len(recent) + calls - pacing.group_limit
            if over > 0:
                # The window must first forget the ``over`` oldest calls it remembers.
                at = max(at, recent[over - 1] + pacing.group_window)
        return at

    def note(self, chat_id: int, at: datetime) -> None:
        """A call to ``chat_id`` went out at ``at``."""
        self._calls.setdefault(chat_id, deque()).append(at)

    def hold(self, chat_id: int, until: datetime) -> None:
        """Telegram said to wait (429 retry_after): nothing to ``chat_id`` before ``until``."""
        self._held[chat_id] = max(until, self._held.get(chat_id, until))

    def _recent(self, chat_id: int, now: datetime) -> deque[datetime]:
        recent = self._calls.get(chat_id)
        if recent is None:
            return deque()
        keep = max(self.pacing.group_window, self.pacing.gap)
        while recent and recent[0] <= now - keep:
            recent.popleft()
        if not recent:
            del self._calls[chat_id]
        return recent
