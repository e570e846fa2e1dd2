"""Silence noticed: a check-in or photo step nobody answered gets one gentle nudge, then staff hear of it.

A step of kind ``checkin`` or ``photo`` may carry ``nudge_after`` and ``alert_after`` (protocol
files). When the dispatcher sends such a step it plans its follow-ups as reminder rows of their
own, in the same transaction that records the send: a ``nudge`` to the patient ``nudge_after``
later (moved out of quiet hours, like every patient message) and a ``silence`` alert to staff
``alert_after`` later. Both name the step in ``parent_id``. Being reminder rows, they survive a
restart and follow the patient's lifecycle like any other (held while paused, cancelled on /stop,
/cancel, a block or an erasure). An answer, whenever it comes, closes them
(:func:`jobs.patients.reminder_moves.close_followups`); the dispatcher also asks :func:`followup_wanted` right
before it sends one, so an answer that arrived after the claim still wins.

Planning them is :func:`plan_followups`, a pure function of the step, the time it was sent, the
patient's zone and quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from jobs.care.planning import QuietHours
from jobs.patients.reminder_moves import close_followups, state_for_new_reminder
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import OPEN_REMINDER_STATES, ReminderStatus
from messages.durations import parse_offset
from messages.protocol import KIND_CHECKIN, KIND_PHOTO

KIND_NUDGE = "nudge"  # one gentle reminder to the patient of an unanswered check-in or photo step
KIND_SILENCE = "silence"  # staff told that a check-in or photo step went unanswered
FOLLOW_UP_KINDS = (KIND_NUDGE, KIND_SILENCE)
# The [bot] text each nudge sends, by the kind of step it follows up.
NUDGE_TEXTS = {KIND_CHECKIN: "nudge_checkin", KIND_PHOTO: "nudge_photo"}
SILENCE_TEXT = "alert_silence"
# A nudge is worth sending until staff are told (or, without an alert, for this long).
NUDGE_VALIDITY = timedelta(hours=12)
# Staff still want to hear of the silence after a long downtime, but not for ever.
ALERT_VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class FollowUp:
    """One planned follow-up of a sent step."""

    kind: str
    text_key: str
    due_at: datetime
    expires_at: datetime


def plan_followups(*, kind: str, nudge_after: str | None, alert_after: str | None, sent_at: datetime,
                   zone: ZoneInfo, quiet_hours: QuietHours, answer_until: datetime | None = None) -> list[FollowUp]:
    """The nudge and the silence alert of a step of ``kind`` sent at ``sent_at`` (UTC, in due order).

    The nudge is moved out of quiet hours and dropped when that brings it to the alert's time, or
    past the end of the step's answer window (``answer_until``, a photo step's): then it could only
    come too late to help.
    """
    plan: list[FollowUp] = []
    alert_at = sent_at + parse_offset(alert_after) if alert_after else None
    if nudge_after and kind in NUDGE_TEXTS:
        due = quiet_hours.move_out(sent_at + parse_offset(nudge_after), zone)
        ends = [moment for moment in (alert_at, answer_until) if moment is not None]
        expires = min(ends) if ends else due + NUDGE_VALIDITY
        if due < expires:
            plan.append(FollowUp(KIND_NUDGE, NUDGE_TEXTS[kind], due, expires))
    if alert_at is not None:
        plan.append(FollowUp(KIND_SILENCE, SILENCE_TEXT, alert_at, alert_at + ALERT_VALIDITY))
    return plan


def record_sent_with_followups(session: Session, *, reminder_id: int, message_id: int, now: datetime,
                               followups: list[FollowUp]) -> int:
    """Mark a step sent (if this dispatcher still holds it) and add its follow-ups; return how many.

    They start in the state the patient's status wants for a new reminder (pending for an active
    patient, held for one who paused meanwhile).
    """
    marked = session.exec(update(Reminder).where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.CLAIMED)
                          .values(status=ReminderStatus.SENT, sent_at=now, telegram_message_id=message_id, outcome=None,
                                  claimed_until=None)).rowcount
    if not marked or not followups:
        return 0
    parent = session.get(Reminder, reminder_id)
    patient = session.get(Patient, parent.patient_id)
    state, outcome = state_for_new_reminder(patient.status)
    for item in followups:
        session.add(Reminder(
            enrollment_id=parent.enrollment_id, patient_id=parent.patient_id, step_key=parent.step_key,
            text_key=item.text_key, kind=item.kind, planned_at=item.due_at, due_at=item.due_at,
            expires_at=item.expires_at, status=state, outcome=outcome, parent_id=parent.id))
    return len(followups)


@dataclass(frozen=True)
class Silence:
    """What staff are told about an unanswered step."""

    patient: Patient
    enrollment: Enrollment
    step: Reminder


def followup_wanted(session: Session, *, parent_id: int | None) -> Silence | None:
    """The unanswered step a follow-up is about, or None when it was answered (or is gone)."""
    step = session.get(Reminder, parent_id) if parent_id is not None else None
    if step is None or step.status != ReminderStatus.SENT or step.answer is not None:
        return None
    patient = session.get(Patient, step.patient_id)
    return Silence(patient=patient, enrollment=session.get(Enrollment, step.enrollment_id), step=step)


def patient_wrote(session: Session, *, patient_id: int) -> int:
    """The patient wrote to the clinic: they are not silent, so their check-ins' follow-ups close.

    A check-in asks "tap an answer, or write to me": words are an answer too (staff have them).
    A photo step waits for its photo: words do not close it. Returns how many follow-ups closed.
    """
    parents = session.exec(
        select(Reminder.parent_id).where(Reminder.patient_id == patient_id, Reminder.kind.in_(FOLLOW_UP_KINDS),
                                         Reminder.status.in_(OPEN_REMINDER_STATES))).all()
    closed = 0
    for parent_id in set(parents):
        parent = session.get(Reminder, parent_id)
        if parent is not None and parent.kind == KIND_CHECKIN:
            closed += close_followups(session, patient_id=patient_id, parent_id=parent_id)
    return closed
