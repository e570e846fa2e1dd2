"""Before and after, with consent: the photo an outcome step asks for, and the patient's say over it.

An outcome step with ``photo = true`` (messages/protocol.py) follows the patient's first answer with a
request for a photo "in the same light as the day-3 one", so that staff can see the first and the last
photo side by side. Keeping photos to compare is not what the patient agreed to when they sent a
check-in photo, so they are asked first, once, in plain words, with Yes and No buttons
(:func:`follow_up_answer`); the answer is kept with its time in ``photo_consent``.

- No answer yet, or No: no photo is requested, ever (an unanswered question is not asked again: silence
  is not consent, and nagging is not kind). The question's buttons stay, so the patient can say yes later.
- Yes: the photo is requested at once if the step is still open, and at every later photo step.
- A No after a Yes withdraws it (:func:`answer_consent`): the comparison photos already kept (those that
  answered an outcome step) lose their Telegram file id, so nobody can show them again, and the first
  and last photo are no longer shown side by side. Check-in photos (day 3) were sent for the team to
  check the healing and stay in the record as before. Erasing the patient removes the consent row too.

While a requested photo is awaited (the step not expired, consent given, no photo since the request),
the next photo the patient sends answers it (jobs/care/photos.py), is kept as Telegram's file id only,
and reaches staff for review like a check-in photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from jobs import events
from jobs.care.answers import sent_to_presser
from jobs.refusal import Refusal
from jobs.storage.models import OutcomeAnswer, Patient, Photo, PhotoConsent, Reminder
from messages.protocol import KIND_OUTCOME


class FollowUp(StrEnum):
    """What comes after the first answer to an outcome step that asks for a photo."""

    ASK_CONSENT = "consent"  # never asked: may we keep your photos to compare? (yes / no)
    ASK_PHOTO = "photo"  # they agreed: please send a photo in the same light as the day-3 one


class Consent(StrEnum):
    """Where a patient's consent stands, as staff see it on /patient."""

    NOT_ASKED = "not_asked"
    ASKED = "asked"  # asked, no answer yet: no photo is requested
    GIVEN = "given"
    DECLINED = "declined"  # said no, or withdrew a yes


@dataclass(frozen=True)
class ConsentAnswered:
    """A consent press, recorded: the answer, the one before, and whether the photo is asked for now."""

    patient: Patient
    given: bool
    previous: bool | None
    ask_photo: bool
    forgotten: int  # comparison photos whose file ids went with a withdrawal


def consent_state(row: PhotoConsent | None) -> Consent:
    """The consent row read as one of :class:`Consent`."""
    if row is None:
        return Consent.NOT_ASKED
    if row.given is None:
        return Consent.ASKED
    return Consent.GIVEN if row.given else Consent.DECLINED


def follow_up_answer(session: Session, *, answer: OutcomeAnswer, open_until: datetime,
                     now: datetime) -> FollowUp | None:
    """After the first answer to a photo outcome step: ask for consent (once), ask for the photo, or nothing.

    Only while the step is open (``open_until``): a photo asked for after it could not answer it.
    """
    if open_until <= now:
        return None
    consent = session.get(PhotoConsent, answer.patient_id)
    if consent is None:
        session.add(PhotoConsent(patient_id=answer.patient_id, reminder_id=answer.reminder_id, asked_at=now))
        events.record_event(session, kind=events.PHOTO_CONSENT_ASKED, patient_id=answer.patient_id, now=now)
        return FollowUp.ASK_CONSENT
    if consent.given:
        answer.photo_asked_at = now
        session.add(answer)
        return FollowUp.ASK_PHOTO
    return None


