"""The tables: patients, their invites, their aftercare cycles (enrollments) and reminders.

The ``reminder`` table is the source of truth for every message: one row per planned step,
with its due time in UTC and its delivery state. The scheduler keeps nothing of its own.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint, event, text
from sqlalchemy import Text as sa_Text
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from jobs.storage.states import (
    CURRENT_STATUSES,
    InboxStatus,
    NoticeStatus,
    PatientStatus,
    ReminderStatus,
    UpdateStatus,
)
from jobs.storage.textfold import fold
from jobs.storage.types import UTCDateTime

# A Telegram chat follows at most one patient record in these statuses (the index below says so).
_CURRENT_SQL = "status IN (" + ", ".join(f"'{status.value}'" for status in CURRENT_STATUSES) + ")"
_PENDING_SQL = f"status = '{ReminderStatus.PENDING.value}'"
_OPEN_UPDATE_SQL = f"status IN ('{UpdateStatus.NEW.value}', '{UpdateStatus.CLAIMED.value}')"


def new_booking_ref() -> str:
    """A random reference for booking links: 12 URL-safe characters (72 bits), not guessable."""
    return secrets.token_urlsafe(9)


def _utc(**kwargs) -> Any:
    # Any, as SQLModel's own Field() is typed: the column's Python type is the annotation it is assigned to.
    return Field(sa_type=UTCDateTime, **kwargs)


def called_name(name: str, called: str | None = None) -> str:
    """The name a patient is greeted by: ``called`` when given, else the first word of ``name``."""
    return called or (name.split()[0] if name.split() else "")


class Patient(SQLModel, table=True):
    """A person the clinic follows up; linked to a Telegram chat once they open their invite."""

    __table_args__ = (
        # One current patient per chat: the database refuses a second, whatever the code does.
        Index("ux_patient_current_chat", "chat_id", unique=True,
              postgresql_where=text(_CURRENT_SQL), sqlite_where=text(_CURRENT_SQL)),
        # A message in a forum topic names its patient by (staff chat, thread); one topic, one patient.
        Index("ux_patient_topic", "topic_chat_id", "topic_thread_id", unique=True),
        # Topics the lifecycle wants closed or reopened and Telegram has not been told yet.
        Index("ix_patient_topic_pending", "topic_pending",
              postgresql_where=text("topic_pending IS NOT NULL"), sqlite_where=text("topic_pending IS NOT NULL")),
        # A search for a whole name ("José García"): find_patients' first question (migration 0026).
        Index("ix_patient_search_key", "search_key"),
        # Enrolled and linked in a period: /stats, the console's charts and its "today" (migration 0026).
        Index("ix_patient_created_at", "created_at"),
        Index("ix_patient_linked_at", "linked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    # The name the patient is greeted by ("Anna"; migration 0017): given at enrollment, else the first
    # word of ``name``. Staff screens keep the full name. None once the patient is erased.
    called: str | None = Field(default=None, max_length=60)
    # ``name`` folded (jobs/storage/textfold.py: case and accents away), so that a search is one SQL query instead
    # of folding every name in Python (migration 0026). Kept by the listener below on every insert and
    # change through the ORM; writers that bypass it (the bulk import's COPY) fill it themselves.
    search_key: str = Field(default="", sa_column=Column(sa_Text, nullable=False, server_default=""))
    status: str = Field(default=PatientStatus.AWAITING_LINK.value, max_length=20, index=True)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    timezone: str = Field(max_length=64)
    locale: str = Field(default="en", max_length=16)
    series_length: int = 3
    enrolled_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _utc()
    linked_at: datetime | None = _utc(default=None, nullable=True)
    # A number staff may call (E.164), given at enrollment or shared by the patient.
    phone: str | None = Field(default=None, max_length=32)
    # The clinic's own reference (its booking or practice system), unique: a repeated API call or
    # import with the same one finds this patient instead of making another.
    external_id: str | None = Field(default=None, max_length=128, unique=True)
    # An opaque reference that booking links carry, so a booking system's webhook finds the patient
    # without learning the patient's number in this database.
    booking_ref: str | None = Field(default_factory=new_booking_ref, max_length=32, unique=True)
    # The patient's topic in the staff chat, when that chat is a forum (bot/topics.py; migration 0014):
    # which chat and thread, whether we closed it, what the lifecycle wants done to it ("open" or
    # "closed", until it is done), and until when one bot process holds the right to create it.
    topic_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    topic_thread_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    topic_closed: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    topic_pending: str | None = Field(default=None, max_length=8)
    topic_claimed_until: datetime | None = _utc(default=None, nullable=True)

    @property
    def called_by(self) -> str:
        """The name the patient reads in every message that greets them (staff screens use ``name``)."""
        return called_name(self.name, self.called)


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_search_key(mapper, connection, target: Patient) -> None:
    key = fold(target.name or "")
    if target.search_key != key:  # an unchanged value adds nothing to the UPDATE
        target.search_key = key


class Invite(SQLModel, table=True):
    """A single-use, expiring link token. Only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None, nullable=True)
    used_by_chat: int | None = Field(default=None, sa_column=Column(BigInteger))
    # A chat that already follows another patient was asked whether to switch to this one.
    offered_to_chat: int | None = Field(default=None, sa_column=Column(BigInteger))


