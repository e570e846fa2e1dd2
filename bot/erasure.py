"""Taking an erased patient's name off what the bot wrote in staff chats.

Telegram keeps every message; a bot may edit its own at any time (it may delete them only within
48 hours), so what named the patient (an alert, the opening message of their topic, the "Sent to …"
under a reply, a ``/patient`` card) is edited to a line with their number only. Each such message
is remembered when sent (:func:`remember`, jobs/staff/mentions.py). After an erasure an ``unname``
notice is queued for each staff chat concerned (:func:`queue_unname`: by the erasure's handler, and
by the dispatcher's after-pass for any left over, which only queues); the staff outbox
(bot/outbox.py) does the edits (:func:`unname_in_chat`), a few per notice, at the chat's pace like
every other message to staff, never on the dispatcher's path. Inbox alerts are views of their item
and are edited with it (bot/inbox_views.py); the topic's title is renamed and the topic closed by
bot/topics.py, through the outbox too.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message
from telegram.error import BadRequest, Forbidden

from bot.services import Services
from jobs.staff.mentions import chats_naming_erased, forget_mentions, mentions_of_erased, remember_mentions
from jobs.staff.outbox import Action, Notice, Priority

log = logging.getLogger(__name__)

# Edits per notice: a staff group's budget (20 calls a minute) is shared with the alerts waiting for it.
UNNAME_PER_NOTICE = 5


async def remember(services: Services, patient_id: int | None, chat_id: int, messages: list[Message | int],
                   *, caption: bool = False, locale: str | None = None) -> None:
    """These bot messages in the staff chat ``chat_id`` name the patient (in their caption when ``caption``;
    written in ``locale``, which the edit dropping the name keeps: None, STAFF_LANGUAGE)."""
    ids = [message if isinstance(message, int) else message.message_id for message in messages]
    if patient_id is not None and ids:
        locale = None if locale == services.staff_locale else locale
        await services.store.run(remember_mentions, patient_id=patient_id, chat_id=chat_id, message_ids=ids,
                                 now=services.clock(), caption=caption, locale=locale)


async def queue_unname(services: Services, chats: list[int] | None = None) -> int:
    """Queue for the staff outbox the edits that drop erased patients' names (in ``chats``, or wherever
    a message still names one); return how many notices."""
    if chats is None:
        chats = await services.store.run(chats_naming_erased)
    return await services.queue_staff([Notice(chat_id, Action.UNNAME, priority=Priority.ROUTINE,
                                              dedup_key=f"unname:{chat_id}") for chat_id in chats])


async def unname_calls(services: Services, chat_id: int) -> int:
    """How many edits one ``unname`` notice for ``chat_id`` will make (the budget it needs)."""
    return max(1, len(await services.store.run(mentions_of_erased, limit=UNNAME_PER_NOTICE, chat_id=chat_id)))


async def unname_in_chat(services: Services, bot: Any, chat_id: int, *, limit: int = UNNAME_PER_NOTICE) -> int:
    """Edit up to ``limit`` messages in ``chat_id`` that name an erased patient so that they show the number
    only; return how many are settled. ``bot`` is the outbox's paced bot: a 429 or a chat without budget
    propagates (the notice waits), with the edits done so far forgotten first."""
    mentions = await services.store.run(mentions_of_erased, limit=limit, chat_id=chat_id)
    settled = []
    try:
        for mention in mentions:
            # In the language the message was written in: a private chat's may not be STAFF_LANGUAGE.
            locale = services.catalog.resolve_locale(mention.locale, fallback=services.staff_locale)
            text = services.text(locale, "erased_in_staff_chat", patient_id=mention.patient_id)
            try:
                if mention.caption:
                    await bot.edit_message_caption(mention.chat_id, mention.message_id, caption=text)
                else:
                    await bot.edit_message_text(text, chat_id=mention.chat_id, message_id=mention.message_id)
            except (BadRequest, Forbidden) as exc:
                # Edited already, deleted by staff, the bot removed from that chat: nothing more can be done.
                log.info("a staff message of erased patient %d cannot be edited (%s)", mention.patient_id, exc)
            settled.append(mention.id)
    finally:
        await services.store.run(forget_mentions, mention_ids=settled)
    return len(settled)
