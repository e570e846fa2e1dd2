"""Which check-in answers go to staff: a pure rule, set per protocol.

"Worried" always goes to staff at once. "Still red or swollen" is expected in the first days
after a session; from ``red_expected_days`` on it goes to staff too. "Fine" never does.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

FINE = "fine"
STILL_RED = "red"
WORRIED = "worried"
CHECKIN_ANSWERS = (FINE, STILL_RED, WORRIED)


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
