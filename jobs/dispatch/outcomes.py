"""What can become of one reminder in a dispatcher run, and which send errors mean which.

One enum for the whole run: :func:`classify` maps an exception from ``send_message`` to the
outcome it stands for; the send loop records each outcome on the reminder's row, and the run's
report counts outcomes (the staff summary's "sent / skipped / failed" are sums of them).

    Exception raised by Bot.send_message
     ├── RetryAfter (429) ............ RATE_LIMITED  re-queued after retry_after; the run halts
     ├── Forbidden (403) ............. BLOCKED       patient unreachable, their other reminders cancelled
     ├── BadRequest (400) ............ REFUSED       failed for good, staff told
     ├── TimedOut, NetworkError, 5xx . RETRY         back in the queue with backoff (or GAVE_UP, STALE)
     └── anything else ............... BROKEN        failed for good, staff told (our bug)
"""

from __future__ import annotations

import random
from datetime import timedelta
from enum import StrEnum

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter


class Outcome(StrEnum):
    """What happened to one claimed reminder."""

    SENT = "sent"  # delivered; Telegram's message id is on the row
    STALE = "skipped"  # its moment passed before it could go (or would while retrying): skipped, never late
    RATE_LIMITED = "rate_limited"  # Telegram's flood control: re-queued for retry_after, no attempt counted
    RETRY = "retry"  # a timeout, network error or 5xx: re-queued with exponential backoff and jitter
    GAVE_UP = "gave_up"  # RETRY once too often: failed for good
    BLOCKED = "blocked"  # the patient blocked the bot: failed, patient unreachable, the rest cancelled
    REFUSED = "refused"  # Telegram refused this message (400): failed for good
    BROKEN = "broken"  # the text cannot be rendered, or an unexpected error: failed for good
    CANCELLED = "cancelled"  # claimed behind a reminder that found the patient blocked
    CLOSED = "closed"  # a nudge or silence alert whose step was answered meanwhile: not sent, never will be
    RELEASED = "released"  # not begun (a stop, a 429, an outcome that could not be recorded): back to pending


# The summary's words for groups of outcomes.
FAILED = frozenset({Outcome.GAVE_UP, Outcome.BLOCKED, Outcome.REFUSED, Outcome.BROKEN})
RETRIED = frozenset({Outcome.RETRY, Outcome.RATE_LIMITED})


def classify(exc: BaseException) -> Outcome:
    """The outcome a send error stands for (see the module's drawing)."""
    if isinstance(exc, RetryAfter):
        return Outcome.RATE_LIMITED
    if isinstance(exc, Forbidden):
        return Outcome.BLOCKED
    if isinstance(exc, BadRequest):
        return Outcome.REFUSED
    if isinstance(exc, NetworkError):  # TimedOut is one; either may or may not have reached Telegram
        return Outcome.RETRY
    return Outcome.BROKEN


def retry_delay(attempts: int, policy, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: half to all of base * 2^(attempts-1), capped.

    The jitter keeps many reminders that failed together (a Telegram outage) from retrying in lockstep.
    """
    ceiling = min(policy.retry_cap, policy.retry_base * (2 ** (attempts - 1))).total_seconds()
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))
