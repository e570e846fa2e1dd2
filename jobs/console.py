"""What the front desk reads and changes: patient lists, one patient's timeline, next sessions, stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, select

from jobs import events
from jobs.enrollment import EnrollmentError, plan_cycle
from jobs.inputs import InputRefused, like_pattern, looks_like_id, parse_row_id
from jobs.invites import create_invite
from jobs.patients import cancel_pending, current_enrollment
from jobs.planning import QuietHours, next_session_window
from jobs.storage.models import (
    ACTIVE,
    AWAITING_LINK,
    DELETED,
    PAUSED,
    STOPPED,
    UNREACHABLE,
    Enrollment,
    Event,
    Invite,
    Patient,
    Reminder,
)
from messages.protocol import KIND_REBOOK, Protocol

DUE_THIS_WEEK = "due"
PATIENT_FILTERS = (ACTIVE, AWAITING_LINK, PAUSED, STOPPED, UNREACHABLE, DUE_THIS_WEEK)


@dataclass(frozen=True)
class PatientRow:
    """One line of /patients."""

    patient: Patient
    enrollment: Enrollment | None


def list_patients(session: Session, *, which: str, page: int, page_size: int, now: datetime,
                  window_after: timedelta, window_before: timedelta) -> tuple[list[PatientRow], int]:
    """One page of patients in a state (or due for their next session within 7 days) and the total."""
    latest = (select(Enrollment.patient_id, func.max(Enrollment.id).label("enrollment_id"))
              .group_by(Enrollment.patient_id).subquery())
    query = (select(Patient, Enrollment)
             .join(latest, latest.c.patient_id == Patient.id, isouter=True)
             .join(Enrollment, Enrollment.id == latest.c.enrollment_id, isouter=True))
    if which == DUE_THIS_WEEK:
        # The next session's window opens within a week (or is open) and has not closed.
        query = query.where(
            Patient.status.in_([ACTIVE, PAUSED]),
            Enrollment.session_number < Enrollment.series_length,
            Enrollment.session_at <= now + timedelta(days=7) - window_after,
            Enrollment.session_at >= now - window_before,
            ~select(Event.id).where(Event.patient_id == Patient.id, Event.at >= Enrollment.created_at,
                                    Event.kind.in_([events.BOOKED, events.NOT_CONTINUING])).exists(),
        )
    else:
        query = query.where(Patient.status == which)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Patient.id.desc()).offset(page * page_size).limit(page_size)).all()
    return [PatientRow(patient, enrollment) for patient, enrollment in rows], total


def find_patients(session: Session, *, query: str) -> list[Patient]:
    """Patients matching "#12" / "12" (id) or part of a name, case-insensitive; erased ones never.

    ``query`` is already cleaned (jobs.inputs.clean_query). A number too large to be a row id
    matches nobody; "%" and "_" in a name are letters, not wildcards.
    """
    text = query.strip()
    base = select(Patient).where(Patient.status != DELETED)
    if looks_like_id(text):
        try:
            patient_id = parse_row_id(text, key="console_unknown_patient")
        except InputRefused:
            return []
        return list(session.exec(base.where(Patient.id == patient_id)))
    if not text:
        return []
    exact = list(session.exec(base.where(func.lower(Patient.name) == text.lower())))
    if exact:
        return exact
    pattern = like_pattern(text.lower())
    return list(session.exec(base.where(func.lower(Patient.name).like(pattern, escape="\\"))
                             .order_by(Patient.id).limit(10)))


@dataclass
class Timeline:
    """A patient's cycles and every reminder with its outcome."""

    patient: Patient
    enrollments: list[Enrollment] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)


