"""Events outside the lifecycle: what happened, counted for staff statistics; erasure keeps them anonymous.

A lifecycle change records its own event row, whose kind is a ``jobs.patients.lifecycle.LifecycleEvent``
value (enrolled, linked, paused, stopped, ...); these are the kinds nothing else names.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from jobs.storage.models import Event

CHECKIN = "checkin"
ESCALATED = "escalated"
FROM_WORDS = "words"  # the detail of an escalation raised by a red flag in the patient's own words
BOOKED = "booked"
BOOKING_CANCELLED = "booking_cancelled"  # the booking system says a booked session was cancelled
REBOOK_LATER = "rebook_later"
PHOTO = "photo"  # a photo answered a photo step
OUTCOME = "outcome"  # an outcome step answered (detail: the answer key)
OUTCOME_CHANGED = "outcome_changed"  # ... and changed by a second press (detail: the new answer key)
REVIEW_OPENED = "review_opened"  # the review link was pressed (through the HTTP side's redirect)
PHOTO_REVIEWED = "photo_reviewed"  # staff reviewed it (detail: jobs.care.photos.Review)
PHOTO_CONSENT_ASKED = "consent_asked"  # asked whether the clinic may keep photos to compare before and after
PHOTO_CONSENT = "photo_consent"  # ... answered or changed (detail: yes / no)


def record_event(session: Session, *, kind: str, patient_id: int | None, now: datetime,
                 detail: str | None = None) -> None:
    """Add one event row (in the caller's transaction)."""
    session.add(Event(kind=kind, patient_id=patient_id, detail=detail, at=now))
