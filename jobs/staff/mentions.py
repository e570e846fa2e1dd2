"""Which bot messages in staff chats name a patient, so that erasure can take the name off them.

Staff chats keep what the bot wrote there: alerts, the opening message of a patient's topic, the
"Sent to …" under a reply, a ``/patient`` card. Each is remembered here by chat and message id
(no text); once the patient is erased the staff outbox edits each one to drop the name (bot/erasure.py)
and forgets it. Rows of patients who are not erased are never read: they go with the patient's row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from jobs.storage.models import Patient, StaffMention
from jobs.storage.states import PatientStatus


def remember_mentions(session: Session, *, patient_id: int, chat_id: int, message_ids: list[int],
                      now: datetime, caption: bool = False, locale: str | None = None) -> None:
    """These bot messages in ``chat_id`` name the patient (in a caption when ``caption``; written in ``locale``,
    None for STAFF_LANGUAGE)."""
    session.add_all(StaffMention(patient_id=patient_id, chat_id=chat_id, message_id=message_id, caption=caption,
                                 created_at=now, locale=locale) for message_id in message_ids)


def mentions_of_erased(session: Session, *, limit: int, chat_id: int | None = None) -> list[StaffMention]:
    """Staff-chat messages (in ``chat_id``, or any) that still name an erased patient, oldest first."""
    statement = (select(StaffMention).join(Patient, col(Patient.id) == col(StaffMention.patient_id))
                 .where(Patient.status == PatientStatus.DELETED))
    if chat_id is not None:
        statement = statement.where(StaffMention.chat_id == chat_id)
    return list(session.exec(statement.order_by(col(StaffMention.id)).limit(limit)).all())


def chats_naming_erased(session: Session) -> list[int]:
    """The staff chats where a message still names an erased patient."""
    return sorted(session.exec(
        select(StaffMention.chat_id).join(Patient, col(Patient.id) == col(StaffMention.patient_id))
        .where(Patient.status == PatientStatus.DELETED).distinct()
    ).all())


def forget_mentions(session: Session, *, mention_ids: list[int]) -> None:
    """These messages no longer name anyone (edited, or Telegram has them no more)."""
    if mention_ids:
        session.exec(delete(StaffMention).where(col(StaffMention.id).in_(mention_ids)))
