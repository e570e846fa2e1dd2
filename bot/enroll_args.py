"""Reading what staff type after ``/enroll``: a name, then options such as ``at=`` and ``session=``.

Pure functions: no Telegram, no database, no clock (``now`` is a parameter). Every problem
raises Refusal with the key of the bot text that explains it, so the reply says what
was wrong and what to type.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jobs import inputs

# The session number rule is shared with the API and the import (jobs/patients/enrollment_request.py).
from jobs.patients.enrollment import parse_session_number
from jobs.patients.enrollment_request import EnrollmentRequest
from jobs.refusal import Refusal

OPTIONS = ("at", "session", "protocol", "tz", "lang", "phone")
# An option starts at a word followed by "=", at the start or after white space.
_OPTION = re.compile(r"(?:^|\s)([A-Za-z_]+)=")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_AGO = re.compile(r"^(\d{1,4})\s*(m|min|mins|minutes?|h|hours?|d|days?)\s+ago$|^-(\d{1,4})\s*([mhd])$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M")


# One record of an enrollment for every way in (/enroll, the API, the import); None means "the default".
EnrollArgs = EnrollmentRequest


def parse_enroll_args(text: str, *, now: datetime, clinic_zone: ZoneInfo, protocols: list[str] | tuple[str, ...],
                      locales: tuple[str, ...], phone_region: str | None = None) -> EnrollArgs:
    """Parse the text after ``/enroll``; raise Refusal(key, …) on anything unreadable."""
    text = " ".join(text.split())
    matches = list(_OPTION.finditer(text))
    name = text[: matches[0].start()].strip() if matches else text.strip()
    options: dict[str, str] = {}
    for index, match in enumerate(matches):
        option = match.group(1).lower()
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        if option not in OPTIONS:
            raise Refusal("enroll_error_unknown_option", option=option,
                                  options=", ".join(f"{name}=" for name in OPTIONS))
        if option in options:
            raise Refusal("enroll_error_repeated", option=option)
        options[option] = text[match.end():end].strip()
    name = inputs.clean_name(name)  # a refusal names what is wrong (missing, too long, invisible)

    session_at = parse_session_time(options["at"], now=now, zone=clinic_zone) if "at" in options else now
    number, length = parse_session_number(options["session"]) if "session" in options else (1, None)
    protocol = options.get("protocol")
    if protocol is not None and protocol not in protocols:
        raise Refusal("enroll_error_unknown_protocol", value=protocol, protocols=", ".join(protocols))
    zone = None
    if "tz" in options:
        zone = parse_zone(options["tz"])
    locale = options.get("lang")
    if locale is not None:
        locale = locale.lower()
        if locale not in locales:
            raise Refusal("enroll_error_bad_lang", value=locale, locales=", ".join(locales))
    # National numbers are read in the clinic's country (taken from CLINIC_PHONE).
    phone = inputs.parse_phone(options["phone"], region=phone_region) if "phone" in options else None
    return EnrollArgs(name=name, session_at=session_at, session_number=number, series_length=length,
                      protocol=protocol, zone=zone, locale=locale, phone=phone)


def parse_session_time(value: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """When the session was: "now", "14:30", "yesterday 17:00", "2026-11-24 15:30", "3h ago" (in ``zone``)."""
    raw = " ".join(value.split()).lower()
    local_now = now.astimezone(zone)
    if raw in {"now", "just now"}:
        return now
    day = local_now.date()
    clock_part = raw
    if raw.startswith(("yesterday ", "today ")):
        word, clock_part = raw.split(" ", 1)
        if word == "yesterday":
            day -= timedelta(days=1)
    clock = _CLOCK.match(clock_part)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise Refusal("enroll_error_bad_time", value=value)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    ago = _AGO.match(raw)
    if ago:
        amount = int(ago.group(1) or ago.group(3))
        unit = (ago.group(2) or ago.group(4))[0]
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    for pattern in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw.upper() if "T" in pattern else raw, pattern)  # noqa: DTZ007
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone)
    raise Refusal("enroll_error_bad_time", value=value)


def parse_zone(value: str) -> ZoneInfo:
    """A geographic IANA zone by name (jobs.inputs.parse_zone); Refusal otherwise."""
    return inputs.parse_zone(value)
