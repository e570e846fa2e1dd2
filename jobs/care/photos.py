"""Photo check-ins: a photo step's answer is the next photo the patient sends, and staff review it.

A protocol step of kind ``photo`` asks for a photo of the treated area. While it is open (sent,
not yet answered, not expired) the next photo the patient sends is its answer: it is kept as
Telegram's ``file_id`` only (the image stays on Telegram), its follow-ups are closed, and staff get
it with three buttons (:class:`Review`). "Another photo" opens the step again for a while, so the
next photo answers it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import Session, or_, select

from jobs import events
from jobs.care.escalation import days_since_session
from jobs.ops import audit
from jobs.patients.reminder_moves import close_followups
from jobs.refusal import Refusal
from jobs.storage.models import Enrollment, Patient, Photo, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from messages.durations import parse_offset
from messages.protocol import KIND_PHOTO


class Review(StrEnum):
    """What staff made of a photo (the values go into callback data and ``photo.review``)."""

    OK = "ok"  # looks as expected: the patient is reassured
    CALL = "call"  # please call the patient: they are told the clinic will ring, and whom to call if worse
    AGAIN = "again"  # ask for another photo: the step is open again


REVIEWS = tuple(review.value for review in Review)
# ``reminder.answer`` of a photo step: a photo came, or staff asked for another one.
ANSWER_PHOTO = "photo"
ANSWER_AGAIN = "again"
# How long "another photo, please" keeps the step open when the step's own validity is unknown.
AGAIN_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class PhotoAnswer:
    """A photo taken as a step's answer, with what staff are shown beside it."""

    photo: Photo
    patient: Patient
    enrollment: Enrollment
    step: Reminder
    day: int


def open_photo_step(session: Session, *, patient_id: int, now: datetime) -> Reminder | None:
    """The patient's photo step waiting for a photo (the latest sent), or None."""
    return session.exec(
        select(Reminder).where(Reminder.patient_id == patient_id, Reminder.kind == KIND_PHOTO,
                               Reminder.status == ReminderStatus.SENT, Reminder.expires_at > now,
                               or_(Reminder.answer.is_(None), Reminder.answer == ANSWER_AGAIN))
        .order_by(Reminder.sent_at.desc(), Reminder.id.desc())).first()


def take_photo_answer(session: Session, *, patient_id: int, file_id: str, update_id: int | None,
                      now: datetime) -> PhotoAnswer | None:
    """Take this photo as the answer to the patient's open photo step; None if no step waits for one.

    Idempotent by ``update_id``: the same update handled again (after a crash) finds its photo.
    """
    photo = session.exec(select(Photo).where(Photo.update_id == update_id)).first() if update_id else None
    if photo is None:
        step = open_photo_step(session, patient_id=patient_id, now=now)
        if step is None:
            return None
        if step.answer is None:
            step.answered_at = now  # the first photo is the answer's time; another one asked for is not
        step.answer = ANSWER_PHOTO
        session.add(step)
        close_followups(session, patient_id=patient_id, parent_id=step.id)
        photo = Photo(reminder_id=step.id, patient_id=patient_id, file_id=file_id, update_id=update_id,
                      received_at=now)
        session.add(photo)
        session.flush()
        events.record_event(session, kind=events.PHOTO, patient_id=patient_id, now=now)
    return _answer(session, photo)


def _answer(session: Session, photo: Photo) -> PhotoAnswer:
    step = session.get(Reminder, photo.reminder_id)
    patient = session.get(Patient, photo.patient_id)
    enrollment = session.get(Enrollment, step.enrollment_id)
    day = days_since_session(enrollment.session_at, photo.received_at, ZoneInfo(patient.timezone))
    return PhotoAnswer(photo=photo, patient=patient, enrollment=enrollment, step=step, day=day)


def review_photo(session: Session, *, photo_id: int, review: str, staff_id: int, now: datetime) -> PhotoAnswer:
    """Record a staff member's review of a photo; refuse a second one (a colleague was quicker)."""
    if review not in REVIEWS:
        raise Refusal("not_your_button")
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise Refusal("not_your_button")
    patient = session.get(Patient, photo.patient_id)
    if patient is None or patient.status == PatientStatus.DELETED:
        raise Refusal("photo_patient_gone")
    if photo.review is not None:
        raise Refusal("photo_already_reviewed", user_id=photo.reviewed_by or "?")
    photo.review, photo.reviewed_by, photo.reviewed_at = review, staff_id, now
    session.add(photo)
    if review == Review.AGAIN:
        step = session.get(Reminder, photo.reminder_id)
        try:
            window = parse_offset(step.expires_spec) if step.expires_spec else AGAIN_WINDOW
        except ValueError:
            window = AGAIN_WINDOW
        step.answer, step.expires_at = ANSWER_AGAIN, max(step.expires_at, now + window)
        session.add(step)
    events.record_event(session, kind=events.PHOTO_REVIEWED, patient_id=patient.id, detail=review, now=now)
    audit.record(session, action=audit.Action.PHOTO_REVIEW, patient_id=patient.id, subject=f"photo {photo.id}",
                 now=now)
    return _answer(session, photo)
