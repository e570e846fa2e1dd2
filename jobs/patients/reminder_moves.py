"""Moving a patient's reminders between states in bulk: cancel, settle, revive, restore, re-plan.

The lifecycle (``jobs/patients/lifecycle.py``) calls these when a patient's status changes; a few
use cases that change no status call them directly (an answered step closes its follow-ups, a
booking cancels or restores its reminders, staff cancel one kind). Nothing else bulk-updates
reminder states (DESIGN decision 10).

Why a reminder was cancelled is part of its state (``CancelReason``), so undoing one cause never
revives another: a patient who comes back after blocking the bot gets back what was cancelled
*because they were unreachable*, never what staff cancelled. A row cancelled by staff stays
cancelled as the record of that decision; a staff restart (a new invite, a new session) adds
fresh rows instead.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from jobs.care.planning import QuietHours, due_on_link, replan_spec
from jobs.patients.queries import current_enrollment
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import OPEN_REMINDER_STATES, PatientStatus, ReminderStatus

S = PatientStatus


class CancelReason(StrEnum):
    """Why a reminder was cancelled (stored in ``reminder.outcome``)."""

    STAFF = "cancelled by staff"
    PATIENT_STOPPED = "patient stopped the messages"
    NOT_CONTINUING = "patient is not continuing"
    UNREACHABLE = "patient unreachable"
    SUPERSEDED = "another record took over the chat"
    ERASED = "patient erased their data"
    BOOKED = "patient booked"
    BOOKED_ELSEWHERE = "booked in the booking system"  # a signed booking hook: undone if the booking is cancelled
    BOOKING_CHANGED = "the booking moved or was cancelled"  # an appointment reminder of the old time
    NEXT_SESSION = "next session recorded"
    ANSWERED = "answered"  # a nudge or silence alert whose step the patient answered


# Cancellations that an undo may revive; a staff cancel or an erasure takes them over.
TEMPORARY_REASONS = frozenset({CancelReason.PATIENT_STOPPED, CancelReason.NOT_CONTINUING,
                               CancelReason.UNREACHABLE, CancelReason.SUPERSEDED})
_REASON_OF_STATUS = {
    S.STOPPED: CancelReason.PATIENT_STOPPED, S.CANCELLED: CancelReason.STAFF,
    S.NOT_CONTINUING: CancelReason.NOT_CONTINUING, S.UNREACHABLE: CancelReason.UNREACHABLE,
    S.SUPERSEDED: CancelReason.SUPERSEDED, S.DELETED: CancelReason.ERASED,
}


def state_for_new_reminder(status: str) -> tuple[ReminderStatus, str | None]:
    """The state (and cancel reason) of a reminder added for a patient in ``status``."""
    status = PatientStatus(status)
    if status is S.ACTIVE:
        return ReminderStatus.PENDING, None
    if status is S.PAUSED:
        return ReminderStatus.HELD, None
    if status is S.AWAITING_LINK:
        return ReminderStatus.WAITING, None
    return ReminderStatus.CANCELLED, _REASON_OF_STATUS[status].value


def cancel_reminders(session: Session, *, patient_id: int, reason: CancelReason, kinds: tuple[str, ...] | None = None,
                     enrollment_id: int | None = None, take_over: bool = False,
                     step_keys: tuple[str, ...] | None = None) -> int:
    """Cancel a patient's open reminders for ``reason`` (optionally only some kinds, or of one cycle).

    With ``take_over``, reminders cancelled for a temporary reason are re-labelled too, so that no
    later undo of that reason revives them. Returns how many open reminders were cancelled.
    """
    statement = update(Reminder).where(Reminder.patient_id == patient_id,
                                       Reminder.status.in_(OPEN_REMINDER_STATES))
    if kinds is not None:
        statement = statement.where(Reminder.kind.in_(kinds))
    if enrollment_id is not None:
        statement = statement.where(Reminder.enrollment_id == enrollment_id)
    if step_keys is not None:
        statement = statement.where(Reminder.step_key.in_(step_keys))
    count = session.exec(statement.values(status=ReminderStatus.CANCELLED, outcome=reason.value,
                                          claimed_until=None)).rowcount
    if take_over:
        session.exec(update(Reminder).where(Reminder.patient_id == patient_id,
                                            Reminder.status == ReminderStatus.CANCELLED,
                                            Reminder.outcome.in_([r.value for r in TEMPORARY_REASONS]))
                     .values(outcome=reason.value))
    return count


def close_followups(session: Session, *, patient_id: int, parent_id: int) -> int:
    """The patient answered step ``parent_id``: its nudge and silence alert will never go out.

    Open follow-ups are cancelled as answered, and so are those cancelled for a temporary reason
    (a /stop, a block), so that no later undo revives a reminder of a question already answered.
    """
    mine = (Reminder.patient_id == patient_id, Reminder.parent_id == parent_id)
    count = session.exec(update(Reminder).where(*mine, Reminder.status.in_(OPEN_REMINDER_STATES))
                         .values(status=ReminderStatus.CANCELLED, outcome=CancelReason.ANSWERED.value,
                                 claimed_until=None)).rowcount
    session.exec(update(Reminder).where(*mine, Reminder.status == ReminderStatus.CANCELLED,
                                        Reminder.outcome.in_([r.value for r in TEMPORARY_REASONS]))
                 .values(outcome=CancelReason.ANSWERED.value))
    return count


def restore_reminders(session: Session, *, patient: Patient, reason: CancelReason, kinds: tuple[str, ...],
                      enrollment_id: int, now: datetime) -> int:
    """Bring back one cycle's reminders of ``kinds`` cancelled for ``reason`` whose window is still open.

    The undo of one cause only (a booking cancelled in the booking system revives what that booking
    stopped, never what staff or the patient cancelled), in the state the patient's status wants:
    nothing comes back for a patient who stopped or was cancelled. Returns how many came back.
    """
    state, _ = state_for_new_reminder(patient.status)
    if state is ReminderStatus.CANCELLED:
        return 0
    rows = session.exec(select(Reminder).where(
        Reminder.patient_id == patient.id, Reminder.enrollment_id == enrollment_id, Reminder.kind.in_(kinds),
        Reminder.status == ReminderStatus.CANCELLED, Reminder.outcome == reason.value,
        Reminder.expires_at > now)).all()
    for row in rows:
        row.status, row.outcome, row.due_at, row.attempts = state, None, max(row.due_at, now), 0
        session.add(row)
    return len(rows)


def settle(session: Session, *, patient: Patient, now: datetime) -> int:
    """Bring the patient's open reminders into the state their status wants; return how many went stale."""
    status = PatientStatus(patient.status)
    if status is S.PAUSED:
        session.exec(update(Reminder).where(Reminder.patient_id == patient.id,
                                            Reminder.status == ReminderStatus.PENDING)
                     .values(status=ReminderStatus.HELD))
        return 0
    if status is not S.ACTIVE:
        return 0
    session.exec(update(Reminder).where(Reminder.patient_id == patient.id, Reminder.status == ReminderStatus.HELD)
                 .values(status=ReminderStatus.PENDING))
    skipped = 0
    for reminder in session.exec(select(Reminder).where(Reminder.patient_id == patient.id,
                                                        Reminder.status == ReminderStatus.WAITING)):
        due = due_on_link(planned_at=reminder.planned_at, due_at=reminder.due_at, expires_at=reminder.expires_at,
                          now=now)
        if due is None:
            reminder.status = ReminderStatus.SKIPPED
            reminder.outcome = "stale: its time had passed when the patient linked"
            skipped += 1
        else:
            reminder.due_at, reminder.status = due, ReminderStatus.PENDING
        session.add(reminder)
    return skipped


