"""What the front desk reads and changes: patient lists, one patient's timeline, next sessions, stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, literal_column, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from jobs import events
from jobs.actors import Actor, staff
from jobs.care.comparison import comparison_pair
from jobs.care.outcomes import patient_outcomes
from jobs.care.planning import QuietHours, next_session_window
from jobs.care.silence import KIND_NUDGE, KIND_SILENCE
from jobs.inputs import InputRefused, like_pattern, looks_like_id, parse_row_id
from jobs.ops import audit
from jobs.patients.enrollment import plan_cycle
from jobs.patients.invites import issue_invite
from jobs.patients.lifecycle import Applied, LifecycleEvent, apply_event
from jobs.patients.queries import current_enrollment
from jobs.patients.reminder_moves import CancelReason, cancel_reminders
from jobs.periods import counts_by_period, rows_by_period, seconds_between, summed, tally
from jobs.refusal import Refusal
from jobs.staff.membership import staff_names
from jobs.storage.models import Enrollment, Event, OutcomeAnswer, Patient, Photo, PhotoConsent, Reminder, StaffNote
from jobs.storage.states import PatientStatus, ReminderStatus
from jobs.storage.textfold import fold
from messages.protocol import KIND_CHECKIN, KIND_PHOTO, KIND_REBOOK, Protocol

DUE_THIS_WEEK = "due"
PATIENT_FILTERS = (PatientStatus.ACTIVE.value, PatientStatus.AWAITING_LINK.value, PatientStatus.PAUSED.value,
                   PatientStatus.STOPPED.value, PatientStatus.CANCELLED.value, PatientStatus.NOT_CONTINUING.value,
                   PatientStatus.UNREACHABLE.value, DUE_THIS_WEEK)
DELETED = PatientStatus.DELETED.value
# A second /session this soon after the previous one is more likely a repeat than a visit: ask first.
REPEAT_SESSION_WINDOW = timedelta(hours=12)
# A search by part of a name shows at most this many patients.
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class PatientRow:
    """One line of /patients."""

    patient: Patient
    enrollment: Enrollment | None


def list_patients(session: Session, *, which: str, page: int, page_size: int, now: datetime,
                  protocols: Mapping[str, Protocol], default: Protocol) -> tuple[list[PatientRow], int]:
    """One page of patients in a state (or due for their next session within 7 days) and the total.

    "Due" follows each cycle's own protocol's window (the default protocol's for a file now gone).
    A status list counts and pages patients by the status index alone and then reads the page's own
    latest cycles; "due" starts from the cycles whose session falls in a window (indexed by session
    time) and keeps each patient's latest: neither reads every patient's cycles.
    """
    if which != DUE_THIS_WEEK:
        where = Patient.status == which
        total = session.exec(select(func.count()).select_from(Patient).where(where)).one()
        patients = list(session.exec(select(Patient).where(where).order_by(col(Patient.id).desc())
                                     .offset(page * page_size).limit(page_size)))
        latest = _latest_enrollments(session, [patient.id for patient in patients if patient.id is not None])
        return [PatientRow(patient, latest.get(patient.id)) for patient in patients], total

    # The next session's window opens within a week (or is open) and has not closed.
    def window(protocol: Protocol):
        return and_(Enrollment.session_at <= now + timedelta(days=7) - protocol.next_session_after,
                    Enrollment.session_at >= now - protocol.next_session_before)

    names = [name for name in protocols if name != default.name]
    in_window = or_(false(), *[and_(Enrollment.protocol_name == name, window(protocols[name])) for name in names],
                    and_(col(Enrollment.protocol_name).not_in(names), window(default)))
    newer = aliased(Enrollment)
    # SQLite has no statistics (nothing ANALYZEs it): offered the status index, it starts from every active
    # patient (8,000 of 10,000) instead of the cycles in the window. "+column" is its documented way to
    # set an index aside; PostgreSQL plans by its statistics and is given the column itself.
    status = literal_column("+patient.status") if session.get_bind().dialect.name == "sqlite" else Patient.status
    query = (select(Patient, Enrollment).join(Enrollment, Enrollment.patient_id == Patient.id).where(
        in_window,
        status.in_([PatientStatus.ACTIVE, PatientStatus.PAUSED]),
        Enrollment.session_number < Enrollment.series_length,
        # The patient's latest cycle (asked per candidate: a handful of index reads, never every cycle).
        Enrollment.id == select(func.max(newer.id)).where(newer.patient_id == Enrollment.patient_id).scalar_subquery(),
        ~select(Event.id).where(Event.patient_id == Patient.id, Event.at >= Enrollment.created_at,
                                col(Event.kind).in_([events.BOOKED, LifecycleEvent.NOT_CONTINUING])).exists(),
    ))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Patient.id).desc()).offset(page * page_size).limit(page_size)).all()
    return [PatientRow(patient, enrollment) for patient, enrollment in rows], total


def _latest_enrollments(session: Session, patient_ids: list[int]) -> dict[int, Enrollment]:
    """Each of these patients' latest cycle (by id), where they have one."""
    if not patient_ids:
        return {}
    latest = (select(func.max(Enrollment.id)).where(col(Enrollment.patient_id).in_(patient_ids))
              .group_by(Enrollment.patient_id))
    return {row.patient_id: row for row in session.exec(select(Enrollment).where(col(Enrollment.id).in_(latest)))}


def enrolled_between(session: Session, *, since: datetime, now: datetime, limit: int) -> tuple[list[Patient], int]:
    """Patients enrolled between ``since`` and ``now`` (the console's "today"), the newest ``limit`` of them
    newest first, and how many there are; erased ones never."""
    where = (Patient.created_at >= since, Patient.created_at <= now, Patient.status != DELETED)
    total = session.exec(select(func.count()).select_from(Patient).where(*where)).one()
    return list(session.exec(select(Patient).where(*where).order_by(col(Patient.id).desc()).limit(limit))), total


def find_patients(session: Session, *, query: str) -> list[Patient]:
    """Patients matching "#12" / "12" (id) or part of a name, ignoring case and accents; erased ones never.

    ``query`` is already cleaned (jobs.inputs.clean_query). A number too large to be a row id
    matches nobody. Everyone whose whole name is the one typed, else the first 10 (by id) whose name
    contains it. Names are compared folded (jobs/storage/textfold.py) through ``patient.search_key``, which
    holds each name folded the same way, in SQL (one indexed equality, then one LIKE over a narrow
    column): SQL's LOWER and LIKE fold neither accents nor non-ASCII case. "%" and "_" are letters
    there, never wildcards.
    """
    text = query.strip()
    base = select(Patient).where(Patient.status != DELETED)
    if looks_like_id(text):
        try:
            patient_id = parse_row_id(text, key="console_unknown_patient")
        except InputRefused:
            return []
        return list(session.exec(base.where(Patient.id == patient_id)))
    wanted = fold(text)
    if not wanted:
        return []
    exact = list(session.exec(base.where(Patient.search_key == wanted).order_by(Patient.id)))
    if exact:
        return exact
    return list(session.exec(base.where(col(Patient.search_key).like(like_pattern(wanted), escape="\\"))
                             .order_by(Patient.id).limit(SEARCH_LIMIT)))


@dataclass
class Timeline:
    """A patient's cycles and every reminder with its outcome."""

    patient: Patient
    enrollments: list[Enrollment] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)  # the lifecycle events, oldest first
    notes: list[StaffNote] = field(default_factory=list)  # what staff wrote in the patient's topic, oldest first
    photos: list[Photo] = field(default_factory=list)  # photos that answered photo steps, oldest first
    staff_names: dict[int, str] = field(default_factory=dict)  # who acted, by name where known
    outcomes: list[OutcomeAnswer] = field(default_factory=list)  # outcome steps answered, oldest first
    consent: PhotoConsent | None = None  # may the clinic keep their photos to compare before and after?
    comparison: tuple[Photo, Photo] | None = None  # the first and the last photo, with that consent


