"""Which bot messages in staff chats name a patient, so that erasure can take the name off them.

Staff chats keep what the bot wrote there: alerts, the opening message of a patient's topic, the
"Sent to …" under a reply, a ``/patient`` card. Each is remembered here by chat and message id
(no text); once the patient is erased the bot edits each one to drop the name (bot/erasure.py) and
forgets it. Rows of patients who are not erased are never read: they go with the patient's row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, select

from jobs.storage.models import Patient, StaffMention
from jobs.storage.states import PatientStatus


def remember_mentions(session: Session, *, patient_id: int, chat_id: int, message_ids: list[int],
                      now: datetime, caption: bool = False) -> None:
    """These bot messages in ``chat_id`` name the patient (in a caption when ``caption``)."""
    session.add_all(StaffMention(patient_id=patient_id, chat_id=chat_id, message_id=message_id, caption=caption,
                                 created_at=now) for message_id in message_ids)


def mentions_of_erased(session: Session, *, limit: int) -> list[StaffMention]:
    """Staff-chat messages that still name an erased patient, oldest first."""
    return list(session.exec(
        select(StaffMention).join(Patient, Patient.id == StaffMention.patient_id)
        .where(Patient.status == PatientStatus.DELETED).order_by(StaffMention.id).limit(limit)
    ).all())


def forget_mentions(session: Session, *, mention_ids: list[int]) -> None:
    """These messages no longer name anyone (edited, or Telegram has them no more)."""
    if mention_ids:
        session.exec(delete(StaffMention).where(StaffMention.id.in_(mention_ids)))
