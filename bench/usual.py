"""The usual approach, built the way a python-telegram-bot user would: one scheduler job per reminder.

(a) ``job_queue.run_once`` per reminder: PTB's JobQueue (APScheduler's MemoryJobStore inside).
(b) one APScheduler job per reminder in ``SQLAlchemyJobStore`` on an SQLite file, with a
    module-level coroutine as the job function (PTB's own Job objects do not pickle) and a
    module-level Bot it uses. APScheduler's defaults are kept, notably ``misfire_grace_time=1``.

Every function here is a worker run in its own process by ``bench/run.py`` (see bench/workers.py).
Reminder due times are spread over the next 60 days, like the plan of a patient enrolled today:
8 reminders per patient.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import pickle
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from bench.common import TOKEN, peak_rss_mb, rss_mb

REMINDERS_PER_PATIENT = 8
CHAT_BASE = 20_000_000

# The Bot that job functions use in (b): APScheduler stores "bench.usual:send_reminder" and the
# arguments, so the function must be importable and find its Bot at module level.
_BOT = None


async def send_reminder(chat_id: int, text: str) -> None:
    """The job function of approach (b)."""
    await _BOT.send_message(chat_id, text)


async def _job_callback(context) -> None:
    """The job callback of approach (a)."""
    await context.bot.send_message(context.job.chat_id, context.job.data)


def _due_times(rng: random.Random, now: datetime) -> list[datetime]:
    return sorted(now + timedelta(minutes=rng.randint(10, 60 * 24 * 60)) for _ in range(REMINDERS_PER_PATIENT))


# ---------------------------------------------------------------------------------------------- (a)

async def jobqueue_schedule(args: dict) -> dict:
    """Schedule ``patients`` x 8 reminders with job_queue.run_once in a started Application."""
    from telegram.ext import ApplicationBuilder

    app = ApplicationBuilder().token(TOKEN).base_url(f"{args['root']}/bot").build()
    await app.initialize()
    await app.start()
    rng = random.Random(1)
    now = datetime.now(UTC)
    gc.collect()
    rss0 = rss_mb()
    patients = args["patients"]
    # (jobs scheduled so far, seconds so far) ten times along the way: adding to APScheduler's
    # MemoryJobStore gets slower as it fills (a sorted list), so extrapolation needs the curve.
    checkpoints = []
    t0, c0 = time.perf_counter(), time.process_time()
    for pid in range(1, patients + 1):
        # One enrollment = one handler call that schedules the patient's plan, then the loop runs on.
        for k, due in enumerate(_due_times(rng, now)):
            app.job_queue.run_once(_job_callback, when=due, chat_id=CHAT_BASE + pid, data=f"step {k}",
                                   name=f"reminder-{pid}-{k}")
        await asyncio.sleep(0)
        if pid % max(1, patients // 10) == 0:
            checkpoints.append((pid * REMINDERS_PER_PATIENT, round(time.perf_counter() - t0, 3)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    gc.collect()
    rss1 = rss_mb()
    jobs = len(app.job_queue.jobs())
    await app.stop()
    await app.shutdown()
    return {"jobs": jobs, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "ms_per_job": round(wall * 1000 / jobs, 4), "rss_before_mb": round(rss0, 1),
            "rss_after_mb": round(rss1, 1), "kb_per_job": round((rss1 - rss0) * 1024 / jobs, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1), "checkpoints": checkpoints}


async def jobqueue_restart(args: dict) -> dict:
    """A restarted process: a fresh Application's JobQueue holds nothing of what was scheduled."""
    from telegram.ext import ApplicationBuilder

    app = ApplicationBuilder().token(TOKEN).base_url(f"{args['root']}/bot").build()
    await app.initialize()
    await app.start()
    ready = time.time()
    jobs = len(app.job_queue.jobs())
    result = {"jobs_after_restart": jobs, "ready_wall": ready,
              "rss_mb": round(rss_mb(), 1)}
    await app.stop()
    await app.shutdown()
    return result


# ---------------------------------------------------------------------------------------------- (b)

def _scheduler(url: str):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(url=url)}, timezone=UTC)


async def _bot(root: str):
    global _BOT
    from telegram import Bot

    _BOT = Bot(TOKEN, base_url=f"{root}/bot")
    await _BOT.initialize()
    return _BOT


