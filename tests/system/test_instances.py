"""Several instances on one PostgreSQL database: one sends at a time, and a dead one is replaced.

Telegram's 30 messages/s belongs to the bot token, which every instance shares, so the instances
take turns through a PostgreSQL advisory lock rather than each sending at 30/s. These tests need
PostgreSQL (advisory locks are its own; on SQLite one file means one instance): they run whenever
the test server answers, are skipped when it does not, and fail instead under CI=true.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.delivery import DISPATCH_LOCK, run_dispatch
from jobs.storage.db import Store, make_engine
from jobs.storage.models import Reminder
from jobs.storage.states import ReminderStatus
from tests.conftest import PATIENT_ID, selected_backend


async def test_the_lock_is_held_by_one_instance_at_a_time(postgres_url):
    first, second = Store(make_engine(postgres_url)), Store(make_engine(postgres_url))
    try:
        async with first.exclusive("job") as mine:
            assert mine
            async with second.exclusive("job") as theirs:
                assert not theirs
            async with second.exclusive("another job") as other:
                assert other  # locks are by name
        async with second.exclusive("job") as theirs:
            assert theirs  # released when the first block ended
    finally:
        first.dispose()
        second.dispose()


async def test_a_dead_holders_lock_passes_to_the_next_instance(postgres_url):
    from sqlalchemy.exc import OperationalError

    holder, successor = Store(make_engine(postgres_url)), Store(make_engine(postgres_url))
    try:
        held = holder.exclusive("job")
        assert await held.__aenter__()
        # The holder's connection dies (its process was killed, the network dropped it): the
        # server ends the session, and the lock with it.
        with successor.engine.connect() as connection:
            # With a timeout, pg_terminate_backend waits (up to 10 s) for the session to be gone, its
            # lock with it; without one it only signals, and on a busy machine the lock was still
            # there a moment later (a CI run saw that).
            ended = connection.execute(text(
                "SELECT array_agg(pg_terminate_backend(pid, 10000)) FROM pg_locks WHERE locktype = 'advisory'"
                # Only this test's database: other runs on the same server hold advisory locks too.
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND pid <> pg_backend_pid()")).scalar()
        assert ended == [True]  # one session, and it has ended
        async with successor.exclusive("job") as theirs:
            assert theirs
        # The holder finds out when it lets go; the dead connection is thrown away, not pooled.
        with pytest.raises(OperationalError):
            await held.__aexit__(None, None, None)
        async with holder.exclusive("job") as again:
            assert again
    finally:
        holder.dispose()
        successor.dispose()


async def test_only_the_instance_holding_the_lock_sends(harness, clock, fake_api, database_url):
    if selected_backend() != "postgres":
        pytest.skip("advisory locks are PostgreSQL's; run with AFTERCARE_TEST_DB=postgres (CI does)")
    await harness.link()
    clock.set_local(0, 19, 30)  # the evening check-in is due
    other_instance = Store(make_engine(database_url))
    try:
        async with other_instance.exclusive(DISPATCH_LOCK) as theirs:
            assert theirs
            report = await run_dispatch(harness.services, harness.app.bot)
            assert report.handled == 0
            assert harness.rows(Reminder, Reminder.step_key == "evening_checkin")[0].status == ReminderStatus.PENDING
        report = await run_dispatch(harness.services, harness.app.bot)  # the next tick, lock free
        assert report.sent == 1
        assert harness.rows(Reminder, Reminder.step_key == "evening_checkin")[0].status == ReminderStatus.SENT
        assert "How is your skin doing" in fake_api.texts(PATIENT_ID)[-1]
    finally:
        other_instance.dispose()
