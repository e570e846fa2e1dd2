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
from jobs.storage.models import (
    Enrollment,
    Event,
    InboxEvent,
    InboxItem,
    OutcomeAnswer,
    Patient,
    Photo,
    Reminder,
)
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
            yield {"id": pid, "name": f"Patient {pid}", "search_key": f"patient {pid}",
                   "status": PatientStatus.ACTIVE, "chat_id": CHAT_BASE + pid,
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


# --------------------------------------------------------------------------- a clinic's year, for the console

FIRST_NAMES = ("María", "José", "Ana", "Lucía", "Jorge", "Sofía", "Ángel", "Inés", "Raúl", "Núria", "João", "Conceição",
               "Gonçalo", "Zoë", "Chloé", "Anna", "Ольга", "Анна", "Дмитрий", "Наталья", "Олександр", "Юлія",
               "Ayşe", "Çağla", "Gül", "Ömer", "Fatma", "Sarah", "Emma", "Laura", "Marta", "Paula", "Elena", "Irene")
LAST_NAMES = ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Núñez", "Muñoz", "Ruiz",
              "Gonçalves", "Simões", "Brandão", "Иванова", "Петрова", "Смирнов", "Шевченко", "Коваленко", "Yılmaz",
              "Öztürk", "Şahin", "Çelik", "Smith", "O'Brien", "Müller", "Dubois", "Rossi", "Kowalska", "Novák")
# The default protocol's steps: key, kind, offset from the session (bench/seed.py's simplification of
# messages/defaults/protocols/microneedling.toml; the console shows them by key).
HISTORY_STEPS = (("expect", "info", timedelta(0)), ("evening_checkin", "checkin", timedelta(hours=8)),
                 ("sun_care", "info", timedelta(days=1)), ("settling_check", "checkin", timedelta(days=2)),
                 ("photo_day3", "photo", timedelta(days=3)), ("week_sunscreen", "info", timedelta(days=7)),
                 ("rebook_open", "rebook", timedelta(days=21)), ("final_thanks", "info", timedelta(days=28)),
                 ("outcome_day30", "outcome", timedelta(days=30)), ("review_request", "review", timedelta(days=33)),
                 ("rebook_closing", "rebook", timedelta(days=35)), ("outcome_day90", "outcome", timedelta(days=90)))
# Status shares of a clinic's patients after a year (the rest are active).
STATUS_SHARES = ((PatientStatus.PAUSED, 0.04), (PatientStatus.STOPPED, 0.04), (PatientStatus.CANCELLED, 0.03),
                 (PatientStatus.NOT_CONTINUING, 0.05), (PatientStatus.UNREACHABLE, 0.03), (PatientStatus.DELETED, 0.01))
STAFF_IDS = (1001, 1002, 1003)
# Closed statuses: what was still to come was cancelled.
_CLOSED = {PatientStatus.STOPPED, PatientStatus.CANCELLED, PatientStatus.NOT_CONTINUING, PatientStatus.UNREACHABLE,
           PatientStatus.DELETED}


