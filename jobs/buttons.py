"""Every inline button the bot shows: its callback data (prefixes, builders, the one parser) and its labels.

Why this module lives in ``jobs``: the dispatcher (jobs/dispatch/loop.py) puts the answer buttons
under the reminders it sends, and nothing in ``jobs`` imports ``bot``; so the one vocabulary sits
where both can read it. The markup is python-telegram-bot's ``InlineKeyboardMarkup``, a plain Bot
API type that ``jobs.dispatch`` already sends through ``telegram.Bot``; planning still imports no
``telegram``, and the wiring (``telegram.ext``: the handler that parses a press once and hands the
result on) stays in bot/callbacks.py.

Callback data is a prefix and fields joined by ":", at most 64 bytes (Telegram's limit):

=================  ==============================================================
kind               data
=================  ==============================================================
checkin            ``ci:<reminder id>:fine|red|worried``
rebook             ``rb:<reminder id>:booked|later|stop`` (``stop`` asks: ``sure`` ends the series, ``keep`` not)
outcome            ``oc:<reminder id>:<answer key>`` (the step's scale decides which keys fit)
photo_consent      ``pc:<reminder id>:yes|no`` (keep my photos to compare before and after? asked under an outcome step)
photo_review       ``ph:<photo id>:ok|call|again`` (staff)
inbox              ``ib:<item id>:take|done`` (staff)
confirm            ``cf:stop|delete:yes|no:<nonce>`` (jobs.patients.confirmations)
language           ``lang:<code>``
patients           ``pl:<filter>:<page>`` (staff)
switch             ``sw:<invite id>:yes|no``
session_confirm    ``ss:<patient id>:<cycle id>:<session unix time>:yes|no`` (staff)
enroll_form        ``enroll:<field>:<answer>`` (staff; the form's step decides what fits)
staff_confirm      ``sc:cancel|withdraw:<patient id>:yes|no`` (staff: /cancel and /withdraw, confirmed)
=================  ==============================================================

It comes back from Telegram clients as whatever they send: an old button, a button of another
chat, or made up ("ci:²:fine", "rb:99999999999999999999:booked"). :func:`parse_callback` turns it
into a :class:`Button` with bounded numbers and known choices, or None; the handler of each kind
then checks that the button is the presser's own and still open, and a catch-all handler answers
anything else with a short notice, so no press spins for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from jobs.care.answers import BOOKED, LATER, NOT_CONTINUING
from jobs.care.escalation import CHECKIN_ANSWERS, FINE, STILL_RED, WORRIED
from jobs.care.photos import REVIEWS, Review
from jobs.inputs import MAX_ROW_ID, InputRefused, parse_int
from messages.catalog import Catalog
from messages.protocol import KIND_CHECKIN, KIND_REBOOK, Scale

# Telegram's own limit; longer data can only be forged.
MAX_CALLBACK_BYTES = 64
# /patients pages: far more than any clinic has, and small enough for any OFFSET.
MAX_PAGE = 100_000
# A session time as Unix seconds: up to the year 2100.
MAX_UNIX_TIME = 4_102_444_800

# The kinds of button, one handler each (bot/app.py).
CHECKIN = "checkin"
REBOOK = "rebook"
OUTCOME = "outcome"  # an answer on an outcome step's scale
PHOTO_CONSENT = "photo_consent"  # a patient's yes / no: may the clinic keep their photos to compare before and after
PHOTO_REVIEW = "photo_review"  # staff: a photo check-in looks as expected / call the patient / another photo
INBOX = "inbox"  # staff: "I'll take it" / "Resolved" under an alert
CONFIRM = "confirm"  # a patient's /stop or /delete, confirmed
LANGUAGE = "language"
PATIENTS = "patients"  # staff: a /patients filter or page
SWITCH = "switch"  # "this chat follows X: switch to Y?"
SESSION_CONFIRM = "session_confirm"  # staff: "record another session so soon?"
ENROLL_FORM = "enroll_form"  # staff: the /enroll form's buttons
STAFF_CONFIRM = "staff_confirm"  # staff: "cancel / withdraw this patient?" yes or no
# Each kind's prefix: no prefix begins another, so the prefix alone tells the kind.
_PREFIX = {CHECKIN: "ci:", REBOOK: "rb:", OUTCOME: "oc:", PHOTO_CONSENT: "pc:", PHOTO_REVIEW: "ph:", INBOX: "ib:",
           CONFIRM: "cf:", LANGUAGE: "lang:", PATIENTS: "pl:", SWITCH: "sw:", SESSION_CONFIRM: "ss:",
           ENROLL_FORM: "enroll:", STAFF_CONFIRM: "sc:"}
KINDS = tuple(_PREFIX)
PREFIXES = tuple(_PREFIX.values())

YES, NO = "yes", "no"
CONFIRM_ACTIONS = ("stop", "delete")
INBOX_TAKE = "take"
INBOX_RESOLVE = "done"
INBOX_ACTIONS = (INBOX_TAKE, INBOX_RESOLVE)
REBOOK_ANSWERS = (BOOKED.value, LATER.value, NOT_CONTINUING.value)
# *I'm not continuing* asks once: "yes, end my series" or "no, keep reminding me".
REBOOK_SURE, REBOOK_KEEP = "sure", "keep"
# What staff confirm before it happens (``sc:<action>:<patient id>:yes|no``).
STAFF_CANCEL, STAFF_WITHDRAW = "cancel", "withdraw"
STAFF_CONFIRM_ACTIONS = (STAFF_CANCEL, STAFF_WITHDRAW)

# The /enroll form's fields (``enroll:<field>:<answer>``) and their fixed answers.
ENROLL_PROTOCOL = "protocol"  # answer: a protocol's name
ENROLL_NUMBER = "number"  # answer: the session number
ENROLL_LENGTH = "length"  # answer: the series length
ENROLL_LANGUAGE = "lang"  # answer: a language code, or ENROLL_LANGUAGE_AUTO
ENROLL_OPTION = "option"  # answer: the option of the "when" screen to change
ENROLL_WHEN = "when"  # answer: ENROLL_WHEN_NOW or ENROLL_WHEN_OTHER
ENROLL_ZONE = "zone"  # answer: ENROLL_ZONE_CLINIC or ENROLL_ZONE_OTHER
ENROLL_LANGUAGE_AUTO = "-"  # "their own Telegram language"
ENROLL_WHEN_NOW, ENROLL_WHEN_OTHER = "now", "other"
ENROLL_ZONE_CLINIC, ENROLL_ZONE_OTHER = "clinic", "other"

# The text key of each answer's label: on the button, and wherever the answer is shown again
# (the "answered" line, the staff alert, /patient's timeline).
CHECKIN_LABELS = {FINE.value: "button_fine", STILL_RED.value: "button_still_red", WORRIED.value: "button_worried"}
REBOOK_LABELS = {BOOKED.value: "button_booked", LATER.value: "button_later",
                 NOT_CONTINUING.value: "button_not_continuing"}
ANSWER_LABELS = {**CHECKIN_LABELS, **REBOOK_LABELS}
REVIEW_LABELS = {Review.OK: "button_photo_ok", Review.CALL: "button_photo_call", Review.AGAIN: "button_photo_again"}
INBOX_LABELS = {INBOX_TAKE: "inbox_button_take", INBOX_RESOLVE: "inbox_button_resolve"}


@dataclass(frozen=True)
class Button:
    """A press, read: which kind of button, and what it carries."""

    kind: str
    value: str = ""  # an answer, a review, an inbox action, a confirmed action, a language, a list filter, a form field
    number: int = 0  # a reminder id, a photo id, an inbox item, a page, an invite id
    numbers: tuple[int, ...] = ()  # a session confirmation: patient id, cycle id, session time
    choice: str = ""  # yes / no of a confirmation; the form field's answer
    nonce: str = ""  # the confirmation prompt's own nonce


# Reading ----------------------------------------------------------------------------------------

def _number(text: str, high: int, low: int = 1) -> int | None:
    try:
        return parse_int(text, low=low, high=high, key="not_your_button")
    except InputRefused:
        return None


def _id_and_choice(kind: str, fields: list[str], choices: Sequence[str]) -> Button | None:
    """``<id>:<choice>``: reminder answers, photo reviews, inbox actions."""
    if len(fields) != 2 or fields[1] not in choices:
        return None
    number = _number(fields[0], MAX_ROW_ID)
    return None if number is None else Button(kind, value=fields[1], number=number)


def _outcome(fields: list[str]) -> Button | None:
    # Which keys fit is the step's scale's business (jobs/care/outcomes.py checks it); here only
    # the shape a scale's key may have (messages/protocol.py: snake_case, at most 12 characters).
    if len(fields) != 2 or not fields[1].isidentifier() or not fields[1].isascii() or len(fields[1]) > 12:
        return None
    number = _number(fields[0], MAX_ROW_ID)
    return None if number is None else Button(OUTCOME, value=fields[1], number=number)


def _confirm(fields: list[str]) -> Button | None:
    if len(fields) != 3 or fields[0] not in CONFIRM_ACTIONS or fields[1] not in (YES, NO) or not fields[2]:
        return None
    return Button(CONFIRM, value=fields[0], choice=fields[1], nonce=fields[2])


def _language(fields: list[str]) -> Button | None:
    code = ":".join(fields)
    return Button(LANGUAGE, value=code) if code else None


def _patients(fields: list[str]) -> Button | None:
    which, _, page = ":".join(fields).partition(":")
    number = _number(page, MAX_PAGE, low=0)
    return None if number is None or not which else Button(PATIENTS, value=which, number=number)


def _switch(fields: list[str]) -> Button | None:
    if len(fields) != 2 or fields[1] not in (YES, NO):
        return None
    invite_id = _number(fields[0], MAX_ROW_ID)
    return None if invite_id is None else Button(SWITCH, number=invite_id, choice=fields[1])


def _session_confirm(fields: list[str]) -> Button | None:
    if len(fields) != 4 or fields[3] not in (YES, NO):
        return None
    patient_id, cycle_id = _number(fields[0], MAX_ROW_ID), _number(fields[1], MAX_ROW_ID)
    session_time = _number(fields[2], MAX_UNIX_TIME)
    if patient_id is None or cycle_id is None or session_time is None:
        return None
    return Button(SESSION_CONFIRM, numbers=(patient_id, cycle_id, session_time), choice=fields[3])


def _staff_confirm(fields: list[str]) -> Button | None:
    if len(fields) != 3 or fields[0] not in STAFF_CONFIRM_ACTIONS or fields[2] not in (YES, NO):
        return None
    patient_id = _number(fields[1], MAX_ROW_ID)
    return None if patient_id is None else Button(STAFF_CONFIRM, value=fields[0], number=patient_id, choice=fields[2])


def _enroll_form(fields: list[str]) -> Button:
    # Which answers fit depends on the form's current step: the form's handler decides, and answers
    # anything else itself ("this form has moved on"), so every field is read as one here.
    field, _, answer = ":".join(fields).partition(":")
    return Button(ENROLL_FORM, value=field, choice=answer)


_READERS: dict[str, Callable[[list[str]], Button | None]] = {
    CHECKIN: lambda fields: _id_and_choice(CHECKIN, fields, CHECKIN_ANSWERS),
    REBOOK: lambda fields: _id_and_choice(REBOOK, fields, (*REBOOK_ANSWERS, REBOOK_SURE, REBOOK_KEEP)),
    OUTCOME: _outcome,
    PHOTO_CONSENT: lambda fields: _id_and_choice(PHOTO_CONSENT, fields, (YES, NO)),
    PHOTO_REVIEW: lambda fields: _id_and_choice(PHOTO_REVIEW, fields, REVIEWS),
    INBOX: lambda fields: _id_and_choice(INBOX, fields, INBOX_ACTIONS),
    CONFIRM: _confirm, LANGUAGE: _language, PATIENTS: _patients, SWITCH: _switch,
    SESSION_CONFIRM: _session_confirm, ENROLL_FORM: _enroll_form, STAFF_CONFIRM: _staff_confirm,
}


def parse_callback(data: object) -> Button | None:
    """The button ``data`` stands for, or None if no button of ours ever carried it."""
    if not isinstance(data, str) or not data or len(data.encode("utf-8", "surrogatepass")) > MAX_CALLBACK_BYTES:
        return None
    for kind, prefix in _PREFIX.items():
        if data.startswith(prefix):
            return _READERS[kind](data.removeprefix(prefix).split(":"))
    return None


# Writing ----------------------------------------------------------------------------------------

def _data(kind: str, *fields: object) -> str:
    """The callback data of a button of ``kind``; data Telegram would refuse is never built."""
    data = _PREFIX[kind] + ":".join(str(field) for field in fields)
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data {data[:20]!r}… is over Telegram's {MAX_CALLBACK_BYTES} bytes")
    return data


def _button(label: str, kind: str, *fields: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=_data(kind, *fields))


def _one_a_row(buttons: Iterable[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    # One button per row: the labels are short sentences, and thumbs are not.
    return InlineKeyboardMarkup([[button] for button in buttons])


def _rows_of(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i:i + width] for i in range(0, len(buttons), width)]


def reminder_keyboard(kind: str, reminder_id: int, *, catalog: Catalog, locale: str) -> InlineKeyboardMarkup | None:
    """The answer buttons for a check-in or rebooking reminder; None for plain information."""
    if kind == KIND_CHECKIN:
        button_kind, labels = CHECKIN, CHECKIN_LABELS
    elif kind == KIND_REBOOK:
        button_kind, labels = REBOOK, REBOOK_LABELS
    else:
        return None
    return _one_a_row(_button(catalog.bot(locale, label), button_kind, reminder_id, answer)
                      for answer, label in labels.items())


def not_continuing_keyboard(reminder_id: int, *, sure: str, keep: str) -> InlineKeyboardMarkup:
    """*I'm not continuing*, asked once: end the series, or keep the reminders."""
    return _one_a_row([_button(sure, REBOOK, reminder_id, REBOOK_SURE),
                       _button(keep, REBOOK, reminder_id, REBOOK_KEEP)])


