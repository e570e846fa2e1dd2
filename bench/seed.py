"""Databases for the benchmark: create them, bring them to the schema, fill them with rows fast.

Rows are written with SQLAlchemy bulk inserts through a SQLModel session
(``session.execute(insert(Model.__table__), rows)``: one executemany per chunk; the ORM form
``insert(Model)`` splits a chunk into one statement per run of rows with the same NULL columns,
which made seeding 5x slower on SQLite and 20x on PostgreSQL) with explicit ids, in chunks, one
transaction per table: linked ACTIVE patients, one enrollment each, and their reminders. On
PostgreSQL the id sequences are moved past the seeded ids so that a later ``enroll_patient`` gets
fresh ones.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus

CHUNK = 20_000
# A chat id far from any real one; chat_id = CHAT_BASE + patient id.
CHAT_BASE = 10_000_000
# The default protocol's steps (key, kind), cycled through for patients with many reminders.
STEPS = (("expect", "info"), ("evening_checkin", "checkin"), ("sun_care", "info"), ("settling_check", "checkin"),
         ("week_sunscreen", "info"), ("rebook_open", "rebook"), ("rebook_closing", "rebook"), ("expect", "info"))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no server, no PostgreSQL figures
        return False


def fresh_database(kind: str, name: str, workdir: Path) -> str:
    """An empty database of ``kind`` ("sqlite" or "postgres") called ``name``; returns its URL."""
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    drop_database(kind, name)
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url(name)


def drop_database(kind: str, name: str, workdir: Path | None = None) -> None:
    if kind == "sqlite":
        if workdir is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{workdir / name}.db{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def _bulk(engine, model, rows_iter) -> None:
    """SQLAlchemy Core bulk insert through a SQLModel session, one transaction."""
    with Session(engine) as session:
        chunk: list[dict] = []
        for row in rows_iter:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                session.execute(insert(model.__table__), chunk)
                chunk = []
        if chunk:
            session.execute(insert(model.__table__), chunk)
        session.commit()


def _sqlite_value(value):
    # SQLAlchemy's SQLite DATETIME text format, naive UTC (what UTCDateTime binds).
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _raw(engine, model, rows_iter) -> None:
    """The driver's own bulk path (executemany on SQLite, COPY on PostgreSQL): for a million rows."""
    table = model.__tablename__
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        first = next(rows_iter, None)
        if first is None:
            return
        columns = list(first)
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            chunk = [tuple(_sqlite_value(v) for v in first.values())]
            for row in rows_iter:
                chunk.append(tuple(_sqlite_value(v) for v in row.values()))
                if len(chunk) >= CHUNK:
                    cursor.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
            cursor.execute("COMMIT")
        else:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write_row(tuple(first.values()))
                for row in rows_iter:
                    copy.write_row(tuple(row.values()))
            raw.commit()
    finally:
        raw.close()


