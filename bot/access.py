"""Who may do what: the one place where staff-only commands are checked, and who is acting.

Wrap a handler callback with :func:`staff_only`; a non-staff caller gets a polite refusal (a
:class:`~jobs.refusal.Refusal`, answered by the one error handler), nothing else is written, and
the attempt is logged with the user id only and recorded in the audit trail as refused
(:func:`note_refused`). :class:`AuditedApplication` says, for every update, which Telegram user is
acting, so the use cases record it (jobs/ops/audit.py).
"""

from __future__ import annotations

import functools
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application

from bot.context import AftercareContext
from bot.services import Services
from jobs.ops import audit
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
                await note_refused(services)
                key = "not_staff_setup" if not services.settings.staff_ids else "not_staff"
                raise Refusal(key, user_id=user.id if user else "?")
            if admin and not services.settings.is_admin(user.id):
                log.warning("refused %s to non-admin staff %s", func.__name__, user.id)
                await note_refused(services)
                raise Refusal("not_admin")
            chat = update.effective_chat
            in_group = chat is not None and chat.type != ChatType.PRIVATE
            # Patient data is shown only in private chats and the staff group, never in any other group.
            if in_group and (private or chat.id != services.settings.staff_chat_id):
                raise Refusal("private_only")
            await services.note_staff(user)  # "by Marta" on staff screens, not a number; their language
            context.for_staff()
            return await func(update, context)

        return wrapper

    return decorate(callback) if callback is not None else decorate



async def note_refused(services: Services) -> None:
    """Record that the acting user was refused a staff-only door (ids only; a refused name is not kept)."""
    await services.store.run(audit.record, action=audit.Action.ACCESS, outcome=audit.Outcome.REFUSED,
                             now=services.clock())


def chat_actor(update: object) -> audit.Who:
    """Who acts in ``update``: its Telegram user (the system for updates without one)."""
    user = update.effective_user if isinstance(update, Update) else None
    if user is None:
        return audit.SYSTEM
    return audit.Who(audit.ActorKind.PERSON, audit.Face.CHAT, id=user.id, name=user.full_name)


class AuditedApplication(Application):
    """python-telegram-bot's Application, saying for each update who acts (``jobs.ops.audit.acting``).

    Every path into handlers goes through ``process_update``: the intake worker's and the tests'.
    """

    async def process_update(self, update: object) -> None:
        with audit.acting(chat_actor(update)):
            await super().process_update(update)
