"""What a booking change tells people: the patient a confirmation with an .ics (or a note that it is
cancelled), staff one line. Sent after the change is committed; a failed send is logged, not retried
(the booking and its reminder rows are already safe in the database)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from telegram import Bot, InputFile
from telegram.error import TelegramError

from bot.alerts import alert_staff
from bot.services import Services
from jobs.care.bookings import BookingChange, BookingKind
from jobs.storage.states import PatientStatus
from messages.catalog import html_to_plain
from messages.ics import appointment_ics

log = logging.getLogger(__name__)


def booking_ics(services: Services, change: BookingChange, *, locale: str) -> bytes:
    """The appointment as a calendar file in the patient's zone (the same UID each time: calendars update it)."""
    booking, patient = change.booking, change.patient
    clinic = services.clinic_name(locale)
    return appointment_ics(
        uid=f"booking-{booking.id}@aftercare", start=booking.start_at, end=None, zone=ZoneInfo(patient.timezone),
        # A calendar shows plain text: the texts' HTML (and the escaping of "Skin & Co") is Telegram's.
        summary=html_to_plain(services.text(locale, "booking_ics_summary", clinic_name=clinic)),
        location=clinic,
        description=html_to_plain(services.text(locale, "booking_ics_description",
                                                clinic_phone=services.phone(locale))),
        sequence=int(booking.updated_at.timestamp()) % 2**31, stamp=booking.updated_at,
        cancelled=change.kind is BookingKind.CANCELLED)


async def tell_about_booking(services: Services, bot: Bot, change: BookingChange) -> None:
    """Confirm (or un-confirm) to the patient, then tell staff."""
    patient, booking = change.patient, change.booking
    if patient is None or booking is None or not change.changed:
        return
    zone = ZoneInfo(patient.timezone)
    locale = services.catalog.resolve_locale(patient.locale or None)
    when = services.catalog.format_date(locale, booking.start_at.astimezone(zone), with_time=True, with_year=True)
    # Only a patient who receives messages hears about it (not one who paused or stopped them).
    if patient.chat_id is not None and patient.status == PatientStatus.ACTIVE:
        key = {BookingKind.BOOKED: "booking_confirmed", BookingKind.RESCHEDULED: "booking_moved",
               BookingKind.CANCELLED: "booking_cancelled"}[change.kind]
        text = services.text(locale, key, name=patient.called_by, when=when, zone=zone.key)
        try:
            if change.kind is BookingKind.CANCELLED:
                await bot.send_message(patient.chat_id, text)
            else:
                document = InputFile(booking_ics(services, change, locale=locale), filename="appointment.ics")
                await bot.send_document(patient.chat_id, document=document, caption=text)
        except TelegramError as exc:
            log.warning("booking %d: could not tell patient %d (%s)", booking.id, patient.id, type(exc).__name__)
    def staff_text(staff: str) -> str:  # in each staff chat's language, the date too
        staff_when = services.catalog.format_date(
            staff, booking.start_at.astimezone(services.settings.clinic_timezone), with_time=True, with_year=True)
        return services.text(staff, f"alert_booking_{change.kind.value}", name=patient.name, patient_id=patient.id,
                             when=staff_when, source=booking.source)

    await alert_staff(services, bot, staff_text, patient_id=patient.id)