class Enrollment(SQLModel, table=True):
    """One aftercare cycle: session ``session_number`` of ``series_length``, planned from one protocol version."""

    # Cycles whose next session's window is near: /patients due and the console's list (migration 0026).
    __table_args__ = (Index("ix_enrollment_session_at", "session_at"),)

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
        # kind too (migration 0026): /stats counts messages by status over a period from the index alone.
        Index("ix_reminder_status_due", "status", "due_at", "kind"),
        # /stats and the console's charts: what was sent in a period (12x faster at 10,000 patients on SQLite).
        # Covering, kind before time (migration 0026): /stats and the weekly charts count the steps of some
        # kinds sent in a period, their answers and the enrollments offered a rebooking from the index alone.
        Index("ix_reminder_status_sent", "status", "kind", "sent_at", "answered_at", "enrollment_id"),
        # The dispatcher's claim: sendable rows in due order, and nothing else in the index.
        Index("ix_reminder_pending_due", "due_at", "id",
              postgresql_where=text(_PENDING_SQL), sqlite_where=text(_PENDING_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True, ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    step_key: str = Field(max_length=64)
    text_key: str = Field(max_length=64)
    kind: str = Field(default="info", max_length=16)
    # The step's timing as written in the protocol, so the row can be re-planned on its own
    # (a new time zone, a patient who unblocks us) even after the protocol file has changed.
    at_spec: str = Field(default="", max_length=32)
    not_before_spec: str | None = Field(default=None, max_length=16)
    expires_spec: str = Field(default="", max_length=16)
    planned_at: datetime = _utc()
    due_at: datetime = _utc()
    expires_at: datetime = _utc()
    # Only "pending" rows are ever claimed, so the dispatcher's index holds just the sendable ones: rows of
    # patients who have not linked yet wait as "waiting", rows of paused patients as "held".
    status: str = Field(default=ReminderStatus.PENDING.value, max_length=16)
    claimed_until: datetime | None = _utc(default=None, nullable=True)
    attempts: int = 0
    sent_at: datetime | None = _utc(default=None, nullable=True)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    outcome: str | None = Field(default=None, max_length=200)
    # The patient's button answer to a check-in or rebooking message.
    answer: str | None = Field(default=None, max_length=16)
    answered_at: datetime | None = _utc(default=None, nullable=True)
    # Who holds the claim (jobs/storage/presence.py): a claim of a holder known to be gone is taken
    # again at once instead of after the lease. Added by migration 0007.
    holder: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Silence noticed (migration 0013). A check-in or photo step keeps its protocol's follow-up
    # offsets; once it is sent, its follow-ups are rows of their own (a "nudge" to the patient, a
    # "silence" alert to staff) whose ``parent_id`` is the step's row. No foreign key: a parent and
    # its follow-ups belong to one patient and go together.
    nudge_after_spec: str | None = Field(default=None, max_length=16)
    alert_after_spec: str | None = Field(default=None, max_length=16)
    parent_id: int | None = None


class Photo(SQLModel, table=True):
    """A photo a patient sent as the answer to a photo step, and the staff review of it (migration 0013).

    Only Telegram's ``file_id`` is kept, never the image: the photo stays on Telegram's servers and
    is shown to staff by that id. Erasing the patient erases the id; the review stays as a count.
    """

    __table_args__ = (
        # Photos received and reviewed in a period, for /stats and its weekly charts (migration 0026).
        Index("ix_photo_received_at", "received_at"),
        Index("ix_photo_reviewed", "reviewed_at", "review"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reminder_id: int = Field(foreign_key="reminder.id", index=True, ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    file_id: str | None = Field(default=None, max_length=255)
    # The update that brought it: handled again after a crash, it finds this row instead of a second one.
    update_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    received_at: datetime = _utc()
    # jobs.care.photos.Review: looks as expected / call the patient / another photo; None until reviewed.
    review: str | None = Field(default=None, max_length=16)
    reviewed_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    reviewed_at: datetime | None = _utc(default=None, nullable=True)
    # The inbox item its alert showed (set at review): "another photo" keeps it open until the next
    # photo of the same step is reviewed, which resolves it (migration 0017).
    item_id: int | None = None


class OutcomeAnswer(SQLModel, table=True):
    """A patient's answer to an outcome step ("how has your skin changed?"), one per step's reminder.

    Written by jobs/care/outcomes.py; a second press within the step's validity changes ``answer``
    and counts in ``changes``. ``scale`` and ``worse`` are copied from the protocol at answer time,
    so editing a protocol later never rewrites what was answered. Added by migration 0023.
    """

    __tablename__ = "outcome_answer"

    id: int | None = Field(default=None, primary_key=True)
    reminder_id: int = Field(foreign_key="reminder.id", unique=True, ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    enrollment_id: int = Field(foreign_key="enrollment.id", ondelete="CASCADE")
    protocol_name: str = Field(max_length=64)
    step_key: str = Field(max_length=64)
    scale: str = Field(max_length=32)
    answer: str = Field(max_length=16)
    worse: bool = False
    answered_at: datetime = Field(sa_type=UTCDateTime)
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changes: int = 0
    # An outcome step with ``photo = true``: when the patient (who had consented) was asked for a photo to
    # compare; the next photo they send while the step is open answers it (migration 0027).
    photo_asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PhotoConsent(SQLModel, table=True):
    """Whether a patient lets the clinic keep their photos to compare before and after (migration 0027).

    One row per patient, written by jobs/care/comparison.py: asked once, before the first comparison
    photo is requested; ``given`` stays None until they answer, and may be changed at any time (a No
    after a Yes withdraws it). Erasing the patient deletes the row.
    """

    __tablename__ = "photo_consent"

    patient_id: int = Field(foreign_key="patient.id", primary_key=True, ondelete="CASCADE")
    # The outcome step whose answer brought the question (the photo it asks for, once agreed).
    reminder_id: int | None = None
    asked_at: datetime = Field(sa_type=UTCDateTime)
    given: bool | None = None
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changes: int = 0


class StaffMember(SQLModel, table=True):
    """Staff added through a staff invite (admins are the STAFF_IDS setting, not rows here)."""

    __tablename__ = "staff_member"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    added_at: datetime = _utc()
    # The name Telegram gave when they joined (staff, not patients: shown to admins in /staff).
    name: str | None = Field(default=None, max_length=200)


class StaffName(SQLModel, table=True):
    """The name Telegram gives a staff member (admins included), noted when they act, so that staff
    screens say "by Marta" rather than a number (migration 0017), and their Telegram language (0025), so
    that what is sent to them later, when no update of theirs says it, is in it. Staff, never patients."""

    __tablename__ = "staff_name"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=200)
    seen_at: datetime = _utc()
    language: str | None = Field(default=None, max_length=16)  # Telegram's language_code, as given


class StaffInvite(SQLModel, table=True):
    """A single-use, expiring link that makes whoever opens it staff. Only its hash is stored."""

    __tablename__ = "staff_invite"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None, nullable=True)
    used_by: int | None = Field(default=None, sa_column=Column(BigInteger))


class ConsoleLogin(SQLModel, table=True):
    """A one-time sign-in link to the staff console (``/console``): single use, minutes long. Only its hash is kept."""

    __tablename__ = "console_login"
    # Field(sa_type=...) rather than _utc(): the same column, typed for mypy.

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The name Telegram gave the staff member when they asked (shown as "taken by" in the console).
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class ConsoleSession(SQLModel, table=True):
    """A browser signed in to the staff console by a sign-in link; the cookie's token is kept as its hash."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class RelayLink(SQLModel, table=True):
    """A patient's message as forwarded to staff, so a staff reply to it finds its way back."""

    __tablename__ = "relay_link"
    __table_args__ = (UniqueConstraint("staff_chat_id", "staff_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    staff_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    created_at: datetime = _utc()


class StaffMention(SQLModel, table=True):
    """A bot message in a staff chat that names a patient (an alert, a topic's opening message, a
    reply's "Sent to …", a ``/patient`` card): edited to drop the name once the patient is erased,
    then forgotten (bot/erasure.py; migration 0018)."""

    __tablename__ = "staff_mention"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The name is in a caption (a photo, a copied voice message or file), not in a text.
    caption: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    created_at: datetime = _utc()
    # The language the message is in, which the edit that drops the name keeps; None: STAFF_LANGUAGE (0028).
    locale: str | None = Field(default=None, max_length=16)


class Event(SQLModel, table=True):
    """Something that happened, for staff statistics. Survives a patient's erasure without naming them."""

    __table_args__ = (
        # Events of some kinds in a period, by detail, from the index alone (/stats; migration 0026).
        Index("ix_event_kind_at", "kind", "at", "detail"),
        # A patient's events of some kinds (the timeline's history, "booked since this cycle" for the due
        # list): one index that answers the whole question, so that no planner prefers the one above.
        Index("ix_event_patient_kind_at", "patient_id", "kind", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("patient.id", ondelete="SET NULL"))
    )
    kind: str = Field(max_length=32, index=True)
    detail: str | None = Field(default=None, max_length=64)
    at: datetime = _utc()
    # Lifecycle events say who caused them (jobs.actors.Actor) and the statuses around them.
    actor: str | None = Field(default=None, max_length=16)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)


class Heartbeat(SQLModel, table=True):
    """When a bot process last said it was alive, to notice (and report) downtime after a restart."""

    name: str = Field(primary_key=True, max_length=64)
    at: datetime = _utc()


class EnrollForm(SQLModel, table=True):
    """A staff member's open step-by-step /enroll form, kept here so it survives a restart and
    works whichever bot instance the next update reaches."""

    __tablename__ = "enroll_form"

    staff_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    step: str = Field(max_length=16)
    name: str | None = Field(default=None, max_length=120)
    protocol: str | None = Field(default=None, max_length=64)
    session_number: int | None = None
    updated_at: datetime = _utc()
    series_length: int | None = None
    # "" = the patient's own Telegram language; None = not asked yet.
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    # The name to greet the patient by; None: the first word of their name (migration 0017).
    called: str | None = Field(default=None, max_length=60)
    # The form's message now (its screen), so that it is left showing the summary when the form ends.
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))


# --------------------------------------------------------------------------- durable intake (0007)

class InboundUpdate(SQLModel, table=True):
    """One update from Telegram, keyed by Telegram's ``update_id``: exactly as it came (raw JSON) until
    handled, then only its id, status and effects (jobs/intake.py)."""

    __tablename__ = "inbound_update"
    __table_args__ = (
        # The worker's claim: open updates, oldest first, and "is an older one of this chat open?".
        Index("ix_inbound_update_chat_open", "chat_key", "update_id",
              postgresql_where=text(_OPEN_UPDATE_SQL),
              sqlite_where=text(_OPEN_UPDATE_SQL)),
        Index("ix_inbound_update_open", "update_id",
              postgresql_where=text(_OPEN_UPDATE_SQL),
              sqlite_where=text(_OPEN_UPDATE_SQL)),
    )

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The chat (or, without one, the user) it belongs to: one chat's updates are handled in order.
    chat_key: int | None = Field(default=None, sa_column=Column(BigInteger))
    payload: str = Field(sa_column=Column(sa_Text, nullable=False))
    status: str = Field(default=UpdateStatus.NEW.value, max_length=16)
    received_at: datetime = _utc()
    claimed_until: datetime | None = _utc(default=None, nullable=True)
    holder: int | None = Field(default=None, sa_column=Column(BigInteger))
    attempts: int = 0
    # What a handler has already done for this update (e.g. "relayed"), so doing it again is skipped.
    effects: str = Field(default="", max_length=200)
    done_at: datetime | None = _utc(default=None, nullable=True, index=True)


class Confirmation(SQLModel, table=True):
    """A chat's open /stop or /delete prompt. Its "yes" button carries ``nonce``; a press acts only
    while this row holds the same nonce, so a forged or old button erases nothing (jobs.patients.confirmations)."""

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    action: str = Field(max_length=16)
    nonce: str = Field(max_length=32)
    created_at: datetime = _utc()


class StaffNote(SQLModel, table=True):
    """Something staff wrote in a patient's topic that was not a reply to the patient: kept for the
    team (``/patient`` shows it), never sent to the patient, erased with the patient (migration 0014)."""

    __tablename__ = "staff_note"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    author_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The staff member's words (a photo's or file's caption); "" for media sent without one.
    text: str = Field(default="", sa_column=Column(sa_Text, nullable=False))
    kind: str = Field(default="text", max_length=16)  # text | photo | media
    staff_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    staff_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class ConversationMessage(SQLModel, table=True):
    """What a patient wrote to the clinic, and what staff wrote back, as the record of the conversation
    (migration 0017): the exports carry it; erased with the patient. Not the staff alerts about it."""

    __tablename__ = "conversation_message"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    # FROM_PATIENT or FROM_CLINIC (jobs/staff/relay.py).
    direction: str = Field(max_length=16)
    # The words (a photo's or file's caption; "" for media sent without one), as they came.
    text: str = Field(default="", sa_column=Column(sa_Text, nullable=False))
    kind: str = Field(default="text", max_length=16)  # text | photo | media
    staff_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The update that brought it: handled again after a crash, it is not written twice.
    update_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    at: datetime = _utc()


# --------------------------------------------------------------------------- the staff inbox (0012)


class InboxItem(SQLModel, table=True):
    """A piece of staff work about a patient: an escalation, a photo to review, silence, a message.

    Its status changes only through jobs/staff/inbox.py (open -> taken -> resolved), each change an
    :class:`InboxEvent`. Its alerts in staff chats are :class:`InboxView` rows, edited when it changes.
    """

    __tablename__ = "inbox_item"
    __table_args__ = (
        Index("ix_inbox_item_status_opened", "status", "opened_at"),
        # "Worried" items taken in a period and how long they waited (/stats; migration 0026).
        Index("ix_inbox_item_kind_taken", "kind", "taken_at", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    status: str = Field(default=InboxStatus.OPEN.value, max_length=16)
    patient_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("patient.id", ondelete="SET NULL"), index=True)
    )
    # The alert as staff first saw it (HTML, names the patient); emptied when the patient erases their data.
    text: str = Field(default="", sa_column=Column(sa_Text, nullable=False, server_default=""))
    opened_at: datetime = _utc()
    taken_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Staff names as Telegram gave them when they pressed (staff, not patients).
    taken_by_name: str | None = Field(default=None, max_length=200)
    taken_at: datetime | None = _utc(default=None, nullable=True)
    resolved_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    resolved_by_name: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = _utc(default=None, nullable=True)
    note: str | None = Field(default=None, max_length=500)
    # When it was last raised to staff (opened, or raised again because nobody took it), and how often again.
    raised_at: datetime = _utc()
    raised_again: int = 0
    # What raised it, where a kind can come from more than one place: "words" for a "worried" item a red
    # flag in the patient's own words raised (jobs/staff/inbox.py ItemOrigin); None for the usual source.
    origin: str | None = Field(default=None, max_length=16)


class InboxView(SQLModel, table=True):
    """One staff-chat message that shows an inbox item (edited when the item changes)."""

    __tablename__ = "inbox_view"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="inbox_item.id", index=True, ondelete="CASCADE")
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Its words are a caption (a photo, a copied voice message) rather than a text.
    caption: bool = False
    # The line above the words in this message ("raised again: nobody has taken it"), HTML.
    lead: str = Field(default="", max_length=400)
    # This message's own words (HTML: a later message of the conversation); None = the item's text.
    body: str | None = Field(default=None, sa_column=Column(sa_Text, nullable=True))
    # Buttons of the alert's own (a photo's review buttons), kept under the inbox's, as JSON.
    extra_markup: str | None = Field(default=None, sa_column=Column(sa_Text, nullable=True))
    # The language it is written in (a staff member's own, privately), which its edits keep; None:
    # STAFF_LANGUAGE (migration 0028).
    locale: str | None = Field(default=None, max_length=16)


class InboxEvent(SQLModel, table=True):
    """A change of an inbox item: who (actor, actor id), from which status to which, and when."""

    __tablename__ = "inbox_event"

    # Changes of some kinds in a period, from the index alone (/stats; migration 0026).
    __table_args__ = (Index("ix_inbox_event_kind_at", "kind", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="inbox_item.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16, index=True)
    at: datetime = _utc()
    actor: str = Field(max_length=16)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
class ApiKey(SQLModel, table=True):
    """A key for the HTTP API (``aftercare api-key create NAME``). Only its SHA-256 is stored."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(default=None, nullable=True)
    last_used_at: datetime | None = _utc(default=None, nullable=True)


class Booking(SQLModel, table=True):
    """A patient's appointment as the clinic's booking system told us (by a signed hook)."""

    __table_args__ = (UniqueConstraint("source", "booking_key"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    # The cycle whose rebooking reminders the booking stopped.
    enrollment_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("enrollment.id", ondelete="SET NULL"), nullable=True))
    source: str = Field(max_length=16)          # "booking" (our own hook) or "calcom"
    booking_key: str = Field(max_length=128)     # the booking's own id in that system
    start_at: datetime = _utc()
    status: str = Field(max_length=16)          # booked or cancelled
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class BookingEvent(SQLModel, table=True):
    """One hook call that changed a booking; its digest makes a replayed call change nothing."""

    __tablename__ = "booking_event"

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("booking.id", ondelete="CASCADE"), index=True, nullable=True))
    source: str = Field(max_length=16)
    digest: str = Field(max_length=64, unique=True)  # SHA-256 of the signed body
    kind: str = Field(max_length=16)
    received_at: datetime = _utc()


class AuditEvent(SQLModel, table=True):
    """One line of the audit trail (FHIR ``AuditEvent``-shaped): who did or saw what, through which face.

    Append-only and hash-chained (jobs/ops/audit.py): ``id`` is the row's place in the chain (the
    writer takes the next number under a lock, so there are no gaps), ``hash`` is SHA-256 over the
    fields and ``prev_hash``. Ids only: no patient name, phone or message text, and no foreign key,
    so an erasure leaves the trail whole.
    """

    __tablename__ = "audit_event"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    action: str = Field(max_length=24)            # jobs.ops.audit.Action
    outcome: str = Field(max_length=12)           # jobs.ops.audit.Outcome
    face: str = Field(max_length=12)              # jobs.ops.audit.Face: chat, console, api, cli, system
    actor: str = Field(max_length=12)             # jobs.ops.audit.ActorKind
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))  # a Telegram user id
    actor_name: str | None = Field(default=None, max_length=200)  # staff's name, an API key's, the OS user's
    patient_id: int | None = Field(default=None, index=True)
    # What was acted on besides a patient: the Telegram id of a staff member added or removed, an API key's name.
    subject: str | None = Field(default=None, max_length=64)
    count: int | None = None                      # how many patients an export or an import held
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditAnchor(SQLModel, table=True):
    """Where the kept audit trail starts after old segments were pruned: the last pruned row's id and hash."""

    __tablename__ = "audit_anchor"

    id: int = Field(default=1, primary_key=True)
    through_id: int
    hash: str = Field(max_length=64)
    pruned_at: datetime = Field(sa_type=UTCDateTime)


# --------------------------------------------------------------------------- staff outbox (0019)

class StaffNotice(SQLModel, table=True):
    """One thing to do in a staff chat (an alert, an edit of one, topic work), queued, sent at the chat's pace."""

    __tablename__ = "staff_notice"
    __table_args__ = (
        # The outbox job's claim: open notices, most urgent first, then oldest.
        Index("ix_staff_notice_open", "priority", "id",
              postgresql_where=text("status IN ('pending', 'claimed')"),
              sqlite_where=text("status IN ('pending', 'claimed')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # What it is about (topics, and replies to it reaching the patient); None: not about one patient.
    patient_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=16)  # jobs.staff.outbox.Action
    # What to send, as JSON (words, media, buttons, the inbox item it shows); emptied once sent.
    payload: str = Field(sa_column=Column(sa_Text, nullable=False))
    priority: int = 0
    # Queued twice under one key is queued once (a re-claimed silence alert; an edit already waiting).
    dedup_key: str | None = Field(default=None, max_length=120, unique=True)
    status: str = Field(default=NoticeStatus.PENDING.value, max_length=16)
    created_at: datetime = _utc()
    due_at: datetime = _utc()
    claimed_until: datetime | None = _utc(default=None, nullable=True)
    holder: int | None = Field(default=None, sa_column=Column(BigInteger))
    attempts: int = 0
    done_at: datetime | None = _utc(default=None, nullable=True, index=True)
    last_error: str | None = Field(default=None, max_length=200)
