"""The step-by-step /enroll form's state, one row per staff member, in the database.

Kept in the database rather than in memory so that a restart, or the next update reaching
another bot instance behind a load balancer, finds the form where the staff member left it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from jobs.storage.models import EnrollForm

ASK_NAME = "name"
ASK_PROTOCOL = "protocol"
ASK_NUMBER = "number"
ASK_WHEN = "when"
ASK_TIME = "time"
# Reached from the "when" screen, and back to it once answered.
ASK_LENGTH = "length"
ASK_LANGUAGE = "language"
ASK_ZONE = "zone"
ASK_ZONE_NAME = "zone_name"
ASK_CALLED = "called"
# A form left alone this long is forgotten: its answers are probably no longer true.
FORM_TTL = timedelta(hours=2)


def open_form(session: Session, *, user_id: int, now: datetime) -> EnrollForm:
    """Start (or restart) a form at its first question."""
    form = session.get(EnrollForm, user_id) or EnrollForm(staff_user_id=user_id, step=ASK_NAME, updated_at=now)
    form.step, form.name, form.protocol, form.session_number, form.updated_at = ASK_NAME, None, None, None, now
    form.series_length, form.locale, form.timezone, form.called = None, None, None, None
    session.add(form)
    return form


def current_form(session: Session, *, user_id: int, now: datetime) -> EnrollForm | None:
    """The user's open form, or None (an expired one is dropped)."""
    form = session.get(EnrollForm, user_id)
    if form is not None and form.updated_at < now - FORM_TTL:
        session.delete(form)
        return None
    return form


def advance_form(session: Session, *, user_id: int, expect: str, now: datetime, **answers: object) -> EnrollForm | None:
    """Record answers if the form is at step ``expect``, and move it to the next step (or ``step=``); else None."""
    form = current_form(session, user_id=user_id, now=now)
    if form is None or form.step != expect:
        return None
    for key, value in answers.items():
        setattr(form, key, value)
    order = [ASK_NAME, ASK_PROTOCOL, ASK_NUMBER, ASK_WHEN, ASK_TIME]
    if "step" not in answers:
        form.step = order[min(order.index(expect) + 1, len(order) - 1)]
    form.updated_at = now
    session.add(form)
    return form


def note_form_message(session: Session, *, user_id: int, message_id: int) -> None:
    """The message that shows the form's current screen (edited to its summary when the form ends)."""
    form = session.get(EnrollForm, user_id)
    if form is not None and form.message_id != message_id:
        form.message_id = message_id
        session.add(form)


def close_form(session: Session, *, user_id: int) -> EnrollForm | None:
    """Remove the user's form; return what it held."""
    form = session.get(EnrollForm, user_id)
    if form is not None:
        session.delete(form)
    return form
