"""Upgrades as a clinic lives them: a database made by the first migration, holding patients, goes through
every migration to head and keeps them (both databases); instances started together migrate once, never
racing (PostgreSQL); a database newer than the code is refused with one line."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, text
from sqlmodel import Session, select

from bot.cli import main
from jobs.ops import audit
from jobs.staff.console import patient_timeline
from jobs.storage.db import (
    SchemaTooNew,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    upgrade,
)
from jobs.storage.models import Patient, Reminder
from tests.jobs.storage.test_migrations import schema_drift

SESSION = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _fill_first_schema(engine) -> None:
    """Three patients as the first version of the bot wrote them: linked, waiting for their link, stopped."""
    tables = MetaData()
    tables.reflect(engine)
    patient, enrollment, reminder, invite = (tables.tables[name] for name in ("patient", "enrollment", "reminder",
                                                                               "invite"))
    with engine.begin() as connection:
        for number, (status, chat) in enumerate((("active", 5001), ("awaiting_link", None), ("stopped", 5003)), 1):
            connection.execute(patient.insert().values(
                id=number, name=f"Patient {number}", status=status, chat_id=chat, timezone="Europe/Madrid",
                locale="es", series_length=3, enrolled_by=1001, created_at=SESSION,
                linked_at=SESSION if chat else None))
            connection.execute(enrollment.insert().values(
                id=number, patient_id=number, session_number=1, series_length=3, session_at=SESSION,
                protocol_name="microneedling", protocol_version="1", created_at=SESSION))
            connection.execute(invite.insert().values(
                patient_id=number, token_hash=f"{number:064d}", created_at=SESSION,
                expires_at=SESSION + timedelta(days=7), used_at=SESSION if chat else None, used_by_chat=chat))
            for step, (kind, state) in enumerate((("info", "sent"), ("checkin", "pending"), ("rebook", "pending"))):
                due = SESSION + timedelta(days=step)
                connection.execute(reminder.insert().values(
                    enrollment_id=number, patient_id=number, step_key=f"step_{step}", text_key=f"text_{step}",
                    kind=kind, planned_at=due, due_at=due, expires_at=due + timedelta(days=2),
                    status=state if status == "active" or state == "sent" else "cancelled" if status == "stopped"
                    else state, attempts=1 if state == "sent" else 0, sent_at=due if state == "sent" else None))


def test_a_database_of_the_first_migration_with_patients_upgrades_to_head(engine):
    upgrade(engine, "0001")
    _fill_first_schema(engine)
    migrate(engine)
    assert current_revision(engine) == head_revision(engine)
    assert schema_drift(engine) == []
    with Session(engine) as session:
        patients = session.exec(select(Patient).order_by(Patient.id)).all()
        assert [(p.name, p.status, p.chat_id, p.locale) for p in patients] == [
            ("Patient 1", "active", 5001, "es"), ("Patient 2", "awaiting_link", None, "es"),
            ("Patient 3", "stopped", 5003, "es")]
        states = {(row.patient_id, row.step_key): row.status for row in session.exec(select(Reminder))}
        assert len(states) == 9
        assert states[(1, "step_1")] == "pending" and states[(1, "step_0")] == "sent"
        # An unlinked patient's messages wait for the link (0005) rather than being claimable.
        assert states[(2, "step_1")] == "waiting"
        assert states[(3, "step_1")] == "cancelled"
        # The upgraded database is used as a new one is: a record read, and the read audited.
        assert patient_timeline(session, patient_id=1).patient.name == "Patient 1"
        audit.record(session, action=audit.Action.VIEW_PATIENT, patient_id=1, now=SESSION)
        session.commit()
        assert audit.verify(session).ok
    migrate(engine)  # again: nothing to do
    assert current_revision(engine) == head_revision(engine)


def test_instances_started_together_migrate_once_without_racing(postgres_url):
    """Four instances start on an empty PostgreSQL database at once: one migrates, the others wait and find
    nothing left to do (without the lock two create the same tables and one fails)."""
    engines = [make_engine(postgres_url) for _ in range(4)]
    start, errors = threading.Barrier(len(engines)), []

    def instance(engine) -> None:
        try:
            start.wait()
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert current_revision(engines[0]) == head_revision(engines[0])
        assert schema_drift(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


def _newer(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        with pytest.raises(SchemaTooNew):
            migrate(engine)
    finally:
        engine.dispose()


def test_run_refuses_a_database_newer_than_the_code_with_one_line(database_url, fake_api, monkeypatch, tmp_path,
                                                                    capsys):
    from tests.conftest import bot_env

    _newer(database_url)
    monkeypatch.chdir(tmp_path)
    for key, value in bot_env(fake_api, database_url).items():
        monkeypatch.setenv(key, value)
    for command in (["run"], ["migrate"], ["db", "upgrade"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("aftercare: DATABASE_URL: the database's schema (0999) is "
                                                      "newer than this version of the bot"), err
    assert main(["check"]) == 1
    assert "the schema (0999) is newer than this version of the bot knows" in capsys.readouterr().err
