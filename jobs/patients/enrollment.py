"""Enrolling a patient: the patient, the cycle, its whole plan and an invite, in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from jobs.actors import staff
from jobs.care.planning import QuietHours, plan_reminders
from jobs.inputs import MAX_NAME_LENGTH, clean_name
from jobs.ops import audit
from jobs.patients.invites import issue_invite, lock_patient
from jobs.patients.lifecycle import LifecycleEvent, apply_event
from jobs.patients.reminder_moves import state_for_new_reminder
from jobs.refusal import Refusal
from jobs.storage.models import Enrollment, Patient, Reminder, called_name
from jobs.storage.states import PatientStatus, ReminderStatus
from messages.protocol import Protocol

MAX_SERIES_LENGTH = 20
# A session may be entered a little ahead of the clock (a slow front desk PC), not days ahead.
FUTURE_TOLERANCE = timedelta(minutes=10)
# Older sessions have no aftercare left worth sending.
MAX_SESSION_AGE = timedelta(days=60)
# "2", "2/4", "2 of 4": which session of how many (/enroll's session=, the API's "session").
_SESSION = re.compile(r"^(\d{1,2})(?:\s*(?:/|of)\s*(\d{1,2}))?$")


@dataclass(frozen=True)
class Enrolled:
    """What enrollment made: the patient, the cycle, the invite token and the plan's size."""

    patient: Patient
    enrollment: Enrollment
    token: str
    invite_expires_at: datetime
    planned: int
    stale: int


def check_enrollment(*, name: str, session_at: datetime, session_number: int, series_length: int,
                     now: datetime) -> str:
    """Validate the input; return the cleaned name or raise Refusal."""
    name = clean_name(name, limit=MAX_NAME_LENGTH)  # refused: NUL, direction overrides, invisible
    if not 1 <= series_length <= MAX_SERIES_LENGTH:
        raise Refusal("enroll_error_series", limit=MAX_SERIES_LENGTH)
    if not 1 <= session_number <= series_length:
        raise Refusal("enroll_error_session_number", number=session_number, length=series_length)
    if session_at > now + FUTURE_TOLERANCE:
        raise Refusal("enroll_error_future")
    if session_at < now - MAX_SESSION_AGE:
        raise Refusal("enroll_error_too_old", days=MAX_SESSION_AGE.days)
    return name


def parse_session_number(value: str) -> tuple[int, int | None]:
    """"2" -> (2, None); "2/4" or "2 of 4" -> (2, 4) (``/enroll session=``, the import's ``session``)."""
    match = _SESSION.match(value.strip().lower())
    if not match:
        raise Refusal("enroll_error_bad_session", value=value)
    number = int(match.group(1))
    length = int(match.group(2)) if match.group(2) else None
    # "session=1/0" is a series of no sessions, not "use the default length".
    if length is not None and not 1 <= length <= MAX_SERIES_LENGTH:
        raise Refusal("enroll_error_series", limit=MAX_SERIES_LENGTH)
    if number < 1:
        raise Refusal("enroll_error_bad_session", value=value)
    return number, length


def enroll_patient(
    session: Session,
    *,
    name: str,
    protocol: Protocol,
    session_at: datetime,
    session_number: int,
    series_length: int,
    zone: ZoneInfo,
    locale: str,
    quiet_hours: QuietHours,
    invite_ttl: timedelta,
    enrolled_by: int | None,
    now: datetime,
    phone: str | None = None,
    external_id: str | None = None,
    called: str | None = None,
) -> Enrolled:
    """Write the patient, the enrollment, every planned reminder and an invite; return them.

    ``phone`` is already checked (E.164, :func:`jobs.inputs.parse_phone`); ``external_id`` is the
    clinic's own reference, unique across patients; ``called`` the name the patient is greeted by
    (default: the first word of ``name``).
    """
    name = check_enrollment(name=name, session_at=session_at, session_number=session_number,
                            series_length=series_length, now=now)
    patient = Patient(name=name, timezone=zone.key, locale=locale, series_length=series_length,
                      enrolled_by=enrolled_by, created_at=now, phone=phone, external_id=external_id,
                      called=called_name(name, called))
    session.add(patient)
    session.flush()
    enrollment, planned, stale = plan_cycle(session, patient=patient, protocol=protocol, session_at=session_at,
                                            session_number=session_number, series_length=series_length,
                                            quiet_hours=quiet_hours, now=now)
    token = issue_invite(session, patient_id=patient.id, now=now, ttl=invite_ttl)
    apply_event(session, patient=patient, event=LifecycleEvent.ENROLL, cause=staff(enrolled_by), now=now)
    session.flush()
    audit.record(session, action=audit.Action.ENROLL, patient_id=patient.id, now=now)
    return Enrolled(patient=patient, enrollment=enrollment, token=token, invite_expires_at=now + invite_ttl,
                    planned=planned, stale=stale)


