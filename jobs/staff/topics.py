"""A patient's topic in a forum staff chat: which thread is theirs, who may create it, the notes kept in it.

The Telegram side (creating, closing, sending into a topic) is ``bot/topics.py``. Whether a topic
should be open (not once the plan has ended or the series is done) is decided here, by
:func:`note_topic`, which the lifecycle (``jobs/patients/lifecycle.py``) calls after every change;
the wish is left as ``Patient.topic_pending`` until Telegram has been told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, exists, or_, update
from sqlmodel import Session, select

from jobs.patients.queries import current_enrollment
from jobs.storage.models import Enrollment, Patient, Reminder, StaffNote
from jobs.storage.states import OPEN_REMINDER_STATES, PatientStatus

S = PatientStatus
# Statuses in which a patient's plan has ended: their topic in a forum staff chat is closed.
PLAN_ENDED = frozenset({S.STOPPED, S.CANCELLED, S.NOT_CONTINUING, S.SUPERSEDED, S.DELETED})

# How long one bot process may take to create a patient's topic before another may try.
CREATION_LEASE = timedelta(seconds=30)


class Claim(StrEnum):
    """What :func:`claim_topic` found."""

    HAVE = "have"    # the patient has a topic in this chat already
    MINE = "mine"    # none yet, and this caller is the one to create it
    BUSY = "busy"    # none yet, and another process is creating it right now


@dataclass(frozen=True)
class TopicClaim:
    claim: Claim
    thread_id: int | None = None
    closed: bool = False


def series_done(session: Session, *, patient_id: int) -> bool:
    """Whether the patient's last cycle is the final session of their series and nothing of it is left to send."""
    latest = current_enrollment(session, patient_id=patient_id)
    if latest is None or latest.session_number < latest.series_length:
        return False
    return session.exec(select(Reminder.id).where(Reminder.patient_id == patient_id,
                                                  Reminder.status.in_(OPEN_REMINDER_STATES))).first() is None


def topic_should_be_open(session: Session, patient: Patient) -> bool:
    """Whether the patient's staff topic should be open: not once their plan has ended (stopped, cancelled,
    not continuing, another record took over, erased) or their series is done; again when it resumes."""
    return PatientStatus(patient.status) not in PLAN_ENDED and not series_done(session, patient_id=patient.id)


def note_topic(session: Session, patient: Patient) -> None:
    """The one hook between the lifecycle and the patient's topic: after every change, say whether Telegram
    must close or reopen it (``topic_pending``; ``bot/topics.py`` does it and clears the mark)."""
    if patient.topic_thread_id is None:
        return
    want_open = topic_should_be_open(session, patient)
    patient.topic_pending = None if want_open == (not patient.topic_closed) else ("open" if want_open else "closed")
    session.add(patient)


def note_finished_series(session: Session, *, chat_id: int) -> int:
    """Mark the open topics of patients whose series just ran out (their final cycle has nothing left to send):
    no event says so, the last message going out does. Returns how many were marked."""
    # Narrowed in SQL (nothing left to send, some cycle was a final one); each is then judged by the one rule.
    candidates = session.exec(select(Patient).where(
        Patient.topic_chat_id == chat_id, Patient.topic_thread_id.is_not(None), Patient.topic_closed.is_(False),
        Patient.topic_pending.is_(None), Patient.status.not_in([status.value for status in PLAN_ENDED]),
        exists().where(and_(Enrollment.patient_id == Patient.id,
                            Enrollment.session_number >= Enrollment.series_length)),
        ~exists().where(and_(Reminder.patient_id == Patient.id, Reminder.status.in_(OPEN_REMINDER_STATES))))).all()
    for patient in candidates:
        note_topic(session, patient)
    return sum(1 for patient in candidates if patient.topic_pending)


