"""What the benchmark runs in child processes, one measurement per process.

``python -m bench.workers NAME '<json args>'`` (from the project root) runs one worker and prints
its result as one JSON line prefixed ``RESULT ``. Each worker is its own process so that its CPU
time and memory are its own: the fake Bot API runs in yet another process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common import TOKEN, emit, peak_rss_mb, rss_mb

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------- helpers


class ThreadProfiles:
    """cProfile in every thread (the dispatcher's DB work runs on worker threads), merged at the end.

    The timer is each thread's CPU time, so waiting (idle pool threads, SQLite's busy handler
    sleeping on the write lock, the event loop's epoll) costs nothing and the shares are shares of CPU.
    """

    def __init__(self) -> None:
        import cProfile
        import threading

        self._profiles: list = []
        self._cprofile = cProfile
        self._threading = threading

    def _start_in_thread(self, *args) -> None:
        profile = self._cprofile.Profile(time.thread_time)
        self._profiles.append(profile)
        sys.setprofile(None)
        profile.enable()

    def start(self) -> None:
        self._threading.setprofile(self._start_in_thread)
        main = self._cprofile.Profile(time.thread_time)
        self._profiles.append(main)
        main.enable()

    def stop(self):
        import pstats

        self._threading.setprofile(None)
        self._profiles[0].disable()
        stats = None
        for profile in self._profiles:
            profile.create_stats()
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        return stats


def _group(filename: str, function: str) -> str:
    if filename == "~":
        name = function
        if "sqlite3" in name:
            return "sqlite3 (C)"
        if "psycopg" in name or "pgconn" in name.lower():
            return "psycopg (C)"
        if "select" in name or "epoll" in name or "poll" in name:
            return "event loop: select/epoll (C)"
        if "socket" in name or "recv" in name or "send" in name:
            return "sockets (C)"
        if "lock" in name.lower() or "acquire" in name:
            return "thread locks (C)"
        return "other builtins (C)"
    for marker, group in (("/httpcore/", "httpcore"), ("/httpx/", "httpx"), ("/h11/", "h11 (HTTP/1.1 parser)"),
                          ("/anyio/", "anyio"), ("/telegram/", "python-telegram-bot"),
                          ("/sqlalchemy/", "SQLAlchemy"), ("/sqlmodel/", "SQLModel"), ("/psycopg/", "psycopg"),
                          ("/asyncio/", "asyncio"), ("/concurrent/", "concurrent.futures (to_thread)"),
                          ("threading.py", "threading"), ("/json/", "json"), ("/jobs/", "aftercare jobs/"),
                          ("/messages/", "aftercare messages/"), ("/zoneinfo/", "zoneinfo"),
                          ("/aiolimiter/", "aiolimiter")):
        if marker in filename:
            return group
    return "other Python"


def summarize_profile(stats, total_cpu: float) -> dict:
    """Own time by package, and the cumulative time of the dispatcher's functions."""
    by_group: dict[str, float] = {}
    top: list[tuple[float, str]] = []
    cumulative: dict[str, float] = {}
    total = 0.0
    for (filename, line, function), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        group = _group(filename, function)
        by_group[group] = by_group.get(group, 0.0) + tt
        total += tt
        short = filename.split("site-packages/")[-1].replace("/work/main/", "")
        top.append((tt, f"{short}:{line}({function})"))
        if "/jobs/dispatch.py" in filename or "/jobs/storage/db.py" in filename or (
                "/telegram/_bot.py" in filename and function in ("send_message", "_post", "_do_post")) or (
                "/telegram/request/_httpxrequest.py" in filename and function == "do_request") or (
                "/httpx/_client.py" in filename and function == "send"):
            cumulative[f"{short.split('/')[-1]}:{function}"] = cumulative.get(
                f"{short.split('/')[-1]}:{function}", 0.0) + ct
    top.sort(reverse=True)
    return {
        "profiled_own_time_s": round(total, 3),
        "share_by_package": {k: round(v / total, 3) for k, v in sorted(by_group.items(), key=lambda kv: -kv[1])},
        "top_functions_own_time": [(name, round(t / total, 3)) for t, name in top[:25]],
        "cumulative_s": {k: round(v, 3) for k, v in sorted(cumulative.items(), key=lambda kv: -kv[1])},
    }


def _count_due(store, now) -> int:
    from sqlalchemy import func, select

    from jobs.storage.models import Reminder
    from jobs.storage.states import ReminderStatus

    def count(session):
        return session.exec(select(func.count()).select_from(Reminder).where(
            Reminder.status.in_([ReminderStatus.PENDING, ReminderStatus.CLAIMED]),
            Reminder.due_at <= now + timedelta(minutes=1))).one()[0]

    return store.call(count)


def _catalog_and_clinic():
    from jobs.dispatch import ClinicInfo
    from messages import load_catalog

    return load_catalog(), ClinicInfo("Clinic", "+1 555")


async def _plain_bot(root: str):
    from telegram import Bot

    from bot.http_client import AiohttpRequest

    bot = Bot(TOKEN, base_url=f"{root}/bot", request=AiohttpRequest(), get_updates_request=AiohttpRequest())
    await bot.initialize()
    return bot, bot.shutdown


async def _limited_bot(root: str, limiter: str = "app", url: str = "sqlite://"):
    """A rate-limited bot. ``limiter``:

    * ``"app"``: the Application exactly as ``bot.app.build_application`` builds it (its
      AIORateLimiter configuration included), settings pointing at the fake;
    * ``"ptb_default"``: ``ApplicationBuilder().rate_limiter(AIORateLimiter(max_retries=0))``,
      PTB's default limiter (a bucket of 30 per second), for reference.
    """
    import logging

    from telegram.ext import AIORateLimiter, ApplicationBuilder

    # AIORateLimiter logs every 429 with a traceback; the counts are in the report.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    if limiter == "app":
        from bot.app import build_application, build_services
        from bot.settings import Settings

        settings = Settings.from_env({"BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": root, "DATABASE_URL": url})
        app = build_application(settings, build_services(settings, migrate=False))
        logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    else:
        app = (ApplicationBuilder().token(TOKEN).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
               .rate_limiter(AIORateLimiter(max_retries=0)).build())
    await app.initialize()
    return app.bot, app.shutdown


def _describe_limiter(bot) -> str:
    limiter = getattr(bot, "rate_limiter", None)
    base = getattr(limiter, "_base_limiter", None)
    if base is None:
        return type(limiter).__name__ if limiter else "none"
    return (f"{type(limiter).__name__}(overall_max_rate={base.max_rate:g}, "
            f"overall_time_period={base.time_period:.4g}, max_retries={getattr(limiter, '_max_retries', '?')})")


# ---------------------------------------------------------------------------------------------- ours

async def drain(args: dict) -> dict:
    """Drain every due reminder with dispatch_due; wall time and CPU of this process."""
    from jobs.dispatch import ChatPacer, DeliveryPolicy, dispatch_due
    from jobs.storage.db import Store, make_engine

    catalog, clinic = _catalog_and_clinic()
    store = Store(make_engine(args["url"]))
    limited = args.get("rate_limited", False)
    bot, close = await (_limited_bot(args["root"], args.get("limiter", "app"), args["url"]) if limited
                        else _plain_bot(args["root"]))
    # Unless told otherwise, the project's own DeliveryPolicy defaults.
    policy = DeliveryPolicy(**{key: args[key] for key in ("batch_size", "concurrency") if key in args})
    pacer = ChatPacer(0) if not limited else ChatPacer()
    import httpcore._synchronization as sync  # noqa: F401 - so its import is not counted below

    now = datetime.now(UTC)
    profiler = ThreadProfiles() if args.get("profile") else None
    gc.collect()
    if profiler:
        profiler.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    total = {"sent": 0, "skipped": 0, "failed": 0, "retried": 0, "rate_limited": 0, "runs": 0}
    # One dispatch_due pass drains everything unless a 429 halts it. Then the bot's job runs again
    # at its next tick (``tick_s``, DISPATCH_INTERVAL_SECONDS; 0: at once, a best case), until
    # nothing is left or ``max_wall_s`` has passed.
    tick = args.get("tick_s", 0)
    deadline = wall0 + args.get("max_wall_s", 600)
    while True:
        report = await dispatch_due(store=store, bot=bot, catalog=catalog, clinic=clinic, now=now, policy=policy,
                                    pacer=pacer, should_stop=lambda: time.perf_counter() > deadline)
        total["runs"] += 1
        for key in ("sent", "skipped", "failed", "retried", "rate_limited"):
            total[key] += getattr(report, key)
        if not report.rate_limited or time.perf_counter() > deadline:
            break
        if tick:
            elapsed = time.perf_counter() - wall0
            await asyncio.sleep(min(tick - elapsed % tick, max(0.0, deadline - time.perf_counter())))
            if time.perf_counter() >= deadline:
                break
        # Re-queued rows are due again after retry_after (1 s).
        now = max(datetime.now(UTC), now + timedelta(seconds=1.5))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    result = {**total, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
              "msgs_per_s": round(total["sent"] / wall, 1) if wall else None,
              "left_due": _count_due(store, now),
              "cpu_ms_per_msg": round(cpu * 1000 / total["sent"], 3) if total["sent"] else None,
              "rss_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if limited:
        result["limiter_config"] = _describe_limiter(bot)
    if profiler:
        # Let the worker threads exit first: a profile stopped from another thread while its own
        # thread is blocked would charge the wait to the blocked call.
        await asyncio.get_running_loop().shutdown_default_executor()
        result["profile"] = summarize_profile(profiler.stop(), cpu)
    await close()
    store.dispose()
    return result


async def components(args: dict) -> dict:
    """What one message costs, piece by piece, each piece alone (CPU ms of this process per message).

    On a freshly seeded database of due reminders: claim them all (claim_due in batches), render
    each (render_reminder + reminder_keyboard), send each through PTB's Bot (``concurrency`` in
    flight, no database) on our AiohttpRequest and on PTB's default HTTPXRequest, post the same
    request through a bare httpx.AsyncClient and a bare aiohttp.ClientSession, and record each
    as sent (record_sent through Store.call on this thread, then through Store.run, i.e. a worker
    thread per call as the dispatcher does).
    """
    import httpx
    from sqlmodel import Session
    from telegram.constants import ParseMode

    from jobs.buttons import reminder_keyboard
    from jobs.dispatch import OutcomeRecorder, claim_due, record_sent, render_reminder
    from jobs.storage.db import Store, make_engine

    catalog, clinic = _catalog_and_clinic()
    engine = make_engine(args["url"])
    store = Store(engine)
    bot, close = await _plain_bot(args["root"])
    now = datetime.now(UTC)
    concurrency = args.get("concurrency", 4)
    out: dict = {}

    def measure(name: str, count: int, cpu: float, wall: float) -> None:
        out[name] = {"cpu_ms_per_msg": round(cpu * 1000 / count, 3), "msgs_per_s": round(count / wall, 1),
                     "count": count}

    gc.collect()
    claimed = []
    c0, w0 = time.process_time(), time.perf_counter()
    while True:
        with Session(engine) as session:
            batch = claim_due(session, now=now, limit=1000, lease=timedelta(minutes=5))
            session.commit()
        claimed += batch
        if len(batch) < 1000:
            break
    measure("claim_due (batches of 1000)", len(claimed), time.process_time() - c0, time.perf_counter() - w0)
    n = len(claimed)

    c0, w0 = time.process_time(), time.perf_counter()
    texts = [(render_reminder(item, catalog=catalog, clinic=clinic),
              reminder_keyboard(item.kind, item.id, catalog=catalog, locale=item.locale)) for item in claimed]
    measure("render_reminder + keyboard", n, time.process_time() - c0, time.perf_counter() - w0)

    limiter = asyncio.Semaphore(concurrency)

    async def send(item, text):
        async with limiter:
            return await bot.send_message(item.chat_id, text[0], parse_mode=ParseMode.HTML, reply_markup=text[1])

    sends = args.get("sends", n)
    pairs = list(zip(claimed, texts, strict=True))[:sends]
    c0, w0 = time.process_time(), time.perf_counter()
    messages = await asyncio.gather(*(send(item, text) for item, text in pairs))
    measure(f"PTB Bot.send_message on AiohttpRequest, as the bot sends ({concurrency} in flight)", sends,
            time.process_time() - c0, time.perf_counter() - w0)

    # For comparison: the same through PTB's default HTTPXRequest (what the bot used before).
    from telegram import Bot

    httpx_bot = Bot(TOKEN, base_url=f"{args['root']}/bot")
    await httpx_bot.initialize()

    async def send_httpx(item, text):
        async with limiter:
            return await httpx_bot.send_message(item.chat_id, text[0], parse_mode=ParseMode.HTML,
                                                reply_markup=text[1])

    c0, w0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(send_httpx(item, text) for item, text in pairs))
    measure(f"PTB Bot.send_message on PTB's default HTTPXRequest ({concurrency} in flight)", sends,
            time.process_time() - c0, time.perf_counter() - w0)
    await httpx_bot.shutdown()

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=256)) as client:
        url = f"{args['root']}/bot{TOKEN}/sendMessage"

        async def post(item, text):
            async with limiter:
                response = await client.post(url, data={"chat_id": str(item.chat_id), "text": text[0],
                                                        "parse_mode": "HTML"})
                return response.json()

        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(post(item, text) for item, text in pairs))
        measure(f"bare httpx.AsyncClient.post ({concurrency} in flight)", sends, time.process_time() - c0,
                time.perf_counter() - w0)

    import aiohttp

    # The same request through aiohttp's client alone, without PTB around it.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as client:
        url = f"{args['root']}/bot{TOKEN}/sendMessage"

        async def post_aiohttp(item, text):
            async with limiter:
                async with client.post(url, data={"chat_id": str(item.chat_id), "text": text[0],
                                                  "parse_mode": "HTML"}) as response:
                    return await response.json()

        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(post_aiohttp(item, text) for item, text in pairs))
        measure(f"bare aiohttp.ClientSession.post ({concurrency} in flight)", sends, time.process_time() - c0,
                time.perf_counter() - w0)

    half = n // 2
    c0, w0 = time.process_time(), time.perf_counter()
    for item, message in zip(claimed[:half], messages[:half], strict=False):
        store.call(record_sent, reminder_id=item.id, message_id=message.message_id, now=now)
    measure("record_sent via Store.call (same thread)", half, time.process_time() - c0, time.perf_counter() - w0)

    c0, w0 = time.process_time(), time.perf_counter()
    rest = list(zip(claimed[half:], messages[half:], strict=False))

    async def record(item, message):
        async with limiter:
            await store.run(record_sent, reminder_id=item.id, message_id=message.message_id, now=now)

    quarter = len(rest) // 2
    await asyncio.gather(*(record(item, message) for item, message in rest[:quarter]))
    measure(f"record_sent via Store.run (worker threads, {concurrency} in flight)", quarter,
            time.process_time() - c0, time.perf_counter() - w0)
    # The dispatcher's group commit: outcomes that finish together share one transaction (and
    # one executemany).
    recorder = OutcomeRecorder(store)

    async def grouped(item, message):
        async with limiter:
            await recorder.record(record_sent, reminder_id=item.id, message_id=message.message_id, now=now)

    c0, w0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(grouped(item, message) for item, message in rest[quarter:]))
    measure(f"record_sent via OutcomeRecorder (group commit, {concurrency} in flight)", len(rest) - quarter,
            time.process_time() - c0, time.perf_counter() - w0)
    await close()
    store.dispose()
    return {"components": out}


