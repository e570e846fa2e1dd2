"""The patient lifecycle: the state machine that is the only writer of ``Patient.status``.

A change is an *event* (``LifecycleEvent``) applied by :func:`apply_event`: it checks the event is
allowed from the patient's status (``TRANSITIONS``), moves the patient, brings their open reminders
into the state the new status wants (``jobs/patients/reminder_moves.py``), on ``erased`` removes
what identifies them (``jobs/patients/erasure.py``), records an event row saying who caused it (the patient,
a staff member or the system) and why, and marks their staff topic to close or reopen
(``jobs/staff/topics.py``). DESIGN decision 10: nothing else writes ``Patient.status``.

The README's "Patient lifecycle" table is generated from ``TRANSITIONS`` by
``jobs/patients/lifecycle_table.py`` (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from jobs.actors import Actor, Cause
from jobs.care.planning import QuietHours
from jobs.patients.erasure import erase_identity
from jobs.patients.reminder_moves import CancelReason, cancel_reminders, replan_open_reminders, revive, settle
from jobs.refusal import Refusal
from jobs.staff.topics import note_topic
from jobs.storage.bulk import insert_rows
from jobs.storage.models import Event, Patient
from jobs.storage.states import PatientStatus


class LifecycleEvent(StrEnum):
    """What can happen to a patient. The values are the ``event.kind`` of the row each one records."""

    ENROLL = "enrolled"
    LINK = "linked"
    RELINK = "relinked"
    PAUSE = "paused"
    RESUME = "resumed"
    STOP = "stopped"
    CANCEL = "cancelled"
    NOT_CONTINUING = "not_continuing"
    REOPEN = "reopened"
    BLOCK = "blocked"
    UNBLOCK = "unblocked"
    NEXT_SESSION = "next_session"
    SUPERSEDE = "superseded"
    ERASE = "erased"


S = PatientStatus


@dataclass(frozen=True)
class Transition:
    """One row of the table: from which statuses an event goes to which, and what it does to reminders."""

    moves: Mapping[PatientStatus, PatientStatus]
    cancels: CancelReason | None = None     # open reminders are cancelled for this reason
    takes_over: bool = False                # ... and so are the temporary cancellations (staff, erasure)
    revives: frozenset[CancelReason] = frozenset()  # cancelled for these reasons comes back while still valid
    summary: str = ""                       # for the README table: what staff and the patient see


TRANSITIONS: dict[LifecycleEvent, Transition] = {
    LifecycleEvent.ENROLL: Transition(
        {S.AWAITING_LINK: S.AWAITING_LINK},
        summary="staff `/enroll`: the whole plan is written, waiting for the link"),
    LifecycleEvent.LINK: Transition(
        {S.AWAITING_LINK: S.ACTIVE},
        summary="the patient opens the invite: what is due goes out, what went stale is skipped"),
    LifecycleEvent.RELINK: Transition(
        {S.ACTIVE: S.ACTIVE, S.PAUSED: S.PAUSED, S.STOPPED: S.ACTIVE, S.CANCELLED: S.ACTIVE,
         S.NOT_CONTINUING: S.ACTIVE, S.UNREACHABLE: S.ACTIVE, S.SUPERSEDED: S.ACTIVE},
        revives=frozenset({CancelReason.PATIENT_STOPPED, CancelReason.NOT_CONTINUING, CancelReason.UNREACHABLE,
                           CancelReason.SUPERSEDED, CancelReason.STAFF}),
        summary="the patient opens a fresh `/invite` link: the chat follows this record, "
                "the rest of the cycle is planned again"),
    LifecycleEvent.PAUSE: Transition(
        {S.ACTIVE: S.PAUSED}, summary="patient `/pause`: messages wait"),
    LifecycleEvent.RESUME: Transition(
        {S.PAUSED: S.ACTIVE, S.STOPPED: S.ACTIVE}, revives=frozenset({CancelReason.PATIENT_STOPPED}),
        summary="patient `/resume`: what is still valid goes out, what went stale is skipped"),
    LifecycleEvent.STOP: Transition(
        {S.ACTIVE: S.STOPPED, S.PAUSED: S.STOPPED, S.NOT_CONTINUING: S.STOPPED, S.UNREACHABLE: S.STOPPED},
        cancels=CancelReason.PATIENT_STOPPED, summary="patient `/stop` (confirmed): every message cancelled"),
    LifecycleEvent.CANCEL: Transition(
        {S.AWAITING_LINK: S.CANCELLED, S.ACTIVE: S.CANCELLED, S.PAUSED: S.CANCELLED, S.STOPPED: S.CANCELLED,
         S.NOT_CONTINUING: S.CANCELLED, S.UNREACHABLE: S.CANCELLED},
        cancels=CancelReason.STAFF, takes_over=True,
        summary="staff `/cancel`: every message cancelled for good; nothing but staff brings them back"),
    LifecycleEvent.NOT_CONTINUING: Transition(
        {S.ACTIVE: S.NOT_CONTINUING, S.PAUSED: S.NOT_CONTINUING}, cancels=CancelReason.NOT_CONTINUING,
        summary="patient presses *I'm not continuing*: the series ends, staff are told"),
    LifecycleEvent.REOPEN: Transition(
        {S.NOT_CONTINUING: S.ACTIVE}, revives=frozenset({CancelReason.NOT_CONTINUING}),
        summary="staff `/reopen`: undoes *not continuing*; the booking reminders still valid come back"),
    LifecycleEvent.BLOCK: Transition(
        {S.ACTIVE: S.UNREACHABLE, S.PAUSED: S.UNREACHABLE}, cancels=CancelReason.UNREACHABLE,
        summary="Telegram says the patient blocked the bot: messages cancelled, staff told once"),
    LifecycleEvent.UNBLOCK: Transition(
        {S.UNREACHABLE: S.ACTIVE}, revives=frozenset({CancelReason.UNREACHABLE}),
        summary="the patient unblocks the bot or writes again: what is still valid comes back"),
    LifecycleEvent.NEXT_SESSION: Transition(
        {S.AWAITING_LINK: S.AWAITING_LINK, S.ACTIVE: S.ACTIVE, S.PAUSED: S.PAUSED, S.STOPPED: S.ACTIVE,
         S.CANCELLED: S.ACTIVE, S.NOT_CONTINUING: S.ACTIVE, S.UNREACHABLE: S.UNREACHABLE},
        summary="staff `/session`: a new cycle is planned; a stopped, cancelled or not-continuing patient "
                "is active again"),
    LifecycleEvent.SUPERSEDE: Transition(
        {S.ACTIVE: S.SUPERSEDED, S.PAUSED: S.SUPERSEDED, S.STOPPED: S.SUPERSEDED, S.CANCELLED: S.SUPERSEDED,
         S.NOT_CONTINUING: S.SUPERSEDED, S.UNREACHABLE: S.SUPERSEDED},
        cancels=CancelReason.SUPERSEDED,
        summary="the chat confirms it follows another patient's invite: this record's messages stop"),
    LifecycleEvent.ERASE: Transition(
        {status: S.DELETED for status in S if status != S.DELETED}, cancels=CancelReason.ERASED, takes_over=True,
        summary="patient `/delete` (confirmed): name, chat, invites and relayed messages erased; counts stay"),
}


@dataclass(frozen=True)
class Applied:
    """What an event did: the statuses before and after and what happened to the reminders."""

    patient: Patient
    event: LifecycleEvent
    before: PatientStatus
    after: PatientStatus
    cancelled: int = 0
    revived: int = 0
    skipped: int = 0


def allowed(event: LifecycleEvent, status: str) -> bool:
    """Whether ``event`` may happen to a patient in ``status``."""
    return PatientStatus(status) in TRANSITIONS[event].moves


def apply_event(session: Session, *, patient: Patient, event: LifecycleEvent, cause: Cause, now: datetime,
                quiet_hours: QuietHours | None = None) -> Applied:
    """Apply ``event`` to ``patient`` (in the caller's transaction) or raise :class:`Refusal`, changing nothing.

    A refusal's key is ``state_<status>`` for the patient (a text telling them where they stand)
    and ``staff_state_refused`` for staff. ``quiet_hours``, when given, re-plans revived reminders'
    local times (a revived reminder keeps its place otherwise).
    """
    transition = TRANSITIONS[event]
    before = PatientStatus(patient.status)
    if before not in transition.moves:
        if cause.actor is Actor.STAFF:
            raise Refusal("staff_state_refused", name=patient.name, patient_id=patient.id, status=before.value,
                          event=event.value)
        raise Refusal(f"patient_state_{before.value}", locale=patient.locale)
    after = transition.moves[before]
    if after is S.ACTIVE and patient.chat_id is None:
        after = S.AWAITING_LINK  # nobody to send to yet: the plan waits for the link
    cancelled = revived = skipped = 0
    if transition.cancels is not None:
        cancelled = cancel_reminders(session, patient_id=patient.id, reason=transition.cancels,
                                     take_over=transition.takes_over)
    if event is LifecycleEvent.ERASE:
        erase_identity(session, patient, now)
    patient.status = after.value
    session.add(patient)
    session.flush()
    if transition.revives:
        revived = revive(session, patient=patient, reasons=transition.revives, now=now)
    skipped = settle(session, patient=patient, now=now)
    if revived and quiet_hours is not None:
        replan_open_reminders(session, patient=patient, quiet_hours=quiet_hours, now=now)
    session.add(Event(kind=event.value, patient_id=patient.id, detail=cause.detail, at=now, actor=cause.actor.value,
                      actor_id=cause.actor_id, from_status=before.value, to_status=after.value))
    note_topic(session, patient)
    return Applied(patient=patient, event=event, before=before, after=after, cancelled=cancelled, revived=revived,
                   skipped=skipped)


def record_new_patients(session: Session, *, patient_ids: Sequence[int], event: LifecycleEvent, cause: Cause,
                        now: datetime, status: PatientStatus = S.AWAITING_LINK) -> int:
    """:func:`apply_event` for many patients just written in ``status`` (a bulk import), in one executemany.

    Only for an event that leaves such a patient where it is and touches no reminder (``enrolled`` of
    a new patient): the table still decides, and anything else goes through :func:`apply_event`.
    Returns how many events were recorded.
    """
    transition = TRANSITIONS[event]
    if transition.moves.get(status) is not status or transition.cancels or transition.revives:
        raise ValueError(f"{event.value} from {status.value} is not a bulk event: use apply_event")
    return insert_rows(session.connection(), Event.__table__,
                       ("kind", "patient_id", "detail", "at", "actor", "actor_id", "from_status", "to_status"),
                       ((event.value, patient_id, cause.detail, now, cause.actor.value, cause.actor_id, status.value,
                         status.value) for patient_id in patient_ids))