def claim_topic(session: Session, *, patient_id: int, chat_id: int, now: datetime) -> TopicClaim:
    """The patient's topic in ``chat_id``, or the right to create it (one creator at a time, with a lease)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return TopicClaim(Claim.BUSY)
    if patient.topic_chat_id == chat_id and patient.topic_thread_id is not None:
        return TopicClaim(Claim.HAVE, patient.topic_thread_id, patient.topic_closed)
    # One statement decides: whoever's update matches takes the claim; a rival's waits and then finds it taken.
    # The statement checks again that no topic exists in this chat: a creator may have finished (and let go of
    # its claim) between the read above and this update, and PostgreSQL re-reads only the row the update locks.
    taken = session.exec(update(Patient).where(
        Patient.id == patient_id,
        or_(Patient.topic_thread_id.is_(None), Patient.topic_chat_id != chat_id),
        or_(Patient.topic_claimed_until.is_(None), Patient.topic_claimed_until < now))
        .values(topic_claimed_until=now + CREATION_LEASE)).rowcount
    return TopicClaim(Claim.MINE if taken else Claim.BUSY)


def topic_created(session: Session, *, patient_id: int, chat_id: int, thread_id: int) -> None:
    """The topic exists: remember it on the patient, open, and give up the claim."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return
    patient.topic_chat_id, patient.topic_thread_id = chat_id, thread_id
    patient.topic_closed, patient.topic_claimed_until = False, None
    patient.topic_pending = None
    # Open even for a patient whose plan has ended: they wrote, or staff must hear of them, and colleagues
    # answer in it. The next lifecycle change closes it again.
    session.add(patient)


def topic_of(session: Session, *, patient_id: int, chat_id: int) -> TopicClaim | None:
    """The patient's topic in ``chat_id`` (``HAVE``, with its thread and whether it is closed), if any."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.topic_chat_id != chat_id or patient.topic_thread_id is None:
        return None
    return TopicClaim(Claim.HAVE, patient.topic_thread_id, patient.topic_closed)


def release_claim(session: Session, *, patient_id: int) -> None:
    """Creating the topic failed: let the next attempt (this process or another) try again."""
    session.exec(update(Patient).where(Patient.id == patient_id).values(topic_claimed_until=None))


def forget_topic(session: Session, *, patient_id: int, chat_id: int, thread_id: int) -> None:
    """Telegram no longer has that topic (deleted by staff, topics turned off): a new one is made on next use."""
    session.exec(update(Patient).where(Patient.id == patient_id, Patient.topic_chat_id == chat_id,
                                       Patient.topic_thread_id == thread_id)
                 .values(topic_chat_id=None, topic_thread_id=None, topic_closed=False, topic_pending=None))


def patient_of_topic(session: Session, *, chat_id: int, thread_id: int) -> Patient | None:
    """The patient whose topic this is (None: a topic staff made for something else)."""
    return session.exec(select(Patient).where(Patient.topic_chat_id == chat_id,
                                              Patient.topic_thread_id == thread_id)).first()


def pending_topics(session: Session, *, chat_id: int, now: datetime, limit: int = 50) -> list[Patient]:
    """Patients whose topic in ``chat_id`` the lifecycle wants closed or reopened, oldest patient first.

    Patients whose last cycle of the series just ran out are marked here first (no event marks that).
    """
    note_finished_series(session, chat_id=chat_id)
    return list(session.exec(select(Patient).where(Patient.topic_pending.is_not(None),
                                                   Patient.topic_chat_id == chat_id)
                             .order_by(Patient.id).limit(limit)))


def topic_settled(session: Session, *, patient_id: int, closed: bool, override: bool = False) -> None:
    """Telegram now shows the topic ``closed`` (or open); nothing more is pending unless that changed meanwhile
    (``override``: whatever was pending is dropped, as when the patient's own message reopened it)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return
    patient.topic_closed = closed
    if override or patient.topic_pending == ("closed" if closed else "open"):
        patient.topic_pending = None
    session.add(patient)


def add_note(session: Session, *, patient_id: int, author_id: int | None, text: str, kind: str, staff_chat_id: int,
             staff_message_id: int, now: datetime) -> StaffNote:
    """Keep what a staff member wrote in the patient's topic (never sent to the patient)."""
    note = StaffNote(patient_id=patient_id, author_id=author_id, text=text, kind=kind, staff_chat_id=staff_chat_id,
                     staff_message_id=staff_message_id, created_at=now)
    session.add(note)
    return note


def has_note(session: Session, *, staff_chat_id: int, staff_message_id: int) -> bool:
    """Whether that staff message is kept as a note already (an update handled twice keeps one)."""
    return session.exec(select(StaffNote.id).where(StaffNote.staff_chat_id == staff_chat_id,
                                                   StaffNote.staff_message_id == staff_message_id)).first() is not None


def edit_note(session: Session, *, staff_chat_id: int, staff_message_id: int, text: str) -> bool:
    """The staff member edited the message a note was kept from: keep the new words. False if it was no note."""
    note = session.exec(select(StaffNote).where(StaffNote.staff_chat_id == staff_chat_id,
                                                StaffNote.staff_message_id == staff_message_id)).first()
    if note is None:
        return False
    note.text = text
    session.add(note)
    return True
