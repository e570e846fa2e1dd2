"""The audit trail as an admin reads it in the console: a page of rows, newest first, the staff named.

The same filters as ``aftercare audit [--patient N] [--staff ID] [--since DATE]`` (jobs/ops/audit.py
narrows the rows for both), and the reading is itself a row of the trail (``view_audit``): who looked
at the trail, for which patient or staff member, and how many rows they saw. Who may read it (admins
only) is the console's door to decide; this module only reads and records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from jobs.ops import audit
from jobs.staff.membership import staff_names
from jobs.storage.models import AuditEvent

# Rows whose ``subject`` is a staff member's Telegram id (named like the actors): added, removed, their trail read.
STAFF_SUBJECTS = (audit.Action.STAFF_ADDED.value, audit.Action.STAFF_REMOVED.value, audit.Action.VIEW_AUDIT.value)


@dataclass(frozen=True)
class AuditPage:
    """One page of the trail, newest first; ``older`` is where the next page starts (None: this is the last)."""

    rows: list[AuditEvent]
    names: dict[int, str] = field(default_factory=dict)  # Telegram id -> the staff member's name, where known
    older: int | None = None


def staff_subject(row: AuditEvent) -> int | None:
    """The Telegram id a ``staff_added`` or ``staff_removed`` row is about."""
    if row.action in STAFF_SUBJECTS and row.subject and row.subject.isdigit():
        return int(row.subject)
    return None


def read_audit(session: Session, *, now: datetime, page_size: int, patient_id: int | None = None,
               actor_id: int | None = None, since: datetime | None = None, before: int | None = None) -> AuditPage:
    """A page of the trail narrowed to a patient, a staff member and a start time; recorded as read."""
    rows = audit.latest_events(session, limit=page_size + 1, patient_id=patient_id, actor_id=actor_id, since=since,
                               before=before)
    shown = rows[:page_size]
    people = [row.actor_id for row in shown if row.actor == audit.ActorKind.PERSON and row.actor_id is not None]
    subjects = [subject for subject in map(staff_subject, shown) if subject is not None]
    names = staff_names(session, user_ids=people + subjects)
    # Last in the transaction: on PostgreSQL the trail's lock is held from here to the commit.
    audit.record(session, action=audit.Action.VIEW_AUDIT, patient_id=patient_id, subject=actor_id,
                 count=len(shown), now=now)
    return AuditPage(rows=shown, names=names, older=shown[-1].id if len(rows) > page_size else None)