def staff_confirm_keyboard(action: str, patient_id: int, *, yes: str, no: str) -> InlineKeyboardMarkup:
    """/cancel or /withdraw, confirmed: yes or no, side by side."""
    return InlineKeyboardMarkup([[_button(yes, STAFF_CONFIRM, action, patient_id, YES),
                                  _button(no, STAFF_CONFIRM, action, patient_id, NO)]])


def scale_label(scale: Scale, answer: str, *, catalog: Catalog, locale: str) -> str:
    """An answer's label in ``locale``: the default scale's from the texts, a protocol's own from its file.

    An answer the scale no longer has (the protocol was edited since) shows as its key.
    """
    if answer not in scale.answers:
        return answer
    key = scale.label_key(answer)
    if key is not None:
        return catalog.bot(locale, key)
    labels = scale.labels.get(answer, {})
    return labels.get(locale) or labels.get("en") or answer


def outcome_keyboard(reminder_id: int, scale: Scale, *, catalog: Catalog, locale: str,
                     chosen: str | None = None) -> InlineKeyboardMarkup:
    """The scale's answers, one a row; the ``chosen`` one marked, so a second press can change it."""
    return _one_a_row(_button(("✓ " if answer == chosen else "") + scale_label(scale, answer, catalog=catalog,
                                                                               locale=locale),
                              OUTCOME, reminder_id, answer) for answer in scale.answers)


