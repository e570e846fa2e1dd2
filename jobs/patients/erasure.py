"""What erasing a patient removes: everything that identifies them, in every table.

Called only by the lifecycle's ``erased`` and ``withdrawn`` events (``jobs/patients/lifecycle.py``), which also cancels
their reminders and records the event; counts (reminders, answers, photo reviews) stay, without a name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, delete, select

from jobs.staff.inbox import erase_items
from jobs.staff.outbox import forget_notices
from jobs.storage.models import (
    Booking,
    BookingEvent,
    ConversationMessage,
    Invite,
    Patient,
    Photo,
    PhotoConsent,
    RelayLink,
    StaffNote,
)


def erase_identity(session: Session, patient: Patient, now: datetime) -> None:
    """What identifies the patient goes: name, chat, invites, the staff copies of their messages and
    the words of their inbox items (which close)."""
    erase_items(session, patient_id=patient.id, now=now)
    session.exec(delete(Invite).where(Invite.patient_id == patient.id))
    session.exec(delete(RelayLink).where(RelayLink.patient_id == patient.id))
    session.exec(delete(StaffNote).where(StaffNote.patient_id == patient.id))
    # Alerts about them still waiting in the staff outbox carry their name and words: they are not sent
    # (edits of their items stay queued: they show the item as it is now, without a name).
    forget_notices(session, patient_id=patient.id)
    # Their words and the staff replies to them (the conversation kept for the exports).
    session.exec(delete(ConversationMessage).where(ConversationMessage.patient_id == patient.id))
    # The booking system's ids name the person there: their bookings and the calls about them go.
    bookings = select(Booking.id).where(Booking.patient_id == patient.id)
    session.exec(delete(BookingEvent).where(BookingEvent.booking_id.in_(bookings)))
    session.exec(delete(Booking).where(Booking.patient_id == patient.id))
    # Their photos stay on Telegram; the ids that show them go (the reviews stay, as counts), and with them
    # their say over keeping photos to compare before and after.
    session.exec(update(Photo).where(Photo.patient_id == patient.id).values(file_id=None))
    session.exec(delete(PhotoConsent).where(col(PhotoConsent.patient_id) == patient.id))
    patient.name = ""
    patient.called = None
    patient.chat_id = None
    # The number, the clinic's reference and the booking reference point at the person too.
    patient.phone = None
    patient.external_id = None
    patient.booking_ref = None
