"""Relaying patient messages to staff and staff replies back: which staff message came from whom."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from jobs.ops import audit
from jobs.staff.inbox import Staffer, take_by_reply
from jobs.storage.models import Patient, RelayLink


def remember_relay(session: Session, *, staff_chat_id: int, staff_message_id: int, patient_id: int,
                   now: datetime) -> None:
    """Note that this staff-side message speaks for this patient."""
    session.add(RelayLink(staff_chat_id=staff_chat_id, staff_message_id=staff_message_id,
                          patient_id=patient_id, created_at=now))


def patient_for_relay(session: Session, *, staff_chat_id: int, staff_message_id: int) -> Patient | None:
    """The patient a staff reply is meant for, if it replies to a relayed message or alert."""
    link = session.exec(select(RelayLink).where(RelayLink.staff_chat_id == staff_chat_id,
                                                RelayLink.staff_message_id == staff_message_id)).first()
    return session.get(Patient, link.patient_id) if link else None


def staff_replied(session: Session, *, patient_id: int, chat_id: int, message_id: int, staffer: Staffer,
                  now: datetime) -> int | None:
    """A staff member's reply reached the patient: recorded (not its words), and the item the replied-to
    alert shows becomes theirs if nobody had it (that take is part of the reply, not recorded again).

    Returns the item's id when it changed hands (:func:`jobs.staff.inbox.take_by_reply`).
    """
    taken = take_by_reply(session, chat_id=chat_id, message_id=message_id, staffer=staffer, now=now)
    audit.record(session, action=audit.Action.REPLY, patient_id=patient_id, now=now)
    return taken