@dataclass(frozen=True)
class EnrolledOnce:
    """What an enrollment with the clinic's reference gave: the patient, whether it is new, and an invite
    (None once the patient is linked: they need none)."""

    patient: Patient
    created: bool
    token: str | None
    invite_expires_at: datetime | None


def enroll_once(session: Session, *, external_id: str | None, invite_ttl: timedelta, now: datetime,
                **enrollment) -> EnrolledOnce:
    """:func:`enroll_patient`, unless a patient with ``external_id`` exists: then that one, unchanged.

    The unique constraint on ``patient.external_id`` decides between two concurrent calls: the
    second one's insert fails inside a savepoint and it finds the first one's patient instead. A
    patient found again who has not linked yet gets a fresh invite (the old one's token is only
    stored as a hash, and may be used up or expired).
    """
    if external_id is not None:
        existing = _by_external_id(session, external_id)
        if existing is not None:
            return _found_again(session, existing, invite_ttl=invite_ttl, now=now)
    try:
        with session.begin_nested():
            enrolled = enroll_patient(session, external_id=external_id, invite_ttl=invite_ttl, now=now, **enrollment)
    except IntegrityError:
        existing = _by_external_id(session, external_id) if external_id is not None else None
        if existing is None:
            raise
        return _found_again(session, existing, invite_ttl=invite_ttl, now=now)
    return EnrolledOnce(patient=enrolled.patient, created=True, token=enrolled.token,
                        invite_expires_at=enrolled.invite_expires_at)


def _by_external_id(session: Session, external_id: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.external_id == external_id)).first()


def _found_again(session: Session, patient: Patient, *, invite_ttl: timedelta, now: datetime) -> EnrolledOnce:
    # Read under the row's lock: a patient linking meanwhile must not get a live link issued after it.
    patient = lock_patient(session, patient_id=patient.id)
    if patient.chat_id is not None:
        # The caller learns the patient's id and status: a view of the record.
        audit.record(session, action=audit.Action.VIEW_PATIENT, patient_id=patient.id, now=now)
        return EnrolledOnce(patient=patient, created=False, token=None, invite_expires_at=None)
    token = issue_invite(session, patient_id=patient.id, now=now, ttl=invite_ttl)
    audit.record(session, action=audit.Action.INVITE, patient_id=patient.id, now=now)
    return EnrolledOnce(patient=patient, created=False, token=token, invite_expires_at=now + invite_ttl)


def recent_namesake(session: Session, *, name: str, patient_id: int, now: datetime,
                    within: timedelta = timedelta(hours=2)) -> Patient | None:
    """Another patient with the same name enrolled shortly before: probably the same /enroll sent twice."""
    return session.exec(
        select(Patient).where(func.lower(Patient.name) == name.lower(), Patient.id != patient_id,
                              Patient.created_at >= now - within).order_by(Patient.id.desc())
    ).first()


def plan_cycle(session: Session, *, patient: Patient, protocol: Protocol, session_at: datetime,
               session_number: int, series_length: int, quiet_hours: QuietHours,
               now: datetime) -> tuple[Enrollment, int, int]:
    """Write one cycle and all its reminders; return it with the number planned and already stale."""
    enrollment = Enrollment(patient_id=patient.id, session_number=session_number, series_length=series_length,
                            session_at=session_at, protocol_name=protocol.name,
                            protocol_version=protocol.version, created_at=now)
    session.add(enrollment)
    session.flush()
    plan = plan_reminders(protocol=protocol, session_at=session_at, zone=ZoneInfo(patient.timezone),
                          quiet_hours=quiet_hours, session_number=session_number, series_length=series_length,
                          now=now)
    initial, initial_outcome = state_for_new_reminder(patient.status)
    session.add_all(
        Reminder(
            enrollment_id=enrollment.id,
            patient_id=patient.id,
            step_key=item.step_key,
            text_key=item.text_key,
            kind=item.kind,
            planned_at=item.planned_at,
            due_at=item.due_at,
            expires_at=item.expires_at,
            at_spec=item.at_spec,
            not_before_spec=item.not_before_spec,
            expires_spec=item.expires_spec,
            nudge_after_spec=item.nudge_after_spec,
            alert_after_spec=item.alert_after_spec,
            status=ReminderStatus.SKIPPED if item.stale else initial,
            outcome="stale: its time had passed at enrollment" if item.stale else initial_outcome,
        )
        for item in plan
    )
    return enrollment, len(plan), sum(item.stale for item in plan)


# The patients the clinic is looking after: their languages are the ones in use.
IN_CARE = (PatientStatus.AWAITING_LINK, PatientStatus.ACTIVE, PatientStatus.PAUSED)


def languages_in_use(session: Session) -> set[str]:
    """The languages of the patients in care (a patient not linked yet without one is left out)."""
    rows = session.exec(select(Patient.locale).where(col(Patient.status).in_(IN_CARE)).distinct())
    return {locale for locale in rows if locale}
