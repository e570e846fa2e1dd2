"""Bookings from the clinic's booking system: what a signed hook call does to a patient's reminders.

A booking hook says *booked*, *rescheduled* or *cancelled* for one booking (by the booking's own id
in that system). Booked: the current cycle's rebooking reminders stop (cancelled for
``BOOKED_ELSEWHERE`` through :mod:`jobs.patients.reminder_moves`) and a reminder is planned for the evening before
the appointment, as a row of the reminder table like any other (it survives restarts; its expiry
is the appointment's start). Rescheduled: that reminder moves. Cancelled: it is cancelled and the
rebooking reminders the booking stopped come back while their window is still open.

Idempotent twice over: a call whose signed body was seen before changes nothing (its digest is
stored), and a call that says what is already true (booked at the same time) changes nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from jobs import events
from jobs.care.planning import QuietHours
from jobs.patients.queries import current_enrollment
from jobs.patients.reminder_moves import CancelReason, cancel_reminders, restore_reminders, state_for_new_reminder
from jobs.refusal import Refusal
from jobs.storage.models import Booking, BookingEvent, Patient, Reminder
from jobs.storage.states import PatientStatus
from messages.protocol import KIND_APPOINTMENT, KIND_REBOOK

# The appointment reminder goes out at this local time the day before...
EVENING_BEFORE = time(18, 0)
# ... unless that leaves less than this before the appointment (booked for tomorrow morning at night).
LEAST_NOTICE = timedelta(hours=2)
APPOINTMENT_TEXT = "appointment_reminder"


class BookingKind(StrEnum):
    """What a booking hook says happened."""

    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class BookingStatus(StrEnum):
    """A booking row's state."""

    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BookingChange:
    """What a hook call did (``changed`` False: a replay, or nothing new), for the reply and the messages."""

    kind: BookingKind
    changed: bool
    patient: Patient | None = None
    booking: Booking | None = None
    previous_start: datetime | None = None
    stopped: int = 0      # rebooking reminders stopped
    restored: int = 0     # rebooking reminders back
    reminder_at: datetime | None = None  # when the evening-before reminder goes (None: none planned)


def find_patient(session: Session, *, patient_id: int | None = None, external_id: str | None = None,
                 booking_ref: str | None = None) -> Patient | None:
    """The (not erased) patient a hook names, by our id, the clinic's reference or the booking reference."""
    if patient_id is not None:
        patient = session.get(Patient, patient_id)
    elif external_id is not None:
        patient = session.exec(select(Patient).where(Patient.external_id == external_id)).first()
    elif booking_ref is not None:
        patient = session.exec(select(Patient).where(Patient.booking_ref == booking_ref)).first()
    else:
        patient = None
    return None if patient is None or patient.status == PatientStatus.DELETED else patient


def seen(session: Session, *, digest: str) -> bool:
    """Whether a hook call with this signed body was handled before."""
    return session.exec(select(BookingEvent.id).where(BookingEvent.digest == digest)).first() is not None


def record_booking(session: Session, *, source: str, kind: BookingKind, booking_key: str, start_at: datetime | None,
                   digest: str, quiet_hours: QuietHours, now: datetime, patient_id: int | None = None,
                   external_id: str | None = None, booking_ref: str | None = None,
                   previous_key: str | None = None) -> BookingChange:
    """Apply one hook call (in the caller's transaction). The patient is the booking's, once it is known, else
    the one the call names (:func:`find_patient`). ``previous_key``: the booking a reschedule replaces (Cal.com
    gives the moved booking a new id). Refusal ``booking_unknown_patient`` if nobody matches."""
    if seen(session, digest=digest):
        return BookingChange(kind=kind, changed=False)
    # First the call's digest: the same call arriving twice at once stops here, before it changes anything.
    received = _remember(session, source=source, digest=digest, kind=kind, now=now)
    patient = find_patient(session, patient_id=patient_id, external_id=external_id, booking_ref=booking_ref)
    booking = _booking(session, source, booking_key)
    if booking is None and previous_key is not None:
        booking = _booking(session, source, previous_key)
        if booking is not None:
            booking.booking_key = booking_key  # the booking lives on under its new id
    if booking is not None:
        patient = session.get(Patient, booking.patient_id)
    if patient is None or patient.status == PatientStatus.DELETED:
        raise Refusal("booking_unknown_patient")
    if kind is BookingKind.CANCELLED:
        change = _cancel(session, booking, patient, now=now)
    else:
        if start_at is None:
            raise Refusal("booking_bad_start")
        change = _book(session, source, booking_key, booking, patient, kind=kind, start_at=start_at,
                       quiet_hours=quiet_hours, now=now)
    received.booking_id = change.booking.id if change.booking is not None else None
    session.add(received)
    return change


def _booking(session: Session, source: str, key: str) -> Booking | None:
    return session.exec(select(Booking).where(Booking.source == source, Booking.booking_key == key)).first()


