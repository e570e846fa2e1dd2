"""A short-lived memory of ``/console/stats``' figures, so that the database counts a clinic's weeks once
a minute at most, not at every look, and a look seldom waits for a count at all.

What staff may see: figures up to :data:`FRESH` (60 s) old by the clinic's clock, for the weeks ending at
the moment they were counted (the charts' labels are those weeks). A change made in the console itself (any
staff action: take, resolve, reply, enroll, cancel...) forgets them, so the next look counts again; a change
from the chat or the dispatcher (a patient's answer, a reminder sent, /take in Telegram) shows within the
minute. Only the figures are kept, never a page (each page carries its reader's language and CSRF token),
one entry per number of weeks asked (1 to 52: the memory is bounded). Looks that come while the figures
are being counted wait for that count instead of starting their own. The chat's /stats is never cached.

Kept counted (the HTTP server's :func:`keep_counted`): a number of weeks someone looked at is *watched* for
:data:`WATCHED_FOR` after the last look (the page's default weeks for :data:`DEFAULT_WATCHED_FOR`, a working
day); its figures are counted again in the background once they are :data:`REFRESH_AFTER` old, and at once
after a console action. A look then finds fresh figures and answers without counting (at 10,000 patients a
count takes 50 to 340 ms, bench/RESULTS.md). Only the first look of the day, a first look at another number
of weeks, or one that comes before the background count is done, counts or waits for it; and nobody
looking means nothing is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

FRESH = timedelta(seconds=60)
# Counted again in the background this long after the last count: before a look would have to.
REFRESH_AFTER = timedelta(seconds=45)
# A number of weeks somebody looked at stays counted this long after the last look...
WATCHED_FOR = timedelta(minutes=15)
# ... the page's default weeks, the front desk's, a working day.
DEFAULT_WATCHED_FOR = timedelta(hours=12)
# How often (real seconds) the background task looks for figures to count again; after a failed count.
TICK_SECONDS = 5.0
RETRY_SECONDS = 60.0

Count = Callable[[datetime], Awaitable[Any]]


@dataclass
class StatsCache:
    """The figures of each number of weeks, with the moment they were counted at."""

    fresh: timedelta = FRESH
    refresh_after: timedelta = REFRESH_AFTER
    watched_for: timedelta = WATCHED_FOR
    default: int | None = None  # the page's own number of weeks, watched for default_watched_for
    default_watched_for: timedelta = DEFAULT_WATCHED_FOR
    _kept: dict[int, tuple[datetime, Any]] = field(default_factory=dict)
    _counting: dict[int, asyncio.Lock] = field(default_factory=dict)
    _looked: dict[int, datetime] = field(default_factory=dict)
    _generation: int = 0  # moves at each forget: a count begun before it is not kept
    _poked: asyncio.Event = field(default_factory=asyncio.Event)

    async def figures(self, weeks: int, now: datetime, count: Count) -> tuple[datetime, Any]:
        """``(counted_at, figures)``: the kept ones while fresh, else ``await count(now)``'s (then kept)."""
        self._looked[weeks] = now
        return await self._counted(weeks, now, count, self.fresh)

    async def _counted(self, weeks: int, now: datetime, count: Count, younger_than: timedelta) -> tuple[datetime, Any]:
        async with self._counting.setdefault(weeks, asyncio.Lock()):
            kept = self._kept.get(weeks)
            # A clock that went back (a test's, a corrected system clock) finds nothing fresh either.
            if kept is not None and kept[0] <= now < kept[0] + younger_than:
                return kept
            generation = self._generation
            counted = (now, await count(now))
            if generation == self._generation:
                self._kept[weeks] = counted
            return counted

    def watched(self, now: datetime) -> list[int]:
        """The numbers of weeks to keep counted at ``now``: those looked at lately."""
        for weeks, looked in list(self._looked.items()):
            lasting = self.default_watched_for if weeks == self.default else self.watched_for
            if not looked <= now < looked + lasting:
                del self._looked[weeks]
        return sorted(self._looked)

    async def refresh(self, now: datetime, count_for: Callable[[int], Count]) -> None:
        """Count again every watched number of weeks whose figures are missing or :attr:`refresh_after` old."""
        for weeks in self.watched(now):
            await self._counted(weeks, now, count_for(weeks), self.refresh_after)

    async def poked(self, seconds: float) -> None:
        """Wait until :meth:`forget` is called or ``seconds`` have passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._poked.wait()
        self._poked.clear()

    def forget(self) -> None:
        """Staff changed something: the next look counts again (the background task begins at once)."""
        self._kept.clear()
        self._generation += 1
        self._poked.set()


STATS_CACHE = web.AppKey("console_stats_cache", StatsCache)


def keep_counted(now: Callable[[], datetime], count_for: Callable[[web.Application, int], Count]):
    """An aiohttp ``cleanup_ctx``: while the server runs, count the watched figures again before they age
    (``now`` is the clinic's clock; ``count_for(app, weeks)`` counts that many weeks ending at a moment)."""

    async def context(app: web.Application):
        cache = app[STATS_CACHE]

        async def loop() -> None:
            failures = 0
            while True:
                try:
                    await cache.refresh(now(), lambda weeks: count_for(app, weeks))
                    failures = 0
                except Exception:  # noqa: BLE001 - a look counts for itself meanwhile; try again later
                    failures += 1
                    if failures == 1:
                        log.exception("console stats: could not count the figures in the background")
                    else:  # one line a minute, not a traceback every few seconds, while the database is away
                        log.warning("console stats: still could not count the figures (%d tries)", failures)
                await cache.poked(RETRY_SECONDS if failures else TICK_SECONDS)

        task = asyncio.create_task(loop(), name="console-stats")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
