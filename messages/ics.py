"""The calendar file (.ics, RFC 5545) a patient gets with a booking confirmation.

Times are written in the patient's own zone (``DTSTART;TZID=Europe/Madrid``) with the zone's
definition included (VTIMEZONE), so every calendar shows the wall-clock time the clinic means.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

PRODUCT = "-//Aftercare//booking confirmation//EN"


def appointment_ics(*, uid: str, start: datetime, end: datetime | None, zone: ZoneInfo, summary: str,
                    location: str = "", description: str = "", sequence: int = 0, stamp: datetime,
                    cancelled: bool = False) -> bytes:
    """One appointment as an .ics file; the same ``uid`` with a higher ``sequence`` moves (or cancels) it."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", (end or start + timedelta(hours=1)).astimezone(zone))
    event.add("summary", summary)
    if location:
        event.add("location", location)
    if description:
        event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", timedelta(hours=-2))
        event.add_component(alarm)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
