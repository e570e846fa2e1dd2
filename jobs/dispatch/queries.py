"""The dispatcher's queries, named and in one place: claim due reminders, record what became of each.

A claim marks rows ``claimed`` with a lease and this process's holder id; a process that dies
mid-batch leaves claims that the next claim takes again -- at once when their holder is known to
be gone (jobs/storage/presence.py), otherwise once the lease ran out. Each ``record_*`` touches only
a row still claimed, so a claim another dispatcher has taken over is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, union_all, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from jobs.actors import SYSTEM
from jobs.patients import lifecycle
from jobs.patients.lifecycle import LifecycleEvent
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.presence import ME, holder_gone
from jobs.storage.states import PatientStatus, ReminderStatus

# Reasons are kept to the column's size (VARCHAR(200) on PostgreSQL refuses longer ones).
REASON_LENGTH = 200


@dataclass(frozen=True)
class ClaimedReminder:
    """Everything needed to send one reminder, copied out of the database session."""

    id: int
    patient_id: int
    chat_id: int
    patient_name: str
    locale: str
    timezone: str
    step_key: str
    text_key: str
    kind: str
    due_at: datetime
    expires_at: datetime
    attempts: int
    session_number: int
    series_length: int
    session_at: datetime
    protocol_name: str
    # Silence noticed (jobs/care/silence.py): a step's follow-up offsets, and a follow-up's step.
    nudge_after_spec: str | None = None
    alert_after_spec: str | None = None
    parent_id: int | None = None
    # The patient's opaque reference that booking links carry (jobs/care/bookings.py finds them by it).
    booking_ref: str | None = None
    # The name the patient is greeted by (patient.called); patient_name stays the full one, for staff.
    called: str | None = None



# What the dispatcher needs of a claimed row, in ClaimedReminder's order. Plain columns, not ORM
# objects: building a hundred entities costs more than the query.
_CLAIMED_COLUMNS = (
    Reminder.id, Patient.id, Patient.chat_id, Patient.name, Patient.locale, Patient.timezone,
    Reminder.step_key, Reminder.text_key, Reminder.kind, Reminder.due_at, Reminder.expires_at,
    Reminder.attempts, Enrollment.session_number, Enrollment.series_length, Enrollment.session_at,
    Enrollment.protocol_name, Reminder.nudge_after_spec, Reminder.alert_after_spec, Reminder.parent_id,
    Patient.booking_ref, Patient.called,
)


def _claim_statements(dialect: str):
    """The claim's statements, built once with bound parameters (``now``, ``until``, ``limit``, ``me``):
    building them per call cost about as much as PostgreSQL took to run them."""
    now, limit = bindparam("now"), bindparam("limit")
    other = aliased(Reminder)
    # Patients with a claim in flight. Not correlated with the candidate on purpose: PostgreSQL runs it
    # once per claim and probes a hash of its few ids. As an EXISTS on the candidate's patient it was
    # run once per row the planner's join happened to visit -- on tables not yet analyzed after a bulk
    # load, once per active patient per candidate (about a million times for 5,000 due rows), each
    # time reading every claim of the other dispatchers: 20-45 s a batch with three of them.
    # (pg_locks, in holder_gone, is volatile, so PostgreSQL never turns the EXISTS into a join itself.)
    busy_patients = (
        select(other.patient_id)
        # A dead holder's claim is not in flight: it is about to be taken again itself.
        .where(other.status == ReminderStatus.CLAIMED, other.claimed_until > now, ~holder_gone(other.holder, dialect))
    )

    def candidates(*condition):
        # key_share: FOR NO KEY UPDATE, which still lets enrollments insert rows referring to the patient.
        return (
            select(Reminder.id, Reminder.due_at)
            .join(Patient, Patient.id == Reminder.patient_id)
            .where(Patient.status == PatientStatus.ACTIVE, Patient.chat_id.is_not(None),
                   Reminder.patient_id.not_in(busy_patients), *condition)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=[Reminder, Patient], key_share=True)
        )

    pending = candidates(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now)
    # A claim whose lease ran out, or whose holder is known to be gone (a process killed mid-send):
    # taken again at once in the second case, not after the lease.
    expired = candidates(Reminder.status == ReminderStatus.CLAIMED,
                         or_(Reminder.claimed_until <= now, holder_gone(Reminder.holder, dialect)))
    both = union_all(select(pending.cte("pending")), select(expired.cte("expired"))).subquery("both")
    picked = select(both.c.id).order_by(both.c.due_at, both.c.id).limit(limit).cte("picked")
    in_one = (
        update(Reminder)
        .where(Reminder.id == picked.c.id, Patient.id == Reminder.patient_id, Enrollment.id == Reminder.enrollment_id)
        .values(status=ReminderStatus.CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME))
        .returning(*_CLAIMED_COLUMNS)
    )
    ids = bindparam("ids", expanding=True)
    mark = (update(Reminder).where(Reminder.id.in_(ids))
            .values(status=ReminderStatus.CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME)))
    columns = (
        select(*_CLAIMED_COLUMNS)
        .join(Patient, Patient.id == Reminder.patient_id)
        .join(Enrollment, Enrollment.id == Reminder.enrollment_id)
        .where(Reminder.id.in_(ids))
        .order_by(Reminder.due_at, Reminder.id)
    )
    return in_one, pending, expired, mark, columns


_CLAIM_IN_ONE = _claim_statements("postgresql")[0]
_, _PENDING, _EXPIRED, _MARK_CLAIMED, _CLAIMED_ROWS = _claim_statements("sqlite")


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta,
              holder: int | None = None) -> list[ClaimedReminder]:
    """Claim up to ``limit`` due reminders of linked, active patients, oldest first.

    Candidates are pending rows that are due (read through the partial index on pending rows)
    and claims whose lease ran out, of patients with no other claim in flight, so each patient's
    messages keep their order. On PostgreSQL the candidates lock the reminder *and its patient*
    rows with ``FOR NO KEY UPDATE … SKIP LOCKED``: concurrent dispatchers never take the same
    row, nor two rows of one patient. There the whole claim is one ``UPDATE … FROM … RETURNING``
    statement, one round trip. On SQLite the transaction began IMMEDIATE, so a second dispatcher
    waits for the lock and then sees the rows as claimed; the claim there is a select, an update
    and a select, all in-process.

    ``holder`` (this process's presence, jobs/storage/presence.py) is written on the claims; claims
    of a holder known to be gone are candidates at once.
    """
    values = {"now": now, "until": now + lease, "limit": limit, ME: holder}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(_CLAIM_IN_ONE, values).all()
        return sorted((ClaimedReminder(*row) for row in rows), key=lambda item: (item.due_at, item.id))

    ids = [row.id for row in connection.execute(_PENDING, values)]
    if len(ids) < limit:
        ids += [row.id for row in connection.execute(_EXPIRED, values)][: limit - len(ids)]
    if not ids:
        return []
    connection.execute(_MARK_CLAIMED, {**values, "ids": ids})
    return [ClaimedReminder(*row) for row in connection.execute(_CLAIMED_ROWS, {"ids": ids})]


def record_sent(session: Session, *, reminder_id: int, message_id: int, now: datetime) -> None:
    """Mark a reminder sent, with Telegram's message id."""
    record_sent_many(session, [{"reminder_id": reminder_id, "message_id": message_id, "now": now}])


# One statement for any number of sends, run as executemany (psycopg pipelines it: one round trip).
# Bound names differ from the column names, which SQLAlchemy reserves for the SET clause.
_MARK_SENT = (
    update(Reminder.__table__)
    .where(Reminder.__table__.c.id == bindparam("reminder_id"), Reminder.__table__.c.status == ReminderStatus.CLAIMED)
    .values(status=ReminderStatus.SENT, sent_at=bindparam("now"), telegram_message_id=bindparam("message_id"),
            outcome=None, claimed_until=None)
)


def record_sent_many(session: Session, sends: list[dict]) -> None:
    """:func:`record_sent` for many reminders at once; each dict holds its keyword arguments."""
    if sends:
        session.connection().execute(_MARK_SENT, sends)


def record_skipped(session: Session, *, reminder_id: int, reason: str) -> None:
    """Mark a reminder skipped (stale), with the reason."""
    _finish(session, reminder_id, status=ReminderStatus.SKIPPED, outcome=reason[:REASON_LENGTH])


def record_failed(session: Session, *, reminder_id: int, reason: str, attempts: int) -> None:
    """Mark a reminder failed for good, with the reason."""
    _finish(session, reminder_id, status=ReminderStatus.FAILED, outcome=reason[:REASON_LENGTH], attempts=attempts)


def record_retry(session: Session, *, reminder_id: int, due_at: datetime, attempts: int, reason: str) -> None:
    """Put a reminder back in the queue for ``due_at``."""
    _finish(session, reminder_id, status=ReminderStatus.PENDING, due_at=due_at, attempts=attempts,
            outcome=reason[:REASON_LENGTH])


def record_unreachable(session: Session, *, reminder_id: int, patient_id: int, reason: str, now: datetime) -> bool:
    """The patient blocked the bot: fail this reminder, and the lifecycle makes them unreachable.

    Returns True only the first time, so staff are told once.
    """
    _finish(session, reminder_id, status=ReminderStatus.FAILED, outcome=reason[:REASON_LENGTH])
    patient = session.get(Patient, patient_id)
    if patient is None or not lifecycle.allowed(LifecycleEvent.BLOCK, patient.status):
        return False
    lifecycle.apply_event(session, patient=patient, event=LifecycleEvent.BLOCK, cause=SYSTEM, now=now)
    return True


def release_claims(session: Session, *, reminder_ids: list[int]) -> None:
    """Give claimed rows back unsent (shutting down, halted): the next run takes them at once."""
    if reminder_ids:
        session.exec(update(Reminder).where(Reminder.id.in_(reminder_ids), Reminder.status == ReminderStatus.CLAIMED)
                     .values(status=ReminderStatus.PENDING, claimed_until=None, holder=None))


def _finish(session: Session, reminder_id: int, **values: object) -> None:
    # Only a row we still hold: if our lease ran out and another dispatcher took it, leave it alone.
    session.exec(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.CLAIMED)
        .values(claimed_until=None, **values)
    )

