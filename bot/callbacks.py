"""Every button's callback data, read by one function.

Callback data comes back from Telegram clients as whatever they send: up to 64 bytes that may
be an old button, a button of another chat, or made up ("ci:²:fine", "rb:99999999999999999999:booked").
:func:`parse_callback` turns it into a :class:`Button` with bounded numbers and known choices, or
None; the handler of each kind then checks that the button is the presser's own and still open,
and the catch-all handler answers anything else with a short notice, so no press spins for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.keyboards import CONFIRM_PREFIX, ENROLL_NUMBER, ENROLL_PROTOCOL, LANGUAGE_PREFIX, PATIENTS_PREFIX
from jobs.answers import BOOKED, LATER, NOT_CONTINUING
from jobs.buttons import CHECKIN_PREFIX, REBOOK_PREFIX
from jobs.enrollment import MAX_SERIES_LENGTH
from jobs.escalation import CHECKIN_ANSWERS
from jobs.inputs import MAX_ROW_ID, InputRefused, parse_int

# The kinds of button, one handler each (bot/app.py).
ENROLL_PROTOCOL_KIND = "enroll_protocol"
ENROLL_NUMBER_KIND = "enroll_number"
ENROLL_WHEN = "enroll_when"
CHECKIN = "checkin"
REBOOK = "rebook"
CONFIRM = "confirm"
LANGUAGE = "language"
PATIENTS = "patients"

ENROLL_WHEN_PREFIX = "enroll:when:"
REBOOK_ANSWERS = (BOOKED, LATER, NOT_CONTINUING)
CONFIRM_ACTIONS = ("stop", "delete")
CONFIRM_CHOICES = ("yes", "no")
# /patients pages: far more than any clinic has, and small enough for any OFFSET.
MAX_PAGE = 100_000
# Telegram's own limit; longer data can only be forged.
MAX_CALLBACK_BYTES = 64


@dataclass(frozen=True)
class Button:
    """A press, read: which kind of button, and what it carries."""

    kind: str
    value: str = ""  # a protocol, an answer, an action, a language, a list filter
    number: int = 0  # a reminder id, a session number, a page
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
    if data.startswith(ENROLL_PROTOCOL):
        name = data.removeprefix(ENROLL_PROTOCOL)
        return Button(ENROLL_PROTOCOL_KIND, value=name) if name else None
    if data.startswith(ENROLL_NUMBER):
        number = _number(data.removeprefix(ENROLL_NUMBER), MAX_SERIES_LENGTH)
        return None if number is None else Button(ENROLL_NUMBER_KIND, number=number)
    if data.startswith(ENROLL_WHEN_PREFIX):
        when = data.removeprefix(ENROLL_WHEN_PREFIX)
        return Button(ENROLL_WHEN, value=when) if when in ("now", "other") else None
    for prefix, kind, answers in ((CHECKIN_PREFIX, CHECKIN, CHECKIN_ANSWERS), (REBOOK_PREFIX, REBOOK, REBOOK_ANSWERS)):
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
    return None


def kind_is(kind: str):
    """A CallbackQueryHandler pattern: data that parses to a button of ``kind``."""

    def matches(data: object) -> bool:
        button = parse_callback(data)
        return button is not None and button.kind == kind

    return matches
