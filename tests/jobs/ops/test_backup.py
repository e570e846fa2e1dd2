"""Backups and restores, on SQLite and PostgreSQL: a backup taken while the dispatcher and the intake write
restores elsewhere into a consistent database (its audit chain verifies, no row half there); one taken
at rest restores with every table's row count equal; a restore refuses a database with data, a damaged
file and a schema newer than the code."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session

from bot.intake import INTAKE_KEY
from jobs.ops import audit
from jobs.ops.backup import BackupError, backup, restore
from jobs.ops.health import beat
from jobs.storage.db import head_revision, make_engine, migrate
from tests.conftest import PATIENT_ID, STAFF_ID, fresh_postgres_database, selected_backend

ROUNDS = 12


@contextlib.contextmanager
def elsewhere(tmp_path: Path, name: str) -> Iterator[str]:
    """Another empty database of the backend under test."""
    if selected_backend() == "sqlite":
        yield f"sqlite:///{tmp_path / name}"
        return
    with fresh_postgres_database() as url:
        yield url


def counts(engine) -> dict[str, int]:
    tables = sorted(set(inspect(engine).get_table_names()))
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in tables}


def _last_action(engine) -> str:
    with Session(engine) as session:
        return audit.events(session)[-1].action


def verified(engine) -> audit.Verified:
    with Session(engine) as session:
        return audit.verify(session)


async def _write_meanwhile(harness, clock, stop: asyncio.Event) -> int:
    """The dispatcher sends, the intake stores updates, staff read a record: until told to stop."""
    intake = harness.app.bot_data[INTAKE_KEY]
    rounds = 0
    while not stop.is_set() or rounds < ROUNDS:
        clock.advance(hours=3)
        await harness.dispatch()
        await intake.receive([harness.api.message_update(user_id=PATIENT_ID, text=f"note {rounds}")])
        await harness.send(STAFF_ID, "/patient 1")
        rounds += 1
        await asyncio.sleep(0)
    return rounds


async def test_a_backup_taken_while_the_bot_writes_restores_consistent_elsewhere(harness, clock, tmp_path):
    await harness.link()
    for number in range(30):  # enough pages that the copy takes a while
        await harness.enroll(f"/enroll Patient {number}")
    engine = harness.services.store.engine
    path = tmp_path / "during.backup"
    stop = asyncio.Event()
    writers = asyncio.create_task(_write_meanwhile(harness, clock, stop))
    await asyncio.sleep(0)
    size = await asyncio.to_thread(backup, engine, path, now=clock())
    stop.set()
    assert await writers >= ROUNDS
    assert size > 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    before = counts(engine)
    with elsewhere(tmp_path, "restored-during.db") as url:
        target = make_engine(url)
        try:
            restored = restore(target, path, now=clock())
            assert restored.audit.ok and restored.revision == head_revision(target)
            after = counts(target)
            assert set(after) == set(before)
            # What the backup holds is a moment of the running bot: never more than there is now.
            assert all(after[table] <= before[table] + (table == "audit_event") for table in before)
            assert after["patient"] == 31 and verified(target).ok
        finally:
            target.dispose()

    # At rest, a backup and its restore are the same database, row for row, and its trail still verifies.
    quiet = tmp_path / "rest.backup"
    backup(engine, quiet, now=clock())
    source = counts(engine)
    with elsewhere(tmp_path, "restored-rest.db") as url:
        target = make_engine(url)
        try:
            restore(target, quiet, now=clock() + timedelta(seconds=1))
            copy = counts(target)
            # The source's trail ends with the backup (recorded once the copy was made), the copy's with
            # the restore: the same number of rows, every other table equal.
            assert copy == source
            assert (_last_action(engine), _last_action(target)) == ("backup", "restore")
            assert verified(target).ok and verified(engine).ok
        finally:
            target.dispose()


async def test_a_restore_refuses_a_database_with_data_unless_forced(harness, clock, tmp_path):
    await harness.link()
    engine = harness.services.store.engine
    path = tmp_path / "one.backup"
    backup(engine, path, now=clock())
    with pytest.raises(BackupError, match="already exists"):
        backup(engine, path, now=clock())
    await harness.enroll("/enroll Bob B")  # the live database moves on
    with elsewhere(tmp_path, "other.db") as url:
        other = make_engine(url)
        try:
            migrate(other)
            restore(other, path, now=clock())
            with pytest.raises(BackupError, match="already holds data"):
                restore(other, path, now=clock())
            restored = restore(other, path, now=clock(), force=True)
            assert restored.audit.ok and counts(other)["patient"] == 1
            # Never under a running bot: its heartbeat (every minute) says it is there.
            with Session(other) as session:
                beat(session, now=clock())
                session.commit()
            with pytest.raises(BackupError, match="stop every instance first"):
                restore(other, path, now=clock() + timedelta(minutes=1), force=True)
            assert restore(other, path, now=clock() + timedelta(minutes=10), force=True).audit.ok
        finally:
            other.dispose()


def test_a_damaged_or_foreign_file_is_refused_before_anything_is_touched(tmp_path, database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        foreign = tmp_path / "notes.txt"
        foreign.write_text("hello")
        with pytest.raises(BackupError, match="not a"):
            restore(engine, foreign, now=_now())
        with pytest.raises(BackupError, match="no such file"):
            restore(engine, tmp_path / "missing.backup", now=_now())
    finally:
        engine.dispose()


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 12, 6, tzinfo=UTC)


def test_sqlite_checks_integrity_and_the_schema_version(tmp_path):
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    migrate(source)
    good = tmp_path / "good.backup"
    backup(source, good, now=_now())
    source.dispose()
    target = make_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        # A schema this code does not know (made by a newer version) is not restored.
        newer = tmp_path / "newer.backup"
        newer.write_bytes(good.read_bytes())
        import sqlite3

        with contextlib.closing(sqlite3.connect(newer)) as connection, connection:
            connection.execute("UPDATE alembic_version SET version_num = '0999'")
        with pytest.raises(BackupError, match="newer than this code"):
            restore(target, newer, now=_now())
        # A damaged file: a page in the middle overwritten.
        damaged = tmp_path / "damaged.backup"
        data = bytearray(good.read_bytes())
        page = 4096
        data[3 * page:4 * page] = b"\xff" * page
        damaged.write_bytes(bytes(data))
        with pytest.raises(BackupError, match="damaged|cannot be read"):
            restore(target, damaged, now=_now())
        assert restore(target, good, now=_now()).audit.ok
    finally:
        target.dispose()