def seed(url: str, *, patients: int, reminders_per_patient: int, due_every: int, now: datetime,
         all_due: bool = False, fast: bool = False, seed_value: int = 7) -> dict:
    """Fill a migrated database; return counts.

    ``all_due``: every reminder is the "expect" step, pending and due now (the throughput workload).
    Otherwise each patient's reminders are spread over ±60 days (past ones sent, future ones
    pending) and one reminder of every ``due_every``-th patient is pending and due now.
    ``fast``: write through the driver's bulk path instead of SQLAlchemy (same rows, same values).
    SQLite is not ANALYZEd (the bot never does it); PostgreSQL is (autovacuum would).
    """
    rng = random.Random(seed_value)
    engine = make_engine(url)
    session_at = now - timedelta(hours=1)

    def patient_rows():
        for pid in range(1, patients + 1):
            yield {"id": pid, "name": f"Patient {pid}", "status": PatientStatus.ACTIVE, "chat_id": CHAT_BASE + pid,
                   "timezone": "UTC", "locale": "en", "series_length": 3, "created_at": session_at,
                   "linked_at": session_at}

    def enrollment_rows():
        for pid in range(1, patients + 1):
            yield {"id": pid, "patient_id": pid, "session_number": 1, "series_length": 3, "session_at": session_at,
                   "protocol_name": "microneedling", "protocol_version": "bench", "created_at": session_at}

    due_count = 0

    def reminder_rows():
        nonlocal due_count
        rid = 0
        for pid in range(1, patients + 1):
            for k in range(reminders_per_patient):
                rid += 1
                if all_due:
                    key, kind = "expect", "info"
                    due, status = now - timedelta(seconds=rng.randint(1, 600)), ReminderStatus.PENDING
                else:
                    key, kind = STEPS[k % len(STEPS)]
                    # Half the plan in the past (sent), half ahead (pending).
                    offset = timedelta(minutes=rng.randint(1, 60 * 24 * 60))
                    past = k < reminders_per_patient // 2
                    due, status = ((now - offset, ReminderStatus.SENT) if past
                                   else (now + offset, ReminderStatus.PENDING))
                    if k == reminders_per_patient // 2 - 1 and pid % due_every == 0:
                        due, status = now - timedelta(seconds=rng.randint(1, 3600)), ReminderStatus.PENDING
                if status == ReminderStatus.PENDING and due <= now:
                    due_count += 1
                yield {"id": rid, "enrollment_id": pid, "patient_id": pid, "step_key": key, "text_key": key,
                       "kind": kind, "at_spec": "0m", "expires_spec": "2d", "planned_at": due, "due_at": due,
                       "expires_at": due + timedelta(days=2), "status": status,
                       "sent_at": due if status == ReminderStatus.SENT else None, "attempts": 0}

    write = _raw if fast else _bulk
    write(engine, Patient, patient_rows())
    write(engine, Enrollment, enrollment_rows())
    write(engine, Reminder, reminder_rows())
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in ("patient", "enrollment", "reminder"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return {"patients": patients, "reminders": patients * reminders_per_patient, "due": due_count}


def seed_outage(url: str, *, due: int, stale: int, now: datetime) -> dict:
    """The state after an outage: ``due`` reminders fell due during it (minutes ago, still valid),
    ``stale`` fell due long ago and expired meanwhile (an evening check-in a day late)."""
    engine = make_engine(url)
    patients = due + stale
    since = now - timedelta(days=1)
    _bulk(engine, Patient, ({"id": pid, "name": f"Patient {pid}", "status": PatientStatus.ACTIVE,
                             "chat_id": CHAT_BASE + pid,
                             "timezone": "UTC", "locale": "en", "series_length": 3, "created_at": since,
                             "linked_at": since} for pid in range(1, patients + 1)))
    _bulk(engine, Enrollment, ({"id": pid, "patient_id": pid, "session_number": 1, "series_length": 3,
                                "session_at": since, "protocol_name": "microneedling", "protocol_version": "bench",
                                "created_at": since} for pid in range(1, patients + 1)))

    def rows():
        for pid in range(1, patients + 1):
            if pid <= due:
                key, kind, at, expires = "expect", "info", now - timedelta(minutes=5), now + timedelta(days=2)
            else:
                key, kind = "evening_checkin", "checkin"
                at, expires = now - timedelta(hours=20), now - timedelta(hours=6)
            yield {"id": pid, "enrollment_id": pid, "patient_id": pid, "step_key": key, "text_key": key, "kind": kind,
                   "at_spec": "0m", "expires_spec": "14h", "planned_at": at, "due_at": at, "expires_at": expires,
                   "status": ReminderStatus.PENDING, "sent_at": None, "attempts": 0}

    _bulk(engine, Reminder, rows())
    engine.dispose()
    return {"due": due, "stale": stale}


def restore_due(url: str) -> None:
    """Put back what a start-up measurement sent or claimed, so the next one finds the same due rows.

    Seeded "sent" rows carry no Telegram message id; rows the dispatcher sent do.
    """
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE reminder SET status = 'pending', claimed_until = NULL, sent_at = NULL, "
            "telegram_message_id = NULL, outcome = NULL, attempts = 0 "
            "WHERE telegram_message_id IS NOT NULL OR status = 'claimed' OR outcome LIKE 'rate limited%'"))
    engine.dispose()


def utc_now() -> datetime:
    return datetime.now(UTC)