def _remember(session: Session, *, source: str, digest: str, kind: BookingKind, now: datetime) -> BookingEvent:
    received = BookingEvent(source=source, digest=digest, kind=kind.value, received_at=now)
    try:
        with session.begin_nested():
            session.add(received)
            session.flush()
        return received
    except IntegrityError:
        # The same call arrived twice at once: the other one's transaction has it; ours changes nothing.
        raise Refusal("booking_replayed") from None


def _book(session: Session, source: str, key: str, booking: Booking | None, patient: Patient, *,
          kind: BookingKind, start_at: datetime, quiet_hours: QuietHours, now: datetime) -> BookingChange:
    previous = booking.start_at if booking is not None else None
    if booking is not None and booking.status == BookingStatus.BOOKED and booking.start_at == start_at:
        return BookingChange(kind=kind, changed=False, patient=patient, booking=booking)
    stopped = 0
    if booking is None or booking.status == BookingStatus.CANCELLED:
        current = current_enrollment(session, patient_id=patient.id)
        cycle = current.id if current is not None else None
        if booking is None:
            booking = Booking(patient_id=patient.id, enrollment_id=cycle, source=source, booking_key=key,
                              start_at=start_at, status=BookingStatus.BOOKED, created_at=now, updated_at=now)
            session.add(booking)
            session.flush()
            events.record_event(session, kind=events.BOOKED, patient_id=patient.id, detail=source, now=now)
        booking.enrollment_id = booking.enrollment_id or cycle
        if booking.enrollment_id is not None:
            stopped = cancel_reminders(session, patient_id=patient.id, kinds=(KIND_REBOOK,),
                                       enrollment_id=booking.enrollment_id, reason=CancelReason.BOOKED_ELSEWHERE)
    else:
        cancel_reminders(session, patient_id=patient.id, step_keys=(_step_key(booking),),
                         reason=CancelReason.BOOKING_CHANGED)
    booking.status, booking.start_at, booking.updated_at = BookingStatus.BOOKED, start_at, now
    session.add(booking)
    session.flush()
    reminder_at = _plan_appointment_reminder(session, booking, patient, quiet_hours=quiet_hours, now=now)
    moved = BookingKind.RESCHEDULED if previous is not None and previous != start_at else BookingKind.BOOKED
    return BookingChange(kind=moved, changed=True, patient=patient, booking=booking, previous_start=previous,
                         stopped=stopped, reminder_at=reminder_at)


def _cancel(session: Session, booking: Booking | None, patient: Patient, *, now: datetime) -> BookingChange:
    if booking is None or booking.status == BookingStatus.CANCELLED:
        return BookingChange(kind=BookingKind.CANCELLED, changed=False, patient=patient, booking=booking)
    cancel_reminders(session, patient_id=patient.id, step_keys=(_step_key(booking),),
                     reason=CancelReason.BOOKING_CHANGED)
    booking.status, booking.updated_at = BookingStatus.CANCELLED, now
    session.add(booking)
    session.flush()
    restored = 0
    still_booked = session.exec(select(Booking.id).where(
        Booking.patient_id == patient.id, Booking.enrollment_id == booking.enrollment_id,
        Booking.status == BookingStatus.BOOKED)).first()
    if booking.enrollment_id is not None and still_booked is None:
        restored = restore_reminders(session, patient=patient, reason=CancelReason.BOOKED_ELSEWHERE,
                                     kinds=(KIND_REBOOK,), enrollment_id=booking.enrollment_id, now=now)
    events.record_event(session, kind=events.BOOKING_CANCELLED, patient_id=patient.id, detail=booking.source,
                        now=now)
    return BookingChange(kind=BookingKind.CANCELLED, changed=True, patient=patient, booking=booking,
                         previous_start=booking.start_at, restored=restored)


def _step_key(booking: Booking) -> str:
    return f"appointment:{booking.id}"


def evening_before(start_at: datetime, zone: ZoneInfo) -> datetime:
    """When the reminder of an appointment at ``start_at`` goes: the evening before, in the patient's zone."""
    day = start_at.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, EVENING_BEFORE, tzinfo=zone)


def _plan_appointment_reminder(session: Session, booking: Booking, patient: Patient, *, quiet_hours: QuietHours,
                               now: datetime) -> datetime | None:
    """A reminder row for the evening before (valid until the appointment); None when it is too close."""
    if booking.enrollment_id is None:
        return None
    zone = ZoneInfo(patient.timezone)
    planned = evening_before(booking.start_at, zone)
    due = quiet_hours.move_out(max(planned, now), zone)
    if due > booking.start_at - LEAST_NOTICE:
        return None
    state, outcome = state_for_new_reminder(patient.status)
    session.add(Reminder(enrollment_id=booking.enrollment_id, patient_id=patient.id, step_key=_step_key(booking),
                         text_key=APPOINTMENT_TEXT, kind=KIND_APPOINTMENT, planned_at=planned, due_at=due,
                         expires_at=booking.start_at, status=state, outcome=outcome))
    return due


def bookings_of(session: Session, *, patient_id: int) -> list[Booking]:
    """A patient's bookings, soonest first."""
    return list(session.exec(select(Booking).where(Booking.patient_id == patient_id)
                             .order_by(Booking.start_at, Booking.id)))
