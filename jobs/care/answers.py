"""Patients' button answers: check-ins ("how is your skin?") and rebooking ("next session due").

Each function checks that the reminder exists, belongs to the pressing chat's patient and has
not been answered yet; otherwise it raises ``Refusal`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import Session

from jobs import events
from jobs.actors import PATIENT
from jobs.care.escalation import CHECKIN_ANSWERS, days_since_session, should_escalate
from jobs.care.planning import QuietHours
from jobs.patients.lifecycle import LifecycleEvent, apply_event
from jobs.patients.reminder_moves import CancelReason, cancel_reminders, close_followups, state_for_new_reminder
from jobs.refusal import Refusal
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from messages.catalog import Catalog
from messages.protocol import KIND_CHECKIN, KIND_REBOOK


class RebookAnswer(StrEnum):
    """The buttons under a rebooking reminder (the values go into callback data and ``reminder.answer``)."""

    BOOKED = "booked"        # the patient booked the next session
    LATER = "later"          # ask again after the protocol's rebook_snooze
    NOT_CONTINUING = "stop"  # the patient ends the series


BOOKED, LATER, NOT_CONTINUING = RebookAnswer.BOOKED, RebookAnswer.LATER, RebookAnswer.NOT_CONTINUING
REBOOK_ANSWERS = tuple(answer.value for answer in RebookAnswer)


@dataclass(frozen=True)
class Answered:
    """A recorded answer and what follows from it."""

    patient: Patient
    enrollment: Enrollment | None = None
    answer: str = ""
    day: int = 0
    escalate: bool = False
    snoozed_until: datetime | None = None


def _load(session: Session, reminder_id: int, chat_id: int, kind: str) -> tuple[Reminder, Patient, Enrollment]:
    reminder = session.get(Reminder, reminder_id)
    if reminder is None or reminder.kind != kind or reminder.status != ReminderStatus.SENT:
        raise Refusal("not_your_button")
    patient = session.get(Patient, reminder.patient_id)
    if patient is None or patient.chat_id != chat_id or patient.status in (PatientStatus.SUPERSEDED,
                                                                          PatientStatus.DELETED):
        raise Refusal("not_your_button")
    if reminder.answer is not None:
        raise Refusal("already_answered", locale=patient.locale)
    return reminder, patient, session.get(Enrollment, reminder.enrollment_id)


def answer_checkin(session: Session, *, reminder_id: int, chat_id: int, answer: str,
                   catalog: Catalog, now: datetime) -> Answered:
    """Record a check-in answer and say whether it goes to staff (by the cycle's protocol's rule)."""
    if answer not in CHECKIN_ANSWERS:
        raise Refusal("not_your_button")
    reminder, patient, enrollment = _load(session, reminder_id, chat_id, KIND_CHECKIN)
    day = days_since_session(enrollment.session_at, now, ZoneInfo(patient.timezone))
    rules = catalog.protocol_for(enrollment.protocol_name)
    escalate = should_escalate(answer, day=day, red_expected_days=rules.red_expected_days)
    reminder.answer, reminder.answered_at = answer, now
    session.add(reminder)
    close_followups(session, patient_id=patient.id, parent_id=reminder.id)  # no nudge, no alert after an answer
    events.record_event(session, kind=events.CHECKIN, patient_id=patient.id, detail=answer, now=now)
    if escalate:
        events.record_event(session, kind=events.ESCALATED, patient_id=patient.id, detail=answer, now=now)
    return Answered(patient=patient, enrollment=enrollment, answer=answer, day=day, escalate=escalate)


def answer_rebook(session: Session, *, reminder_id: int, chat_id: int, answer: str, quiet_hours: QuietHours,
                  catalog: Catalog, now: datetime) -> Answered:
    """Booked: stop this cycle's rebooking reminders. Later: ask again after ``snooze``. Stop: end the series."""
    if answer not in REBOOK_ANSWERS:
        raise Refusal("not_your_button")
    reminder, patient, enrollment = _load(session, reminder_id, chat_id, KIND_REBOOK)
    snoozed_until = None
    if answer == LATER:
        state, _ = state_for_new_reminder(patient.status)
        if state not in (ReminderStatus.PENDING, ReminderStatus.HELD):
            # A stopped (or not continuing) patient gets nothing more: no reminder to plan.
            raise Refusal(f"patient_state_{patient.status}", locale=patient.locale)
        snooze = catalog.protocol_for(enrollment.protocol_name).rebook_snooze
        due = quiet_hours.move_out(now + snooze, ZoneInfo(patient.timezone))
        validity = reminder.expires_at - reminder.due_at
        session.add(Reminder(
            enrollment_id=reminder.enrollment_id, patient_id=reminder.patient_id, step_key=reminder.step_key,
            text_key=reminder.text_key, kind=reminder.kind, planned_at=now + snooze, due_at=due,
            expires_at=due + validity, status=state,
        ))
        snoozed_until = due
        events.record_event(session, kind=events.REBOOK_LATER, patient_id=patient.id, now=now)
    elif answer == BOOKED:
        cancel_reminders(session, patient_id=patient.id, kinds=(KIND_REBOOK,), enrollment_id=enrollment.id,
                         reason=CancelReason.BOOKED)
        events.record_event(session, kind=events.BOOKED, patient_id=patient.id, now=now)
    else:
        apply_event(session, patient=patient, event=LifecycleEvent.NOT_CONTINUING, cause=PATIENT, now=now)
    reminder.answer, reminder.answered_at = answer, now
    session.add(reminder)
    return Answered(patient=patient, enrollment=enrollment, answer=answer, snoozed_until=snoozed_until)
