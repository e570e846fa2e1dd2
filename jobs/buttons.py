"""Buttons under reminders, and the callback-data prefixes the bot's handlers match.

Callback data is ``<prefix><reminder id>:<answer>``; the handler checks that the reminder is
the pressing patient's own and not yet answered, so forged or old data changes nothing. The data
is read back by bot.callbacks.parse_callback, with every other button's.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from jobs.care.answers import BOOKED, LATER, NOT_CONTINUING
from jobs.care.escalation import FINE, STILL_RED, WORRIED
from messages.catalog import Catalog
from messages.protocol import KIND_CHECKIN, KIND_REBOOK

CHECKIN_PREFIX = "ci:"
REBOOK_PREFIX = "rb:"

_CHECKIN = ((FINE, "button_fine"), (STILL_RED, "button_still_red"), (WORRIED, "button_worried"))
_REBOOK = ((BOOKED, "button_booked"), (LATER, "button_later"), (NOT_CONTINUING, "button_not_continuing"))


def reminder_keyboard(kind: str, reminder_id: int, *, catalog: Catalog, locale: str) -> InlineKeyboardMarkup | None:
    """The answer buttons for a check-in or rebooking reminder; None for plain information."""
    if kind == KIND_CHECKIN:
        prefix, choices = CHECKIN_PREFIX, _CHECKIN
    elif kind == KIND_REBOOK:
        prefix, choices = REBOOK_PREFIX, _REBOOK
    else:
        return None
    # One button per row: the labels are short sentences, and thumbs are not.
    return InlineKeyboardMarkup([[InlineKeyboardButton(catalog.bot(locale, label),
                                                       callback_data=f"{prefix}{reminder_id}:{answer}")]
                                 for answer, label in choices])

