"""The statuses of patients, reminders, inbound updates and inbox items, as enums.

The columns hold their values as strings; code compares and writes the enum members, never the spelled-out
values (a StrEnum member equals its value, so a row read back compares equal).

They live beside the models because the tables' indexes name them; which changes between them are
allowed is decided by their one writer each: ``jobs/patients/lifecycle.py`` for patients (and, through
``jobs/patients/reminder_moves.py``, their reminders), ``jobs/intake.py`` for updates and
``jobs/staff/inbox.py`` for inbox items.
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



class UpdateStatus(StrEnum):
    """An inbound Telegram update's state (``jobs/intake.py``): stored before Telegram hears it arrived."""

    NEW = "new"          # stored, not yet taken by a worker
    CLAIMED = "claimed"  # a worker is handling it (``holder``), until ``claimed_until``
    DONE = "done"        # handled; kept until the retention period ends, so a re-delivery is ignored
    FAILED = "failed"    # given up after too many attempts (each one a crash mid-update)


class InboxStatus(StrEnum):
    """Where a staff inbox item stands; it changes only through ``jobs/staff/inbox.py``."""

    OPEN = "open"          # raised, nobody has it yet
    TAKEN = "taken"        # a staff member said "I'll take it"
    RESOLVED = "resolved"  # done (by whom, with an optional note)


# Still to come, in any of these forms (the rest are done: sent, skipped, failed, cancelled).
OPEN_REMINDER_STATES = (ReminderStatus.PENDING, ReminderStatus.WAITING, ReminderStatus.HELD, ReminderStatus.CLAIMED)
_P = PatientStatus
# A Telegram chat follows at most one patient record in these statuses (a partial unique index says so too).
CURRENT_STATUSES = (_P.ACTIVE, _P.PAUSED, _P.STOPPED, _P.CANCELLED, _P.NOT_CONTINUING, _P.UNREACHABLE)
