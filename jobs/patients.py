"""What a linked patient can do to their own data: look, pause, resume, stop, erase, move zone, language.

Every function finds the patient by their chat, so a patient can only ever act on their own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, delete, select

from jobs import events
from jobs.enrollment import UNREACHABLE_REASON
from jobs.planning import QuietHours, replan_spec
from jobs.storage.models import (
    ACTIVE,
    CANCELLED,
    DELETED,
    HELD,
    OPEN_STATES,
    PAUSED,
    PENDING,
    STOPPED,
    UNREACHABLE,
    WAITING,
    Enrollment,
    Invite,
    Patient,
    RelayLink,
    Reminder,
)

LINKED_STATES = (ACTIVE, PAUSED, STOPPED, UNREACHABLE)


def patient_for_chat(session: Session, *, chat_id: int) -> Patient | None:
    """The patient linked to this chat (the newest, if the clinic enrolled the same person twice)."""
    return session.exec(
        select(Patient).where(Patient.chat_id == chat_id, Patient.status.in_(LINKED_STATES))
        .order_by(Patient.id.desc())
    ).first()


def current_enrollment(session: Session, *, patient_id: int) -> Enrollment | None:
    """The patient's latest aftercare cycle."""
    return session.exec(
        select(Enrollment).where(Enrollment.patient_id == patient_id)
        .order_by(Enrollment.session_at.desc(), Enrollment.id.desc())
    ).first()


def next_pending(session: Session, *, patient_id: int) -> Reminder | None:
    """The next message the patient will get, if any."""
    return session.exec(
        select(Reminder).where(Reminder.patient_id == patient_id, Reminder.status.in_(OPEN_STATES))
        .order_by(Reminder.due_at, Reminder.id)
    ).first()


@dataclass(frozen=True)
class PatientStatus:
    """What /status shows."""

    patient: Patient
    enrollment: Enrollment | None
    next_reminder: Reminder | None


def patient_status(session: Session, *, chat_id: int) -> PatientStatus | None:
    """The patient's cycle and next message, or None for a chat that is not a patient."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        return None
    return PatientStatus(patient, current_enrollment(session, patient_id=patient.id),
                         next_pending(session, patient_id=patient.id))


def set_paused(session: Session, *, chat_id: int, paused: bool, now: datetime) -> Patient | None:
    """Pause or resume. Steps that go stale while paused are skipped when the patient resumes."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None or patient.status not in (ACTIVE, PAUSED):
        return patient
    wanted = PAUSED if paused else ACTIVE
    if patient.status != wanted:
        patient.status = wanted
        session.add(patient)
        # Held rows are out of the dispatcher's way until the patient resumes.
        before, after = (PENDING, HELD) if paused else (HELD, PENDING)
        session.exec(update(Reminder).where(Reminder.patient_id == patient.id, Reminder.status == before)
                     .values(status=after))
        events.record_event(session, kind=events.PAUSED if paused else events.RESUMED,
                            patient_id=patient.id, now=now)
    return patient


def cancel_pending(session: Session, *, patient_id: int, reason: str, kinds: tuple[str, ...] | None = None,
                   enrollment_id: int | None = None) -> int:
    """Cancel a patient's pending reminders (optionally only some kinds, or of one cycle)."""
    statement = update(Reminder).where(Reminder.patient_id == patient_id, Reminder.status.in_(OPEN_STATES))
    if kinds is not None:
        statement = statement.where(Reminder.kind.in_(kinds))
    if enrollment_id is not None:
        statement = statement.where(Reminder.enrollment_id == enrollment_id)
    return session.exec(statement.values(status=CANCELLED, outcome=reason, claimed_until=None)).rowcount


def stop_patient(session: Session, *, chat_id: int, now: datetime) -> Patient | None:
    """No more messages: cancel everything pending and mark the patient stopped."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        return None
    cancel_pending(session, patient_id=patient.id, reason="patient stopped the messages")
    patient.status = STOPPED
    session.add(patient)
    events.record_event(session, kind=events.STOPPED, patient_id=patient.id, now=now)
    return patient


def erase_patient(session: Session, *, chat_id: int, now: datetime) -> bool:
    """Erase what identifies the patient: name, chat, invites, relayed messages; pending messages go.

    The rows that remain (cycles, message outcomes, events) carry no name and no chat, so the
    clinic's counts stay right without knowing who they were.
    """
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        return False
    cancel_pending(session, patient_id=patient.id, reason="patient erased their data")
    session.exec(delete(Invite).where(Invite.patient_id == patient.id))
    session.exec(delete(RelayLink).where(RelayLink.patient_id == patient.id))
    patient.name = ""
    patient.chat_id = None
    patient.status = DELETED
    session.add(patient)
    events.record_event(session, kind=events.ERASED, patient_id=patient.id, now=now)
    return True


def set_timezone(session: Session, *, chat_id: int, zone: ZoneInfo, quiet_hours: QuietHours,
                 now: datetime) -> Patient | None:
    """Move the patient to ``zone`` and re-plan their pending messages' local times for it."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        return None
    patient.timezone = zone.key
    session.add(patient)
    replan_pending(session, patient=patient, quiet_hours=quiet_hours, now=now)
    return patient


def replan_pending(session: Session, *, patient: Patient, quiet_hours: QuietHours, now: datetime) -> int:
    """Recompute pending reminders from their own timing texts in the patient's current zone.

    A step whose new time has already passed keeps its place in the queue (it goes now, or is
    skipped by the dispatcher if stale); nothing is moved into the past on purpose.
    """
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        select(Reminder, Enrollment).join(Enrollment, Enrollment.id == Reminder.enrollment_id)
        # A snoozed rebooking reminder has no timing text: it keeps the time the patient asked for.
        .where(Reminder.patient_id == patient.id, Reminder.status.in_([PENDING, WAITING, HELD]),
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


def set_locale(session: Session, *, chat_id: int, locale: str) -> Patient | None:
    """Change the language of the patient's messages."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is not None:
        patient.locale = locale
        session.add(patient)
    return patient


def mark_unreachable(session: Session, *, chat_id: int, now: datetime) -> Patient | None:
    """The patient blocked the bot (we heard it from Telegram): cancel what is pending.

    Returns the patient only if this changed their state, so staff are told once.
    """
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None or patient.status in (UNREACHABLE, STOPPED):
        return None
    patient.status = UNREACHABLE
    session.add(patient)
    cancel_pending(session, patient_id=patient.id, reason=UNREACHABLE_REASON)
    events.record_event(session, kind=events.BLOCKED, patient_id=patient.id, now=now)
    return patient


def mark_reachable(session: Session, *, chat_id: int, quiet_hours: QuietHours, now: datetime) -> Patient | None:
    """The patient unblocked the bot or wrote again: re-plan what is still worth sending.

    Reminders cancelled because the patient was unreachable come back if they have not gone
    stale meanwhile; returns the patient only if they were unreachable.
    """
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None or patient.status != UNREACHABLE:
        return None
    patient.status = ACTIVE
    session.add(patient)
    session.exec(
        update(Reminder)
        .where(Reminder.patient_id == patient.id, Reminder.status == CANCELLED,
               Reminder.outcome == UNREACHABLE_REASON, Reminder.expires_at > now)
        .values(status=PENDING, outcome=None)
    )
    replan_pending(session, patient=patient, quiet_hours=quiet_hours, now=now)
    return patient
