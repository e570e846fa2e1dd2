"""``/help`` and the global error handler."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Conflict, NetworkError

from bot.commands import Audience, commands_for, help_lines
from bot.context import AftercareContext
from jobs.patients.self_service import patient_for_chat
from jobs.refusal import Refusal
from jobs.storage.db import is_busy
from messages.catalog import Raw, html_to_plain

log = logging.getLogger(__name__)


async def help_command(update: Update, context: AftercareContext) -> None:
    """What the bot does and how to reach the clinic; staff see their own commands first."""
    services = context.services
    settings = services.settings
    user = update.effective_user
    staff = await services.is_staff(user.id if user else None)
    if staff:
        context.for_staff()  # the whole screen in their language (STAFF_LANGUAGE in the group)
    locale = context.locale
    patient = None
    if update.effective_chat.type == ChatType.PRIVATE and not staff:
        # A patient's /language choice wins over their Telegram language.
        patient = await services.store.run(patient_for_chat, chat_id=update.effective_chat.id)
        if patient is not None and patient.locale:
            locale = services.catalog.resolve_locale(patient.locale)
    def text(key: str) -> str:
        return services.text(locale, key)

    # A patient's booking link carries their booking reference (a Cal.com page gets it back in its hook).
    booking_url = services.clinic.booking_link(patient.booking_ref if patient is not None else None)
    booking = Raw(services.text(locale, "booking_line", url=booking_url) if booking_url else "")
    patient_help = "\n".join([services.text(locale, "help_patient", booking_line=booking),
                              *help_lines(text, commands_for(Audience.PATIENT))])
    if staff:
        parts = ["\n".join([text("help_staff"), *help_lines(text, commands_for(Audience.STAFF)),
                            text("help_staff_footer")])]
        if settings.is_admin(user.id):
            parts.append("\n".join([text("help_admin"), *help_lines(text, commands_for(Audience.ADMIN))]))
        if update.effective_chat.type != ChatType.PRIVATE:
            parts.append(services.text(locale, "help_chat_id", chat_id=update.effective_chat.id))
        # What patients read, last: staff look up their own commands far more often.
        parts.append(patient_help)
        text = "\n\n".join(parts)
    else:
        text = patient_help
    await update.effective_message.reply_html(text)


async def unknown_command(update: Update, context: AftercareContext) -> None:
    """A command we don't have: point to /help."""
    await context.reply("unknown_command")


async def answer_refusal(update: Update, context: AftercareContext, refusal: Refusal) -> None:
    """Say no the one way: the refusal's text (and usage hint) as a reply, or as a button's notice."""
    services = context.services
    user = update.effective_user
    if not refusal.locale and user is not None and await services.is_staff(user.id):
        context.for_staff()  # as the staff member's other screens: their language, STAFF_LANGUAGE in the group
    locale = refusal.locale or context.locale
    text = services.text(locale, refusal.key, **refusal.values)
    if refusal.hint:
        text += "\n" + services.text(locale, refusal.hint, **refusal.values)
    if update.callback_query is not None:
        # A button's notice is plain text of at most 200 characters.
        await update.callback_query.answer(html_to_plain(text)[:200])
    elif update.effective_message is not None:
        await update.effective_message.reply_html(text)
async def edit_or_send(query: CallbackQuery, text: str, *, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Show ``text`` in place of the pressed button's message; as a new message if that one cannot change.

    Telegram refuses an edit that changes nothing (the same /patients page pressed twice, a language
    chosen again) and an edit of a message without text (a button forged onto a photo): neither is
    an error for the person pressing.
    """
    try:
        await query.edit_message_text(text, reply_markup=reply_markup)
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return
        chat_id = query.message.chat.id if query.message else query.from_user.id
        await query.get_bot().send_message(chat_id, text, reply_markup=reply_markup)


async def unknown_button(update: Update, context: AftercareContext) -> None:
    """A press whose data no button of ours carries: answered (by the error handler), so the client stops waiting."""
    raise Refusal("not_your_button")


# Polling retries a Conflict with a growing pause (up to 30 s): one line now, then one per this.
CONFLICT_REPORT_EVERY = timedelta(minutes=30)
_CONFLICTS_KEY = "polling_conflicts"


def _another_instance_polls(context: AftercareContext) -> None:
    """Telegram refuses a second getUpdates for one token: say so once, not with a traceback per retry."""
    now = context.services.clock()
    first, count = context.bot_data.get(_CONFLICTS_KEY, (None, 0))
    if first is None or now - first >= CONFLICT_REPORT_EVERY:
        more = f" (and {count} times since the last report)" if count else ""
        log.warning("another process is polling Telegram with this BOT_TOKEN, so this one gets no updates%s; "
                    "stop the other one, or use a webhook (WEBHOOK_URL) for several instances", more)
        context.bot_data[_CONFLICTS_KEY] = (now, 0)
    else:
        context.bot_data[_CONFLICTS_KEY] = (first, count + 1)


async def error_handler(update: object, context: AftercareContext) -> None:
    """Answer a refusal with its text; log any other error (ids only) and tell the user we failed."""
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, Refusal) and isinstance(update, Update):
        log.info("update %s refused: %s", update_id, context.error.key)
        try:
            await answer_refusal(update, context, context.error)
        except Exception:  # noqa: BLE001 - the answer is a courtesy; nothing was changed
            log.warning("could not send the refusal for update %s", update_id)
        return
    if update is None and isinstance(context.error, Conflict):
        _another_instance_polls(context)
        return
    if update is None and isinstance(context.error, NetworkError):
        # Polling could not reach Telegram (an outage, a restart of a self-hosted server): PTB
        # retries by itself, so one line is enough, not a traceback per attempt.
        log.warning("cannot reach the Bot API while fetching updates: %s", context.error)
        return
    services = context.services
    key = "error_generic"
    if is_busy(context.error):
        # Another process holds the SQLite write lock past the handlers' short wait: say so at once
        # rather than after the dispatcher's long one, and leave nothing half done (it rolled back).
        log.warning("database busy while handling update %s", update_id)
        key = "busy_try_again"
    else:
        log.error("error while handling update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update):
        return
    user = update.effective_user
    locale = services.catalog.resolve_locale(user.language_code if user else None)
    try:
        if update.callback_query:  # a press must be answered, or the client spins for ever
            await update.callback_query.answer(services.text(locale, key))
        elif update.effective_message:
            await update.effective_message.reply_html(services.text(locale, key))
    except Exception:  # noqa: BLE001 - the reply is a courtesy; the error is already logged
        log.warning("could not tell the user about the error in update %s", update_id)
