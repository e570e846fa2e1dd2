"""Which check-in answers go to staff: a pure rule, set per protocol.

"Worried" always goes to staff at once. "Still red or swollen" is expected in the first days
after a session; from ``red_expected_days`` on it goes to staff too. "Fine" never does.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class CheckinAnswer(StrEnum):
    """The buttons under a check-in (the values go into callback data and ``reminder.answer``)."""

    FINE = "fine"        # never goes to staff
    STILL_RED = "red"    # expected early on; goes to staff from the protocol's red_expected_days
    WORRIED = "worried"  # always goes to staff at once


FINE, STILL_RED, WORRIED = CheckinAnswer.FINE, CheckinAnswer.STILL_RED, CheckinAnswer.WORRIED
CHECKIN_ANSWERS = tuple(answer.value for answer in CheckinAnswer)


def days_since_session(session_at: datetime, now: datetime, zone: ZoneInfo) -> int:
    """Calendar days since the session in the patient's zone (the session day is day 0)."""
    return (now.astimezone(zone).date() - session_at.astimezone(zone).date()).days


def should_escalate(answer: str, *, day: int, red_expected_days: int) -> bool:
    """Whether a check-in answer given on ``day`` after the session goes to staff."""
    if answer == WORRIED:
        return True
    if answer == STILL_RED:
        return day >= red_expected_days
    return False