def patient_timeline(session: Session, *, patient_id: int) -> Timeline | None:
    """Everything about one patient, for /patient."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == DELETED:
        return None
    enrollments = list(session.exec(select(Enrollment).where(Enrollment.patient_id == patient_id)
                                    .order_by(Enrollment.session_at)))
    reminders = list(session.exec(select(Reminder).where(Reminder.patient_id == patient_id)
                                  .order_by(Reminder.due_at, Reminder.id)))
    return Timeline(patient, enrollments, reminders)


def record_next_session(session: Session, *, patient_id: int, session_at: datetime, protocol: Protocol,
                        quiet_hours: QuietHours, now: datetime) -> tuple[Patient, Enrollment, int]:
    """Plan the next session's aftercare; cancel the old cycle's pending rebooking reminders."""
    patient = session.get(Patient, patient_id)
    previous = current_enrollment(session, patient_id=patient_id)
    if patient is None or previous is None or patient.status == DELETED:
        raise EnrollmentError("console_unknown_patient", query=str(patient_id))
    number = previous.session_number + 1
    if number > previous.series_length:
        raise EnrollmentError("session_error_series_done", length=previous.series_length)
    if session_at <= previous.session_at:
        raise EnrollmentError("session_error_before_previous")
    cancel_pending(session, patient_id=patient_id, kinds=(KIND_REBOOK,), enrollment_id=previous.id,
                   reason="next session recorded")
    enrollment, planned, _stale = plan_cycle(
        session, patient=patient, protocol=protocol, session_at=session_at, session_number=number,
        series_length=previous.series_length, quiet_hours=quiet_hours, now=now,
    )
    events.record_event(session, kind=events.NEXT_SESSION, patient_id=patient_id, now=now)
    return patient, enrollment, planned


def cancel_patient(session: Session, *, patient_id: int, now: datetime) -> int:
    """Staff stop all of a patient's reminders."""
    count = cancel_pending(session, patient_id=patient_id, reason="cancelled by staff")
    patient = session.get(Patient, patient_id)
    if patient is not None and patient.status in (ACTIVE, PAUSED, AWAITING_LINK):
        patient.status = STOPPED
        session.add(patient)
    events.record_event(session, kind=events.CANCELLED, patient_id=patient_id, now=now)
    return count


def reinvite(session: Session, *, patient_id: int, now: datetime, ttl: timedelta) -> str:
    """A fresh invite for a patient who lost theirs; older unused invites stop working."""
    session.exec(update(Invite).where(Invite.patient_id == patient_id, Invite.used_at.is_(None))
                 .values(expires_at=now))
    return create_invite(session, patient_id=patient_id, now=now, ttl=ttl)


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
    enrolled = session.exec(select(func.count()).select_from(Patient)
                            .where(Patient.created_at >= since, Patient.created_at <= now)).one()
    linked = session.exec(select(func.count()).select_from(Patient)
                          .where(Patient.linked_at >= since, Patient.linked_at <= now)).one()
    messages = Counter(dict(session.exec(
        select(Reminder.status, func.count()).where(Reminder.due_at >= since, Reminder.due_at <= now)
        .group_by(Reminder.status)).all()))
    event_counts = session.exec(select(Event.kind, Event.detail, func.count())
                                .where(Event.at >= since, Event.at <= now)
                                .group_by(Event.kind, Event.detail)).all()
    answers: Counter = Counter()
    totals: Counter = Counter()
    for kind, detail, count in event_counts:
        totals[kind] += count
        if kind == events.CHECKIN:
            answers[detail] += count
    rebook_offered = session.exec(
        select(func.count(func.distinct(Reminder.enrollment_id)))
        .where(Reminder.kind == KIND_REBOOK, Reminder.status == "sent",
               Reminder.sent_at >= since, Reminder.sent_at <= now)).one()
    return Stats(enrolled=enrolled, linked=linked, messages=messages, answers=answers,
                 escalations=totals[events.ESCALATED], rebook_offered=rebook_offered, booked=totals[events.BOOKED])


def next_window(enrollment: Enrollment, protocol: Protocol) -> tuple[datetime, datetime]:
    """When the next session after ``enrollment`` is due."""
    return next_session_window(protocol, session_at=enrollment.session_at)


def local(moment: datetime, zone_name: str) -> datetime:
    """``moment`` in a patient's zone."""
    return moment.astimezone(ZoneInfo(zone_name))