def photo_consent_keyboard(reminder_id: int, *, yes: str, no: str, chosen: str | None = None) -> InlineKeyboardMarkup:
    """Keep my photos to compare before and after: yes or no, one a row; the ``chosen`` one marked, so the
    other press changes the answer (a No after a Yes withdraws it)."""
    return _one_a_row(_button(("✓ " if choice == chosen else "") + label, PHOTO_CONSENT, reminder_id, choice)
                      for label, choice in ((yes, YES), (no, NO)))


def link_keyboard(label: str, url: str) -> InlineKeyboardMarkup:
    """One button that opens ``url`` (a review request's link)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])


def photo_review_keyboard(photo_id: int, *, text: Callable[[str], str]) -> InlineKeyboardMarkup:
    """The review buttons under a photo for staff, one a row; ``text`` renders a label's key."""
    return _one_a_row(_button(text(label), PHOTO_REVIEW, photo_id, review.value)
                      for review, label in REVIEW_LABELS.items())


def inbox_keyboard(item_id: int, actions: Sequence[str], *, text: Callable[[str], str],
                   extra: InlineKeyboardMarkup | None = None) -> InlineKeyboardMarkup | None:
    """The alert's own buttons (``extra``: a photo's review) above a row of the inbox ``actions``."""
    rows = [list(row) for row in extra.inline_keyboard] if extra is not None else []
    if actions:
        rows.append([_button(text(INBOX_LABELS[action]), INBOX, item_id, action) for action in actions])
    return InlineKeyboardMarkup(rows) if rows else None


