"""Invite tokens: random, single-use, expiring, and stored only as a hash.

A token is 192 random bits in URL-safe base64 (32 characters, inside Telegram's 64-character
limit for ``/start`` deep-link payloads). The database keeps its SHA-256, so a copy of the
database does not hand out working links.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import update
from sqlmodel import Session, select

from jobs import events
from jobs.planning import due_on_link
from jobs.storage.models import (
    ACTIVE,
    AWAITING_LINK,
    CANCELLED,
    DELETED,
    OPEN_STATES,
    PAUSED,
    PENDING,
    SKIPPED,
    STOPPED,
    UNREACHABLE,
    WAITING,
    Invite,
    Patient,
    Reminder,
)

TOKEN_BYTES = 24
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    """A fresh random token for a deep link."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the database stores for ``token``."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Whether ``text`` could be a token at all (cheap check before touching the database)."""
    return bool(_TOKEN_SHAPE.match(text))


def create_invite(session: Session, *, patient_id: int, now: datetime, ttl: timedelta) -> str:
    """Store a new invite for the patient and return its token (the only time it exists in clear)."""
    token = new_token()
    session.add(Invite(patient_id=patient_id, token_hash=hash_token(token), created_at=now, expires_at=now + ttl))
    return token


class LinkProblem(Enum):
    """Why an invite could not link a chat."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    ALREADY_YOURS = "already_yours"


@dataclass(frozen=True)
class LinkResult:
    """The linked patient, or the problem that stopped the link (then nothing was changed)."""

    patient: Patient | None = None
    problem: LinkProblem | None = None
    skipped: int = 0
    relinked: bool = False
    # Other patient records that were linked to this chat before: their messages are stopped.
    superseded: tuple[int, ...] = ()


def redeem_invite(session: Session, *, token: str, chat_id: int, now: datetime, locale: str) -> LinkResult:
    """Link ``chat_id`` to the invite's patient and start their plan, or say why not.

    ``locale`` (from the patient's Telegram language) is used unless staff chose one at enrollment.
    """
    if not looks_like_token(token):
        return LinkResult(problem=LinkProblem.UNKNOWN)
    invite = session.exec(
        select(Invite).where(Invite.token_hash == hash_token(token)).with_for_update()
    ).first()
    if invite is None:
        return LinkResult(problem=LinkProblem.UNKNOWN)
    patient = session.get(Patient, invite.patient_id)
    if invite.used_at is not None:
        mine = invite.used_by_chat == chat_id and patient.chat_id == chat_id
        return LinkResult(patient=patient if mine else None,
                          problem=LinkProblem.ALREADY_YOURS if mine else LinkProblem.USED)
    if invite.expires_at <= now or patient.status == DELETED:
        return LinkResult(problem=LinkProblem.EXPIRED)
    invite.used_at = now
    invite.used_by_chat = chat_id
    superseded = _supersede_others(session, patient_id=patient.id, chat_id=chat_id, now=now)
    patient.chat_id = chat_id
    if patient.status != AWAITING_LINK:
        # A fresh invite for a patient who was linked before (a new phone): move them to this chat.
        if patient.status == UNREACHABLE:
            patient.status = ACTIVE
        session.add_all([invite, patient])
        return LinkResult(patient=patient, relinked=True, superseded=superseded)
    patient.status = ACTIVE
    patient.linked_at = now
    patient.locale = patient.locale or locale
    skipped = 0
    for reminder in session.exec(
        select(Reminder).where(Reminder.patient_id == patient.id, Reminder.status == WAITING)
    ):
        due = due_on_link(planned_at=reminder.planned_at, due_at=reminder.due_at,
                          expires_at=reminder.expires_at, now=now)
        if due is None:
            reminder.status = SKIPPED
            reminder.outcome = "stale: its time had passed when the patient linked"
            skipped += 1
        else:
            reminder.due_at = due
            reminder.status = PENDING
    session.add_all([invite, patient])
    events.record_event(session, kind=events.LINKED, patient_id=patient.id, now=now)
    return LinkResult(patient=patient, skipped=skipped, superseded=superseded)


def _supersede_others(session: Session, *, patient_id: int, chat_id: int, now: datetime) -> tuple[int, ...]:
    """Stop other patient records on this chat, so one person never gets two parallel plans."""
    others = session.exec(select(Patient).where(Patient.chat_id == chat_id, Patient.id != patient_id,
                                                Patient.status.in_([ACTIVE, PAUSED, UNREACHABLE]))).all()
    for other in others:
        session.exec(update(Reminder).where(Reminder.patient_id == other.id, Reminder.status.in_(OPEN_STATES))
                     .values(status=CANCELLED, outcome=f"superseded by patient #{patient_id}", claimed_until=None))
        other.status = STOPPED
        session.add(other)
        events.record_event(session, kind=events.STOPPED, patient_id=other.id, detail="superseded", now=now)
    return tuple(other.id for other in others)
