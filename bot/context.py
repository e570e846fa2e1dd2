"""What every handler and job callback receives: python-telegram-bot's context, with our services.

Following python-telegram-bot's ``contexttypesbot.py``: a ``CallbackContext`` subclass registered
through ``ContextTypes`` hands handlers what they need as properties, instead of each one digging
the services out of ``bot_data`` and working out the reader's language again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram import Message, Update
from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.services import SERVICES_KEY, Services
from jobs.buttons import Button

if TYPE_CHECKING:
    from telegram.ext import Application


class AftercareContext(CallbackContext[ExtBot, dict, dict, dict]):
    """``context.services``, ``context.locale``, ``context.reply(key, **values)`` and a press's ``context.button``."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self._update: Update | None = None
        self._button: Button | None = None
        # Set for staff (bot/access.py): their screens' language, so that none is half in two languages.
        self._locale: str | None = None

    @classmethod
    def from_update(cls, update: object, application: Application) -> AftercareContext:
        context = super().from_update(update, application)
        if isinstance(update, Update):
            context._update = update
        return context

    @property
    def services(self) -> Services:
        """The one Services object (settings, database, texts, clock) built by ``bot.app``."""
        return self.bot_data[SERVICES_KEY]

    @property
    def locale(self) -> str:
        """The language to answer this update's sender in (their Telegram language, when we have it); for
        staff, the language of their screens (``Services.staff_screen_locale``)."""
        if self._locale is not None:
            return self._locale
        if self._update is None:
            return self.services.staff_locale
        return self.services.locale_of(self._update)

    def for_staff(self) -> None:
        """The sender is staff: answer in their screens' language (theirs in private, STAFF_LANGUAGE in the group)."""
        if self._update is not None:
            self._locale = self.services.staff_screen_locale(self._update)

    @property
    def button(self) -> Button:
        """The pressed button, read once by ``bot.callbacks.ButtonHandler`` before its handler runs."""
        if self._button is None:
            raise RuntimeError("context.button needs a press routed by bot.callbacks.ButtonHandler")
        return self._button

    @button.setter
    def button(self, button: Button) -> None:
        self._button = button

    def text(self, key: str, /, **values: Any) -> str:
        """The ``[bot]`` text ``key`` in the sender's language."""
        return self.services.text(self.locale, key, **values)

    async def reply(self, key: str, /, *, reply_markup: Any = None, **values: Any) -> Message:
        """Answer the update's message with the text ``key`` in the sender's language (HTML by Defaults)."""
        if self._update is None or self._update.effective_message is None:
            raise RuntimeError("reply() needs an update with a message")
        return await self._update.effective_message.reply_text(self.text(key, **values), reply_markup=reply_markup)


CONTEXT_TYPES = ContextTypes(context=AftercareContext)
