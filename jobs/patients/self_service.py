"""What a linked patient can do to their own data: look, pause, resume, stop, erase, move zone, language.

Every function finds the patient by their chat, so a patient can only ever act on their own rows.
Status changes go through ``jobs.patients.lifecycle``; a request the patient's status does not allow raises
``jobs.refusal.Refusal`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from jobs.actors import PATIENT, SYSTEM
from jobs.care.planning import QuietHours
from jobs.ops import audit
from jobs.patients import lifecycle, queries
from jobs.patients.lifecycle import LifecycleEvent, apply_event
from jobs.patients.reminder_moves import replan_open_reminders
from jobs.refusal import Refusal
from jobs.staff import inbox
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import CURRENT_STATUSES, OPEN_REMINDER_STATES


def patient_for_chat(session: Session, *, chat_id: int) -> Patient | None:
    """The one patient record this chat follows now (None for a stranger)."""
    return queries.current_patient_of_chat(session, chat_id=chat_id)


def _patient_of(session: Session, chat_id: int) -> Patient:
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        raise Refusal("not_a_patient")
    return patient


def next_pending(session: Session, *, patient_id: int) -> Reminder | None:
    """The next message the patient will get, if any."""
    return session.exec(
        select(Reminder).where(Reminder.patient_id == patient_id, Reminder.status.in_(OPEN_REMINDER_STATES))
        .order_by(Reminder.due_at, Reminder.id)
    ).first()


@dataclass(frozen=True)
class StatusView:
    """What /status shows: the patient, their current cycle and their next message."""

    patient: Patient
    enrollment: Enrollment | None
    next_reminder: Reminder | None


def patient_status(session: Session, *, chat_id: int) -> StatusView:
    """The patient's cycle and next message (a stranger is refused)."""
    patient = _patient_of(session, chat_id)
    return StatusView(patient, queries.current_enrollment(session, patient_id=patient.id),
                         next_pending(session, patient_id=patient.id))


def set_paused(session: Session, *, chat_id: int, paused: bool, quiet_hours: QuietHours | None = None,
               now: datetime) -> lifecycle.Applied:
    """Pause, or resume (after a pause or the patient's own /stop). What went stale meanwhile is skipped."""
    patient = _patient_of(session, chat_id)
    return apply_event(session, patient=patient, event=LifecycleEvent.PAUSE if paused else LifecycleEvent.RESUME,
                       cause=PATIENT, now=now, quiet_hours=quiet_hours)


def stop_patient(session: Session, *, chat_id: int, now: datetime) -> Patient:
    """No more messages: everything open is cancelled and the patient is stopped."""
    patient = _patient_of(session, chat_id)
    return apply_event(session, patient=patient, event=LifecycleEvent.STOP, cause=PATIENT, now=now).patient


def erase_patient(session: Session, *, chat_id: int, now: datetime) -> int:
    """Erase the chat's current patient and every older record on the chat; return how many.

    Name, chat, invites and relayed messages go, open messages are cancelled. The rows that remain
    (cycles, message outcomes, events) carry no name and no chat, so the clinic's counts stay right.
    """
    records = queries.records_of_chat(session, chat_id=chat_id)
    if not records or records[0].status not in CURRENT_STATUSES:
        raise Refusal("not_a_patient")
    for record in records:
        apply_event(session, patient=record, event=LifecycleEvent.ERASE, cause=PATIENT, now=now)
    # Last, as audit.record asks: the trail's lock is then held only until the commit. The patient acts,
    # known by their record's id only: the trail keeps no Telegram identity of theirs.
    for record in records:
        audit.record(session, action=audit.Action.ERASURE, patient_id=record.id, now=now, who=audit.patient_acting())
    return len(records)


def inbox_items_of_chat(session: Session, *, chat_id: int) -> list[int]:
    """The inbox items about every patient record of this chat (what an erasure changes for staff)."""
    records = queries.records_of_chat(session, chat_id=chat_id)
    return inbox.items_of_patients(session, patient_ids=[record.id for record in records])


def record_shared_phone(session: Session, *, chat_id: int, sender_id: int, owner_id: int | None, phone: str,
                        line: str, lines: dict[str, str] | None = None) -> tuple[Patient, list[int]] | None:
    """The chat's patient shared their number: keep it, and add ``line`` to their open inbox items (``lines``:
    the line in each language, for their alerts written in another than STAFF_LANGUAGE).

    Only the sender's own contact counts (``owner_id``, the contact's Telegram user, is the sender:
    what the *Share my number* button sends); a contact card of someone else, or of no Telegram
    user, is refused and nothing is stored. Returns the patient and those items' ids (None for a
    stranger).
    """
    if owner_id is None or owner_id != sender_id:
        raise Refusal("phone_not_own")
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None:
        return None
    patient.phone = phone
    session.add(patient)
    return patient, inbox.add_to_text(session, patient_id=patient.id, line=line, lines=lines)


def set_timezone(session: Session, *, chat_id: int, zone: ZoneInfo, quiet_hours: QuietHours,
                 now: datetime) -> Patient:
    """Move the patient to ``zone`` and re-plan their open messages' local times for it."""
    patient = _patient_of(session, chat_id)
    patient.timezone = zone.key
    session.add(patient)
    replan_open_reminders(session, patient=patient, quiet_hours=quiet_hours, now=now)
    return patient


def set_locale(session: Session, *, chat_id: int, locale: str) -> Patient:
    """Change the language of the patient's messages."""
    patient = _patient_of(session, chat_id)
    patient.locale = locale
    session.add(patient)
    return patient


def mark_unreachable(session: Session, *, chat_id: int, now: datetime) -> Patient | None:
    """The patient blocked the bot (we heard it from Telegram): cancel what is open.

    Returns the patient only if this changed their state, so staff are told once.
    """
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None or not lifecycle.allowed(LifecycleEvent.BLOCK, patient.status):
        return None
    return apply_event(session, patient=patient, event=LifecycleEvent.BLOCK, cause=SYSTEM, now=now).patient


def mark_reachable(session: Session, *, chat_id: int, quiet_hours: QuietHours, now: datetime) -> Patient | None:
    """The patient unblocked the bot or wrote again: what was cancelled *because they were unreachable*
    comes back if still valid (never what staff or the patient cancelled); returns the patient only if
    they were unreachable."""
    patient = patient_for_chat(session, chat_id=chat_id)
    if patient is None or not lifecycle.allowed(LifecycleEvent.UNBLOCK, patient.status):
        return None
    return apply_event(session, patient=patient, event=LifecycleEvent.UNBLOCK, cause=SYSTEM, now=now,
                       quiet_hours=quiet_hours).patient
