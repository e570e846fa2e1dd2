"""Throttling wrong invite tokens: a burst of bad ``/start`` tokens from one user is slowed down.

Each user gets an aiolimiter leaky bucket (the library python-telegram-bot's own rate limiter
uses); a wrong token takes one unit. An empty bucket means every ``/start <token>`` from that
user, right or wrong, is refused until it drains: guessing tokens stops paying.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

MAX_WRONG_TOKENS = 5
PERIOD_SECONDS = 600.0


class WrongTokenThrottle:
    """Per-user budget of wrong tokens."""

    def __init__(self, max_failures: int = MAX_WRONG_TOKENS, period: float = PERIOD_SECONDS) -> None:
        self.max_failures, self.period = max_failures, period
        self._buckets: dict[int, AsyncLimiter] = {}

    def is_throttled(self, user_id: int) -> bool:
        """Whether this user has used up their wrong tokens for now."""
        bucket = self._buckets.get(user_id)
        return bucket is not None and not bucket.has_capacity()

    async def wrong_token(self, user_id: int) -> None:
        """Count one wrong token against the user."""
        bucket = self._buckets.setdefault(user_id, AsyncLimiter(self.max_failures, self.period))
        if bucket.has_capacity():
            await bucket.acquire()  # immediate: there is capacity
        if len(self._buckets) > 10_000:
            # Forget users whose buckets have drained, so the table stays small.
            self._buckets = {uid: b for uid, b in self._buckets.items() if not b.has_capacity(self.max_failures)}
