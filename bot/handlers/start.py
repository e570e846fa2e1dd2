"""``/start``: a patient opens their invite link (``/start <token>``) and is linked to the clinic."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.delivery import run_dispatch
from bot.handlers.staff import join_as_staff
from bot.services import services_of
from jobs.invites import LinkProblem, redeem_invite
from jobs.staff import STAFF_TOKEN_PREFIX

log = logging.getLogger(__name__)

_PROBLEM_TEXTS = {
    LinkProblem.UNKNOWN: "start_unknown",
    LinkProblem.USED: "start_used",
    LinkProblem.EXPIRED: "start_expired",
}


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link the chat to the invite's patient, greet them by name and send what is due at once."""
    services = services_of(context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    locale = services.catalog.resolve_locale(user.language_code if user else None)
    clinic = services.settings.clinic_name
    if not context.args:
        await message.reply_html(services.text(locale, "start_no_token", clinic_name=clinic))
        return
    if services.wrong_tokens.is_throttled(user.id):
        log.warning("invite attempts from user %s throttled", user.id)
        await message.reply_html(services.text(locale, "start_throttled"))
        return
    if context.args[0].startswith(STAFF_TOKEN_PREFIX):
        await join_as_staff(update, context, context.args[0])
        return
    result = await services.store.run(redeem_invite, token=context.args[0], chat_id=chat.id,
                                      now=services.clock(), locale=locale)
    if result.problem in (LinkProblem.UNKNOWN, LinkProblem.USED, LinkProblem.EXPIRED):
        await services.wrong_tokens.wrong_token(user.id)
    if result.problem is LinkProblem.ALREADY_YOURS:
        await message.reply_html(services.text(result.patient.locale, "start_already", name=result.patient.name))
        return
    if result.problem is not None:
        log.info("invite refused for chat %s: %s", chat.id, result.problem.value)
        await message.reply_html(services.text(locale, _PROBLEM_TEXTS[result.problem], clinic_name=clinic))
        return
    patient = result.patient
    log.info("patient %d linked (%d stale steps skipped)", patient.id, result.skipped)
    quiet = services.settings.quiet_hours
    await message.reply_html(services.text(
        patient.locale, "start_linked", name=patient.name, clinic_name=clinic,
        quiet_start=f"{quiet.start:%H:%M}", quiet_end=f"{quiet.end:%H:%M}",
    ))
    # What is due right now (the "what to expect" note) goes out at once, not at the next tick.
    await run_dispatch(services, context.bot)
