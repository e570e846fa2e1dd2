"""A short-lived memory of ``/console/stats``' figures, so that the database counts a clinic's weeks once
a minute at most, not at every look.

What staff may see: figures up to :data:`FRESH` (60 s) old by the clinic's clock, for the weeks ending at
the moment they were counted (the charts' labels are those weeks). A change made in the console itself (any
staff action: take, resolve, reply, enroll, cancel...) forgets them, so the next look counts again; a change
from the chat or the dispatcher (a patient's answer, a reminder sent, /take in Telegram) shows within the
minute. Only the figures are kept, never a page (each page carries its reader's language and CSRF token),
one entry per number of weeks asked (1 to 52: the memory is bounded). Looks that come while the figures
are being counted wait for that count instead of starting their own. The chat's /stats is never cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

FRESH = timedelta(seconds=60)


@dataclass
class StatsCache:
    """The figures of each number of weeks, with the moment they were counted at."""

    fresh: timedelta = FRESH
    _kept: dict[int, tuple[datetime, Any]] = field(default_factory=dict)
    _counting: dict[int, asyncio.Lock] = field(default_factory=dict)
    _generation: int = 0  # moves at each forget: a count begun before it is not kept

    async def figures(self, weeks: int, now: datetime, count: Callable[[datetime], Awaitable[Any]]
                      ) -> tuple[datetime, Any]:
        """``(counted_at, figures)``: the kept ones while fresh, else ``await count(now)``'s (then kept)."""
        async with self._counting.setdefault(weeks, asyncio.Lock()):
            kept = self._kept.get(weeks)
            # A clock that went back (a test's, a corrected system clock) finds nothing fresh either.
            if kept is not None and kept[0] <= now < kept[0] + self.fresh:
                return kept
            generation = self._generation
            counted = (now, await count(now))
            if generation == self._generation:
                self._kept[weeks] = counted
            return counted

    def forget(self) -> None:
        """Staff changed something: the next look counts again."""
        self._kept.clear()
        self._generation += 1


STATS_CACHE = web.AppKey("console_stats_cache", StatsCache)
