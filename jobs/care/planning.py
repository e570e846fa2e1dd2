"""Planning as a pure function: protocol + session time + zone + quiet hours + now -> reminders.

Nothing here reads a clock, touches the database or imports Telegram; tests pass fixed
datetimes, daylight-saving changes included. All datetimes in and out are timezone-aware;
the ones returned are in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from messages.durations import parse_offset
from messages.protocol import Protocol, Timing, parse_timing

_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily local window (may cross midnight) in which no message is sent; start == end means none."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Read "21:00-08:00" (or "off"); ValueError with a hint otherwise."""
        if text.strip().lower() in {"off", "none", ""}:
            return cls(time(0), time(0))
        match = _QUIET.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a window like 21:00-08:00 (or 'off')")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text!r} has a time outside 00:00-23:59")
        return cls(time(h1, m1), time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def enabled(self) -> bool:
        """False when the window is empty."""
        return self.start != self.end

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time falls inside the window."""
        if not self.enabled:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def move_out(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """``moment`` itself, or the end of the quiet window it falls in (returned in UTC)."""
        local = moment.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if not self.contains(wall):
            return moment.astimezone(UTC)
        end_day = local.date()
        if self.start > self.end and wall >= self.start:
            end_day += timedelta(days=1)  # the window crosses midnight: it ends tomorrow
        return _local(end_day, self.end, zone)


class PlannedReminder(NamedTuple):
    """One row of a plan. ``planned_at`` is the protocol's time, ``due_at`` after quiet hours.

    A named tuple rather than a frozen dataclass: as immutable, and three times cheaper to make,
    which a bulk import of 100,000 patients (700,000 rows) notices.
    """

    step_key: str
    text_key: str
    kind: str
    planned_at: datetime
    due_at: datetime
    expires_at: datetime
    stale: bool = False
    at_spec: str = ""
    not_before_spec: str | None = None
    expires_spec: str = ""
    # Silence noticed (check-in and photo steps): follow-ups are planned when the step is sent.
    nudge_after_spec: str | None = None
    alert_after_spec: str | None = None


def plan_reminders(
    *,
    protocol: Protocol,
    session_at: datetime,
    zone: ZoneInfo,
    quiet_hours: QuietHours,
    session_number: int,
    series_length: int,
    now: datetime,
) -> list[PlannedReminder]:
    """Every reminder of ``protocol`` for this session, in due order; stale ones flagged as such."""
    _require_aware(session_at=session_at, now=now)
    session_at = session_at.astimezone(UTC)
    plan = []
    for step in protocol.steps:
        if not step.applies(session_number=session_number, series_length=series_length):
            continue
        planned_at, due_at, expires_at = step_times(step.timing, step.expires, session_at=session_at,
                                                    zone=zone, quiet_hours=quiet_hours)
        plan.append(
            PlannedReminder(
                step_key=step.key,
                text_key=step.text_key,
                kind=step.kind,
                planned_at=planned_at,
                due_at=due_at,
                expires_at=expires_at,
                stale=expires_at <= now,
                at_spec=step.at_spec,
                not_before_spec=step.not_before_spec,
                expires_spec=step.expires_spec,
                nudge_after_spec=step.nudge_after_spec,
                alert_after_spec=step.alert_after_spec,
            )
        )
    # sorted() is stable: steps due at the same moment keep the protocol's order.
    return sorted(plan, key=lambda reminder: reminder.due_at)


def step_times(timing: Timing, expires: timedelta, *, session_at: datetime, zone: ZoneInfo,
               quiet_hours: QuietHours) -> tuple[datetime, datetime, datetime]:
    """(planned, due, expires) for one step: its own time, moved out of quiet hours, plus its validity."""
    planned_at = step_time(timing, session_at=session_at.astimezone(UTC), zone=zone)
    due_at = quiet_hours.move_out(planned_at, zone)
    return planned_at, due_at, due_at + expires


def replan_spec(*, at_spec: str, not_before_spec: str | None, expires_spec: str, session_at: datetime,
                zone: ZoneInfo, quiet_hours: QuietHours) -> tuple[datetime, datetime, datetime]:
    """:func:`step_times` from the timing texts a reminder row keeps (for a new zone, say)."""
    timing = parse_timing(at_spec, not_before_spec)
    return step_times(timing, parse_offset(expires_spec), session_at=session_at, zone=zone, quiet_hours=quiet_hours)


def step_time(timing: Timing, *, session_at: datetime, zone: ZoneInfo) -> datetime:
    """The protocol's time for a step (UTC), never before the session."""
    if timing.is_local:
        day = session_at.astimezone(zone).date() + timedelta(days=timing.day)
        moment = _local(day, timing.local_time, zone)
        if timing.not_before is not None:
            moment = max(moment, session_at + timing.not_before)
    else:
        moment = session_at + timing.offset
    return max(moment, session_at)


def due_on_link(*, planned_at: datetime, due_at: datetime, expires_at: datetime, now: datetime) -> datetime | None:
    """A pending reminder's due time once the patient links; None when it went stale meanwhile.

    What is due when the patient links goes out at once, quiet hours or not: the patient is
    there, holding the phone. So a step whose own time has passed but which quiet hours had
    pushed later is brought forward to ``now``.
    """
    if expires_at <= now:
        return None
    if planned_at <= now < due_at:
        return now
    return due_at


def next_session_window(protocol: Protocol, *, session_at: datetime) -> tuple[datetime, datetime]:
    """When the next session of a series is due: (earliest, latest), in UTC."""
    session_at = session_at.astimezone(UTC)
    return session_at + protocol.next_session_after, session_at + protocol.next_session_before


def _local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC. A time skipped by a daylight-saving jump maps forward."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _require_aware(**moments: datetime) -> None:
    for name, moment in moments.items():
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
