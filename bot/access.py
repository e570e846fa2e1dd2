"""Who may do what: the one place where staff-only commands are checked.

Wrap a handler callback with :func:`staff_only`; a non-staff caller gets a polite refusal (a
:class:`~jobs.refusal.Refusal`, answered by the one error handler), nothing is written, and the
attempt is logged with the user id only.
"""

from __future__ import annotations

import functools
import logging

from telegram import Update
from telegram.constants import ChatType

from bot.context import AftercareContext
from jobs.refusal import Refusal

log = logging.getLogger(__name__)


def staff_only(callback=None, *, private: bool = False, admin: bool = False):
    """Let only staff through (only admins with ``admin``; only in a private chat with ``private``)."""

    def decorate(func):
        @functools.wraps(func)
        async def wrapper(update: Update, context: AftercareContext):
            services = context.services
            user = update.effective_user
            if not await services.is_staff(user.id if user else None):
                log.warning("refused %s to non-staff user %s", func.__name__, user.id if user else None)
                key = "not_staff_setup" if not services.settings.staff_ids else "not_staff"
                raise Refusal(key, user_id=user.id if user else "?")
            if admin and not services.settings.is_admin(user.id):
                log.warning("refused %s to non-admin staff %s", func.__name__, user.id)
                raise Refusal("not_admin")
            chat = update.effective_chat
            in_group = chat is not None and chat.type != ChatType.PRIVATE
            # Patient data is shown only in private chats and the staff group, never in any other group.
            if in_group and (private or chat.id != services.settings.staff_chat_id):
                raise Refusal("private_only")
            return await func(update, context)

        return wrapper

    return decorate(callback) if callback is not None else decorate

