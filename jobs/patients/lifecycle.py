"""The patient lifecycle: every change of a patient's status, and what it does to their reminders.

This module is the only writer of ``Patient.status`` and the only place that moves reminders
between states in bulk. A change is an *event* (``LifecycleEvent``) applied by :func:`apply_event`:
it checks the event is allowed from the patient's status (``TRANSITIONS``), moves the patient,
brings their open reminders into the state the new status wants, and records an event row saying
who caused it (the patient, a staff member or the system) and why.

Why a reminder was cancelled is part of its state (``CancelReason``), so undoing one cause never
revives another: a patient who comes back after blocking the bot gets back what was cancelled
*because they were unreachable*, never what staff cancelled. A row cancelled by staff stays
cancelled as the record of that decision; a staff restart (a new invite, a new session) adds
fresh rows instead.

The README's "Patient lifecycle" table is :func:`transition_table` (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, update
from sqlmodel import Session, delete, select

from jobs.actors import Actor, Cause
from jobs.care.planning import QuietHours, due_on_link, replan_spec
from jobs.refusal import Refusal
from jobs.staff.inbox import erase_items
from jobs.storage.bulk import insert_rows
from jobs.storage.models import (
    Booking,
    BookingEvent,
    ConversationMessage,
    Enrollment,
    Event,
    Invite,
    Patient,
    Photo,
    RelayLink,
    Reminder,
    StaffNote,
)
from jobs.storage.states import PatientStatus, ReminderStatus


class CancelReason(StrEnum):
    """Why a reminder was cancelled (stored in ``reminder.outcome``)."""

    STAFF = "cancelled by staff"
    PATIENT_STOPPED = "patient stopped the messages"
    NOT_CONTINUING = "patient is not continuing"
    UNREACHABLE = "patient unreachable"
    SUPERSEDED = "another record took over the chat"
    ERASED = "patient erased their data"
    WITHDRAWN = "enrollment withdrawn by staff"  # a mistaken enrollment: erased like /delete
    BOOKED = "patient booked"
    BOOKED_ELSEWHERE = "booked in the booking system"  # a signed booking hook: undone if the booking is cancelled
    BOOKING_CHANGED = "the booking moved or was cancelled"  # an appointment reminder of the old time
    NEXT_SESSION = "next session recorded"
    ANSWERED = "answered"  # a nudge or silence alert whose step the patient answered


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
    WITHDRAW = "withdrawn"


S = PatientStatus
OPEN_REMINDER_STATES = (ReminderStatus.PENDING, ReminderStatus.WAITING, ReminderStatus.HELD, ReminderStatus.CLAIMED)
# A Telegram chat has at most one patient in these statuses (a partial unique index says so too).
CURRENT_STATUSES = (S.ACTIVE, S.PAUSED, S.STOPPED, S.CANCELLED, S.NOT_CONTINUING, S.UNREACHABLE)
# Cancellations that an undo may revive; a staff cancel or an erasure takes them over.
TEMPORARY_REASONS = frozenset({CancelReason.PATIENT_STOPPED, CancelReason.NOT_CONTINUING,
                               CancelReason.UNREACHABLE, CancelReason.SUPERSEDED})
_LINKED = (S.ACTIVE, S.PAUSED, S.STOPPED, S.CANCELLED, S.NOT_CONTINUING, S.UNREACHABLE, S.SUPERSEDED)


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
    LifecycleEvent.WITHDRAW: Transition(
        {status: S.DELETED for status in S if status != S.DELETED}, cancels=CancelReason.WITHDRAWN, takes_over=True,
        summary="staff `/withdraw` (confirmed): a mistaken enrollment leaves the lists, erased as by `/delete`"),
}
# Events that erase the person: name, chat, phone, invites, relayed words (the counts stay).
ERASING = frozenset({LifecycleEvent.ERASE, LifecycleEvent.WITHDRAW})


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
    if event in ERASING:
        _erase_identity(session, patient, now)
    patient.status = after.value
    session.add(patient)
    session.flush()
    if transition.revives:
        revived = _revive(session, patient=patient, reasons=transition.revives, now=now)
    skipped = _settle(session, patient=patient, now=now)
    if revived and quiet_hours is not None:
        replan_open_reminders(session, patient=patient, quiet_hours=quiet_hours, now=now)
    session.add(Event(kind=event.value, patient_id=patient.id, detail=cause.detail, at=now, actor=cause.actor.value,
                      actor_id=cause.actor_id, from_status=before.value, to_status=after.value))
    note_topic(session, patient)
    return Applied(patient=patient, event=event, before=before, after=after, cancelled=cancelled, revived=revived,
                   skipped=skipped)


# Statuses in which a patient's plan has ended: their topic in a forum staff chat is closed.
PLAN_ENDED = frozenset({S.STOPPED, S.CANCELLED, S.NOT_CONTINUING, S.SUPERSEDED, S.DELETED})


def series_done(session: Session, *, patient_id: int) -> bool:
    """Whether the patient's last cycle is the final session of their series and nothing of it is left to send."""
    latest = session.exec(select(Enrollment).where(Enrollment.patient_id == patient_id)
                          .order_by(Enrollment.session_at.desc(), Enrollment.id.desc())).first()
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