def seed_history(url: str, *, patients: int, now: datetime, days: int = 365, seed_value: int = 21) -> dict:
    """A clinic's year at ``patients`` patients, for the console's pages: every table a page reads, filled.

    Patients enrolled evenly over ``days`` (ids in enrollment order; 20 of them today, the newest waiting to
    link), names with accents and Cyrillic letters, statuses in STATUS_SHARES, a third with a second
    session and some with a third. Each cycle has the default protocol's twelve steps: past ones sent
    (a few skipped or failed), future ones pending, held or cancelled by the patient's status.
    Check-ins answered 70% of the time (a tenth "worried", each an inbox item taken and resolved by
    staff, an escalation; the unanswered ones nudged and, half of them, a silence alert and item),
    photos with reviews, outcome answers, bookings after rebooking messages, lifecycle events, and the
    inbox items of the last two days still open or taken. Returns the row counts.
    """
    from jobs.storage.textfold import fold

    rng = random.Random(seed_value)
    rows: dict[type, list[dict]] = {model: [] for model in (Patient, Enrollment, Reminder, Event, InboxItem,
                                                             InboxEvent, Photo, OutcomeAnswer)}
    ids = {model: 0 for model in rows}

    def add(model, **values) -> int:
        ids[model] += 1
        rows[model].append({"id": ids[model], **values})
        return ids[model]

    def event(kind: str, at: datetime, pid: int, detail: str | None = None, **more) -> None:
        if at <= now:
            add(Event, patient_id=pid, kind=kind, detail=detail, at=at, **more)

    def item(kind: str, pid: int, opened: datetime, text_: str) -> None:
        """An inbox item with its events: taken and resolved unless it is recent."""
        staffer = rng.choice(STAFF_IDS)
        taken = opened + timedelta(minutes=rng.randint(1, 180))
        resolved = taken + timedelta(minutes=rng.randint(5, 600))
        status = "resolved" if resolved <= now else "taken" if taken <= now else "open"
        item_id = add(InboxItem, kind=kind, status=status, patient_id=pid, text=text_, opened_at=opened,
                      raised_at=opened, raised_again=0,
                      taken_by=staffer if status != "open" else None,
                      taken_by_name="Staff" if status != "open" else None,
                      taken_at=taken if status != "open" else None,
                      resolved_by=staffer if status == "resolved" else None,
                      resolved_by_name="Staff" if status == "resolved" else None,
                      resolved_at=resolved if status == "resolved" else None)
        add(InboxEvent, item_id=item_id, kind="opened", at=opened, actor="system", from_status=None, to_status="open")
        if status != "open":
            add(InboxEvent, item_id=item_id, kind="taken", at=taken, actor="staff", actor_id=staffer,
                from_status="open", to_status="taken")
        if status == "resolved":
            add(InboxEvent, item_id=item_id, kind="resolved", at=resolved, actor="staff", actor_id=staffer,
                from_status="taken", to_status="resolved")

    start = now - timedelta(days=days)
    for pid in range(1, patients + 1):
        today = pid > patients - 20
        created = (now - timedelta(minutes=rng.randint(1, 8 * 60)) if today
                   else start + (now - start - timedelta(days=1)) * (pid / patients))
        roll, status = rng.random(), PatientStatus.ACTIVE
        for candidate, share in STATUS_SHARES:
            if roll < share:
                status = candidate
                break
            roll -= share
        waiting = pid > patients - 8 or (created > now - timedelta(days=3) and rng.random() < 0.3)
        if waiting:
            status = PatientStatus.AWAITING_LINK
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        linked = None if waiting else created + timedelta(minutes=rng.randint(2, 600))
        deleted = status == PatientStatus.DELETED
        add(Patient, name="" if deleted else name, search_key="" if deleted else fold(name), status=status,
            chat_id=None if waiting or deleted else CHAT_BASE + pid, timezone="Europe/Madrid",
            locale=rng.choice(("es", "es", "en", "pt", "ru", "uk", "tr")), series_length=3, enrolled_by=STAFF_IDS[0],
            created_at=created, linked_at=linked, phone=f"+3460{pid:07d}" if pid % 3 == 0 else None)
        event("enrolled", created, pid, actor="staff", actor_id=STAFF_IDS[0], to_status="awaiting_link")
        if linked is not None:
            event("linked", linked, pid, actor="patient", from_status="awaiting_link", to_status="active")
        sessions = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
        for number in range(1, sessions + 1):
            session_at = created + timedelta(days=35 * (number - 1))
            if session_at > now:
                break
            last = number == sessions or created + timedelta(days=35 * number) > now
            enrollment_id = add(Enrollment, patient_id=pid, session_number=number, series_length=3,
                                session_at=session_at, protocol_name="microneedling", protocol_version="bench",
                                created_at=session_at)
            if number > 1:
                event("next_session", session_at, pid, actor="staff", actor_id=STAFF_IDS[1])
            for key, kind, offset in HISTORY_STEPS:
                due = session_at + offset
                if due <= now and not waiting:
                    roll = rng.random()
                    state = "skipped" if roll < 0.04 else "failed" if roll < 0.05 else "sent"
                    if not last and offset > timedelta(days=34):
                        state = "cancelled"  # the next session came first
                else:
                    state = ("waiting" if waiting else "held" if status == PatientStatus.PAUSED
                             else "cancelled" if status in _CLOSED else "pending")
                sent = due if state == "sent" else None
                answer = answered = None
                if sent is not None and kind in ("checkin", "outcome") and rng.random() < 0.7:
                    answered = sent + timedelta(minutes=rng.randint(2, 12 * 60))
                    if answered > now:
                        answered = None
                    elif kind == "checkin":
                        roll = rng.random()
                        answer = "worried" if roll < 0.1 else "red" if roll < 0.25 else "fine"
                    else:
                        answer = rng.choice(PGIC)
                rid = add(Reminder, enrollment_id=enrollment_id, patient_id=pid, step_key=key, text_key=key,
                          kind=kind, at_spec="0m", expires_spec="2d", planned_at=due, due_at=due,
                          expires_at=due + timedelta(days=2),
                          status=state, sent_at=sent, attempts=1 if sent else 0, answer=answer, answered_at=answered,
                          outcome="next_session" if state == "cancelled" else None,
                          nudge_after_spec="4h" if kind in ("checkin", "photo") else None)
                if sent is None:
                    continue
                if kind == "checkin" and answered is not None:
                    event("checkin", answered, pid, detail=answer)
                    if answer == "worried":
                        event("escalated", answered, pid, detail="worried")
                        item("worried", pid, answered, f"{name} is worried")
                elif kind == "outcome" and answered is not None:
                    add(OutcomeAnswer, reminder_id=rid, patient_id=pid, enrollment_id=enrollment_id,
                        protocol_name="microneedling", step_key=key, scale="pgic", answer=answer,
                        worse=answer in ("lw", "mw", "vmw"), answered_at=answered, changes=0)
                    event("outcome", answered, pid, detail=answer)
                elif kind == "photo" and rng.random() < 0.6:
                    received = sent + timedelta(minutes=rng.randint(5, 600))
                    if received <= now:
                        reviewed = received + timedelta(minutes=rng.randint(10, 900))
                        review = rng.choice(("ok",) * 8 + ("call", "again")) if reviewed <= now else None
                        add(Photo, reminder_id=rid, patient_id=pid, file_id=None if deleted else f"photo-{rid}",
                            received_at=received, review=review, reviewed_by=STAFF_IDS[2] if review else None,
                            reviewed_at=reviewed if review else None)
                        event("photo", received, pid)
                        item("photo", pid, received, f"A photo from {name}")
                    continue
                elif kind == "rebook" and key == "rebook_open" and rng.random() < 0.3:
                    event("booked", sent + timedelta(days=rng.randint(0, 10)), pid)
                if kind in ("checkin", "photo") and answered is None:
                    # Unanswered: the patient nudged, and (half the time) staff told.
                    nudge = sent + timedelta(hours=4)
                    if nudge <= now:
                        add(Reminder, enrollment_id=enrollment_id, patient_id=pid, step_key=key, text_key=key,
                            kind="nudge", at_spec="4h", expires_spec="12h",
                            planned_at=nudge, due_at=nudge, expires_at=nudge + timedelta(hours=12),
                            status="sent", sent_at=nudge, attempts=1, parent_id=rid)
                    alert = sent + timedelta(hours=8)
                    if alert <= now and rng.random() < 0.5:
                        add(Reminder, enrollment_id=enrollment_id, patient_id=pid, step_key=key, text_key=key,
                            kind="silence", at_spec="8h", expires_spec="12h",
                            planned_at=alert, due_at=alert, expires_at=alert + timedelta(hours=12),
                            status="sent", sent_at=alert, attempts=1, parent_id=rid)
                        item("silence", pid, alert, f"{name} has not answered")
        if status not in (PatientStatus.ACTIVE, PatientStatus.AWAITING_LINK):
            event(LIFECYCLE_KIND.get(status, str(status)), now - timedelta(days=rng.randint(0, 30)), pid,
                  actor="patient", from_status="active",
                  to_status=str(status))
    # A few patients wrote to the clinic in the last two days: message items, open or taken.
    for n in range(60):
        pid = rng.randint(1, patients)
        item("message", pid, now - timedelta(minutes=rng.randint(1, 2 * 24 * 60)), f"message {n}")

    engine = make_engine(url)
    for model, values in rows.items():
        _bulk(engine, model, iter(_uniform(values)))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for model in rows:
                table = model.__tablename__
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        # VACUUM too: a database in use has had autovacuum set its visibility map, without which PostgreSQL's
        # index-only scans (the console's counts) go back to the table for every row.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return {model.__tablename__: len(values) for model, values in rows.items()}


LIFECYCLE_KIND = {PatientStatus.UNREACHABLE: "blocked", PatientStatus.DELETED: "erased"}
PGIC = ("vmi", "mi", "mi", "li", "li", "nc", "lw", "mw", "vmw")


def _uniform(values: list[dict]) -> list[dict]:
    """The same keys in every row (one executemany per chunk), the missing ones None."""
    keys: dict[str, None] = {}
    for row in values:
        keys.update(dict.fromkeys(row))
    return [{key: row.get(key) for key in keys} for row in values]