def revive(session: Session, *, patient: Patient, reasons: frozenset[CancelReason], now: datetime) -> int:
    """Bring back the current cycle's reminders cancelled for ``reasons`` that are still valid.

    They come back in the state the patient's status wants. Reminders cancelled by staff are not
    touched: fresh copies of them are added, so the cancelled row stays as the record of it.
    """
    cycle = current_enrollment(session, patient_id=patient.id)
    if cycle is None:
        return 0
    state, _ = state_for_new_reminder(patient.status)
    if state is ReminderStatus.CANCELLED:
        return 0
    rows = session.exec(select(Reminder).where(
        Reminder.patient_id == patient.id, Reminder.enrollment_id == cycle.id,
        Reminder.status == ReminderStatus.CANCELLED, Reminder.outcome.in_([r.value for r in reasons]),
        Reminder.expires_at > now)).all()
    for row in rows:
        due = max(row.due_at, now)
        if row.outcome == CancelReason.STAFF:
            session.add(Reminder(
                enrollment_id=row.enrollment_id, patient_id=row.patient_id, step_key=row.step_key,
                text_key=row.text_key, kind=row.kind, at_spec=row.at_spec, not_before_spec=row.not_before_spec,
                expires_spec=row.expires_spec, planned_at=row.planned_at, due_at=due, expires_at=row.expires_at,
                nudge_after_spec=row.nudge_after_spec, alert_after_spec=row.alert_after_spec,
                parent_id=row.parent_id, status=state))
        else:
            row.status, row.outcome, row.due_at, row.attempts = state, None, due, 0
            session.add(row)
    return len(rows)


def replan_open_reminders(session: Session, *, patient: Patient, quiet_hours: QuietHours, now: datetime) -> int:
    """Recompute open reminders' times from their own timing texts, in the patient's current zone.

    Times only, never states. A step whose new time has already passed keeps its place in the
    queue (it goes now, or is skipped by the dispatcher if stale); nothing is moved into the past.
    """
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        select(Reminder, Enrollment).join(Enrollment, Enrollment.id == Reminder.enrollment_id)
        # A snoozed rebooking reminder has no timing text: it keeps the time the patient asked for.
        .where(Reminder.patient_id == patient.id,
               Reminder.status.in_([ReminderStatus.PENDING, ReminderStatus.WAITING, ReminderStatus.HELD]),
               Reminder.at_spec != "")
    ).all()
    for reminder, enrollment in rows:
        planned, due, expires = replan_spec(
            at_spec=reminder.at_spec, not_before_spec=reminder.not_before_spec,
            expires_spec=reminder.expires_spec, session_at=enrollment.session_at, zone=zone,
            quiet_hours=quiet_hours,
        )
        reminder.planned_at, reminder.due_at, reminder.expires_at = planned, max(due, now), max(expires, now)
        session.add(reminder)
    return len(rows)
