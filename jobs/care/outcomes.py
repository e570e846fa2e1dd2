"""After the series: outcome answers ("how has your skin changed?") and review requests.

An outcome step asks one question on a fixed scale (messages/protocol.py: the default PGIC-style
seven answers, or the protocol's own). One answer per step: a second press within the step's
validity changes it, and says so. A step with ``photo = true`` follows the first answer with the
consent question or the photo request (jobs/care/comparison.py). A "worse" answer becomes an inbox
item for staff (the handler raises it: bot/handlers/outcomes.py), owned like any other, not raised
again like "worried".

A review step sends the clinic's REVIEW_URL to every patient it reaches, whatever they answered:
asking only the satisfied ("review gating") is against Google's review policy, and the FTC's rule
on consumer reviews (16 CFR Part 465) forbids suppressing negative ones. Nothing here looks at an
answer before a review request goes out, and the bot never replies to reviews. "Opened" is counted
when the patient presses the link through the HTTP side's redirect (bot/web/reviews.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import case
from sqlmodel import Session, col, select

from jobs import events
from jobs.care.answers import sent_to_presser
from jobs.care.comparison import FollowUp, follow_up_answer
from jobs.periods import counts_by_period
from jobs.refusal import Refusal
from jobs.storage.models import Enrollment, OutcomeAnswer, Patient, Reminder
from jobs.storage.states import ReminderStatus
from messages.catalog import Catalog
from messages.protocol import KIND_OUTCOME, KIND_REVIEW, Scale

REVIEW_OPENED = "opened"  # ``reminder.answer`` of a review request whose link was pressed


@dataclass(frozen=True)
class OutcomeAnswered:
    """A recorded outcome answer: the patient, the scale, the answer and the one it replaced."""

    patient: Patient
    scale: Scale
    step_key: str
    answer: str
    previous: str | None
    worse: bool
    newly_worse: bool  # worse now, and not already worse before this press: staff hear of it once
    # A first answer to a step with ``photo = true``: ask for consent (once) or for the photo, or nothing.
    follow_up: FollowUp | None = None


def answer_outcome(session: Session, *, reminder_id: int, chat_id: int, answer: str, catalog: Catalog,
                   now: datetime) -> OutcomeAnswered:
    """Record (or change, within the step's validity) the answer to outcome step ``reminder_id``."""
    reminder, patient = sent_to_presser(session, reminder_id, chat_id, KIND_OUTCOME)
    enrollment = session.get(Enrollment, reminder.enrollment_id)
    if enrollment is None or enrollment.id is None:
        raise Refusal("not_your_button")
    scale = catalog.protocol_for(enrollment.protocol_name).step_scale(reminder.step_key)
    if answer not in scale.answers:
        raise Refusal("not_your_button")
    row = session.exec(select(OutcomeAnswer).where(col(OutcomeAnswer.reminder_id) == reminder_id)).first()
    if row is not None and reminder.expires_at <= now:
        raise Refusal("outcome_closed", locale=patient.locale)
    previous = row.answer if row is not None else None
    worse = answer in scale.worse
    follow_up = None
    if row is None:
        row = OutcomeAnswer(reminder_id=reminder_id, patient_id=reminder.patient_id, enrollment_id=enrollment.id,
                            protocol_name=enrollment.protocol_name, step_key=reminder.step_key, scale=scale.name,
                            answer=answer, worse=worse, answered_at=now)
        events.record_event(session, kind=events.OUTCOME, patient_id=patient.id, detail=answer, now=now)
        step = catalog.protocol_for(enrollment.protocol_name).step(reminder.step_key)
        if step is not None and step.photo:
            follow_up = follow_up_answer(session, answer=row, open_until=reminder.expires_at, now=now)
    elif previous != answer:
        row.answer, row.worse, row.changed_at, row.changes = answer, worse, now, row.changes + 1
        events.record_event(session, kind=events.OUTCOME_CHANGED, patient_id=patient.id, detail=answer, now=now)
    session.add(row)
    reminder.answer, reminder.answered_at = answer, now
    session.add(reminder)
    was_worse = previous is not None and previous in scale.worse
    return OutcomeAnswered(patient=patient, scale=scale, step_key=reminder.step_key, answer=answer, previous=previous,
                           worse=worse, newly_worse=worse and not was_worse, follow_up=follow_up)


# Review links through the HTTP side -------------------------------------------------------------

def review_token(reminder_id: int, *, secret: str) -> str:
    """``<reminder id>-<signature>``: the redirect's path segment, which nobody can forge for another row."""
    signature = hmac.new(secret.encode(), f"review:{reminder_id}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"{reminder_id}-{signature}"


def read_review_token(token: str, *, secret: str) -> int | None:
    """The reminder id a token was made for, or None when it was not made by :func:`review_token`."""
    number, _, _ = token.partition("-")
    if not number.isdigit() or len(number) > 12:
        return None
    return int(number) if hmac.compare_digest(review_token(int(number), secret=secret), token) else None


def note_review_opened(session: Session, *, reminder_id: int, now: datetime) -> bool:
    """Count the first press of a sent review request's link; False for a row that is no review sent."""
    reminder = session.get(Reminder, reminder_id)
    if reminder is None or reminder.kind != KIND_REVIEW or reminder.status != ReminderStatus.SENT:
        return False
    if reminder.answer is None:
        reminder.answer, reminder.answered_at = REVIEW_OPENED, now
        session.add(reminder)
        events.record_event(session, kind=events.REVIEW_OPENED, patient_id=reminder.patient_id, now=now)
    return True


# Figures for /stats and /patient ----------------------------------------------------------------

@dataclass
class OutcomeFigures:
    """Outcome answers by protocol and by session count, the share answered, review requests."""

    # (protocol name, step key) -> answer -> count; and session count -> answer -> count.
    by_protocol: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    by_sessions: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    asked: int = 0  # outcome steps sent
    answered: int = 0
    worse: int = 0
    reviews_sent: int = 0
    reviews_opened: int = 0

    @property
    def share_answered(self) -> int | None:
        """Whole percent of outcome steps sent that have an answer; None when none was sent."""
        return round(100 * self.answered / self.asked) if self.asked else None

    @classmethod
    def merged(cls, parts: list[OutcomeFigures]) -> OutcomeFigures:
        """The figures of several periods as one."""
        whole = cls()
        for part in parts:
            for key, counts in part.by_protocol.items():
                whole.by_protocol[key].update(counts)
            for sessions, counts in part.by_sessions.items():
                whole.by_sessions[sessions].update(counts)
            whole.asked += part.asked
            whole.answered += part.answered
            whole.worse += part.worse
            whole.reviews_sent += part.reviews_sent
            whole.reviews_opened += part.reviews_opened
        return whole


def outcome_figures(session: Session, *, since: datetime | None = None) -> OutcomeFigures:
    """The figures of outcome steps and review requests sent since ``since`` (all time for None)."""
    return outcome_periods(session, starts=[since])[0]


def outcome_periods(session: Session, *, starts: list[datetime | None]) -> list[OutcomeFigures]:
    """:func:`outcome_figures` for consecutive periods: each from its start (ascending; None for the
    beginning of time) to the next one's, the last to now. Each step counts in the period it was sent
    in, whenever it was answered (a step sent at a period's start is that period's).

    The database counts (jobs/periods.py: one statement per figure whatever the number of periods, each
    an indexed range of ``ix_reminder_status_sent``); only the counts reach Python, never the rows: reading
    every answer of the span as objects cost the console's stats page about 100 ms at 10,000 patients.
    """
    floor, ceiling = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)  # a SENT step has sent_at
    bounds = [start if start is not None else floor for start in starts] + [ceiling]
    periods = [OutcomeFigures() for _ in starts]
    sent_at = col(Reminder.sent_at)
    sent = col(Reminder.status) == ReminderStatus.SENT
    # Outcome steps counted from the index alone; review requests read their answer (opened or not).
    for period, count in counts_by_period(session, sent_at, bounds, name="outcomes_asked",
                                         where=[sent, col(Reminder.kind) == KIND_OUTCOME]):
        periods[period].asked += count
    opened = case((col(Reminder.answer) == REVIEW_OPENED, 1), else_=0)
    for period, was_opened, count in counts_by_period(session, sent_at, bounds, opened, name="reviews_sent",
                                                      where=[sent, col(Reminder.kind) == KIND_REVIEW]):
        periods[period].reviews_sent += count
        periods[period].reviews_opened += count if was_opened else 0
    # An answer is only ever recorded for an outcome step (answer_outcome): the kind lets the index range.
    for period, protocol, step, sessions, answer, worse, count in counts_by_period(
            session, sent_at, bounds, col(OutcomeAnswer.protocol_name), col(OutcomeAnswer.step_key),
            col(Enrollment.session_number), col(OutcomeAnswer.answer), col(OutcomeAnswer.worse), name="outcome_answers",
            where=[sent, col(Reminder.kind) == KIND_OUTCOME, col(OutcomeAnswer.reminder_id) == col(Reminder.id),
                   col(Enrollment.id) == col(OutcomeAnswer.enrollment_id)]):
        figures = periods[period]
        figures.by_protocol[(protocol, step)][answer] += count
        figures.by_sessions[sessions][answer] += count
        figures.answered += count
        figures.worse += count if worse else 0
    return periods


def patient_outcomes(session: Session, *, patient_id: int) -> list[OutcomeAnswer]:
    """A patient's outcome answers, oldest first."""
    return list(session.exec(select(OutcomeAnswer).where(col(OutcomeAnswer.patient_id) == patient_id)
                             .order_by(col(OutcomeAnswer.answered_at), col(OutcomeAnswer.id))).all())

