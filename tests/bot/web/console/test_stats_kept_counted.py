"""The stats page's figures kept counted in the background (bot/web/console/stats_cache.py): which numbers of
weeks, when they are counted again, and that a look then answers without counting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from bot.web.console import pages
from bot.web.console.stats_cache import DEFAULT_WATCHED_FOR, REFRESH_AFTER, STATS_CACHE, WATCHED_FOR, StatsCache
from tests.bot.web.console.conftest import csrf_of, sign_in

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Counts:
    """A count function per number of weeks that records each count it made."""

    def __init__(self) -> None:
        self.made: list[tuple[int, datetime]] = []

    def __call__(self, weeks: int):
        async def count(now: datetime):
            self.made.append((weeks, now))
            return f"{weeks} weeks to {now:%H:%M:%S}"
        return count


async def test_nothing_is_counted_while_nobody_looks():
    cache, counts = StatsCache(default=8), Counts()
    await cache.refresh(T0, counts)
    assert counts.made == [] and cache.watched(T0) == []


async def test_after_a_look_the_figures_are_counted_again_at_refresh_after_before_a_look_would_count():
    cache, counts = StatsCache(default=8), Counts()
    assert await cache.figures(8, T0, counts(8)) == (T0, "8 weeks to 09:00:00")
    await cache.refresh(T0 + REFRESH_AFTER - timedelta(seconds=1), counts)
    assert counts.made == [(8, T0)]
    await cache.refresh(T0 + REFRESH_AFTER, counts)
    assert counts.made[-1] == (8, T0 + REFRESH_AFTER)
    # The next look, within FRESH of that count, is answered from it.
    later = T0 + REFRESH_AFTER + timedelta(seconds=20)
    assert await cache.figures(8, later, counts(8)) == (T0 + REFRESH_AFTER, "8 weeks to 09:00:45")
    assert len(counts.made) == 2
    assert REFRESH_AFTER < cache.fresh  # counted again before a look would find them stale


async def test_the_default_weeks_stay_counted_a_working_day_after_a_look_other_weeks_15_minutes():
    cache, counts = StatsCache(default=8), Counts()
    await cache.figures(8, T0, counts(8))
    await cache.figures(52, T0, counts(52))
    assert cache.watched(T0) == [8, 52]
    await cache.refresh(T0 + REFRESH_AFTER, counts)
    assert {weeks for weeks, _ in counts.made[2:]} == {8, 52}
    counts.made.clear()
    await cache.refresh(T0 + WATCHED_FOR, counts)  # nobody looked at 52 weeks for WATCHED_FOR
    assert [weeks for weeks, _ in counts.made] == [8]
    assert cache.watched(T0 + DEFAULT_WATCHED_FOR - timedelta(seconds=1)) == [8]
    assert cache.watched(T0 + DEFAULT_WATCHED_FOR) == []


async def test_a_console_action_wakes_the_background_count_and_drops_a_count_it_overtook():
    cache, counts = StatsCache(default=8), Counts()
    await cache.figures(8, T0, counts(8))
    counts.made.clear()
    started = time.monotonic()
    waiting = asyncio.create_task(cache.poked(30))
    await asyncio.sleep(0)
    cache.forget()
    await waiting
    assert time.monotonic() - started < 5  # woken, not timed out
    # A count that began before the forget is not kept: the next refresh counts again.
    release = asyncio.Event()

    def slow(weeks):
        async def count(now):
            await release.wait()
            return "before the action"
        return count

    refreshing = asyncio.create_task(cache.refresh(T0, slow))
    await asyncio.sleep(0)
    cache.forget()
    release.set()
    await refreshing
    await cache.refresh(T0, counts)
    assert counts.made == [(8, T0)]


async def test_the_server_keeps_the_page_counted_after_a_look_and_counts_again_at_once_after_a_console_action(
        console_bot, monkeypatch):
    counted: list[int] = []
    real_weeks = pages._weeks

    async def weeks(app, spans):
        counted.append(len(spans))
        return await real_weeks(app, spans)

    monkeypatch.setattr(pages, "_weeks", weeks)
    await console_bot.link()
    app = build_web_app(console_bot.services, console_bot.app.bot, background=True)
    web = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=CookieJar(unsafe=True))
    await web.start_server()
    try:
        cache = app[STATS_CACHE]

        async def until_counted(times: int) -> None:
            deadline = time.monotonic() + 10
            while len(counted) < times or not cache._kept:
                assert time.monotonic() < deadline, f"the background count did not run ({counted})"
                await asyncio.sleep(0.02)

        await sign_in(console_bot, web)
        await asyncio.sleep(0.2)
        assert counted == []  # nobody looked yet
        page = await (await web.get("/console/stats")).text()  # the first look counts
        assert counted == [pages.STATS_WEEKS] and "Enrollments and links per week" in page
        # An enrollment in the console: the figures are counted again at once, in the background.
        csrf = await csrf_of(web, "/console/enroll")
        assert (await web.post("/console/enroll", data={"csrf": csrf, "name": "Cleo C"})).status == 201
        await until_counted(2)
        page = await (await web.get("/console/stats")).text()
        assert counted == [pages.STATS_WEEKS] * 2
        figure = page.split("<h2>Enrollments and links per week</h2>", 1)[1].split("</figure>", 1)[0]
        assert "<td>2</td>" in figure.rsplit("<tr>", 1)[1]  # this week: Anna and Cleo
    finally:
        await web.close()
    # The server's cleanup stopped the background task.
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "console-stats"]


async def test_a_failing_background_count_is_logged_in_full_once_then_tried_again_a_minute_later(caplog, monkeypatch):
    import contextlib

    from aiohttp import web as aiohttp_web

    from bot.web.console.stats_cache import RETRY_SECONDS, keep_counted

    app = aiohttp_web.Application()
    cache = app[STATS_CACHE] = StatsCache(default=8)
    await cache.figures(8, T0, Counts()(8))  # someone looked: the 8 weeks are watched
    waits: list[float] = []

    async def poked(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    def count_for(app, weeks):
        async def count(now):
            raise RuntimeError("the database went away")
        return count

    monkeypatch.setattr(cache, "poked", poked)
    context = keep_counted(lambda: T0 + REFRESH_AFTER, count_for)(app)
    await anext(context)
    deadline = time.monotonic() + 5
    while len(waits) < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    with contextlib.suppress(StopAsyncIteration):
        await anext(context)
    assert waits[:3] == [RETRY_SECONDS] * 3
    records = [r for r in caplog.records if r.name == "bot.web.console.stats_cache"]
    assert records[0].levelname == "ERROR" and records[0].exc_info is not None
    assert {r.levelname for r in records[1:]} == {"WARNING"} and all(r.exc_info is None for r in records[1:])
