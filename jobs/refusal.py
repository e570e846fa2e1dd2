"""One way to say no: an exception that carries the key of the bot text explaining it.

Data functions raise :class:`Refusal` when a request cannot be carried out (an unknown patient, a
used invite, a transition the lifecycle does not allow); nothing has been changed when it is
raised. The bot catches it in one place (``bot/handlers/common.py``'s error handler) and answers
with the text ``key`` names, filled in with ``values``; the command line and tests read ``key``.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request we turn down, explained by the bot text ``key`` (filled in with ``values``).

    ``hint`` optionally names a second text that shows how to write the request (a usage line);
    ``locale`` is the language to answer in when the refusing code knows it (a patient's own).
    """

    def __init__(self, key: str, /, *, hint: str | None = None, locale: str | None = None,
                 **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.hint = hint
        self.locale = locale
        self.values = values

    def with_hint(self, hint: str, **values: object) -> Refusal:
        """The same refusal, followed by the usage text ``hint``."""
        return Refusal(self.key, hint=hint, locale=self.locale, **{**self.values, **values})
