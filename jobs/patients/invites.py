"""Invite tokens: random, single-use, expiring, and stored only as a hash.

A token is 192 random bits in URL-safe base64 (32 characters, inside Telegram's 64-character
limit for ``/start`` deep-link payloads). The database keeps its SHA-256, so a copy of the
database does not hand out working links.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from jobs.actors import PATIENT, Actor, Cause
from jobs.care.planning import QuietHours
from jobs.patients.lifecycle import Applied, LifecycleEvent, apply_event
from jobs.patients.queries import current_patient_of_chat
from jobs.refusal import Refusal
from jobs.storage.models import Invite, Patient, Reminder
from jobs.storage.states import OPEN_REMINDER_STATES, PatientStatus

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


@dataclass(frozen=True)
class LinkResult:
    """What opening an invite did.

    ``already``: the chat had opened this very invite before (nothing changed). ``switch_from``: the
    chat follows another patient, and nothing changes until the chat confirms the switch. Otherwise
    ``applied`` is the link (or relink) and ``planned`` how many messages are now to come.
    """

    patient: Patient
    applied: Applied | None = None
    already: bool = False
    switch_from: Patient | None = None
    invite_id: int | None = None
    planned: int = 0
    superseded_id: int | None = None  # the record this chat followed before the switch

    @property
    def relinked(self) -> bool:
        return self.applied is not None and self.applied.event is not LifecycleEvent.LINK


def redeem_invite(session: Session, *, token: str, chat_id: int, now: datetime, locale: str,
                  quiet_hours: QuietHours | None = None) -> LinkResult:
    """Link ``chat_id`` to the invite's patient and start (or restart) their plan; raise Refusal if not.

    ``locale`` (from the patient's Telegram language) is used unless staff chose one at enrollment.
    A chat that follows another patient is asked first (see :func:`confirm_switch`).
    """
    if not looks_like_token(token):
        raise Refusal("start_unknown")
    invite = session.exec(
        select(Invite).where(Invite.token_hash == hash_token(token)).with_for_update()
    ).first()
    if invite is None:
        raise Refusal("start_unknown")
    patient = session.get(Patient, invite.patient_id)
    if invite.used_at is not None:
        if invite.used_by_chat == chat_id and patient.chat_id == chat_id:
            return LinkResult(patient=patient, already=True)
        raise Refusal("start_used")
    if invite.expires_at <= now or patient.status == PatientStatus.DELETED:
        raise Refusal("start_expired")
    current = current_patient_of_chat(session, chat_id=chat_id)
    if current is not None and current.id != patient.id:
        invite.offered_to_chat = chat_id
        session.add(invite)
        return LinkResult(patient=patient, switch_from=current, invite_id=invite.id)
    return _link(session, invite=invite, patient=patient, chat_id=chat_id, now=now, locale=locale,
                 quiet_hours=quiet_hours)


def confirm_switch(session: Session, *, invite_id: int, chat_id: int, now: datetime, locale: str,
                   quiet_hours: QuietHours | None = None) -> LinkResult:
    """The chat confirmed it follows the invite's patient from now on: the chat's current record is
    superseded (its messages stop) and the invite links. Only the chat the question was put to can
    confirm, and only while the invite is still unused and valid."""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.offered_to_chat != chat_id or invite.used_at is not None or invite.expires_at <= now:
        raise Refusal("switch_stale")
    patient = session.get(Patient, invite.patient_id)
    if patient is None or patient.status == PatientStatus.DELETED:
        raise Refusal("switch_stale")
    current = current_patient_of_chat(session, chat_id=chat_id)
    superseded_id = None
    if current is not None and current.id != patient.id:
        apply_event(session, patient=current, event=LifecycleEvent.SUPERSEDE,
                    cause=Cause(Actor.PATIENT, detail=f"chat switched to #{patient.id}"), now=now)
        session.flush()  # the chat's current record must be gone before another takes the chat
        superseded_id = current.id
    result = _link(session, invite=invite, patient=patient, chat_id=chat_id, now=now, locale=locale,
                   quiet_hours=quiet_hours)
    return replace(result, superseded_id=superseded_id)


def decline_switch(session: Session, *, invite_id: int, chat_id: int) -> None:
    """The chat keeps its patient: the invite stays as it was for whoever it was meant for."""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.offered_to_chat != chat_id:
        raise Refusal("switch_stale")
    invite.offered_to_chat = None
    session.add(invite)


def _link(session: Session, *, invite: Invite, patient: Patient, chat_id: int, now: datetime, locale: str,
          quiet_hours: QuietHours | None) -> LinkResult:
    invite.used_at, invite.used_by_chat, invite.offered_to_chat = now, chat_id, None
    session.add(invite)
    first_time = patient.status == PatientStatus.AWAITING_LINK
    patient.chat_id = chat_id
    patient.linked_at = patient.linked_at or now
    if first_time:
        patient.locale = patient.locale or locale
    applied = apply_event(session, patient=patient, event=LifecycleEvent.LINK if first_time else LifecycleEvent.RELINK,
                          cause=PATIENT, now=now, quiet_hours=quiet_hours)
    planned = session.exec(select(func.count()).select_from(Reminder).where(
        Reminder.patient_id == patient.id, Reminder.status.in_(OPEN_REMINDER_STATES))).one()
    return LinkResult(patient=patient, applied=applied, planned=planned)
