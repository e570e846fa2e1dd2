"""``/start``: a patient opens their invite link (``/start <token>``) and is linked to the clinic."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.alerts import alert_staff
from bot.delivery import wake_dispatcher
from bot.handlers.staff import join_as_staff
from bot.services import services_of
from jobs.invites import LinkProblem, redeem_invite
from jobs.patients import patient_for_chat
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
    locale = services.locale_of(update)
    if not context.args:
        patient = await services.store.run(patient_for_chat, chat_id=chat.id)
        if patient is not None:
            await message.reply_html(services.text(patient.locale, "start_already", name=patient.name))
        else:
            await message.reply_html(services.text(locale, "start_no_token"))
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
    if result.problem is LinkProblem.ALREADY_YOURS:
        await message.reply_html(services.text(result.patient.locale, "start_already", name=result.patient.name))
        return
    if result.problem is not None:
        await services.wrong_tokens.wrong_token(user.id)
        log.info("invite refused for chat %s: %s", chat.id, result.problem.value)
        await message.reply_html(services.text(locale, _PROBLEM_TEXTS[result.problem]))
        return
    patient = result.patient
    log.info("patient %d linked (%d stale steps skipped)", patient.id, result.skipped)
    try:
        await _greet(update, context, services, result)
    finally:
        # What is due right now (the "what to expect" note) goes out at once, not at the next tick,
        # even if the greeting could not be sent: the one dispatcher job is woken (never run here, so
        # the in-flight bound and its staff report hold for these sends too).
        wake_dispatcher(services, context.job_queue)


async def _greet(update: Update, context: ContextTypes.DEFAULT_TYPE, services, result) -> None:
    message, patient = update.effective_message, result.patient
    if result.relinked:
        await message.reply_html(services.text(patient.locale, "start_linked_again", name=patient.name))
    else:
        quiet = services.settings.quiet_hours
        note = services.text(patient.locale, "start_quiet_note", quiet_start=f"{quiet.start:%H:%M}",
                             quiet_end=f"{quiet.end:%H:%M}") if quiet.enabled else ""
        await message.reply_html(services.text(patient.locale, "start_linked", name=patient.name) + note)
    for old_id in result.superseded:
        # The same Telegram account was another patient record: that record's messages stopped.
        await alert_staff(services, context.bot, services.text(
            services.staff_locale, "alert_superseded", name=patient.name, patient_id=patient.id, old_id=old_id),
            patient_id=patient.id)
