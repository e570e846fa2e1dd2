"""Inline keyboards and the callback-data prefixes they use (named here, read back by bot/callbacks.py)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

ENROLL_PROTOCOL = "enroll:protocol:"
ENROLL_NUMBER = "enroll:number:"
ENROLL_WHEN_NOW = "enroll:when:now"
ENROLL_WHEN_OTHER = "enroll:when:other"
# The options the "when" screen offers beside the time: series length, language, time zone.
ENROLL_OPTION = "enroll:option:"
ENROLL_LENGTH = "enroll:length:"
ENROLL_LANGUAGE = "enroll:lang:"
ENROLL_ZONE_CLINIC = "enroll:zone:clinic"
ENROLL_ZONE_OTHER = "enroll:zone:other"
# "Their own Telegram language" as a form answer.
ENROLL_LANGUAGE_AUTO = "-"
ENROLL_ANY = r"^enroll:"
# A photo check-in's review buttons, for staff: ph:<photo id>:<review>.
PHOTO_PREFIX = "ph:"


def protocol_keyboard(protocols: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per protocol: (name, title)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(title, callback_data=ENROLL_PROTOCOL + name)]
                                 for name, title in protocols])


def number_keyboard(prefix: str, numbers: range) -> InlineKeyboardMarkup:
    """One button per number (callback ``prefix`` + the number), five to a row."""
    buttons = [InlineKeyboardButton(str(n), callback_data=f"{prefix}{n}") for n in numbers]
    return InlineKeyboardMarkup([buttons[i:i + 5] for i in range(0, len(buttons), 5)])


def session_number_keyboard(series_length: int) -> InlineKeyboardMarkup:
    """Buttons 1..series_length, five to a row."""
    return number_keyboard(ENROLL_NUMBER, range(1, series_length + 1))


def when_keyboard(now_label: str, other_label: str, options: list[tuple[str, str]] = ()) -> InlineKeyboardMarkup:
    """"Just now" or "another time", and under them a row of options to change: (option, label)."""
    rows = [[InlineKeyboardButton(now_label, callback_data=ENROLL_WHEN_NOW),
             InlineKeyboardButton(other_label, callback_data=ENROLL_WHEN_OTHER)]]
    if options:
        rows.append([InlineKeyboardButton(label, callback_data=ENROLL_OPTION + option) for option, label in options])
    return InlineKeyboardMarkup(rows)


def choice_keyboard(choices: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per row: (callback data, label)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)] for data, label in choices])

CONFIRM_PREFIX = "cf:"
LANGUAGE_PREFIX = "lang:"
PATIENTS_PREFIX = "pl:"
SWITCH_PREFIX = "sw:"          # sw:<invite id>:yes|no  -- follow another patient's invite from this chat
SESSION_CONFIRM_PREFIX = "ss:"  # ss:<patient id>:<latest cycle id>:<session unix time>:yes|no


def confirm_keyboard(action: str, nonce: str, *, yes: str, no: str) -> InlineKeyboardMarkup:
    """Yes / no for a patient's /stop or /delete; ``nonce`` ties both to this prompt (jobs.patients.confirmations)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(yes, callback_data=f"{CONFIRM_PREFIX}{action}:yes:{nonce}")],
                                 [InlineKeyboardButton(no, callback_data=f"{CONFIRM_PREFIX}{action}:no:{nonce}")]])


def language_keyboard(choices: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per language: (code, name in that language)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(name, callback_data=LANGUAGE_PREFIX + code)]
                                 for code, name in choices])


def patients_keyboard(filters: list[tuple[str, str]], *, current: str, page: int, pages: int,
                      previous: str, following: str) -> InlineKeyboardMarkup:
    """The /patients filter buttons (the current one marked) and previous / next page."""
    rows = []
    buttons = [InlineKeyboardButton(("• " if key == current else "") + label, callback_data=f"{PATIENTS_PREFIX}{key}:0")
               for key, label in filters]
    rows.extend(buttons[i:i + 3] for i in range(0, len(buttons), 3))
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton(previous, callback_data=f"{PATIENTS_PREFIX}{current}:{page - 1}"))
    if page + 1 < pages:
        paging.append(InlineKeyboardButton(following, callback_data=f"{PATIENTS_PREFIX}{current}:{page + 1}"))
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(rows)


def photo_review_keyboard(photo_id: int, labels: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """The review buttons under a photo for staff, one a row: (review, label)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"{PHOTO_PREFIX}{photo_id}:{review}")]
                                 for review, label in labels])
# The staff inbox's buttons under an alert: ib:<item id>:<action>.
INBOX_PREFIX = "ib:"
INBOX_TAKE = "take"
INBOX_RESOLVE = "done"
INBOX_ACTIONS = (INBOX_TAKE, INBOX_RESOLVE)


def inbox_keyboard(item_id: int, buttons: list[tuple[str, str]],
                   extra: InlineKeyboardMarkup | None = None) -> InlineKeyboardMarkup | None:
    """The alert's own buttons (``extra``: a photo's review) above the inbox's (action, label) row."""
    rows = [list(row) for row in extra.inline_keyboard] if extra is not None else []
    if buttons:
        rows.append([InlineKeyboardButton(label, callback_data=f"{INBOX_PREFIX}{item_id}:{action}")
                     for action, label in buttons])
    return InlineKeyboardMarkup(rows) if rows else None
