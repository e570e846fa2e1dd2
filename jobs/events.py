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
BOOKED = "booked"
BOOKING_CANCELLED = "booking_cancelled"  # the booking system says a booked session was cancelled
REBOOK_LATER = "rebook_later"
PHOTO = "photo"  # a photo answered a photo step
PHOTO_REVIEWED = "photo_reviewed"  # staff reviewed it (detail: jobs.care.photos.Review)


def record_event(session: Session, *, kind: str, patient_id: int | None, now: datetime,
                 detail: str | None = None) -> None:
    """Add one event row (in the caller's transaction)."""
    session.add(Event(kind=kind, patient_id=patient_id, detail=detail, at=now))
