"""Telling staff: escalations, bookings, blocked patients and relayed patient messages.

Alerts go to ``STAFF_CHAT_ID`` when set, otherwise to each staff member privately. An alert
about a patient is remembered, so that a staff member who replies to it reaches the patient.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.services import Services
from jobs.relay import remember_relay

log = logging.getLogger(__name__)


async def alert_staff(services: Services, bot: Bot, text: str, *, patient_id: int | None = None,
                      photo: str | None = None, exclude: int | None = None) -> int:
    """Send ``text`` (or ``photo`` with it as caption) to staff (but ``exclude``); return how many got it."""
    delivered = 0
    for chat_id in await services.staff_chats():
        if chat_id == exclude:
            continue
        try:
            if photo is not None:
                message = await bot.send_photo(chat_id, photo=photo, caption=text, parse_mode=ParseMode.HTML)
            else:
                message = await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            # One unreachable staff member must not keep the alert from the others.
            log.warning("could not alert staff chat %s: %s", chat_id, exc)
            continue
        delivered += 1
        if patient_id is not None:
            await services.store.run(remember_relay, staff_chat_id=chat_id, staff_message_id=message.message_id,
                                     patient_id=patient_id, now=services.clock())
    if not delivered:
        log.error("an alert reached no staff chat (set STAFF_CHAT_ID or STAFF_IDS)")
    return delivered
