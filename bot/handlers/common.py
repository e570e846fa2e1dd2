"""``/help`` and the global error handler."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import NetworkError
from telegram.ext import ContextTypes

from bot.services import services_of
from jobs.patients import patient_for_chat
from jobs.refusal import Refusal
from messages.catalog import Raw, html_to_plain

log = logging.getLogger(__name__)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What the bot does and how to reach the clinic; staff see their own commands first."""
    services = services_of(context)
    settings = services.settings
    user = update.effective_user
    locale = services.locale_of(update)
    patient = None
    if update.effective_chat.type == ChatType.PRIVATE:
        # A patient's /language choice wins over their Telegram language.
        patient = await services.store.run(patient_for_chat, chat_id=update.effective_chat.id)
        if patient is not None and patient.locale:
            locale = services.catalog.resolve_locale(patient.locale)
    booking = Raw(services.text(locale, "booking_line", url=settings.booking_url) if settings.booking_url else "")
    patient_help = services.text(locale, "help_patient", booking_line=booking)
    if await services.is_staff(user.id if user else None):
        parts = [services.text(locale, "help_staff")]
        if settings.is_admin(user.id):
            parts.append(services.text(locale, "help_admin"))
        if update.effective_chat.type != ChatType.PRIVATE:
            parts.append(services.text(locale, "help_chat_id", chat_id=update.effective_chat.id))
        # What patients read, last: staff look up their own commands far more often.
        parts.append(patient_help)
        text = "\n\n".join(parts)
    else:
        text = patient_help
    await update.effective_message.reply_html(text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command we don't have: point to /help."""
    services = services_of(context)
    await update.effective_message.reply_html(services.text(services.locale_of(update), "unknown_command"))


async def answer_refusal(update: Update, context: ContextTypes.DEFAULT_TYPE, refusal: Refusal) -> None:
    """Say no the one way: the refusal's text (and usage hint) as a reply, or as a button's notice."""
    services = services_of(context)
    locale = refusal.locale or services.locale_of(update)
    text = services.text(locale, refusal.key, **refusal.values)
    if refusal.hint:
        text += "\n" + services.text(locale, refusal.hint, **refusal.values)
    if update.callback_query is not None:
        # A button's notice is plain text of at most 200 characters.
        await update.callback_query.answer(html_to_plain(text)[:200])
    elif update.effective_message is not None:
        await update.effective_message.reply_html(text)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a refusal with its text; log any other error (ids only) and tell the user we failed."""
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, Refusal) and isinstance(update, Update):
        log.info("update %s refused: %s", update_id, context.error.key)
        try:
            await answer_refusal(update, context, context.error)
        except Exception:  # noqa: BLE001 - the answer is a courtesy; nothing was changed
            log.warning("could not send the refusal for update %s", update_id)
        return
    if update is None and isinstance(context.error, NetworkError):
        # Polling could not reach Telegram (an outage, a restart of a self-hosted server): PTB
        # retries by itself, so one line is enough, not a traceback per attempt.
        log.warning("cannot reach the Bot API while fetching updates: %s", context.error)
        return
    log.error("error while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        services = services_of(context)
        user = update.effective_user
        locale = services.catalog.resolve_locale(user.language_code if user else None)
        try:
            await update.effective_message.reply_html(services.text(locale, "error_generic"))
        except Exception:  # noqa: BLE001 - the reply is a courtesy; the error is already logged
            log.warning("could not tell the user about the error in update %s", update_id)
