"""Telling staff: escalations, bookings, blocked patients and relayed patient messages.

Alerts go to ``STAFF_CHAT_ID`` when set (into the patient's own topic when that chat is a forum:
bot/topics.py), otherwise to each staff member privately. An alert about a patient is remembered,
so that a staff member who replies to it reaches the patient.
"""

from __future__ import annotations

import html
import json
import logging

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from bot.inbox_views import markup_for, render
from bot.limits import MAX_CAPTION, MAX_TEXT, fits, visible_length  # noqa: F401  (their home for the relay)
from bot.services import Services
from bot.topics import send_about
from jobs.staff.inbox import add_view, open_item
from jobs.staff.relay import remember_relay

log = logging.getLogger(__name__)

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
                      follow_up: list[str] | None = None, reply_markup: InlineKeyboardMarkup | None = None,
                      inbox_kind: str | None = None, inbox_origin: str | None = None) -> int:
    """Send ``text`` to staff (but ``exclude``); return how many got it.

    ``reply_markup``: buttons under the alert itself (a photo's review buttons). ``inbox_kind``
    ("photo", "silence", "worried", …) says which kind of staff work the alert is; accepted and not
    yet used here (the staff inbox of issue 12 opens an item for it).

    With ``photo``, the photo with ``text`` as its caption; with ``copy_of``, a copy of that
    message (a patient's voice message, video or file) with ``text`` as its caption. ``follow_up``
    (HTML messages) come right after: what did not fit beside the header. A staff reply to any of
    them reaches the patient. ``reply_markup``: buttons of the alert's own (a photo's review).

    With ``inbox_kind`` (jobs.staff.inbox.InboxKind: "worried", "photo", "silence", "message", …) the alert
    is an inbox item (``inbox_origin``, jobs.staff.inbox.ItemOrigin: what raised it, where the kind does not
    say): it is opened (a patient's further message joins their open conversation's item), the alert
    carries *I'll take it* / *Resolved* under its own buttons, and every message sent is remembered
    as a view of the item, edited when the item changes (bot/inbox_views.py).
    """
    chats = [chat_id for chat_id in await services.staff_chats() if chat_id != exclude]
    item = None
    body = None
    if inbox_kind is not None:
        item = await services.store.run(open_item, kind=inbox_kind, patient_id=patient_id, text=text,
                                        now=services.clock(), origin=inbox_origin)
        # A conversation's later message shows its own words, under the item's status and buttons.
        body = None if item.text == text else text
        text = render(services, item, body=body, caption=photo is not None or copy_of is not None)
        reply_markup_sent = markup_for(services, item, reply_markup)
    else:
        reply_markup_sent = reply_markup
    delivered = await send_to_chats(services, bot, chats, text, patient_id=patient_id, photo=photo, copy_of=copy_of,
                                    follow_up=follow_up, reply_markup=reply_markup_sent,
                                    item_id=item.id if item else None, body=body, extra=reply_markup)
    if chats and not delivered:
        log.error("an alert reached none of the %d staff chat(s): every send failed (see the warnings above)",
                  len(chats))
    elif not chats and exclude is None:
        log.error("an alert reached no staff chat: none is set (set STAFF_CHAT_ID or STAFF_IDS)")
    return delivered


async def send_to_chats(services: Services, bot: Bot, chats: list[int], text: str, *, patient_id: int | None,
                        photo: str | None = None, copy_of: Message | None = None, follow_up: list[str] | None = None,
                        reply_markup: InlineKeyboardMarkup | None = None, item_id: int | None = None,
                        lead: str = "", body: str | None = None, extra: InlineKeyboardMarkup | None = None) -> int:
    """Send the alert to each of ``chats``; remember each message for replies (and as a view of ``item_id``)."""
    delivered = 0
    for chat_id in chats:

        async def first(thread: int | None, chat_id: int = chat_id) -> Message:
            if copy_of is not None:
                return await bot.copy_message(chat_id, from_chat_id=copy_of.chat_id, message_id=copy_of.message_id,
                                              caption=text, message_thread_id=thread, reply_markup=reply_markup)
            if photo is not None:
                return await bot.send_photo(chat_id, photo=photo, caption=text, message_thread_id=thread,
                                            reply_markup=reply_markup)
            return await bot.send_message(chat_id, text, message_thread_id=thread, reply_markup=reply_markup)

        try:
            # In a forum staff chat, into the patient's topic (bot/topics.py); anywhere else, as it always was.
            message, thread = await send_about(services, bot, chat_id, patient_id, first)
        except TelegramError as exc:
            # One unreachable staff member must not keep the alert from the others.
            log.warning("could not alert staff chat %s: %s", chat_id, exc)
            continue
        if item_id is not None:
            await services.store.run(add_view, item_id=item_id, chat_id=chat_id, message_id=message.message_id,
                                     caption=photo is not None or copy_of is not None, lead=lead, body=body,
                                     extra_markup=json.dumps(extra.to_dict()) if extra is not None else None)
        sent = [message.message_id]
        try:
            for part in follow_up or ():
                sent.append((await bot.send_message(chat_id, part, message_thread_id=thread)).message_id)
        except TelegramError as exc:
            log.warning("could not alert staff chat %s (the message after the header): %s", chat_id, exc)
            continue
        delivered += 1
        if patient_id is not None:
            for message_id in sent:
                await services.store.run(remember_relay, staff_chat_id=chat_id, staff_message_id=message_id,
                                         patient_id=patient_id, now=services.clock())
    return delivered
