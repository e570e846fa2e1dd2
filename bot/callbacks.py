"""The one handler for our buttons: a press is read once, and its handler finds the result in ``context.button``.

What the data means (prefixes, builders, the parser) is jobs/buttons.py's; this is only the
python-telegram-bot side. :class:`ButtonHandler` reads each press with
:func:`jobs.buttons.parse_callback` and routes it by kind, so handlers never read ``query.data``
again. A press that reads as no button of ours (old, forged) or of a kind without a route is left
to the catch-all handler registered after it, which answers it with a short notice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from bot.context import AftercareContext
from jobs.buttons import Button, parse_callback

ButtonCallback = Callable[[Update, AftercareContext], Awaitable[Any]]


class ButtonHandler(BaseHandler[Update, AftercareContext, Any]):
    """Callback queries whose data reads as a button of a routed kind, each to its kind's callback."""

    __slots__ = ("routes",)

    def __init__(self, routes: Mapping[str, ButtonCallback]) -> None:
        super().__init__(self._route)
        self.routes = dict(routes)

    def check_update(self, update: object) -> Button | None:
        """The press read as a button, or None (not a press, or no button of a routed kind)."""
        if not (isinstance(update, Update) and update.callback_query):
            return None
        button = parse_callback(update.callback_query.data)
        return button if button is not None and button.kind in self.routes else None

    def collect_additional_context(self, context: AftercareContext, update: Update, application: Any,
                                   check_result: Button) -> None:
        context.button = check_result

    async def _route(self, update: Update, context: AftercareContext) -> Any:
        return await self.routes[context.button.kind](update, context)
