"""The bot as a real process: kill -9 in the middle of sending loses nothing; SIGTERM stops cleanly.

The bot runs with ``python -m bot`` against the fake Bot API server in this process, on an SQLite
file seeded with reminders that are all due now, each for a chat of its own, so that the count
of messages per chat at the server is the count per reminder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from jobs.dispatch import DeliveryPolicy
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus

ROOT = Path(__file__).resolve().parents[2]
DUE = 300
FIRST_CHAT = 800_000_001
CONCURRENCY = DeliveryPolicy().concurrency  # sends in flight: the most that can repeat after a crash


def seed(database_url: str, *, due: int = DUE) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        patients = [Patient(name=f"Crash {n}", status=PatientStatus.ACTIVE, chat_id=FIRST_CHAT + n, timezone="UTC", locale="en",
                            created_at=now, linked_at=now) for n in range(due)]
        session.add_all(patients)
        session.flush()
        enrollments = [Enrollment(patient_id=p.id, session_at=now - timedelta(hours=1), protocol_name="microneedling",
                                  protocol_version="test", created_at=now) for p in patients]
        session.add_all(enrollments)
        session.flush()
        session.add_all(Reminder(enrollment_id=e.id, patient_id=e.patient_id, step_key="expect", text_key="expect",
                                 planned_at=now - timedelta(minutes=5), due_at=now - timedelta(minutes=5),
                                 expires_at=now + timedelta(hours=2)) for e in enrollments)
        session.commit()
    engine.dispose()


async def start_bot(api, database_url: str, workdir: Path, *, lease_seconds: int | None = 3,
                    **settings: str) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BOT_", "STAFF_", "CLINIC_", "DATABASE_", "MESSAGES_", "TELEGRAM_"))}
    env.update(BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.root_url, DATABASE_URL=database_url,
               DISPATCH_INTERVAL_SECONDS="1", STAFF_IDS="1001", LOG_LEVEL="INFO", **settings)
    if lease_seconds is not None:
        env["CLAIM_LEASE_SECONDS"] = str(lease_seconds)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=workdir, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


def per_chat(api) -> Counter:
    return Counter(call.params["chat_id"] for call in api.sent_messages() if call.params["chat_id"] >= FIRST_CHAT)


async def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll the fake server's record (not a reminder's clock) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def rows(database_url: str) -> list[Reminder]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Reminder)))
    finally:
        engine.dispose()


async def test_kill_9_mid_send_loses_nothing_and_repeats_at_most_the_in_flight(fake_api, database_url, tmp_path):
    seed(database_url)
    bot = await start_bot(fake_api, database_url, tmp_path)
    await wait_for(lambda: sum(per_chat(fake_api).values()) >= DUE // 3, 60, "the first third to be sent")
    bot.kill()  # SIGKILL: no clean-up, claims stay held
    await bot.wait()
    sent_before_crash = sum(per_chat(fake_api).values())
    assert sent_before_crash < DUE, "the crash came too late to test anything"

    bot = await start_bot(fake_api, database_url, tmp_path)
    try:
        await wait_for(lambda: len(per_chat(fake_api)) == DUE, 90, "every reminder to arrive after the restart")
        await wait_for(lambda: all(r.status == ReminderStatus.SENT for r in rows(database_url)), 30, "every row to be recorded")
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    counts = per_chat(fake_api)
    lost = DUE - len(counts)
    repeats = sum(count - 1 for count in counts.values())
    print(f"\ncrash test: {DUE} due, killed after {sent_before_crash} sent, lost {lost}, repeated {repeats}")
    assert lost == 0
    assert repeats <= CONCURRENCY


async def test_sigterm_finishes_in_flight_sends_records_them_and_exits_quickly(fake_api, database_url, tmp_path):
    seed(database_url)
    bot = await start_bot(fake_api, database_url, tmp_path)
    await wait_for(lambda: sum(per_chat(fake_api).values()) >= DUE // 4, 60, "a quarter to be sent")
    started = time.monotonic()
    bot.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(bot.wait(), 15)
    took = time.monotonic() - started
    stderr = (await bot.stderr.read()).decode()
    assert code == 0, stderr
    print(f"\nSIGTERM test: stopped {took:.1f} s after the signal")
    assert took < 10, f"took {took:.1f}s to stop"  # typically 1-2 s; the bound allows a loaded CI machine
    after_stop = rows(database_url)
    assert not [r for r in after_stop if r.status == ReminderStatus.CLAIMED], "claims must be released or recorded"
    counts = per_chat(fake_api)
    assert max(counts.values()) == 1
    assert {r.patient_id for r in after_stop if r.status == ReminderStatus.SENT} and \
        len([r for r in after_stop if r.status == ReminderStatus.SENT]) == len(counts), "every send was recorded"
    assert fake_api.token not in stderr

    bot = await start_bot(fake_api, database_url, tmp_path)
    try:
        await wait_for(lambda: len(per_chat(fake_api)) == DUE, 90, "the rest after the restart")
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    assert set(per_chat(fake_api).values()) == {1}  # a clean stop repeats nothing


async def test_after_kill_9_the_interrupted_sends_go_out_within_10_seconds_not_after_the_lease(
        fake_api, database_url, tmp_path):
    """The default 5-minute lease: the dead process's claims are taken again because its presence is
    gone (SQLite: the file's lock; PostgreSQL: its advisory lock), not because the lease ran out."""
    due = 60  # one claimed batch, two seconds at Telegram's 30/s
    seed(database_url, due=due)
    bot = await start_bot(fake_api, database_url, tmp_path, lease_seconds=None)
    await wait_for(lambda: sum(per_chat(fake_api).values()) >= due // 3, 60, "a third to be sent")
    bot.kill()
    await bot.wait()
    sent_before = len(per_chat(fake_api))
    assert sent_before < due and any(r.status == ReminderStatus.CLAIMED and r.holder for r in rows(database_url)), \
        "the crash must leave claims held by the dead process"
    restarted = time.monotonic()
    bot = await start_bot(fake_api, database_url, tmp_path, lease_seconds=None)
    try:
        await wait_for(lambda: len(per_chat(fake_api)) == due, 30, "the interrupted sends")
        took = time.monotonic() - restarted
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    print(f"\nrecovery: {due - sent_before} interrupted sends out {took:.1f} s after the restart (lease 300 s)")
    assert took < 10
