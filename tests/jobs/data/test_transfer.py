"""`aftercare db copy-to`: a whole database into a new one (SQLite to PostgreSQL, or back).

The source is the test's own database (SQLite, or PostgreSQL with AFTERCARE_TEST_DB=postgres) and
the target the other kind, so the two CI runs cover both directions. The PostgreSQL end needs the
test server: skipped when it is absent, failed instead under CI=true.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, inspect, select
from sqlmodel import SQLModel

from bot.cli import main
from jobs.care.planning import QuietHours
from jobs.data.transfer import TransferError, copy_database
from jobs.ops.health import beat
from jobs.patients.enrollment import enroll_patient
from jobs.storage.db import Store, current_revision, make_engine
from jobs.storage.models import Patient, Reminder
from tests.conftest import PATIENT_ID, selected_backend


@pytest.fixture
def other_url(request, tmp_path):
    """An empty database of the other kind than the test's own."""
    if selected_backend() == "postgres":
        return f"sqlite:///{tmp_path / 'copy.db'}"
    return request.getfixturevalue("postgres_url")


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)).scalar()
                for table in SQLModel.metadata.sorted_tables}


async def _busy_clinic(harness, clock):
    """A database with a row in most tables: patients linked, messages sent, a relay, an event."""
    await harness.link("/enroll Anna K")
    await harness.link("/enroll Bruno M lang=es", user_id=PATIENT_ID + 1)
    await harness.enroll("/enroll Carla N")  # not linked: an open invite, waiting reminders
    clock.set_local(0, 19, 30)
    await harness.dispatch()
    await harness.send(PATIENT_ID, "Is some itching normal?")  # relayed to staff


async def test_a_copy_has_every_row_and_the_next_enrollment_fits(harness, clock, database_url, other_url):
    await _busy_clinic(harness, clock)
    source, target = harness.services.store.engine, make_engine(other_url)
    # A bot beat on this database a minute ago: it counts as running, and nothing is copied.
    harness.services.store.call(beat, now=clock.now - timedelta(minutes=1))
    with pytest.raises(TransferError, match="stop it first"):
        copy_database(source, target, now=clock.now)
    assert inspect(target).get_table_names() == []  # not even the schema
    report = copy_database(source, target, now=clock.now + timedelta(minutes=5))

    expected = counts(source)
    assert counts(target) == expected == report.rows
    assert expected["patient"] == 3 and expected["reminder"] > 10 and expected["relay_link"] >= 1 and expected["event"] >= 1
    with source.connect() as a, target.connect() as b:
        query = select(Reminder.id, Reminder.status, Reminder.due_at, Reminder.telegram_message_id).order_by(Reminder.id)
        assert a.execute(query).all() == b.execute(query).all()
        names = select(Patient.id, Patient.name, Patient.chat_id, Patient.status).order_by(Patient.id)
        assert a.execute(names).all() == b.execute(names).all()

    # New rows on the copy take ids after the copied ones (PostgreSQL's sequences were moved on).
    protocol = harness.services.catalog.protocol()
    enrolled = Store(target).call(
        enroll_patient, name="Dora P", protocol=protocol, session_at=clock.now, session_number=1, series_length=3,
        zone=ZoneInfo("Europe/Madrid"), locale="en", quiet_hours=QuietHours.parse("21:00-08:00"),
        invite_ttl=timedelta(days=7), enrolled_by=1, now=clock.now)
    assert enrolled.patient.id == 4
    with target.connect() as connection:
        first_new = connection.execute(select(func.min(Reminder.id)).where(Reminder.patient_id == 4)).scalar()
    assert first_new > expected["reminder"]
    target.dispose()


async def test_a_target_that_is_not_empty_is_refused_and_left_alone(harness, clock, other_url):
    await _busy_clinic(harness, clock)
    source, target = harness.services.store.engine, make_engine(other_url)
    later = clock.now + timedelta(minutes=5)
    copy_database(source, target, now=later)
    before = counts(target)
    with pytest.raises(TransferError, match="not empty"):
        copy_database(source, target, now=later)
    assert counts(target) == before
    # A database with rows but an older schema (a mistaken target) is refused before any migration.
    with target.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    with pytest.raises(TransferError, match="not empty"):
        copy_database(source, target, now=later)
    assert current_revision(target) == "0004"
    target.dispose()


def test_the_command_copies_and_refuses_bad_input_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "copy-to"]) == 2
    assert "give the target database URL" in capsys.readouterr().err
    assert main(["db", "copy-to", "not a url"]) == 2
    assert "not a database URL" in capsys.readouterr().err
    assert main(["db", "copy-to", f"sqlite:///{tmp_path / 'clinic.db'}"]) == 2
    assert "already names" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["db", "copy-to", f"sqlite:///{tmp_path / 'new.db'}"]) == 0
    out = capsys.readouterr().out
    assert "patient" in out and "copied 0 rows" in out and "set DATABASE_URL" in out
    assert main(["db", "copy-to", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert "nothing copied" in err and "secret" not in err