def cancel_reminders(session: Session, *, patient_id: int, reason: CancelReason, kinds: tuple[str, ...] | None = None,
                     enrollment_id: int | None = None, take_over: bool = False,
                     step_keys: tuple[str, ...] | None = None) -> int:
    """Cancel a patient's open reminders for ``reason`` (optionally only some kinds, or of one cycle).

    With ``take_over``, reminders cancelled for a temporary reason are re-labelled too, so that no
    later undo of that reason revives them. Returns how many open reminders were cancelled.
    """
    statement = update(Reminder).where(Reminder.patient_id == patient_id,
                                       Reminder.status.in_(OPEN_REMINDER_STATES))
    if kinds is not None:
        statement = statement.where(Reminder.kind.in_(kinds))
    if enrollment_id is not None:
        statement = statement.where(Reminder.enrollment_id == enrollment_id)
    if step_keys is not None:
        statement = statement.where(Reminder.step_key.in_(step_keys))
    count = session.exec(statement.values(status=ReminderStatus.CANCELLED, outcome=reason.value,
                                          claimed_until=None)).rowcount
    if take_over:
        session.exec(update(Reminder).where(Reminder.patient_id == patient_id,
                                            Reminder.status == ReminderStatus.CANCELLED,
                                            Reminder.outcome.in_([r.value for r in TEMPORARY_REASONS]))
                     .values(outcome=reason.value))
    return count


def close_followups(session: Session, *, patient_id: int, parent_id: int) -> int:
    """The patient answered step ``parent_id``: its nudge and silence alert will never go out.

    Open follow-ups are cancelled as answered, and so are those cancelled for a temporary reason
    (a /stop, a block), so that no later undo revives a reminder of a question already answered.
    """
    mine = (Reminder.patient_id == patient_id, Reminder.parent_id == parent_id)
    count = session.exec(update(Reminder).where(*mine, Reminder.status.in_(OPEN_REMINDER_STATES))
                         .values(status=ReminderStatus.CANCELLED, outcome=CancelReason.ANSWERED.value,
                                 claimed_until=None)).rowcount
    session.exec(update(Reminder).where(*mine, Reminder.status == ReminderStatus.CANCELLED,
                                        Reminder.outcome.in_([r.value for r in TEMPORARY_REASONS]))
                 .values(outcome=CancelReason.ANSWERED.value))
    return count
def restore_reminders(session: Session, *, patient: Patient, reason: CancelReason, kinds: tuple[str, ...],
                      enrollment_id: int, now: datetime) -> int:
    """Bring back one cycle's reminders of ``kinds`` cancelled for ``reason`` whose window is still open.

    The undo of one cause only (a booking cancelled in the booking system revives what that booking
    stopped, never what staff or the patient cancelled), in the state the patient's status wants:
    nothing comes back for a patient who stopped or was cancelled. Returns how many came back.
    """
    state, _ = state_for_new_reminder(patient.status)
    if state is ReminderStatus.CANCELLED:
        return 0
    rows = session.exec(select(Reminder).where(
        Reminder.patient_id == patient.id, Reminder.enrollment_id == enrollment_id, Reminder.kind.in_(kinds),
        Reminder.status == ReminderStatus.CANCELLED, Reminder.outcome == reason.value,
        Reminder.expires_at > now)).all()
    for row in rows:
        row.status, row.outcome, row.due_at, row.attempts = state, None, max(row.due_at, now), 0
        session.add(row)
    return len(rows)


