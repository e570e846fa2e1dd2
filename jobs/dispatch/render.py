"""A reminder's text in the patient's language, with the clinic's details filled in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from jobs.care.clinic_hours import ClinicHours
from jobs.care.outcomes import review_token
from jobs.care.planning import next_session_window
from jobs.dispatch.queries import ClaimedReminder
from messages.catalog import Catalog, Raw
from messages.protocol import KIND_APPOINTMENT


@dataclass(frozen=True)
class ClinicInfo:
    """The clinic details that step texts quote."""

    name: str
    phone: str
    booking_url: str = ""
    # The booking page is Cal.com's: its link carries the patient's booking reference as booking
    # metadata, which comes back in Cal.com's webhook (POST /hooks/calcom) and finds the patient.
    calcom: bool = False
    # Where review requests send patients (REVIEW_URL; empty: review steps are skipped). With
    # ``review_redirect`` (the HTTP side's public address + "/r/") the link goes through the bot's
    # own redirect, which counts it as opened; ``review_secret`` signs that link.
    review_url: str = ""
    review_redirect: str = ""
    review_secret: str = field(default="", repr=False)
    # When the clinic is staffed, in its own zone: outcome steps go out then, so a "worse" answer
    # finds someone to own it.
    hours: ClinicHours = ClinicHours()
    zone: ZoneInfo = ZoneInfo("UTC")

    def review_link(self, reminder_id: int) -> str:
        """The link of review request ``reminder_id``: through the redirect when there is one."""
        if self.review_redirect and self.review_secret:
            return self.review_redirect + review_token(reminder_id, secret=self.review_secret)
        return self.review_url

    def booking_link(self, booking_ref: str | None) -> str:
        """BOOKING_URL, with ``?metadata[aftercare]=<ref>`` added for a Cal.com page."""
        if not self.booking_url or not self.calcom or not booking_ref:
            return self.booking_url
        return f"{self.booking_url}{'&' if '?' in self.booking_url else '?'}metadata[aftercare]={booking_ref}"


def render_nudge(item: ClaimedReminder, *, catalog: Catalog, clinic: ClinicInfo) -> str:
    """A nudge's text (a ``[bot]`` text: the same for every step of its kind), in the patient's language."""
    return catalog.bot(
        item.locale, item.text_key, name=item.called or item.patient_name,
        clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
        clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
    ).strip()


def render_reminder(item: ClaimedReminder, *, catalog: Catalog, clinic: ClinicInfo) -> str:
    """The text of a reminder in the patient's language, with the clinic's details filled in."""
    zone = ZoneInfo(item.timezone)
    if item.kind == KIND_APPOINTMENT:
        # Valid until the appointment starts, so its expiry is the appointment's time.
        return catalog.bot(item.locale, "appointment_reminder", name=item.called or item.patient_name,
                           clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
                           clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
                           when=catalog.format_date(item.locale, item.expires_at.astimezone(zone), with_time=True),
                           ).strip()
    protocol = catalog.protocol_for(item.protocol_name)
    window_start, window_end = next_session_window(protocol, session_at=item.session_at)
    booking_url = clinic.booking_link(item.booking_ref)
    booking_line = catalog.bot(item.locale, "booking_line", url=booking_url) if booking_url else ""
    return catalog.render(
        item.locale, "steps", item.text_key,
        name=item.called or item.patient_name,
        clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
        clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
        booking_url=booking_url,
        booking_line=Raw(booking_line),
        session_number=item.session_number,
        series_length=item.series_length,
        sessions_left=max(item.series_length - item.session_number, 0),
        next_window_start=catalog.format_date(item.locale, window_start.astimezone(zone)),
        next_window_end=catalog.format_date(item.locale, window_end.astimezone(zone)),
    ).strip()



def render_stored(reminder: Mapping, patient: Mapping, enrollment: Mapping, *, catalog: Catalog,
                  clinic: ClinicInfo) -> str | None:
    """A sent reminder's text rendered again from its rows (for the exports: the texts as they read now);
    None when the rows no longer say enough (an erased patient, an unknown protocol)."""
    if not patient or not enrollment or not patient.get("name"):
        return None
    item = ClaimedReminder(
        id=reminder["id"], patient_id=reminder["patient_id"], chat_id=patient.get("chat_id") or 0,
        patient_name=patient["name"], locale=catalog.resolve_locale(patient.get("locale") or None),
        timezone=patient["timezone"], step_key=reminder["step_key"], text_key=reminder["text_key"],
        kind=reminder["kind"], due_at=reminder["due_at"], expires_at=reminder["expires_at"], attempts=0,
        session_number=enrollment["session_number"], series_length=enrollment["series_length"],
        session_at=enrollment["session_at"], protocol_name=enrollment["protocol_name"],
        called=patient.get("called"))
    try:
        text = render_nudge(item, catalog=catalog, clinic=clinic) if item.kind == "nudge" else \
            render_reminder(item, catalog=catalog, clinic=clinic)
    except (KeyError, LookupError, ValueError):
        return None
    return re.sub(r"<[^>]+>", "", text)
