"""The tables: patients, their invites, their aftercare cycles (enrollments) and reminders.

The ``reminder`` table is the source of truth for every message: one row per planned step,
with its due time in UTC and its delivery state. The scheduler keeps nothing of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from jobs.storage.types import UTCDateTime

# Patient states.
AWAITING_LINK = "awaiting_link"
ACTIVE = "active"
PAUSED = "paused"
STOPPED = "stopped"
UNREACHABLE = "unreachable"

# Reminder states.
PENDING = "pending"
CLAIMED = "claimed"
SENT = "sent"
SKIPPED = "skipped"
FAILED = "failed"
CANCELLED = "cancelled"


def _utc(**kwargs) -> object:
    return Field(sa_type=UTCDateTime, **kwargs)


class Patient(SQLModel, table=True):
    """A person the clinic follows up; linked to a Telegram chat once they open their invite."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    status: str = Field(default=AWAITING_LINK, max_length=20, index=True)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    timezone: str = Field(max_length=64)
    locale: str = Field(default="en", max_length=16)
    series_length: int = 3
    enrolled_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _utc()
    linked_at: datetime | None = _utc(default=None, nullable=True)


class Invite(SQLModel, table=True):
    """A single-use, expiring link token. Only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None, nullable=True)
    used_by_chat: int | None = Field(default=None, sa_column=Column(BigInteger))


class Enrollment(SQLModel, table=True):
    """One aftercare cycle: session ``session_number`` of ``series_length``, planned from one protocol version."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    session_number: int = 1
    series_length: int = 3
    session_at: datetime = _utc()
    protocol_name: str = Field(max_length=64)
    protocol_version: str = Field(max_length=64)
    created_at: datetime = _utc()


class Reminder(SQLModel, table=True):
    """One planned message and what became of it."""

    __table_args__ = (
        # The dispatcher's claim: pending rows in due order.
        Index("ix_reminder_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True, ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    step_key: str = Field(max_length=64)
    text_key: str = Field(max_length=64)
    kind: str = Field(default="info", max_length=16)
    planned_at: datetime = _utc()
    due_at: datetime = _utc()
    expires_at: datetime = _utc()
    status: str = Field(default=PENDING, max_length=16)
    claimed_until: datetime | None = _utc(default=None, nullable=True)
    attempts: int = 0
    sent_at: datetime | None = _utc(default=None, nullable=True)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    outcome: str | None = Field(default=None, max_length=200)