def answer_consent(session: Session, *, reminder_id: int, chat_id: int, given: bool,
                   now: datetime) -> ConsentAnswered:
    """Record (or change) the patient's answer to the consent question asked under outcome step ``reminder_id``.

    Refused (nothing changes) unless the button is the pressing patient's own and the question was
    asked with that step: an old, foreign or made-up button.
    """
    reminder, patient = sent_to_presser(session, reminder_id, chat_id, KIND_OUTCOME)
    consent = session.get(PhotoConsent, patient.id)
    if consent is None or consent.reminder_id != reminder.id:
        raise Refusal("not_your_button")
    previous = consent.given
    if previous is given:
        return ConsentAnswered(patient=patient, given=given, previous=previous, ask_photo=False, forgotten=0)
    consent.given, consent.answered_at = given, now
    consent.changes += previous is not None
    session.add(consent)
    events.record_event(session, kind=events.PHOTO_CONSENT, patient_id=patient.id, detail="yes" if given else "no",
                        now=now)
    if not given:
        return ConsentAnswered(patient=patient, given=given, previous=previous, ask_photo=False,
                               forgotten=_forget_comparison_photos(session, patient_id=reminder.patient_id))
    # Agreed: the step that asked may still be open, and then its photo is asked for now.
    ask = False
    answer = session.exec(select(OutcomeAnswer).where(col(OutcomeAnswer.reminder_id) == reminder.id)).first()
    if answer is not None and reminder.expires_at > now and not _kept_photo(session, reminder_id):
        answer.photo_asked_at, ask = now, True
        session.add(answer)
    return ConsentAnswered(patient=patient, given=given, previous=previous, ask_photo=ask, forgotten=0)


def _kept_photo(session: Session, reminder_id: int) -> bool:
    return session.exec(select(Photo.id).where(col(Photo.reminder_id) == reminder_id,
                                               col(Photo.file_id).is_not(None))).first() is not None


def _forget_comparison_photos(session: Session, *, patient_id: int) -> int:
    """Consent withdrawn: the photos that answered outcome steps lose the ids that show them."""
    outcome_steps = select(Reminder.id).where(col(Reminder.patient_id) == patient_id,
                                              col(Reminder.kind) == KIND_OUTCOME)
    result = session.exec(update(Photo).where(col(Photo.patient_id) == patient_id,
                                              col(Photo.reminder_id).in_(outcome_steps),
                                              col(Photo.file_id).is_not(None)).values(file_id=None))
    return result.rowcount or 0


def open_comparison_step(session: Session, *, patient_id: int, now: datetime) -> Reminder | None:
    """The outcome step waiting for the patient's comparison photo (asked, agreed, still open), or None."""
    consent = session.get(PhotoConsent, patient_id)
    if consent is None or not consent.given:
        return None
    rows = session.exec(
        select(Reminder, OutcomeAnswer).join(OutcomeAnswer, col(OutcomeAnswer.reminder_id) == col(Reminder.id))
        .where(col(OutcomeAnswer.patient_id) == patient_id, col(OutcomeAnswer.photo_asked_at).is_not(None),
               col(Reminder.expires_at) > now)
        .order_by(col(OutcomeAnswer.photo_asked_at).desc())).all()
    for reminder, answer in rows:
        since = session.exec(select(Photo.id).where(col(Photo.reminder_id) == reminder.id,
                                                    col(Photo.received_at) >= answer.photo_asked_at)).first()
        if since is None:
            return reminder
    return None


def ask_again(session: Session, *, reminder: Reminder, now: datetime, window: timedelta) -> None:
    """Staff asked for another comparison photo: the request opens again, for ``window`` at least."""
    answer = session.exec(select(OutcomeAnswer).where(col(OutcomeAnswer.reminder_id) == reminder.id)).first()
    if answer is None:
        return
    answer.photo_asked_at = now
    reminder.expires_at = max(reminder.expires_at, now + window)
    session.add(answer)
    session.add(reminder)


def comparison_pair(consent: PhotoConsent | None, photos: list[Photo]) -> tuple[Photo, Photo] | None:
    """The first and the last of ``photos`` (oldest first) to show side by side: only with the patient's
    consent, and only when two of them can still be shown."""
    if consent is None or not consent.given:
        return None
    kept = [photo for photo in photos if photo.file_id]
    return (kept[0], kept[-1]) if len(kept) >= 2 else None