async def dispatcher_start(args: dict) -> dict:
    """A dispatcher process as the bot starts one: migrate, build the client, dispatch.

    Sends until ``stop_after`` messages went out (then releases the rest), and reports RSS.
    The start-up time is measured by the driver (process start to the fake's first sendMessage).
    """
    from jobs.dispatch import DeliveryPolicy, dispatch_due
    from jobs.storage.db import Store, make_engine, upgrade

    catalog, clinic = _catalog_and_clinic()
    engine = make_engine(args["url"])
    upgrade(engine)
    store = Store(engine)
    bot, close = await (_limited_bot(args["root"], "app", args["url"]) if args.get("rate_limited", True)
                        else _plain_bot(args["root"]))
    ready = time.time()
    sent = 0
    stop_after = args.get("stop_after", 400)

    def should_stop() -> bool:
        return sent >= stop_after

    class CountingBot:
        """The bot, counting sends as they happen (the report only comes at the end of the pass)."""

        def __getattr__(self, name):
            return getattr(bot, name)

        async def send_message(self, *a, **kw):
            nonlocal sent
            message = await bot.send_message(*a, **kw)
            sent += 1
            return message

    report = await dispatch_due(store=store, bot=CountingBot(), catalog=catalog, clinic=clinic,
                                now=datetime.now(UTC), policy=DeliveryPolicy(), should_stop=should_stop)
    result = {"ready_wall": ready, "sent": report.sent,
              "released": report.released, "rss_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1)}
    await close()
    store.dispose()
    return result


def scale_queries(args: dict) -> dict:
    """On a big database: time one enrollment, and claims rolled back between tries."""
    from zoneinfo import ZoneInfo

    from sqlmodel import Session

    from jobs.care.planning import QuietHours
    from jobs.dispatch import claim_due
    from jobs.patients.enrollment import enroll_patient
    from jobs.storage.db import Store, make_engine

    catalog, _ = _catalog_and_clinic()
    engine = make_engine(args["url"])
    store = Store(engine)
    protocol = catalog.protocol()
    now = datetime.now(UTC)
    lease = timedelta(minutes=5)
    # Warm up the connection pool and the statement caches, as a running bot has them.
    with Session(engine) as session:
        claim_due(session, now=now, limit=args["claim_limit"], lease=lease)
        session.rollback()

    enroll_times = []
    t_all = time.perf_counter()
    for i in range(args["enrollments"]):
        t0 = time.perf_counter()
        store.call(enroll_patient, name=f"Bench Patient {i}", protocol=protocol, session_at=now - timedelta(minutes=5),
                   session_number=1, series_length=3, zone=ZoneInfo("Europe/Madrid"), locale="en",
                   quiet_hours=QuietHours.parse("21:00-08:00"), invite_ttl=timedelta(days=7), enrolled_by=1, now=now)
        enroll_times.append((time.perf_counter() - t0) * 1000)
    enroll_total_s = time.perf_counter() - t_all

    # Time spent inside the driver's cursor.execute, per statement, to tell the database's share
    # of a claim from SQLAlchemy's (building statements, loading the rows into objects).
    from sqlalchemy import event

    in_driver: dict[str, float] = {}
    started: list[float] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        started.append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        key = " ".join(statement.split()[:4])[:60]
        in_driver[key] = in_driver.get(key, 0.0) + time.perf_counter() - started.pop()

    claim_times, claimed, driver_times = [], [], []
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    per_statement: dict[str, list[float]] = {}
    for _ in range(args["claims"]):
        in_driver.clear()
        t0 = time.perf_counter()
        with Session(engine) as session:
            rows = claim_due(session, now=now, limit=args["claim_limit"], lease=lease)
            session.rollback()
        claim_times.append((time.perf_counter() - t0) * 1000)
        claimed.append(len(rows))
        driver_times.append(sum(in_driver.values()) * 1000)
        for key, seconds in in_driver.items():
            per_statement.setdefault(key, []).append(seconds * 1000)
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    def timed_claims() -> list[float]:
        """``claims`` claims, each rolled back; milliseconds each."""
        times = []
        for _ in range(args["claims"]):
            t0 = time.perf_counter()
            with Session(engine) as session:
                claim_due(session, now=now, limit=args["claim_limit"], lease=lease)
                session.rollback()
            times.append((time.perf_counter() - t0) * 1000)
        return times

    # The same claims with the garbage collector off: tells its pauses from the machine's noise.
    gc.collect()
    gc.disable()
    claim_times_gc_off = timed_claims()
    gc.enable()
    # And with gc.freeze() after warm-up (what a long-running process can do once started):
    # full collections then skip the objects of start-up (modules, mappers, PTB classes).
    gc.collect()
    gc.freeze()
    claim_times_frozen = timed_claims()
    gc.unfreeze()
    plan = _explain_claim(engine, now, args["claim_limit"], lease)
    engine.dispose()
    return {"enroll_ms_median": round(statistics.median(enroll_times), 2),
            "enroll_ms_p99": round(_percentile(enroll_times, 99), 2),
            "enroll_ms_mean": round(enroll_total_s * 1000 / len(enroll_times), 2), "enrollments": len(enroll_times),
            "claim_ms_median": round(statistics.median(claim_times), 2),
            "claim_ms_p99": round(_percentile(claim_times, 99), 2), "claim_ms_max": round(max(claim_times), 2),
            "claims": len(claim_times), "rows_per_claim": statistics.median(claimed),
            "claim_ms_in_driver_median": round(statistics.median(driver_times), 2),
            "claim_ms_gc_off_median": round(statistics.median(claim_times_gc_off), 2),
            "claim_ms_gc_off_p99": round(_percentile(claim_times_gc_off, 99), 2),
            "claim_ms_gc_frozen_median": round(statistics.median(claim_times_frozen), 2),
            "claim_ms_gc_frozen_p99": round(_percentile(claim_times_frozen, 99), 2),
            "claim_ms_in_driver_by_statement_median": {k: round(statistics.median(v), 2)
                                                       for k, v in per_statement.items()},
            "claim_plan": plan}


def _explain_claim(engine, now, limit, lease) -> list[str]:
    """The database's plan for each statement claim_due sends, captured from one real claim
    (rolled back) and explained with the same parameters, not executed again."""
    from sqlalchemy import event
    from sqlmodel import Session

    from jobs.dispatch import claim_due

    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            claim_due(session, now=now, limit=limit, lease=lease)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    lines = []
    with engine.connect() as connection:
        for number, (statement, parameters) in enumerate(captured, 1):
            first = " ".join(statement.split())[:90]
            lines.append(f"statement {number}: {first}…")
            for row in connection.exec_driver_sql(prefix + statement, parameters).all():
                text = " | ".join(str(v) for v in row)
                lines.append("    " + (text if len(text) < 200 else text[:200] + "…"))
        connection.rollback()
    return lines


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def outage_ours(args: dict) -> dict:
    """After an outage: one dispatcher pass sends what is due and not stale once, skips the stale."""
    from jobs.dispatch import ChatPacer, DeliveryPolicy, dispatch_due
    from jobs.storage.db import Store, make_engine

    catalog, clinic = _catalog_and_clinic()
    store = Store(make_engine(args["url"]))
    bot, close = await _plain_bot(args["root"])
    now = datetime.now(UTC)
    policy = DeliveryPolicy(batch_size=500, concurrency=8)
    first = await dispatch_due(store=store, bot=bot, catalog=catalog, clinic=clinic, now=now, policy=policy,
                               pacer=ChatPacer(0))
    second = await dispatch_due(store=store, bot=bot, catalog=catalog, clinic=clinic, now=now, policy=policy,
                                pacer=ChatPacer(0))
    await close()
    store.dispose()
    return {"first_pass": {"sent": first.sent, "skipped": first.skipped, "failed": first.failed},
            "second_pass": {"sent": second.sent, "skipped": second.skipped}}


async def burst(args: dict) -> dict:
    """The real bot (``python -m bot run``) sends a backlog while patients open their invite links within
    a second: seconds from each ``/start`` reaching the Bot API server to the bot's greeting.

    The fake Bot API (tests/fakes/bot_api.py, which serves getUpdates as Telegram does) runs in this
    process; the bot in a child process, with its rate limiter, polling it.
    """
    import contextlib
    import random
    import signal
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from sqlmodel import Session

    from bench import seed as seeding
    from jobs.care.planning import QuietHours
    from jobs.patients.enrollment import enroll_patient
    from jobs.storage.db import make_engine
    from messages.catalog import load_catalog
    from tests.fakes.bot_api import FakeBotAPI

    url, patients, backlog = args["url"], args["patients"], args["backlog"]
    now = datetime.now(UTC)
    seeding.seed(url, patients=backlog, reminders_per_patient=1, due_every=1, now=now, all_due=True, fast=True)
    protocol = load_catalog(None, default_protocol="microneedling").protocol("microneedling")
    engine = make_engine(url)
    with Session(engine) as session:
        tokens = [enroll_patient(session, name=f"Burst {n}", protocol=protocol, session_at=now - timedelta(minutes=30),
                                 session_number=1, series_length=3, zone=ZoneInfo("UTC"), locale="en",
                                 quiet_hours=QuietHours.parse("off"), invite_ttl=timedelta(days=7), enrolled_by=1001,
                                 now=now).token for n in range(patients)]
        session.commit()
    engine.dispose()

    first_user = 900_000_001
    greeted: dict[int, float] = {}
    everyone_greeted = asyncio.Event()
    async with FakeBotAPI() as api:
        send = api._send_message

        async def timed_send(call):  # when each patient's first message (the greeting) is answered
            chat = call.params.get("chat_id")
            if isinstance(chat, int) and chat >= first_user and chat not in greeted:
                greeted[chat] = time.monotonic()
                if len(greeted) == patients:
                    everyone_greeted.set()
            return await send(call)

        api._methods["sendmessage"] = timed_send
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "BOT_TOKEN": api.token,
               "DATABASE_URL": url, "TELEGRAM_API_BASE_URL": api.root_url, "LOG_LEVEL": "WARNING",
               "QUIET_HOURS": "off", "STAFF_IDS": "1001",
               # The bot of this source tree (the one the benchmark runs from), whatever is installed.
               "PYTHONPATH": _SOURCE_ROOT}
        workdir = Path(args["workdir"])
        # An empty settings file of its own: a named --env-file must exist, and the environment gives the rest.
        (workdir / "empty.env").write_text("")
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", str(workdir / "empty.env"), "run", cwd=workdir, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(api.calls_to("sendMessage")) < 90:  # three seconds into the backlog at 30/s
                if time.monotonic() > deadline:
                    raise RuntimeError("the bot did not start sending its backlog")
                await asyncio.sleep(0.05)
            backlog_before = len(api.calls_to("sendMessage"))
            rng = random.Random(40)
            offsets = sorted(rng.uniform(0, 1.0) for _ in range(patients))  # all within one second
            pushed: dict[int, float] = {}
            start = time.monotonic()
            for n, (offset, token) in enumerate(zip(offsets, tokens, strict=True)):
                await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
                user = first_user + n
                api.push_update(api.message_update(user_id=user, text=f"/start {token}"))
                pushed[user] = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(everyone_greeted.wait(), args.get("timeout_s", 60))
            backlog_during = len(api.calls_to("sendMessage")) - backlog_before - len(greeted)
        finally:
            bot.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(bot.wait(), 15)
            except TimeoutError:
                bot.kill()
    waits = sorted(greeted[user] - pushed[user] for user in pushed if user in greeted)
    return {"patients": patients, "backlog": backlog, "greeted": len(waits), "unanswered": patients - len(waits),
            "wait_s_median": round(statistics.median(waits), 3) if waits else None,
            "wait_s_p95": round(_percentile(waits, 95), 3) if waits else None,
            "wait_s_max": round(waits[-1], 3) if waits else None,
            "backlog_sent_meanwhile": backlog_during}


# ---------------------------------------------------------------------------------------------- main

WORKERS = {"drain": drain, "components": components, "dispatcher_start": dispatcher_start,
           "scale_queries": scale_queries, "outage_ours": outage_ours, "burst": burst}


def main() -> None:
    name, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    args = json.loads(raw)
    if name in WORKERS:
        worker = WORKERS[name]
    elif name.startswith("import_"):
        from bench import importing

        worker = importing.WORKERS[name]
    else:
        from bench import usual

        worker = usual.WORKERS[name]
    result = asyncio.run(worker(args)) if asyncio.iscoroutinefunction(worker) else worker(args)
    result.setdefault("pid", os.getpid())
    emit(result)


if __name__ == "__main__":
    main()
