"""Telling staff: escalations, bookings, blocked patients and relayed patient messages.

Alerts go to ``STAFF_CHAT_ID`` when set, otherwise to each staff member privately. An alert
about a patient is remembered, so that a staff member who replies to it reaches the patient.
"""

from __future__ import annotations

import html
import logging
import re

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.services import Services
from jobs.relay import remember_relay

log = logging.getLogger(__name__)

# Telegram's limits, counted as it counts them: UTF-16 code units of the text after HTML parsing.
MAX_TEXT = 4096
MAX_CAPTION = 1024
_TAG = re.compile(r"<[^>]*>")


def visible_length(html_text: str) -> int:
    """How long Telegram finds ``html_text`` (tags do not count, an entity counts as its character)."""
    return len(html.unescape(_TAG.sub("", html_text)).encode("utf-16-le")) // 2


def fits(html_text: str, limit: int) -> bool:
    """Whether ``html_text`` is within ``limit`` as Telegram counts."""
    return visible_length(html_text) <= limit


def chunks(words: str, limit: int = MAX_TEXT) -> list[str]:
    """Plain ``words`` as HTML messages of at most ``limit`` each (split between characters, escaped after)."""
    parts, current, size = [], [], 0
    for char in words:
        width = len(char.encode("utf-16-le")) // 2
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return [html.escape(part, quote=False) for part in parts if part.strip()]


def split_for_limit(header: str, whole: str, words: str, limit: int) -> tuple[str, list[str] | None]:
    """``whole`` (header and words together) if it fits ``limit``; else ``header``, the plain ``words`` to
    follow on their own, in as many messages as they need."""
    return (whole, None) if fits(whole, limit) else (header, chunks(words))


async def alert_staff(services: Services, bot: Bot, text: str, *, patient_id: int | None = None,
                      photo: str | None = None, copy_of: Message | None = None, exclude: int | None = None,
                      follow_up: list[str] | None = None) -> int:
    """Send ``text`` to staff (but ``exclude``); return how many got it.

    With ``photo``, the photo with ``text`` as its caption; with ``copy_of``, a copy of that
    message (a patient's voice message, video or file) with ``text`` as its caption. ``follow_up``
    (HTML messages) come right after: what did not fit beside the header. A staff reply to any of
    them reaches the patient.
    """
    delivered = 0
    chats = [chat_id for chat_id in await services.staff_chats() if chat_id != exclude]
    for chat_id in chats:
        try:
            if copy_of is not None:
                message = await bot.copy_message(chat_id, from_chat_id=copy_of.chat_id, message_id=copy_of.message_id,
                                                 caption=text)
            elif photo is not None:
                message = await bot.send_photo(chat_id, photo=photo, caption=text)
            else:
                message = await bot.send_message(chat_id, text)
        except TelegramError as exc:
            # One unreachable staff member must not keep the alert from the others.
            log.warning("could not alert staff chat %s: %s", chat_id, exc)
            continue
        sent = [message.message_id]
        try:
            for part in follow_up or ():
                sent.append((await bot.send_message(chat_id, part)).message_id)
        except TelegramError as exc:
            log.warning("could not alert staff chat %s (the message after the header): %s", chat_id, exc)
            continue
        delivered += 1
        if patient_id is not None:
            for message_id in sent:
                await services.store.run(remember_relay, staff_chat_id=chat_id, staff_message_id=message_id,
                                         patient_id=patient_id, now=services.clock())
    if chats and not delivered:
        log.error("an alert reached none of the %d staff chat(s): every send failed (see the warnings above)",
                  len(chats))
    elif not chats and exclude is None:
        log.error("an alert reached no staff chat: none is set (set STAFF_CHAT_ID or STAFF_IDS)")
    return delivered
