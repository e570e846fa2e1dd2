"""Events: what happened, counted for staff statistics; a patient's erasure keeps them anonymous."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from jobs.storage.models import Event

ENROLLED = "enrolled"
LINKED = "linked"
CHECKIN = "checkin"
ESCALATED = "escalated"
FROM_WORDS = "words"  # the detail of an escalation raised by a red flag in the patient's own words
BOOKED = "booked"
BOOKING_CANCELLED = "booking_cancelled"  # the booking system says a booked session was cancelled
REBOOK_LATER = "rebook_later"
NOT_CONTINUING = "not_continuing"
PAUSED = "paused"
RESUMED = "resumed"
STOPPED = "stopped"
ERASED = "erased"
BLOCKED = "blocked"
NEXT_SESSION = "next_session"
CANCELLED = "cancelled"
PHOTO = "photo"  # a photo answered a photo step
PHOTO_REVIEWED = "photo_reviewed"  # staff reviewed it (detail: jobs.care.photos.Review)


def record_event(session: Session, *, kind: str, patient_id: int | None, now: datetime,
                 detail: str | None = None) -> None:
    """Add one event row (in the caller's transaction)."""
    session.add(Event(kind=kind, patient_id=patient_id, detail=detail, at=now))
