"""Patients' button answers: check-ins ("how is your skin?") and rebooking ("next session due").

Each function checks that the reminder exists, belongs to the pressing chat's patient and has
not been answered yet; otherwise it returns a problem and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from jobs import events
from jobs.escalation import CHECKIN_ANSWERS, days_since_session, should_escalate
from jobs.patients import cancel_pending
from jobs.planning import QuietHours
from jobs.storage.models import PENDING, SENT, Enrollment, Patient, Reminder
from messages.protocol import KIND_CHECKIN, KIND_REBOOK, Protocol

BOOKED = "booked"
LATER = "later"
NOT_CONTINUING = "stop"
REBOOK_ANSWERS = (BOOKED, LATER, NOT_CONTINUING)

NOT_YOURS = "not_yours"
ALREADY = "already"


@dataclass(frozen=True)
class Answered:
    """The outcome of a button press: a ``problem``, or the recorded answer and what follows from it."""

    problem: str | None = None
    patient: Patient | None = None
    enrollment: Enrollment | None = None
    answer: str = ""
    day: int = 0
    escalate: bool = False
    snoozed_until: datetime | None = None


def _load(session: Session, reminder_id: int, chat_id: int, kind: str):
    reminder = session.get(Reminder, reminder_id)
    if reminder is None or reminder.kind != kind or reminder.status != SENT:
        return None, None, None, NOT_YOURS
    patient = session.get(Patient, reminder.patient_id)
    if patient is None or patient.chat_id != chat_id:
        return None, None, None, NOT_YOURS
    if reminder.answer is not None:
        return reminder, patient, None, ALREADY
    return reminder, patient, session.get(Enrollment, reminder.enrollment_id), None


def _protocol(protocols: Mapping[str, Protocol], default: Protocol, enrollment: Enrollment) -> Protocol:
    # The rules of the protocol the cycle was planned from; the default if that file is gone.
    return protocols.get(enrollment.protocol_name, default)


def answer_checkin(session: Session, *, reminder_id: int, chat_id: int, answer: str,
                   protocols: Mapping[str, Protocol], default: Protocol, now: datetime) -> Answered:
    """Record a check-in answer and say whether it goes to staff (by the cycle's protocol's rule)."""
    if answer not in CHECKIN_ANSWERS:
        return Answered(problem=NOT_YOURS)
    reminder, patient, enrollment, problem = _load(session, reminder_id, chat_id, KIND_CHECKIN)
    if problem:
        return Answered(problem=problem, patient=patient)
    day = days_since_session(enrollment.session_at, now, ZoneInfo(patient.timezone))
    rules = _protocol(protocols, default, enrollment)
    escalate = should_escalate(answer, day=day, red_expected_days=rules.red_expected_days)
    reminder.answer, reminder.answered_at = answer, now
    session.add(reminder)
    events.record_event(session, kind=events.CHECKIN, patient_id=patient.id, detail=answer, now=now)
    if escalate:
        events.record_event(session, kind=events.ESCALATED, patient_id=patient.id, detail=answer, now=now)
    return Answered(patient=patient, enrollment=enrollment, answer=answer, day=day, escalate=escalate)


def answer_rebook(session: Session, *, reminder_id: int, chat_id: int, answer: str, quiet_hours: QuietHours,
                  protocols: Mapping[str, Protocol], default: Protocol, now: datetime) -> Answered:
    """Booked: stop this cycle's rebooking reminders. Later: ask again after ``snooze``. Stop: end the series."""
    if answer not in REBOOK_ANSWERS:
        return Answered(problem=NOT_YOURS)
    reminder, patient, enrollment, problem = _load(session, reminder_id, chat_id, KIND_REBOOK)
    if problem:
        return Answered(problem=problem, patient=patient)
    reminder.answer, reminder.answered_at = answer, now
    session.add(reminder)
    snoozed_until = None
    if answer == LATER:
        snooze = _protocol(protocols, default, enrollment).rebook_snooze
        due = quiet_hours.move_out(now + snooze, ZoneInfo(patient.timezone))
        validity = reminder.expires_at - reminder.due_at
        session.add(Reminder(
            enrollment_id=reminder.enrollment_id, patient_id=reminder.patient_id, step_key=reminder.step_key,
            text_key=reminder.text_key, kind=reminder.kind, planned_at=now + snooze, due_at=due,
            expires_at=due + validity, status=PENDING,
        ))
        snoozed_until = due
        events.record_event(session, kind=events.REBOOK_LATER, patient_id=patient.id, now=now)
    else:
        cancel_pending(session, patient_id=patient.id, kinds=(KIND_REBOOK,), enrollment_id=enrollment.id,
                       reason="patient booked" if answer == BOOKED else "patient is not continuing")
        events.record_event(session, kind=events.BOOKED if answer == BOOKED else events.NOT_CONTINUING,
                            patient_id=patient.id, now=now)
    return Answered(patient=patient, enrollment=enrollment, answer=answer, snoozed_until=snoozed_until)
