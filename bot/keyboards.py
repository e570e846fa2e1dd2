"""Inline keyboards and the callback-data prefixes they use (named here, matched in bot/app.py)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

ENROLL_PROTOCOL = "enroll:protocol:"
ENROLL_NUMBER = "enroll:number:"
ENROLL_WHEN_NOW = "enroll:when:now"
ENROLL_WHEN_OTHER = "enroll:when:other"
ENROLL_ANY = r"^enroll:"


def protocol_keyboard(protocols: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per protocol: (name, title)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(title, callback_data=ENROLL_PROTOCOL + name)]
                                 for name, title in protocols])


def session_number_keyboard(series_length: int) -> InlineKeyboardMarkup:
    """Buttons 1..series_length, five to a row."""
    buttons = [InlineKeyboardButton(str(n), callback_data=f"{ENROLL_NUMBER}{n}") for n in range(1, series_length + 1)]
    return InlineKeyboardMarkup([buttons[i:i + 5] for i in range(0, len(buttons), 5)])


def when_keyboard(now_label: str, other_label: str) -> InlineKeyboardMarkup:
    """"Just now" or "another time"."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(now_label, callback_data=ENROLL_WHEN_NOW),
                                  InlineKeyboardButton(other_label, callback_data=ENROLL_WHEN_OTHER)]])
