"""Relaying patient messages to staff and staff replies back: which staff message came from whom."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

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
