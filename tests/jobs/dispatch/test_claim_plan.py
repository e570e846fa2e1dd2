"""The PostgreSQL claim reads the other dispatchers' claims once per statement, not once per row.

Its "no other claim of this patient in flight" check once was a subquery correlated with each
candidate's patient. PostgreSQL cannot turn it into a join (``pg_locks``, which says whether a claim's
holder is alive, is volatile), so it ran once for every row the plan visited -- and on tables not yet
analyzed after a bulk load the plan visited every active patient for every candidate: about a million
runs for 5,000 due rows, each reading all the claims in flight, 20-45 s a batch with three dispatchers
(tests/system/test_postgres_dispatchers.py). Whatever plan the statistics lead to, no scan of the
reminder table may run more than once inside the statement.

Runs on PostgreSQL only (``postgres_url``: skipped when the server is unreachable, failed under CI=true).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from jobs.dispatch.queries import _CLAIM_IN_ONE
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.presence import ME
from jobs.storage.states import PatientStatus, ReminderStatus

PATIENTS = 400
IN_FLIGHT = 100  # rows other dispatchers hold (lease ahead, holder unknown: counted as alive)
LIMIT = 50


def seed(engine, now: datetime) -> None:
    """One due reminder per active patient; the oldest IN_FLIGHT of them claimed by someone else."""
    at = now - timedelta(hours=3)
    with Session(engine) as session:
        patients = [Patient(name=f"Patient {n:04d}", status=PatientStatus.ACTIVE, chat_id=800_000_000 + n,
                            timezone="Europe/Madrid", locale="en", created_at=at, linked_at=at)
                    for n in range(PATIENTS)]
        session.add_all(patients)
        session.flush()
        enrollments = [Enrollment(patient_id=p.id, session_number=1, series_length=3, session_at=at,
                                  protocol_name="microneedling", protocol_version="test", created_at=at)
                       for p in patients]
        session.add_all(enrollments)
        session.flush()
        for number, enrollment in enumerate(enrollments):
            due = now - timedelta(hours=1) + timedelta(seconds=number)
            claimed = number < IN_FLIGHT
            session.add(Reminder(enrollment_id=enrollment.id, patient_id=enrollment.patient_id, step_key="expect",
                                 text_key="expect", kind="info", planned_at=due, due_at=due,
                                 expires_at=due + timedelta(days=1),
                                 status=ReminderStatus.CLAIMED if claimed else ReminderStatus.PENDING,
                                 claimed_until=now + timedelta(minutes=5) if claimed else None))
        session.commit()


def scans_of_reminder(node: dict, inside_subplan: bool = False):
    """(loops, node type) of every scan of the reminder table inside a subquery of a condition (a SubPlan)."""
    inside = inside_subplan or node.get("Parent Relationship") == "SubPlan"
    if inside and node.get("Relation Name") == "reminder":
        yield node["Actual Loops"], node["Node Type"]
    for child in node.get("Plans", []):
        yield from scans_of_reminder(child, inside)


def test_the_claims_in_flight_are_read_once_per_claim_not_once_per_row(postgres_url):
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        seed(engine, now)
        statement = _CLAIM_IN_ONE.compile(dialect=postgresql.dialect())
        values = {"now": now, "until": now + timedelta(minutes=5), "limit": LIMIT, ME: None}
        with engine.connect() as connection:
            cursor = connection.connection.driver_connection.cursor()
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", statement.construct_params(values))
            plan = cursor.fetchone()[0]
            connection.rollback()  # EXPLAIN ANALYZE ran the claim: leave nothing claimed
        if isinstance(plan, str):
            plan = json.loads(plan)
        root = plan[0]["Plan"]
        assert root["Actual Rows"] == LIMIT  # the claim took a full batch, past the rows in flight
        scans = list(scans_of_reminder(root))
        assert scans, "the claim no longer reads the claims in flight in a subquery: update this test"
        assert all(loops <= 1 for loops, _ in scans), f"a subquery reads reminders once per row: {scans}"
    finally:
        engine.dispose()
