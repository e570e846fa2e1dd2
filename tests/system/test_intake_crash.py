"""The bot as a real process, killed with kill -9 again and again while patients open their links
and write to the clinic: no update is lost, every patient is linked, every patient's message reaches
staff, every timed message goes out, and what repeats stays within the in-flight bounds.

The patients' updates are queued at the fake Bot API server (which, like Telegram, forgets an update
only when a later offset is asked for), in a burst spread over the kills.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.intake import MAX_CONCURRENT_UPDATES
from jobs.care.planning import QuietHours
from jobs.dispatch import DeliveryPolicy
from jobs.patients.enrollment import enroll_patient
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import InboundUpdate, Patient
from jobs.storage.states import UpdateStatus
from messages.catalog import load_catalog
from tests.system.test_crash import start_bot, wait_for

PATIENTS = 30
KILLS = 10
STAFF = 1001
FIRST_USER = 700_000_001
EXPECT_MARKER = "redness and mild swelling"  # a phrase of the first timed message


def seed_patients(database_url: str) -> list[str]:
    """Enrolled patients (session an hour ago), their invite tokens in order."""
    engine = make_engine(database_url)
    upgrade(engine)
    protocol = load_catalog(None, default_protocol="microneedling").protocol("microneedling")
    now = datetime.now(UTC)
    tokens = []
    with Session(engine) as session:
        for n in range(PATIENTS):
            enrolled = enroll_patient(session, name=f"Burst {n}", protocol=protocol, session_at=now - timedelta(hours=1),
                                      session_number=1, series_length=3, zone=ZoneInfo("UTC"), locale="en",
                                      quiet_hours=QuietHours.parse("off"), invite_ttl=timedelta(days=7),
                                      enrolled_by=STAFF, now=now)
            tokens.append(enrolled.token)
        session.commit()
    engine.dispose()
    return tokens


def database_state(database_url: str) -> tuple[list[Patient], list[InboundUpdate]]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Patient))), list(session.exec(select(InboundUpdate)))
    finally:
        engine.dispose()


def note(n: int) -> str:
    return f"note {n}: the redness is spreading"


async def test_kill_9_in_a_burst_of_patients_loses_no_update_and_repeats_within_the_bound(
        fake_api, database_url, tmp_path):
    tokens = seed_patients(database_url)
    rng = random.Random(20261202)

    async def patients_write() -> None:
        # Each patient opens their link, and a moment later writes to the clinic.
        for n, token in enumerate(tokens):
            user = FIRST_USER + n
            fake_api.push_update(fake_api.message_update(user_id=user, text=f"/start {token}"))
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            fake_api.push_update(fake_api.message_update(user_id=user, text=note(n)))
            await asyncio.sleep(rng.uniform(0.1, 0.5))

    env = {"QUIET_HOURS": "off"}
    writing = asyncio.create_task(patients_write())
    bot = await start_bot(fake_api, database_url, tmp_path, **env)
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            polls = len(fake_api.calls_to("getUpdates"))
            await wait_for(lambda polls=polls: len(fake_api.calls_to("getUpdates")) > polls, 30, "the bot to poll")
            await asyncio.sleep(rng.uniform(0.1, 1.0))  # at a random moment of its work
            bot.kill()
            await bot.wait()
            bot = await start_bot(fake_api, database_url, tmp_path, **env)
        await writing

        def relayed() -> Counter:
            return Counter(n for text in fake_api.texts(STAFF) for n in range(PATIENTS) if note(n) in text)

        def expected() -> Counter:
            return Counter(call.params["chat_id"] for call in fake_api.sent_messages()
                           if EXPECT_MARKER in str(call.params.get("text", "")))

        await wait_for(lambda: len(relayed()) == PATIENTS and len(expected()) == PATIENTS, 60,
                       "every message to reach staff and every first message to go out")
        try:
            await wait_for(lambda: all(u.status == UpdateStatus.DONE for u in database_state(database_url)[1]), 30,
                           "every update to be marked handled")
        except AssertionError:
            left = [(u.update_id, u.status, u.attempts) for u in database_state(database_url)[1]
                    if u.status != UpdateStatus.DONE]
            raise AssertionError(f"not handled (update id, status, attempts): {left}") from None
        patients, updates = database_state(database_url)
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    took = time.monotonic() - started
    pushed = 2 * PATIENTS
    relay_repeats = sum(count - 1 for count in relayed().values())
    expect_repeats = sum(count - 1 for count in expected().values())
    handled_again = sum(u.attempts - 1 for u in updates)
    print(f"\nintake crash test: {KILLS} kills in {took:.0f} s, {pushed} updates: {len(updates)} stored, "
          f"{handled_again} handled again after a kill (at most {max(u.attempts for u in updates)} times one), relays repeated {relay_repeats}, "
          f"first messages repeated {expect_repeats}")
    assert len(updates) == pushed and all(u.status == UpdateStatus.DONE for u in updates)  # none lost
    assert all(p.chat_id == FIRST_USER + int(p.name.split()[1]) for p in patients)  # every patient linked
    assert set(relayed()) == set(range(PATIENTS))
    assert set(expected()) == {FIRST_USER + n for n in range(PATIENTS)}
    # A kill can repeat at most what was in flight: the updates being handled, the sends being made.
    assert relay_repeats <= KILLS * MAX_CONCURRENT_UPDATES
    assert expect_repeats <= KILLS * DeliveryPolicy().concurrency
