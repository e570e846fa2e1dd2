"""Relaying patient messages to staff and staff replies back: which staff message came from whom, and the
conversation itself (what the patient wrote, what staff answered) kept for the clinic's record."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from jobs.inputs import storable_text
from jobs.ops import audit
from jobs.staff.inbox import InboxChange, InboxStatus, Staffer, apply_change, take_by_reply
from jobs.storage.models import ConversationMessage, InboxItem, Patient, RelayLink


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


# The two sides of the conversation kept for the record (ConversationMessage.direction).
FROM_PATIENT = "from_patient"
FROM_CLINIC = "from_clinic"


def keep_message(session: Session, *, patient_id: int, direction: str, text: str, kind: str, now: datetime,
                 update_id: int | None = None, staff_id: int | None = None) -> None:
    """Keep a patient's message or a staff reply as the record of the conversation (once per update)."""
    if update_id is not None and session.exec(select(ConversationMessage.id).where(
            ConversationMessage.update_id == update_id)).first() is not None:
        return  # the same update handled again after a crash
    session.add(ConversationMessage(patient_id=patient_id, direction=direction, text=storable_text(text), kind=kind,
                                    staff_id=staff_id, update_id=update_id, at=now))


def staff_replied(session: Session, *, patient_id: int, chat_id: int, message_id: int, staffer: Staffer,
                  now: datetime) -> int | None:
    """A staff member's reply reached the patient: recorded (not its words), and the item the replied-to
    alert shows becomes theirs if nobody had it (that take is part of the reply, not recorded again).

    Returns the item's id when it changed hands (:func:`jobs.staff.inbox.take_by_reply`).
    """
    taken = take_by_reply(session, chat_id=chat_id, message_id=message_id, staffer=staffer, now=now)
    audit.record(session, action=audit.Action.REPLY, patient_id=patient_id, now=now)
    return taken


def staff_replied_in_console(session: Session, *, patient_id: int, item_id: int | None, staffer: Staffer,
                             now: datetime) -> int | None:
    """Staff's words reached the patient from the console's reply box: recorded (not the words), and the
    item the box stood under becomes theirs if it is the patient's and nobody had it. Returns its id then."""
    item = session.get(InboxItem, item_id) if item_id is not None else None
    taken = None
    if item is not None and item.patient_id == patient_id and item.status == InboxStatus.OPEN:
        apply_change(session, item=item, change=InboxChange.TAKE, cause=staffer.cause, now=now, staffer=staffer)
        taken = item.id
    audit.record(session, action=audit.Action.REPLY, patient_id=patient_id, now=now)
    return taken
