"""The dispatcher: claim due reminders atomically, send them, record what happened to each.

- ``queries``: the claim and the ``record_*`` statements, named and together;
- ``loop``: the send loop (:func:`dispatch_due`), its policy and report;
- ``outcomes``: one :class:`Outcome` per reminder, and :func:`classify` for send errors;
- ``pacing``: one message per chat per second, and group commit of outcomes;
- ``render``: a reminder's text.

Callers import from ``jobs.dispatch``; the names below are its interface.
"""

from jobs.dispatch.loop import DeliveryPolicy, DispatchReport, dispatch_due
from jobs.dispatch.outcomes import Outcome, classify, retry_delay
from jobs.dispatch.pacing import ChatPacer, OutcomeRecorder, _apply_all
from jobs.dispatch.queries import (
    ClaimedReminder,
    claim_due,
    record_failed,
    record_retry,
    record_sent,
    record_sent_many,
    record_skipped,
    record_unreachable,
    release_claims,
)
from jobs.dispatch.render import ClinicInfo, render_reminder

__all__ = [
    "ChatPacer", "ClaimedReminder", "ClinicInfo", "DeliveryPolicy", "DispatchReport", "Outcome", "OutcomeRecorder",
    "_apply_all", "claim_due", "classify", "dispatch_due", "record_failed", "record_retry", "record_sent",
    "record_sent_many", "record_skipped", "record_unreachable", "release_claims", "render_reminder", "retry_delay",
]
