"""What erasing a patient removes: everything that identifies them, in every table.

Called only by the lifecycle's ``erased`` event (``jobs/patients/lifecycle.py``), which also cancels
their reminders and records the event; counts (reminders, answers, photo reviews) stay, without a name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, delete, select

from jobs.staff.inbox import erase_items
from jobs.storage.models import Booking, BookingEvent, Invite, Patient, Photo, RelayLink, StaffNote


def erase_identity(session: Session, patient: Patient, now: datetime) -> None:
    """What identifies the patient goes: name, chat, invites, the staff copies of their messages and
    the words of their inbox items (which close)."""
    erase_items(session, patient_id=patient.id, now=now)
    session.exec(delete(Invite).where(Invite.patient_id == patient.id))
    session.exec(delete(RelayLink).where(RelayLink.patient_id == patient.id))
    session.exec(delete(StaffNote).where(StaffNote.patient_id == patient.id))
    # The booking system's ids name the person there: their bookings and the calls about them go.
    bookings = select(Booking.id).where(Booking.patient_id == patient.id)
    session.exec(delete(BookingEvent).where(BookingEvent.booking_id.in_(bookings)))
    session.exec(delete(Booking).where(Booking.patient_id == patient.id))
    # Their photos stay on Telegram; the ids that show them go (the reviews stay, as counts).
    session.exec(update(Photo).where(Photo.patient_id == patient.id).values(file_id=None))
    patient.name = ""
    patient.chat_id = None
    # The number, the clinic's reference and the booking reference point at the person too.
    patient.phone = None
    patient.external_id = None
    patient.booking_ref = None
