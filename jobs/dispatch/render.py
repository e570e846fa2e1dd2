"""A reminder's text in the patient's language, with the clinic's details filled in."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from jobs.dispatch.queries import ClaimedReminder
from jobs.planning import next_session_window
from messages.catalog import Catalog, Raw


@dataclass(frozen=True)
class ClinicInfo:
    """The clinic details that step texts quote."""

    name: str
    phone: str
    booking_url: str = ""



def render_nudge(item: ClaimedReminder, *, catalog: Catalog, clinic: ClinicInfo) -> str:
    """A nudge's text (a ``[bot]`` text: the same for every step of its kind), in the patient's language."""
    return catalog.bot(
        item.locale, item.text_key, name=item.patient_name,
        clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
        clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
    ).strip()


def render_reminder(item: ClaimedReminder, *, catalog: Catalog, clinic: ClinicInfo) -> str:
    """The text of a reminder in the patient's language, with the clinic's details filled in."""
    zone = ZoneInfo(item.timezone)
    protocol = catalog.protocol_for(item.protocol_name)
    window_start, window_end = next_session_window(protocol, session_at=item.session_at)
    booking_line = catalog.bot(item.locale, "booking_line", url=clinic.booking_url) if clinic.booking_url else ""
    return catalog.render(
        item.locale, "steps", item.text_key,
        name=item.patient_name,
        clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
        clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
        booking_url=clinic.booking_url,
        booking_line=Raw(booking_line),
        session_number=item.session_number,
        series_length=item.series_length,
        sessions_left=max(item.series_length - item.session_number, 0),
        next_window_start=catalog.format_date(item.locale, window_start.astimezone(zone)),
        next_window_end=catalog.format_date(item.locale, window_end.astimezone(zone)),
    ).strip()

