"""The audit trail's chain: it verifies when whole, and names the first row edited, removed or inserted;
several writers at once append in one order; pruning keeps it verifiable from its anchor."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from jobs.ops import audit
from jobs.ops.audit import Action, ActorKind, Face, Outcome, Who
from jobs.storage.db import Store, make_engine, upgrade
from jobs.storage.models import AuditAnchor, AuditEvent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STAFF = Who(ActorKind.PERSON, Face.CHAT, id=1001, name="Marta")


@pytest.fixture
def store(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


def fill(store: Store, count: int = 5, *, start: datetime = NOW) -> None:
    for number in range(count):
        store.call(audit.record, action=Action.VIEW_PATIENT, patient_id=number + 1,
                   now=start + timedelta(minutes=number), who=STAFF)


def test_a_fresh_trail_verifies_and_holds_ids_only(store):
    fill(store)
    result = store.call(audit.verify)
    assert result.ok and result.rows == 5
    rows = store.call(audit.events)
    assert [row.id for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    assert (rows[0].actor, rows[0].actor_id, rows[0].actor_name, rows[0].face) == ("person", 1001, "Marta", "chat")


def test_an_edited_row_is_named(store):
    fill(store)
    with Session(store.engine) as session:
        session.execute(text("UPDATE audit_event SET patient_id = 99 WHERE id = 3"))
        session.commit()
    result = store.call(audit.verify)
    assert (result.ok, result.broken_at, result.rows) == (False, 3, 2)
    assert "edited" in result.reason


def test_a_deleted_row_is_named(store):
    fill(store)
    with Session(store.engine) as session:
        session.execute(text("DELETE FROM audit_event WHERE id = 2"))
        session.commit()
    result = store.call(audit.verify)
    assert (result.ok, result.broken_at) == (False, 3)
    assert "missing" in result.reason


def test_an_inserted_row_is_named(store):
    """A row copied to the end (an action that never happened, made to look like one that did)."""
    fill(store)
    with Session(store.engine) as session:
        copy = session.get(AuditEvent, 2)
        session.execute(text(
            "INSERT INTO audit_event (id, at, action, outcome, face, actor, actor_id, actor_name, patient_id, "
            "prev_hash, hash) VALUES (6, :at, 'view_patient', 'success', 'chat', 'person', 1001, 'Marta', 7, "
            ":prev, :hash)"), {"at": copy.at.replace(tzinfo=None) if session.get_bind().dialect.name == "sqlite"
                               else copy.at, "prev": copy.prev_hash, "hash": copy.hash})
        session.commit()
    result = store.call(audit.verify)
    assert (result.ok, result.broken_at) == (False, 6)
    assert "does not follow" in result.reason


def test_a_refused_person_is_kept_by_id_without_a_name(store):
    store.call(audit.record, action=Action.ACCESS, outcome=Outcome.REFUSED, now=NOW,
               who=Who(ActorKind.PERSON, Face.CHAT, id=3003, name="Someone"))
    [row] = store.call(audit.events)
    assert (row.outcome, row.actor_id, row.actor_name) == ("refused", 3003, None)


def test_who_comes_from_the_door_unless_given(store):
    with audit.acting(Who(ActorKind.API_KEY, Face.API, name="booking-system")):
        store.call(audit.record, action=Action.VIEW_PATIENT, patient_id=1, now=NOW)
    store.call(audit.record, action=Action.AUDIT_PRUNED, now=NOW)
    first, second = store.call(audit.events)
    assert (first.actor, first.face, first.actor_name) == ("api_key", "api", "booking-system")
    assert (second.actor, second.face) == ("system", "system")


def test_concurrent_writers_append_one_chain(store):
    """Several threads (on PostgreSQL: several connections, as several instances would be) at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(number: int) -> None:
        engine = make_engine(str(store.engine.url.render_as_string(hide_password=False)))
        try:
            start.wait()
            for step in range(15):
                Store(engine).call(audit.record, action=Action.TAKE, patient_id=number, now=NOW + timedelta(
                    seconds=step), who=STAFF)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = store.call(audit.verify)
    assert result.ok and result.rows == 90


def test_pruning_drops_whole_old_months_and_keeps_the_chain_verifiable(store):
    fill(store, 3, start=datetime(2025, 10, 30, tzinfo=UTC))   # October 2025
    fill(store, 2, start=datetime(2025, 11, 20, tzinfo=UTC))   # November 2025
    fill(store, 2, start=datetime(2026, 12, 1, tzinfo=UTC))    # this month
    # 365 days before 6 Dec 2026 is 6 Dec 2025: October and November 2025 are wholly older.
    gone = store.call(audit.prune, retention=timedelta(days=365), now=NOW)
    assert gone == 5
    rows = store.call(audit.events)
    assert [row.action for row in rows] == ["view_patient", "view_patient", "audit_pruned"]
    assert store.call(lambda session: session.get(AuditAnchor, 1)).through_id == 5
    assert store.call(audit.verify).ok
    fill(store, 1)
    assert store.call(audit.verify).ok


def test_a_month_is_kept_until_all_of_it_is_old_enough(store):
    fill(store, 2, start=datetime(2025, 12, 1, tzinfo=UTC))   # December 2025: part of it is within 365 days
    assert store.call(audit.prune, retention=timedelta(days=365), now=NOW) == 0
    assert len(store.call(audit.events)) == 2


def test_a_tampered_trail_is_not_pruned(store):
    fill(store, 3, start=datetime(2025, 1, 1, tzinfo=UTC))
    with Session(store.engine) as session:
        session.execute(text("UPDATE audit_event SET actor_id = 5 WHERE id = 2"))
        session.commit()
    with pytest.raises(audit.TamperedTrail):
        store.call(audit.prune, retention=timedelta(days=365), now=NOW)
    assert len(store.call(lambda session: session.exec(select(AuditEvent)).all())) == 3
