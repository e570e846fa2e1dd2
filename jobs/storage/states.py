"""The patient and reminder statuses, as enums (the columns hold their values as strings).

They live beside the models because the tables' indexes name them; what each status *means*, and
which changes between them are allowed, is ``jobs/patients/lifecycle.py``'s.
"""

from __future__ import annotations

from enum import StrEnum


class PatientStatus(StrEnum):
    """Where a patient stands. The values are what the ``patient.status`` column holds."""

    AWAITING_LINK = "awaiting_link"    # enrolled; the invite has not been opened yet
    ACTIVE = "active"                  # linked; messages go out
    PAUSED = "paused"                  # the patient sent /pause; messages wait (stale ones are skipped)
    STOPPED = "stopped"                # the patient sent /stop; /resume or a new invite brings them back
    CANCELLED = "cancelled"            # staff sent /cancel; a new invite or /session brings them back
    NOT_CONTINUING = "not_continuing"  # the patient ended the series; staff /reopen undoes it
    UNREACHABLE = "unreachable"        # the patient blocked the bot; unblocking or writing again undoes it
    SUPERSEDED = "superseded"          # another patient record took over this one's Telegram chat
    DELETED = "deleted"                # the patient erased their data: no name, no chat, nothing to send


class ReminderStatus(StrEnum):
    """A reminder row's delivery state. Only PENDING rows are ever claimed by the dispatcher."""

    PENDING = "pending"      # sendable when due
    WAITING = "waiting"      # the patient has not linked yet
    HELD = "held"            # the patient paused
    CLAIMED = "claimed"      # a dispatcher holds it (with a lease) and is sending it
    SENT = "sent"
    SKIPPED = "skipped"      # went stale before it could be sent
    FAILED = "failed"
    CANCELLED = "cancelled"  # will not be sent; ``outcome`` holds the CancelReason