def patient_timeline(session: Session, *, patient_id: int) -> Timeline | None:
    """Everything about one patient, for /patient."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        return None
    enrollments = list(session.exec(select(Enrollment).where(Enrollment.patient_id == patient_id)
                                    .order_by(Enrollment.session_at)))
    reminders = list(session.exec(select(Reminder).where(Reminder.patient_id == patient_id)
                                  .order_by(Reminder.due_at, Reminder.id)))
    history = list(session.exec(select(Event).where(Event.patient_id == patient_id,
                                                    Event.kind.in_([e.value for e in LifecycleEvent]))
                                .order_by(Event.at, Event.id)))
    notes = list(session.exec(select(StaffNote).where(StaffNote.patient_id == patient_id)
                              .order_by(StaffNote.created_at, StaffNote.id)))
    photos = list(session.exec(select(Photo).where(Photo.patient_id == patient_id)
                               .order_by(Photo.received_at, Photo.id)))
    names = staff_names(session, user_ids=[e.actor_id for e in history if e.actor == Actor.STAFF]
                        + [p.reviewed_by for p in photos] + [n.author_id for n in notes])
    consent = session.get(PhotoConsent, patient_id)
    return Timeline(patient, enrollments, reminders, history, notes=notes, photos=photos, staff_names=names,
                    outcomes=patient_outcomes(session, patient_id=patient_id), consent=consent,
                    comparison=comparison_pair(consent, photos))


def view_patient(session: Session, *, patient_id: int, now: datetime) -> Timeline | None:
    """:func:`patient_timeline` for a person to read (/patient, the API, a console page): recorded as a view."""
    timeline = patient_timeline(session, patient_id=patient_id)
    if timeline is not None:
        audit.record(session, action=audit.Action.VIEW_PATIENT, patient_id=patient_id, now=now)
    return timeline


def _check_next_session(session: Session, *, patient_id: int, session_at: datetime) -> tuple[Patient, Enrollment]:
    """The patient and their latest cycle, if a next session can be recorded at ``session_at``; else Refusal."""
    patient = session.get(Patient, patient_id)
    previous = current_enrollment(session, patient_id=patient_id)
    if patient is None or previous is None or patient.status == DELETED:
        raise Refusal("console_unknown_patient", query=str(patient_id))
    if patient.status == PatientStatus.SUPERSEDED:
        raise Refusal("session_error_superseded", patient_id=patient_id)
    if previous.session_number + 1 > previous.series_length:
        raise Refusal("session_error_series_done", length=previous.series_length)
    if session_at <= previous.session_at:
        raise Refusal("session_error_before_previous")
    return patient, previous


def recent_session(session: Session, *, patient_id: int, session_at: datetime, now: datetime) -> Enrollment | None:
    """The patient's latest cycle if it was recorded, or took place, too recently for another one.

    Raises Refusal when no next session can be recorded at all (so staff are not asked first).
    """
    _, previous = _check_next_session(session, patient_id=patient_id, session_at=session_at)
    if now - previous.created_at < REPEAT_SESSION_WINDOW or session_at - previous.session_at < REPEAT_SESSION_WINDOW:
        return previous
    return None


@dataclass(frozen=True)
class NextSession:
    """What /session did: the new cycle, how many messages it planned and how many are to come."""

    patient: Patient
    enrollment: Enrollment
    planned: int
    upcoming: int
    applied: Applied


def record_next_session(session: Session, *, patient_id: int, session_at: datetime, protocol: Protocol,
                        quiet_hours: QuietHours, now: datetime, staff_id: int | None = None,
                        after_enrollment: int | None = None) -> NextSession:
    """Plan the next session's aftercare; the old cycle's booking reminders stop.

    A stopped, cancelled or not-continuing patient is active again (they came in for a session).
    ``after_enrollment``, when given, is the cycle staff saw when they confirmed: if another was
    recorded since, the confirmation is stale and nothing is recorded.
    """
    previous = current_enrollment(session, patient_id=patient_id)
    if after_enrollment is not None and (previous is None or previous.id != after_enrollment):
        raise Refusal("session_confirm_stale")
    patient, previous = _check_next_session(session, patient_id=patient_id, session_at=session_at)
    number = previous.session_number + 1
    applied = apply_event(session, patient=patient, event=LifecycleEvent.NEXT_SESSION,
                          cause=staff(staff_id, f"session {number}"), now=now)
    cancel_reminders(session, patient_id=patient_id, reason=CancelReason.NEXT_SESSION, kinds=(KIND_REBOOK,),
                     enrollment_id=previous.id)
    enrollment, planned, stale = plan_cycle(
        session, patient=patient, protocol=protocol, session_at=session_at, session_number=number,
        series_length=previous.series_length, quiet_hours=quiet_hours, now=now,
    )
    audit.record(session, action=audit.Action.SESSION, patient_id=patient_id, now=now)
    return NextSession(patient, enrollment, planned, planned - stale, applied)


def cancel_patient(session: Session, *, patient_id: int, now: datetime, staff_id: int | None = None) -> int:
    """Staff stop all of a patient's messages for good; return how many were cancelled."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        raise Refusal("console_unknown_patient", query=str(patient_id))
    cancelled = apply_event(session, patient=patient, event=LifecycleEvent.CANCEL, cause=staff(staff_id),
                            now=now).cancelled
    audit.record(session, action=audit.Action.CANCEL, patient_id=patient_id, now=now)
    return cancelled


