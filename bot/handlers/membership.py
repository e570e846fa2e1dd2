"""Telegram telling us a patient blocked or unblocked the bot (``my_chat_member`` updates)."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.constants import ChatType

from bot.alerts import StaffText, alert_staff
from bot.context import AftercareContext
from jobs.patients.self_service import mark_reachable, mark_unreachable

log = logging.getLogger(__name__)


async def my_chat_member(update: Update, context: AftercareContext) -> None:
    """Blocked: cancel what is pending and tell staff once. Unblocked: re-plan what is still valid."""
    change = update.my_chat_member
    if change.chat.type != ChatType.PRIVATE:
        return
    services = context.services
    status = change.new_chat_member.status
    if status == ChatMember.BANNED:
        patient = await services.store.run(mark_unreachable, chat_id=change.chat.id, now=services.clock())
        if patient is not None:
            log.info("patient %d blocked the bot", patient.id)
            await alert_staff(services, context.bot, StaffText("alert_blocked", {"name": patient.name,
                                                                                 "patient_id": patient.id}),
                              patient_id=patient.id)
    elif status == ChatMember.MEMBER:
        patient = await services.store.run(mark_reachable, chat_id=change.chat.id,
                                           quiet_hours=services.settings.quiet_hours, now=services.clock())
        if patient is not None:
            log.info("patient %d unblocked the bot; pending messages re-planned", patient.id)