def _rows(path: str) -> int:
    with sqlite3.connect(path) as connection:
        try:
            return connection.execute("select count(*) from apscheduler_jobs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


async def jobstore_schedule(args: dict) -> dict:
    """Schedule ``patients`` x 8 reminders with add_job into a started scheduler's SQLAlchemyJobStore."""
    scheduler = _scheduler(f"sqlite:///{args['path']}")
    scheduler.start()
    rng = random.Random(2)
    now = datetime.now(UTC)
    gc.collect()
    rss0 = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    for pid in range(1, args["patients"] + 1):
        for k, due in enumerate(_due_times(rng, now)):
            scheduler.add_job(send_reminder, "date", run_date=due, args=[CHAT_BASE + pid, f"step {k}"],
                              id=f"reminder-{pid}-{k}")
        await asyncio.sleep(0)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    gc.collect()
    rss1 = rss_mb()
    scheduler.shutdown(wait=False)
    jobs = _rows(args["path"])
    return {"jobs": jobs, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "ms_per_job": round(wall * 1000 / jobs, 3), "rss_before_mb": round(rss0, 1),
            "rss_after_mb": round(rss1, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def jobstore_synthesize(args: dict) -> dict:
    """Write ``jobs`` job rows straight into a jobstore table, as add_job would have written them.

    Far faster than add_job (no per-job transaction), so the start-up of a scheduler on a full-size
    jobstore can be measured; the scheduling time itself comes from ``jobstore_schedule``.
    """
    from apscheduler.schedulers.base import BaseScheduler  # noqa: F401 - import cost outside the timing
    from apscheduler.triggers.date import DateTrigger

    async def one_real_job():
        scheduler = _scheduler(f"sqlite:///{args['path']}")
        scheduler.start()
        scheduler.add_job(send_reminder, "date", run_date=datetime.now(UTC) + timedelta(days=1),
                          args=[CHAT_BASE, "step 0"], id="template")
        scheduler.shutdown(wait=False)

    asyncio.run(one_real_job())
    with sqlite3.connect(args["path"]) as connection:
        template = pickle.loads(connection.execute(
            "select job_state from apscheduler_jobs where id = 'template'").fetchone()[0])
        connection.execute("delete from apscheduler_jobs")
    rng = random.Random(3)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with sqlite3.connect(args["path"]) as connection:
        chunk = []
        for pid in range(1, args["jobs"] // REMINDERS_PER_PATIENT + 1):
            for k, due in enumerate(_due_times(rng, now)):
                state = dict(template, id=f"reminder-{pid}-{k}", args=(CHAT_BASE + pid, f"step {k}"),
                             trigger=DateTrigger(due, timezone=UTC), next_run_time=due)
                chunk.append((state["id"], due.timestamp(), pickle.dumps(state, pickle.HIGHEST_PROTOCOL)))
                if len(chunk) >= 20_000:
                    connection.executemany("insert into apscheduler_jobs values (?, ?, ?)", chunk)
                    chunk = []
        if chunk:
            connection.executemany("insert into apscheduler_jobs values (?, ?, ?)", chunk)
    return {"jobs": _rows(args["path"]), "wall_s": round(time.perf_counter() - t0, 1)}


def jobstore_add_due_now(args: dict) -> dict:
    """Add ``count`` jobs due at ``run_at`` (epoch seconds) to the jobstore, then stop (the bot goes down)."""

    async def go():
        scheduler = _scheduler(f"sqlite:///{args['path']}")
        scheduler.start(paused=True)
        run_at = datetime.fromtimestamp(args["run_at"], UTC)
        for i in range(args["count"]):
            # misfire_grace_time: APScheduler's default (1 s) unless ``grace`` says otherwise.
            extra = {"misfire_grace_time": args["grace"]} if "grace" in args else {}
            scheduler.add_job(send_reminder, "date", run_date=run_at, args=[CHAT_BASE + 5_000_000 + i, "due now"],
                              id=f"burst-{args.get('tag', 'x')}-{i}", **extra)
        scheduler.shutdown(wait=False)

    asyncio.run(go())
    return {"rows": _rows(args["path"])}


async def jobstore_restart(args: dict) -> dict:
    """Start a scheduler on an existing jobstore; report what ran, what was missed, what is left.

    Stays up ``stay_s`` seconds (or until ``expect_sends`` messages went out) so due jobs can run.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

    rows_before = _rows(args["path"])
    await _bot(args["root"])
    scheduler = _scheduler(f"sqlite:///{args['path']}")
    counts = {"executed": 0, "missed": 0, "error": 0}

    def listener(event):
        if event.code == EVENT_JOB_MISSED:
            counts["missed"] += 1
        elif event.code == EVENT_JOB_ERROR:
            counts["error"] += 1
        else:
            counts["executed"] += 1

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start()
    ready = time.time()
    deadline = time.perf_counter() + args.get("stay_s", 5)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        if args.get("expect_sends") and counts["executed"] >= args["expect_sends"]:
            break
    rss = rss_mb()
    scheduler.shutdown(wait=False)
    await _BOT.shutdown()
    return {"rows_before": rows_before, "rows_after": _rows(args["path"]), **counts,
            "ready_wall": ready, "rss_mb": round(rss, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


WORKERS = {"jobqueue_schedule": jobqueue_schedule, "jobqueue_restart": jobqueue_restart,
           "jobstore_schedule": jobstore_schedule, "jobstore_synthesize": jobstore_synthesize,
           "jobstore_add_due_now": jobstore_add_due_now, "jobstore_restart": jobstore_restart}
