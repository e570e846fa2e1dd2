"""When the clinic is staffed (``CLINIC_HOURS``): a pure rule read strictly, asked with a moment and a zone.

``Mon-Fri 09:00-19:00, Sat 10:00-14:00``: comma-separated groups, each a day or a range of days
(Mon Tue Wed Thu Fri Sat Sun) and one local window HH:MM-HH:MM that ends after it starts (24:00
may end a day). A day may appear in several groups (a lunch break). Anything else is refused
with the part that is wrong, so a typo never quietly means "always closed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUP = re.compile(r"^([A-Za-z]{3})(?:-([A-Za-z]{3}))?\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
EXAMPLE = "Mon-Fri 09:00-19:00, Sat 10:00-14:00"


@dataclass(frozen=True)
class Window:
    """One weekday's open window, in local minutes since midnight (end excluded)."""

    weekday: int  # 0 = Monday
    start: int
    end: int


@dataclass(frozen=True)
class ClinicHours:
    """The weekly open windows (empty: the setting is unset, and the clinic counts as always open)."""

    windows: tuple[Window, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ClinicHours:
        """Read ``Mon-Fri 09:00-19:00, Sat 10:00-14:00``; ValueError naming the wrong part otherwise."""
        windows: list[Window] = []
        groups = [part.strip() for part in text.split(",")]
        for group in groups:
            match = _GROUP.match(group)
            if not match:
                raise ValueError(f"{group!r} is not a day (or days) and a time window, as in {EXAMPLE!r}")
            first, last, h1, m1, h2, m2 = match.groups()
            days = [_day(first, group)]
            if last is not None:
                end_day = _day(last, group)
                if end_day < days[0]:
                    raise ValueError(f"{group!r}: the days run backwards (write Mon-Fri, not Fri-Mon)")
                days = list(range(days[0], end_day + 1))
            start, end = _minutes(h1, m1, group), _minutes(h2, m2, group, end=True)
            if end <= start:
                raise ValueError(f"{group!r}: the window must end after it starts, on the same day")
            windows.extend(Window(day, start, end) for day in days)
        return cls(tuple(windows))

    @property
    def always_open(self) -> bool:
        """No hours set: every moment counts as open."""
        return not self.windows

    def is_open(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Whether the clinic is staffed at ``moment`` (aware), in its own ``zone``."""
        if self.always_open:
            return True
        local = moment.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return any(w.weekday == local.weekday() and w.start <= minute < w.end for w in self.windows)

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The next local moment the clinic opens after ``moment`` (None if always open)."""
        if self.always_open:
            return None
        local = moment.astimezone(zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            starts = sorted(w.start for w in self.windows if w.weekday == day.weekday())
            for start in starts:
                opening = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone)
                if opening > local:
                    return opening
        return None

    def __str__(self) -> str:
        return ", ".join(f"{DAYS[w.weekday].title()} {_hhmm(w.start)}-{_hhmm(w.end)}" for w in self.windows) or "always"


def _day(name: str, group: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise ValueError(f"{group!r}: {name!r} is not a day (use {', '.join(d.title() for d in DAYS)})") from None


def _minutes(hours: str, minutes: str, group: str, *, end: bool = False) -> int:
    h, m = int(hours), int(minutes)
    if end and (h, m) == (24, 0):
        return 24 * 60
    if h > 23 or m > 59:
        raise ValueError(f"{group!r}: {hours}:{minutes} is not a time of day (00:00-23:59, or 24:00 to end one)")
    return h * 60 + m


def _hhmm(minutes: int) -> str:
    return time(minutes // 60, minutes % 60).strftime("%H:%M") if minutes < 24 * 60 else "24:00"