def confirm_keyboard(action: str, nonce: str, *, yes: str, no: str) -> InlineKeyboardMarkup:
    """Yes / no for a patient's /stop or /delete; ``nonce`` ties both to this prompt (jobs.patients.confirmations)."""
    return _one_a_row([_button(yes, CONFIRM, action, YES, nonce), _button(no, CONFIRM, action, NO, nonce)])


def language_keyboard(choices: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per language: (code, name in that language)."""
    return _one_a_row(_button(name, LANGUAGE, code) for code, name in choices)


def patients_keyboard(filters: list[tuple[str, str]], *, current: str, page: int, pages: int,
                      previous: str, following: str) -> InlineKeyboardMarkup:
    """The /patients filter buttons (the current one marked) and previous / next page."""
    rows = _rows_of([_button(("• " if key == current else "") + label, PATIENTS, key, 0) for key, label in filters], 3)
    paging = []
    if page > 0:
        paging.append(_button(previous, PATIENTS, current, page - 1))
    if page + 1 < pages:
        paging.append(_button(following, PATIENTS, current, page + 1))
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(rows)


def switch_keyboard(invite_id: int, *, yes: str, no: str) -> InlineKeyboardMarkup:
    """Follow the invite's patient from this chat instead, or keep the one it follows."""
    return _one_a_row([_button(yes, SWITCH, invite_id, YES), _button(no, SWITCH, invite_id, NO)])


def session_confirm_keyboard(patient_id: int, cycle_id: int, session_time: int, *, yes: str,
                             no: str) -> InlineKeyboardMarkup:
    """Record a session so soon after the previous one (cycle ``cycle_id``), or not; one row."""
    return InlineKeyboardMarkup([[_button(label, SESSION_CONFIRM, patient_id, cycle_id, session_time, choice)
                                  for label, choice in ((yes, YES), (no, NO))]])


def protocol_keyboard(protocols: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """The form's treatments, one a row: (name, title)."""
    return _one_a_row(_button(title, ENROLL_FORM, ENROLL_PROTOCOL, name) for name, title in protocols)


def _number_keyboard(field: str, numbers: Iterable[int]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(_rows_of([_button(str(n), ENROLL_FORM, field, n) for n in numbers], 5))


def session_number_keyboard(highest: int) -> InlineKeyboardMarkup:
    """The form's session numbers 1..highest, five to a row."""
    return _number_keyboard(ENROLL_NUMBER, range(1, highest + 1))


def series_length_keyboard(lengths: range) -> InlineKeyboardMarkup:
    """The form's series lengths, five to a row."""
    return _number_keyboard(ENROLL_LENGTH, lengths)


def enroll_language_keyboard(auto: str, choices: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """The form's languages, one a row: "their own Telegram language" (labelled ``auto``), then (code, name)."""
    return _one_a_row(_button(name, ENROLL_FORM, ENROLL_LANGUAGE, code)
                      for code, name in [(ENROLL_LANGUAGE_AUTO, auto), *choices])


def enroll_zone_keyboard(clinic: str, other: str) -> InlineKeyboardMarkup:
    """The clinic's time zone, or another one (typed next), one a row."""
    return _one_a_row([_button(clinic, ENROLL_FORM, ENROLL_ZONE, ENROLL_ZONE_CLINIC),
                       _button(other, ENROLL_FORM, ENROLL_ZONE, ENROLL_ZONE_OTHER)])


def when_keyboard(now_label: str, other_label: str, options: Sequence[tuple[str, str]] = ()) -> InlineKeyboardMarkup:
    """"Just now" or "another time", and under them a row of options to change: (option, label)."""
    rows = [[_button(now_label, ENROLL_FORM, ENROLL_WHEN, ENROLL_WHEN_NOW),
             _button(other_label, ENROLL_FORM, ENROLL_WHEN, ENROLL_WHEN_OTHER)]]
    if options:
        rows.append([_button(label, ENROLL_FORM, ENROLL_OPTION, option) for option, label in options])
    return InlineKeyboardMarkup(rows)
