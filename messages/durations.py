"""Parsing the small time language of protocol files: offsets ("90m", "2d") and "day N at HH:MM"."""

from __future__ import annotations

import re
from datetime import time, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_OFFSET = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_DAY_AT = re.compile(r"^\s*day\s+(\d{1,4})\s+at\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)

OFFSET_HELP = "use a whole number and a unit s, m, h, d or w, e.g. 90m, 3h, 2d, 1w"
DAY_AT_HELP = 'or a local time of day as "day N at HH:MM" (day 0 is the session day)'


def parse_offset(text: str) -> timedelta:
    """Return the duration written as "<n><unit>"; raise ValueError with a hint otherwise."""
    match = _OFFSET.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"bad offset {text!r}: {OFFSET_HELP}")
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(number)})


def parse_day_at(text: str) -> tuple[int, time] | None:
    """Return (day, local time) for "day N at HH:MM", None if the text is not in that form."""
    match = _DAY_AT.match(text) if isinstance(text, str) else None
    if not match:
        return None
    day, hour, minute = (int(group) for group in match.groups())
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time of day in {text!r}: hours 00-23, minutes 00-59")
    return day, time(hour, minute)