def withdraw_patient(session: Session, *, patient_id: int, now: datetime, staff_id: int | None = None) -> int:
    """Staff withdraw a mistaken enrollment: it leaves every list, erased as by ``/delete``; return how many
    messages were cancelled."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        raise Refusal("console_unknown_patient", query=str(patient_id))
    cancelled = apply_event(session, patient=patient, event=LifecycleEvent.WITHDRAW, cause=staff(staff_id),
                            now=now).cancelled
    audit.record(session, action=audit.Action.WITHDRAW, patient_id=patient_id, now=now)
    return cancelled


def patient_to_confirm(session: Session, *, patient_id: int) -> Patient:
    """The patient a staff confirmation is about (refused once erased or withdrawn)."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        raise Refusal("console_unknown_patient", query=str(patient_id))
    return patient


def reopen_patient(session: Session, *, patient_id: int, quiet_hours: QuietHours, now: datetime,
                   staff_id: int | None = None) -> Applied:
    """Undo a patient's "I'm not continuing": the booking reminders still valid come back."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        raise Refusal("console_unknown_patient", query=str(patient_id))
    applied = apply_event(session, patient=patient, event=LifecycleEvent.REOPEN, cause=staff(staff_id), now=now,
                          quiet_hours=quiet_hours)
    audit.record(session, action=audit.Action.REOPEN, patient_id=patient_id, now=now)
    return applied


def reinvite(session: Session, *, patient_id: int, now: datetime, ttl: timedelta) -> str:
    """A fresh invite for a patient who lost theirs; older unused invites stop working."""
    token = issue_invite(session, patient_id=patient_id, now=now, ttl=ttl)
    audit.record(session, action=audit.Action.INVITE, patient_id=patient_id, now=now)
    return token


@dataclass(frozen=True)
class Stats:
    """Counts over a period, for /stats."""

    enrolled: int
    linked: int
    messages: Counter
    answers: Counter
    escalations: int
    rebook_offered: int
    booked: int


def clinic_stats(session: Session, *, since: datetime, now: datetime) -> Stats:
    """What happened between ``since`` and ``now``: enrollments, messages, answers, rebookings."""
    return clinic_stats_by_period(session, bounds=[since, now])[0]


def clinic_stats_by_period(session: Session, *, bounds: Sequence[datetime], whole: bool = False) -> list[Stats]:
    """:func:`clinic_stats` for each period between consecutive ``bounds`` (jobs/periods.py), one grouped
    query per figure whatever the number of periods; with ``whole``, one more for all of them together
    (from the same rows, no more queries)."""
    periods = range(len(bounds) - 1)
    enrolled = tally(counts_by_period(session, Patient.created_at, bounds, name="enrolled"), periods)
    linked = tally(counts_by_period(session, Patient.linked_at, bounds, name="linked"), periods)
    # Patients' messages: a silence alert goes to staff, not to the patient. Every status is named so that
    # the (status, due_at, kind) index serves the range alone.
    messages = tally(counts_by_period(session, Reminder.due_at, bounds, Reminder.status, name="messages",
                                      where=[col(Reminder.status).in_(list(ReminderStatus)),
                                             Reminder.kind != KIND_SILENCE]), periods)
    answers = {period: Counter() for period in periods}
    totals = {period: Counter() for period in periods}
    for period, kind, detail, count in counts_by_period(
            session, Event.at, bounds, Event.kind, Event.detail, name="events",
            where=[col(Event.kind).in_([events.CHECKIN, events.ESCALATED, events.BOOKED])]):
        totals[period][kind] += count
        if kind == events.CHECKIN:
            answers[period][detail] += count
    # The enrollments offered a rebooking, once each per period (and once over the whole: not a sum).
    rebook_sent = [Reminder.status == ReminderStatus.SENT, Reminder.kind == KIND_REBOOK]
    offered_in = tally(counts_by_period(session, Reminder.sent_at, bounds, name="rebook_offered", where=rebook_sent,
                                        distinct=Reminder.enrollment_id), periods)
    figures = [Stats(enrolled=enrolled[period][None], linked=linked[period][None], messages=messages[period],
                     answers=answers[period], escalations=totals[period][events.ESCALATED],
                     rebook_offered=offered_in[period][None], booked=totals[period][events.BOOKED])
               for period in periods]
    if whole:
        total = summed(totals.values())
        offered_over = tally(counts_by_period(session, Reminder.sent_at, [bounds[0], bounds[-1]], name="rebook_offered",
                                              where=rebook_sent,
                                              distinct=Reminder.enrollment_id), range(1))
        figures.append(Stats(enrolled=sum(f.enrolled for f in figures), linked=sum(f.linked for f in figures),
                             messages=summed(messages.values()), answers=summed(answers.values()),
                             escalations=total[events.ESCALATED], booked=total[events.BOOKED],
                             rebook_offered=offered_over[0][None]))
    return figures


@dataclass(frozen=True)
class CheckinStats:
    """How check-ins and photo check-ins were answered over a period, for /stats."""

    asked: int  # check-in and photo steps sent in the period
    answered: int  # ... of which the patient answered (at any time since)
    median_answer: timedelta | None  # sent to answered, over the answered ones
    photos: int  # photos received as answers in the period
    reviews: Counter  # reviews made in the period, by jobs.care.photos.Review
    nudged: int  # gentle reminders sent
    silent: int  # staff told of a step left unanswered

    @property
    def reviewed(self) -> int:
        return sum(self.reviews.values())


def checkin_stats(session: Session, *, since: datetime, now: datetime) -> CheckinStats:
    """Check-ins answered (share and median time), photos received and reviewed, silence followed up."""
    return checkin_stats_by_period(session, bounds=[since, now])[0]


def checkin_stats_by_period(session: Session, *, bounds: Sequence[datetime], whole: bool = False
                            ) -> list[CheckinStats]:
    """:func:`checkin_stats` for each period between consecutive ``bounds`` (jobs/periods.py); with ``whole``,
    one more for all of them together."""
    periods = range(len(bounds) - 1)
    sent = Reminder.status == ReminderStatus.SENT
    kinds = tally(counts_by_period(session, Reminder.sent_at, bounds, Reminder.kind, name="steps_sent", where=[
        sent, col(Reminder.kind).in_([KIND_CHECKIN, KIND_PHOTO, KIND_NUDGE, KIND_SILENCE])]), periods)
    # The waits themselves (only the answered steps), in seconds computed by the database: the median is taken
    # here, the same on both databases, to the millisecond (SQLite's date functions count no finer).
    # In whole milliseconds, as ints (a timedelta per answer cost more than the query): one timedelta per median.
    waits: dict[int, list[int]] = {period: [] for period in periods}
    wait = seconds_between(Reminder.answered_at, Reminder.sent_at, session.get_bind().dialect.name)
    for period, seconds in rows_by_period(
            session, Reminder.sent_at, bounds, wait, name="answer_waits",
            where=[sent, col(Reminder.kind).in_([KIND_CHECKIN, KIND_PHOTO]), col(Reminder.answered_at).is_not(None)]):
        waits[period].append(round(float(seconds) * 1000))
    photos = tally(counts_by_period(session, Photo.received_at, bounds, name="photos"), periods)
    reviews = tally(counts_by_period(session, Photo.reviewed_at, bounds, Photo.review, name="reviews"), periods)
    groups = [(kinds[period], waits[period], photos[period], reviews[period]) for period in periods]
    if whole:
        groups.append((summed(kinds.values()), [wait for period in periods for wait in waits[period]],
                       summed(photos.values()), summed(reviews.values())))
    return [CheckinStats(asked=kind[KIND_CHECKIN] + kind[KIND_PHOTO], answered=len(wait),
                         median_answer=_median(sorted(wait)), photos=photo[None], reviews=review,
                         nudged=kind[KIND_NUDGE], silent=kind[KIND_SILENCE]) for kind, wait, photo, review in groups]


def _median(waits: list[int]) -> timedelta | None:
    """The median of sorted waits in milliseconds."""
    if not waits:
        return None
    middle = len(waits) // 2
    return timedelta(milliseconds=waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2)


def next_window(enrollment: Enrollment, protocol: Protocol) -> tuple[datetime, datetime]:
    """When the next session after ``enrollment`` is due."""
    return next_session_window(protocol, session_at=enrollment.session_at)


def local(moment: datetime, zone_name: str) -> datetime:
    """``moment`` in a patient's zone."""
    return moment.astimezone(ZoneInfo(zone_name))
