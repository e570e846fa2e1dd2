"""Every button's callback data, read by one function.

Callback data comes back from Telegram clients as whatever they send: up to 64 bytes that may
be an old button, a button of another chat, or made up ("ci:²:fine", "rb:99999999999999999999:booked").
:func:`parse_callback` turns it into a :class:`Button` with bounded numbers and known choices, or
None; the handler of each kind then checks that the button is the presser's own and still open,
and the catch-all handler answers anything else with a short notice, so no press spins for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.keyboards import (
    CONFIRM_PREFIX,
    INBOX_ACTIONS,
    INBOX_PREFIX,
    LANGUAGE_PREFIX,
    PATIENTS_PREFIX,
    PHOTO_PREFIX,
    SESSION_CONFIRM_PREFIX,
    SWITCH_PREFIX,
)
from jobs.buttons import CHECKIN_PREFIX, REBOOK_PREFIX
from jobs.care.answers import BOOKED, LATER, NOT_CONTINUING
from jobs.care.escalation import CHECKIN_ANSWERS
from jobs.care.photos import REVIEWS
from jobs.inputs import MAX_ROW_ID, InputRefused, parse_int

# The kinds of button, one handler each (bot/app.py).
ENROLL_FORM = "enroll_form"  # the /enroll form's buttons: its handler reads them against the form's step
CHECKIN = "checkin"
REBOOK = "rebook"
CONFIRM = "confirm"
LANGUAGE = "language"
PATIENTS = "patients"
SWITCH = "switch"  # "this chat follows X: switch to Y?"
SESSION_CONFIRM = "session_confirm"  # "record another session so soon?"
PHOTO_REVIEW = "photo_review"  # staff: a photo check-in looks as expected / call the patient / another photo
INBOX = "inbox"  # staff: "I'll take it" / "Resolved" under an alert

ENROLL_FORM_PREFIX = "enroll:"
REBOOK_ANSWERS = (BOOKED, LATER, NOT_CONTINUING)
CONFIRM_ACTIONS = ("stop", "delete")
CONFIRM_CHOICES = ("yes", "no")
# /patients pages: far more than any clinic has, and small enough for any OFFSET.
MAX_PAGE = 100_000
# A session time as Unix seconds: up to the year 2100.
MAX_UNIX_TIME = 4_102_444_800
# Telegram's own limit; longer data can only be forged.
MAX_CALLBACK_BYTES = 64


@dataclass(frozen=True)
class Button:
    """A press, read: which kind of button, and what it carries."""

    kind: str
    value: str = ""  # a protocol, an answer, an action, a language, a list filter
    number: int = 0  # a reminder id, a photo id, a session number, a page, an invite id, a patient id, an inbox item
    numbers: tuple[int, ...] = ()  # a session confirmation: patient id, cycle id, session time
    choice: str = ""  # yes / no of a confirmation
    nonce: str = ""  # the confirmation prompt's own nonce


def _number(text: str, high: int, low: int = 1) -> int | None:
    try:
        return parse_int(text, low=low, high=high, key="not_your_button")
    except InputRefused:
        return None


def parse_callback(data: object) -> Button | None:
    """The button ``data`` stands for, or None if no button of ours ever carried it."""
    if not isinstance(data, str) or not data or len(data.encode("utf-8", "surrogatepass")) > MAX_CALLBACK_BYTES:
        return None
    if data.startswith(ENROLL_FORM_PREFIX):
        # Which answers fit depends on the form's current step: the form's handler reads the rest.
        return Button(ENROLL_FORM, value=data)
    for prefix, kind, answers in ((CHECKIN_PREFIX, CHECKIN, CHECKIN_ANSWERS), (REBOOK_PREFIX, REBOOK, REBOOK_ANSWERS),
                                  (PHOTO_PREFIX, PHOTO_REVIEW, REVIEWS)):
        if data.startswith(prefix):
            reminder, _, answer = data.removeprefix(prefix).partition(":")
            reminder_id = _number(reminder, MAX_ROW_ID)
            if reminder_id is None or answer not in answers:
                return None
            return Button(kind, value=answer, number=reminder_id)
    if data.startswith(CONFIRM_PREFIX):
        parts = data.removeprefix(CONFIRM_PREFIX).split(":")
        if len(parts) != 3 or parts[0] not in CONFIRM_ACTIONS or parts[1] not in CONFIRM_CHOICES or not parts[2]:
            return None
        return Button(CONFIRM, value=parts[0], choice=parts[1], nonce=parts[2])
    if data.startswith(LANGUAGE_PREFIX):
        code = data.removeprefix(LANGUAGE_PREFIX)
        return Button(LANGUAGE, value=code) if code else None
    if data.startswith(PATIENTS_PREFIX):
        which, _, page = data.removeprefix(PATIENTS_PREFIX).partition(":")
        number = _number(page, MAX_PAGE, low=0)
        return None if number is None or not which else Button(PATIENTS, value=which, number=number)
    if data.startswith(SWITCH_PREFIX):
        invite, _, choice = data.removeprefix(SWITCH_PREFIX).partition(":")
        invite_id = _number(invite, MAX_ROW_ID)
        return None if invite_id is None or choice not in CONFIRM_CHOICES else Button(SWITCH, number=invite_id,
                                                                                         choice=choice)
    if data.startswith(INBOX_PREFIX):
        item, _, action = data.removeprefix(INBOX_PREFIX).partition(":")
        item_id = _number(item, MAX_ROW_ID)
        return None if item_id is None or action not in INBOX_ACTIONS else Button(INBOX, value=action, number=item_id)
    if data.startswith(SESSION_CONFIRM_PREFIX):
        parts = data.removeprefix(SESSION_CONFIRM_PREFIX).split(":")
        if len(parts) != 4 or parts[3] not in CONFIRM_CHOICES:
            return None
        numbers = (_number(parts[0], MAX_ROW_ID), _number(parts[1], MAX_ROW_ID), _number(parts[2], MAX_UNIX_TIME))
        return None if None in numbers else Button(SESSION_CONFIRM, numbers=numbers, choice=parts[3])
    return None


def kind_is(kind: str):
    """A CallbackQueryHandler pattern: data that parses to a button of ``kind``."""

    def matches(data: object) -> bool:
        button = parse_callback(data)
        return button is not None and button.kind == kind

    return matches