def state_for_new_reminder(status: str) -> tuple[ReminderStatus, str | None]:
    """The state (and cancel reason) of a reminder added for a patient in ``status``."""
    status = PatientStatus(status)
    if status is S.ACTIVE:
        return ReminderStatus.PENDING, None
    if status is S.PAUSED:
        return ReminderStatus.HELD, None
    if status is S.AWAITING_LINK:
        return ReminderStatus.WAITING, None
    return ReminderStatus.CANCELLED, _REASON_OF_STATUS[status].value


_REASON_OF_STATUS = {
    S.STOPPED: CancelReason.PATIENT_STOPPED, S.CANCELLED: CancelReason.STAFF,
    S.NOT_CONTINUING: CancelReason.NOT_CONTINUING, S.UNREACHABLE: CancelReason.UNREACHABLE,
    S.SUPERSEDED: CancelReason.SUPERSEDED, S.DELETED: CancelReason.ERASED,
}


def current_patient_of_chat(session: Session, *, chat_id: int) -> Patient | None:
    """The one patient record a Telegram chat follows now (None for a stranger)."""
    return session.exec(select(Patient).where(Patient.chat_id == chat_id,
                                              Patient.status.in_(CURRENT_STATUSES))).first()


def records_of_chat(session: Session, *, chat_id: int) -> list[Patient]:
    """Every patient record that was ever linked to this chat and is not erased, current first."""
    rows = session.exec(select(Patient).where(Patient.chat_id == chat_id, Patient.status.in_(_LINKED))).all()
    return sorted(rows, key=lambda p: (p.status not in CURRENT_STATUSES, -p.id))


def _settle(session: Session, *, patient: Patient, now: datetime) -> int:
    """Bring the patient's open reminders into the state their status wants; return how many went stale."""
    status = PatientStatus(patient.status)
    if status is S.PAUSED:
        session.exec(update(Reminder).where(Reminder.patient_id == patient.id,
                                            Reminder.status == ReminderStatus.PENDING)
                     .values(status=ReminderStatus.HELD))
        return 0
    if status is not S.ACTIVE:
        return 0
    session.exec(update(Reminder).where(Reminder.patient_id == patient.id, Reminder.status == ReminderStatus.HELD)
                 .values(status=ReminderStatus.PENDING))
    skipped = 0
    for reminder in session.exec(select(Reminder).where(Reminder.patient_id == patient.id,
                                                        Reminder.status == ReminderStatus.WAITING)):
        due = due_on_link(planned_at=reminder.planned_at, due_at=reminder.due_at, expires_at=reminder.expires_at,
                          now=now)
        if due is None:
            reminder.status = ReminderStatus.SKIPPED
            reminder.outcome = "stale: its time had passed when the patient linked"
            skipped += 1
        else:
            reminder.due_at, reminder.status = due, ReminderStatus.PENDING
        session.add(reminder)
    return skipped


def _revive(session: Session, *, patient: Patient, reasons: frozenset[CancelReason], now: datetime) -> int:
    """Bring back the current cycle's reminders cancelled for ``reasons`` that are still valid.

    They come back in the state the patient's status wants. Reminders cancelled by staff are not
    touched: fresh copies of them are added, so the cancelled row stays as the record of it.
    """
    latest = session.exec(select(Enrollment.id).where(Enrollment.patient_id == patient.id)
                          .order_by(Enrollment.session_at.desc(), Enrollment.id.desc())).first()
    if latest is None:
        return 0
    state, _ = state_for_new_reminder(patient.status)
    if state is ReminderStatus.CANCELLED:
        return 0
    rows = session.exec(select(Reminder).where(
        Reminder.patient_id == patient.id, Reminder.enrollment_id == latest,
        Reminder.status == ReminderStatus.CANCELLED, Reminder.outcome.in_([r.value for r in reasons]),
        Reminder.expires_at > now)).all()
    for row in rows:
        due = max(row.due_at, now)
        if row.outcome == CancelReason.STAFF:
            session.add(Reminder(
                enrollment_id=row.enrollment_id, patient_id=row.patient_id, step_key=row.step_key,
                text_key=row.text_key, kind=row.kind, at_spec=row.at_spec, not_before_spec=row.not_before_spec,
                expires_spec=row.expires_spec, planned_at=row.planned_at, due_at=due, expires_at=row.expires_at,
                nudge_after_spec=row.nudge_after_spec, alert_after_spec=row.alert_after_spec,
                parent_id=row.parent_id, status=state))
        else:
            row.status, row.outcome, row.due_at, row.attempts = state, None, due, 0
            session.add(row)
    return len(rows)


