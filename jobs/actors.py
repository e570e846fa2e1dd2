"""Who caused a change: the patient, a staff member, or the system; shared by the lifecycle and the inbox.

A small module of its own so that ``jobs.patients.lifecycle`` and ``jobs.staff.inbox`` both import it
and neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Actor(StrEnum):
    """Who caused an event."""

    PATIENT = "patient"
    STAFF = "staff"
    SYSTEM = "system"   # the dispatcher (a 403), Telegram (an unblock), a migration


@dataclass(frozen=True)
class Cause:
    """Who caused an event and why (``detail``, free text of at most 64 characters: never a name)."""

    actor: Actor
    actor_id: int | None = None
    detail: str | None = None


PATIENT = Cause(Actor.PATIENT)
SYSTEM = Cause(Actor.SYSTEM)


def staff(user_id: int | None, detail: str | None = None) -> Cause:
    """An event caused by the staff member ``user_id``."""
    return Cause(Actor.STAFF, user_id, detail)
