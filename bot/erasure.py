"""Taking an erased patient's name off what the bot wrote in staff chats.

Telegram keeps every message; a bot may edit its own at any time (it may delete them only within
48 hours), so what named the patient (an alert, the opening message of their topic, the "Sent to …"
under a reply, a ``/patient`` card) is edited to a line with their number only. Each such message
is remembered when sent (:func:`remember`, jobs/staff/mentions.py); after an erasure the
dispatcher's after-pass edits them (:func:`unname_erased`), a batch at a time, and what Telegram
could not be reached for is tried again at the next pass. Inbox alerts are views of their item and
are edited with it (bot/inbox_views.py); the topic's title is renamed and the topic closed by
bot/topics.py.
"""

from __future__ import annotations

import logging

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.services import Services
from jobs.staff.mentions import forget_mentions, mentions_of_erased, remember_mentions

log = logging.getLogger(__name__)

# Edits per pass: an erasure of a patient with a long history must not hold the pass up for long.
BATCH = 50


async def remember(services: Services, patient_id: int | None, chat_id: int, messages: list[Message | int],
                   *, caption: bool = False) -> None:
    """These bot messages in the staff chat ``chat_id`` name the patient (in their caption when ``caption``)."""
    ids = [message if isinstance(message, int) else message.message_id for message in messages]
    if patient_id is not None and ids:
        await services.store.run(remember_mentions, patient_id=patient_id, chat_id=chat_id, message_ids=ids,
                                 now=services.clock(), caption=caption)


async def unname_erased(services: Services, bot: Bot) -> int:
    """Edit staff messages that name an erased patient so that they show the number only; return how many."""
    mentions = await services.store.run(mentions_of_erased, limit=BATCH)
    settled = []
    for mention in mentions:
        text = services.text(services.staff_locale, "erased_in_staff_chat", patient_id=mention.patient_id)
        try:
            if mention.caption:
                await bot.edit_message_caption(mention.chat_id, mention.message_id, caption=text)
            else:
                await bot.edit_message_text(text, chat_id=mention.chat_id, message_id=mention.message_id)
        except (BadRequest, Forbidden) as exc:
            # Edited already, deleted by staff, the bot removed from that chat: nothing more can be done.
            log.info("a staff message of erased patient %d cannot be edited (%s)", mention.patient_id, exc)
        except RetryAfter:
            break  # the rest at the next pass
        except TelegramError as exc:
            log.warning("could not take erased patient %d's name off a staff message: %s", mention.patient_id, exc)
            continue
        settled.append(mention.id)
    await services.store.run(forget_mentions, mention_ids=settled)
    return len(settled)
