"""Who may do what: the one place where staff-only commands are checked.

Wrap a handler callback with :func:`staff_only`; a non-staff caller gets a polite refusal,
nothing is written, and the attempt is logged with the user id only.
"""

from __future__ import annotations

import functools
import logging

from telegram import Update
from telegram.constants import ChatType

from bot.context import AftercareContext

log = logging.getLogger(__name__)


def staff_only(callback=None, *, private: bool = False, admin: bool = False):
    """Let only staff through (only admins with ``admin``; only in a private chat with ``private``)."""

    def decorate(func):
        @functools.wraps(func)
        async def wrapper(update: Update, context: AftercareContext):
            services = context.services
            user = update.effective_user
            locale = context.locale
            if not await services.is_staff(user.id if user else None):
                log.warning("refused %s to non-staff user %s", func.__name__, user.id if user else None)
                key = "not_staff_setup" if not services.settings.staff_ids else "not_staff"
                await _refuse(update, services.text(locale, key, user_id=user.id if user else "?"))
                return None
            if admin and not services.settings.is_admin(user.id):
                log.warning("refused %s to non-admin staff %s", func.__name__, user.id)
                await _refuse(update, services.text(locale, "not_admin"))
                return None
            chat = update.effective_chat
            in_group = chat is not None and chat.type != ChatType.PRIVATE
            # Patient data is shown only in private chats and the staff group, never in any other group.
            if in_group and (private or chat.id != services.settings.staff_chat_id):
                await _refuse(update, services.text(locale, "private_only"))
                return None
            return await func(update, context)

        return wrapper

    return decorate(callback) if callback is not None else decorate


async def _refuse(update: Update, text: str) -> None:
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=False)
    elif update.effective_message:
        await update.effective_message.reply_html(text)
