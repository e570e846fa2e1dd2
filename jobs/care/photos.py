"""Photo check-ins: a photo step's answer is the next photo the patient sends, and staff review it.

A protocol step of kind ``photo`` asks for a photo of the treated area. While it is open (sent,
not yet answered, not expired) the next photo the patient sends is its answer: it is kept as
Telegram's ``file_id`` only (the image stays on Telegram), its follow-ups are closed, and staff get
it with three buttons (:class:`Review`). "Another photo" opens the step again for a while, so the
next photo answers it too.

A photo's alert is an inbox item (jobs/staff/inbox.py), and a review decides what becomes of it
(:func:`settle_review`): *looks as expected* resolves it; *please call* keeps it as a task, taken by
whoever pressed it, until someone resolves it (the call made); *another photo* keeps it open until
the next photo of the step is reviewed.

An outcome step may ask for a photo too, to compare before and after (jobs/care/comparison.py, only
with the patient's consent): such a photo is taken and reviewed the same way, and "another photo"
opens its request again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import Session, or_, select

from jobs import events
from jobs.care.comparison import ask_again, open_comparison_step
from jobs.care.escalation import days_since_session
from jobs.ops import audit
from jobs.patients.reminder_moves import close_followups
from jobs.refusal import Refusal
from jobs.staff.inbox import (
    OPEN_STATUSES,
    Staffer,
    drop_own_buttons,
    item_of_message,
    keep_as_task,
    resolve_by_review,
)
from jobs.storage.models import Enrollment, InboxItem, Patient, Photo, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from messages.durations import parse_offset
from messages.protocol import KIND_OUTCOME, KIND_PHOTO


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
        if step is not None:
            if step.answer is None:
                step.answered_at = now  # the first photo is the answer's time; another one asked for is not
            step.answer = ANSWER_PHOTO
            session.add(step)
            close_followups(session, patient_id=patient_id, parent_id=step.id)
        else:
            # An outcome step's photo to compare before and after (asked only with consent): the
            # step's own answer is the one on its scale, and stays.
            step = open_comparison_step(session, patient_id=patient_id, now=now)
            if step is None:
                return None
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
        if step is None:
            raise Refusal("not_your_button")
        try:
            window = parse_offset(step.expires_spec) if step.expires_spec else AGAIN_WINDOW
        except ValueError:
            window = AGAIN_WINDOW
        if step.kind == KIND_OUTCOME:
            ask_again(session, reminder=step, now=now, window=AGAIN_WINDOW)
        else:
            step.answer, step.expires_at = ANSWER_AGAIN, max(step.expires_at, now + window)
            session.add(step)
    events.record_event(session, kind=events.PHOTO_REVIEWED, patient_id=patient.id, detail=review, now=now)
    audit.record(session, action=audit.Action.PHOTO_REVIEW, patient_id=patient.id, subject=f"photo {photo.id}",
                 now=now)
    return _answer(session, photo)


def settle_review(session: Session, *, photo_id: int, chat_id: int, message_id: int, staffer: Staffer, note: str,
                  now: datetime) -> list[int]:
    """The inbox side of a review from the alert in ``chat_id``/``message_id``: the ids of the items it changed.

    The review buttons go from every copy of the alert; the item is resolved (as expected), kept as a
    call to make, taken by ``staffer``, or kept open for the next photo; and the items of earlier
    photos of the same step that staff asked to be taken again are resolved, since this one is reviewed.
    """
    photo = session.get(Photo, photo_id)
    changed: list[int] = []
    item = item_of_message(session, chat_id=chat_id, message_id=message_id)
    if item is not None:
        photo.item_id = item.id
        session.add(photo)
        drop_own_buttons(session, item_id=item.id)
        if photo.review == Review.OK:
            resolve_by_review(session, item_id=item.id, staffer=staffer, now=now, note=note)
        else:
            keep_as_task(session, item=item, staffer=staffer, now=now, note=note, take=photo.review == Review.CALL)
        changed.append(item.id)
    earlier = session.exec(select(InboxItem).join(Photo, Photo.item_id == InboxItem.id).where(
        Photo.reminder_id == photo.reminder_id, Photo.id < photo.id, Photo.review == Review.AGAIN.value,
        InboxItem.status.in_(OPEN_STATUSES))).all()
    for old in earlier:
        resolve_by_review(session, item_id=old.id, staffer=staffer, now=now)
        changed.append(old.id)
    return changed
