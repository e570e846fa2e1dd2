"""Patient reminders' lateness while the staff group has a backlog of alerts (the staff outbox, bot/outbox.py).

A forum staff group the fake server lets the bot write to 20 times a minute (Telegram's flood control,
on the real clock), ``patients`` patients whose silence alerts fall due at once (three group calls
each: topic, introduction, alert), and one more reminder per patient due 45 s later. The dispatcher
job and the staff outbox's job run side by side every second, as the JobQueue runs them, for
``seconds``; it reports how late the reminders went out, and how far the staff group got.

    python -m bench.staff_backlog [--patients 24] [--seconds 75]

Uses the tests' fake Bot API and harness (real python-telegram-bot, real HTTP on loopback, SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bot.delivery import run_dispatch
from bot.outbox import outbox_rounds
from bot.services import utc_now
from jobs.staff.outbox import StaffPacer, StaffPacing
from jobs.storage.models import Reminder, StaffNotice
from jobs.storage.states import NoticeStatus, ReminderStatus
from tests.conftest import BotHarness, bot_env
from tests.fakes.bot_api import FakeBotAPI

PENDING = ReminderStatus.PENDING

FORUM = -1001888000001


async def measure(patients: int, seconds: float) -> dict:
    async with FakeBotAPI() as api:
        api.add_group(FORUM)
        api.limit_groups(0)  # no flood control while the patients link
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            bot = await BotHarness(api, bot_env(api, url, STAFF_CHAT_ID=str(FORUM)), utc_now).start()
            try:
                return await _run(bot, api, patients, seconds)
            finally:
                await bot.stop()


async def _run(bot: BotHarness, api: FakeBotAPI, patients: int, seconds: float) -> dict:
    for n in range(patients):
        await bot.link(f"/enroll Patient {n}", user_id=7000 + n)
    now = utc_now()
    with bot.session() as session:
        # Every check-in went out a day ago, unanswered: their silence alerts are due now.
        session.exec(update(Reminder).where(Reminder.kind == "checkin", Reminder.status == PENDING)
                     .values(due_at=now - timedelta(days=1), expires_at=now + timedelta(days=2)))
        session.commit()
    await run_dispatch(bot.services, bot.app.bot)
    now = utc_now()
    due = now + timedelta(seconds=45)
    with bot.session() as session:
        session.exec(update(Reminder).where(Reminder.kind.in_(("silence", "nudge")), Reminder.status == PENDING)
                     .values(due_at=now - timedelta(seconds=1)))
        session.exec(update(Reminder).where(Reminder.kind == "nudge", Reminder.status == PENDING)
                     .values(status=ReminderStatus.CANCELLED))
        firsts: dict[int, int] = {}
        for row in session.exec(Reminder.__table__.select().where(
                Reminder.status == PENDING, Reminder.kind.notin_(("silence", "nudge"))).order_by(Reminder.due_at)):
            firsts.setdefault(row.patient_id, row.id)
        session.exec(update(Reminder).where(Reminder.id.in_(firsts.values()))
                     .values(due_at=due, expires_at=due + timedelta(days=1)))
        session.commit()
    # From here on, Telegram's limits on the real clock.
    api.limit_groups(20, 60.0)
    bot.services.staff_pacer = StaffPacer(StaffPacing())
    started, calls_before = time.monotonic(), len(api.calls)

    async def every_second(job) -> None:
        while time.monotonic() - started < seconds:
            await job(bot.services, bot.app.bot)
            await asyncio.sleep(1)

    await asyncio.gather(every_second(run_dispatch), every_second(outbox_rounds))
    rows = bot.rows(Reminder, Reminder.id.in_(firsts.values()))
    late = [(r.sent_at - due).total_seconds() for r in rows if r.status == ReminderStatus.SENT]
    notices = bot.rows(StaffNotice)
    group_calls = [c for c in api.calls[calls_before:] if c.params.get("chat_id") == FORUM]
    return {
        "patients": patients, "seconds": seconds,
        "reminders_due_at_45s": len(rows), "reminders_sent": len(late),
        "lateness_median_s": round(statistics.median(late), 2) if late else None,
        "lateness_max_s": round(max(late), 2) if late else None,
        "staff_alerts_queued": len(notices), "staff_alerts_sent": sum(n.status == NoticeStatus.SENT for n in notices),
        "group_calls": len(group_calls), "group_429s": sum(c.status == 429 for c in group_calls),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=75.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.patients, args.seconds)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