def replan_open_reminders(session: Session, *, patient: Patient, quiet_hours: QuietHours, now: datetime) -> int:
    """Recompute open reminders' times from their own timing texts, in the patient's current zone.

    Times only, never states. A step whose new time has already passed keeps its place in the
    queue (it goes now, or is skipped by the dispatcher if stale); nothing is moved into the past.
    """
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        select(Reminder, Enrollment).join(Enrollment, Enrollment.id == Reminder.enrollment_id)
        # A snoozed rebooking reminder has no timing text: it keeps the time the patient asked for.
        .where(Reminder.patient_id == patient.id,
               Reminder.status.in_([ReminderStatus.PENDING, ReminderStatus.WAITING, ReminderStatus.HELD]),
               Reminder.at_spec != "")
    ).all()
    for reminder, enrollment in rows:
        planned, due, expires = replan_spec(
            at_spec=reminder.at_spec, not_before_spec=reminder.not_before_spec,
            expires_spec=reminder.expires_spec, session_at=enrollment.session_at, zone=zone,
            quiet_hours=quiet_hours,
        )
        reminder.planned_at, reminder.due_at, reminder.expires_at = planned, max(due, now), max(expires, now)
        session.add(reminder)
    return len(rows)


def _erase_identity(session: Session, patient: Patient, now: datetime) -> None:
    """What identifies the patient goes: name, chat, invites, the staff copies of their messages and
    the words of their inbox items (which close)."""
    erase_items(session, patient_id=patient.id, now=now)
    session.exec(delete(Invite).where(Invite.patient_id == patient.id))
    session.exec(delete(RelayLink).where(RelayLink.patient_id == patient.id))
    session.exec(delete(StaffNote).where(StaffNote.patient_id == patient.id))
    session.exec(delete(ConversationMessage).where(ConversationMessage.patient_id == patient.id))
    # The booking system's ids name the person there: their bookings and the calls about them go.
    bookings = select(Booking.id).where(Booking.patient_id == patient.id)
    session.exec(delete(BookingEvent).where(BookingEvent.booking_id.in_(bookings)))
    session.exec(delete(Booking).where(Booking.patient_id == patient.id))
    # Their photos stay on Telegram; the ids that show them go (the reviews stay, as counts).
    session.exec(update(Photo).where(Photo.patient_id == patient.id).values(file_id=None))
    patient.name = ""
    patient.called = None
    patient.chat_id = None
    # The number, the clinic's reference and the booking reference point at the person too.
    patient.phone = None
    patient.external_id = None
    patient.booking_ref = None


@dataclass(frozen=True)
class TableRow:
    """One line of the README's lifecycle table."""

    event: str
    sources: tuple[str, ...]
    target: str
    summary: str = field(default="")


def transition_table() -> list[TableRow]:
    """The transitions as the README shows them: one row per event and target status."""
    rows = []
    for event, transition in TRANSITIONS.items():
        by_target: dict[PatientStatus, list[str]] = {}
        for source, target in transition.moves.items():
            by_target.setdefault(target, []).append(source.value)
        if event in ERASING:
            rows.append(TableRow(event.value, ("any",), S.DELETED.value, transition.summary))
            continue
        for target, sources in by_target.items():
            rows.append(TableRow(event.value, tuple(sources), target.value, transition.summary))
    return rows


def transition_table_markdown() -> str:
    """:func:`transition_table` as a Markdown table."""
    lines = ["| event | from | to | what staff and the patient see |", "|---|---|---|---|"]
    for row in transition_table():
        lines.append(f"| `{row.event}` | {', '.join(row.sources)} | {row.target} | {row.summary} |")
    return "\n".join(lines)
