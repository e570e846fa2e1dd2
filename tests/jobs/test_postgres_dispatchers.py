"""Several dispatcher processes on one PostgreSQL database send each reminder exactly once.

Three separate processes (tests/jobs/dispatch_worker.py) run ``jobs.dispatch.dispatch_due`` at
the same time against one database and the fake Bot API server, until nothing is left. The claim
(``FOR UPDATE SKIP LOCKED``) must hand every due row to exactly one of them: the fake server
counts the messages per chat and text, and every row must end ``sent``.

Runs whenever the PostgreSQL test server is reachable, whatever AFTERCARE_TEST_DB says; skipped
when it is not, and failed instead under CI=true (see ``postgres_url`` in conftest).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from jobs.dispatch import ClaimedReminder, render_reminder
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import ACTIVE, PENDING, SENT, Enrollment, Patient, Reminder
from messages.catalog import load_catalog
from tests.jobs.dispatch_worker import CLINIC

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
PATIENTS = 2_500
STEPS = (("expect", "info"), ("evening_checkin", "checkin"))  # two due reminders per patient
DUE = PATIENTS * len(STEPS)  # 5,000
FIRST_CHAT_ID = 700_000_001
START_TIMEOUT = 30
RUN_TIMEOUT = 60


def seed(engine, now: datetime) -> tuple[dict[int, tuple[int, str]], list[int]]:
    """Linked, active patients with two due reminders each, and one not-yet-due reminder each.

    Returns the expected (chat id, text) of every due reminder by id, and the ids not yet due.
    The texts carry the patient's name, and each patient has a chat of its own, so each due
    reminder has a (chat, text) pair nothing else has.
    """
    catalog = load_catalog()
    session_at = now - timedelta(hours=3)
    with Session(engine, expire_on_commit=False) as session:
        patients = [
            Patient(name=f"Patient {number:04d}", status=ACTIVE, chat_id=FIRST_CHAT_ID + number,
                    timezone="Europe/Madrid", locale="en", created_at=session_at, linked_at=session_at)
            for number in range(PATIENTS)
        ]
        session.add_all(patients)
        session.flush()
        enrollments = [
            Enrollment(patient_id=patient.id, session_number=1, series_length=3, session_at=session_at,
                       protocol_name="microneedling", protocol_version="test", created_at=session_at)
            for patient in patients
        ]
        session.add_all(enrollments)
        session.flush()
        due, later = [], []
        for number, (patient, enrollment) in enumerate(zip(patients, enrollments, strict=True)):
            for position, (step, kind) in enumerate(STEPS):
                # Spread over the last hour, so the claim's due order interleaves patients.
                due_at = now - timedelta(hours=1) + timedelta(milliseconds=number * 7 + position)
                due.append(Reminder(enrollment_id=enrollment.id, patient_id=patient.id, step_key=step,
                                    text_key=step, kind=kind, planned_at=due_at, due_at=due_at,
                                    expires_at=now + timedelta(days=1)))
            tomorrow = now + timedelta(days=1)
            later.append(Reminder(enrollment_id=enrollment.id, patient_id=patient.id, step_key="sun_care",
                                  text_key="sun_care", planned_at=tomorrow, due_at=tomorrow,
                                  expires_at=tomorrow + timedelta(hours=12)))
        session.add_all(due + later)
        session.commit()
        by_patient = {patient.id: (patient, enrollment) for patient, enrollment in zip(patients, enrollments)}
        expected = {}
        for reminder in due:
            patient, enrollment = by_patient[reminder.patient_id]
            item = ClaimedReminder(
                id=reminder.id, patient_id=patient.id, chat_id=patient.chat_id, patient_name=patient.name,
                locale=patient.locale, timezone=patient.timezone, step_key=reminder.step_key,
                text_key=reminder.text_key, kind=reminder.kind, due_at=reminder.due_at,
                expires_at=reminder.expires_at, attempts=0, session_number=enrollment.session_number,
                series_length=enrollment.series_length, session_at=enrollment.session_at,
                protocol_name=enrollment.protocol_name,
            )
            expected[reminder.id] = (patient.chat_id, render_reminder(item, catalog=catalog, clinic=CLINIC))
        return expected, [reminder.id for reminder in later]


async def start_worker(database_url: str, api) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.jobs.dispatch_worker", database_url, api.root_url, api.token,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_three_dispatcher_processes_send_each_of_5000_reminders_exactly_once(postgres_url, fake_api):
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        expected, not_yet_due = seed(engine, datetime.now(UTC))
    finally:
        engine.dispose()
    assert len(expected) == DUE and len(set(expected.values())) == DUE

    workers = [await start_worker(postgres_url, fake_api) for _ in range(WORKERS)]
    errors = [asyncio.create_task(worker.stderr.read()) for worker in workers]
    try:
        for worker, error in zip(workers, errors, strict=True):
            line = await asyncio.wait_for(worker.stdout.readline(), START_TIMEOUT)
            if line.strip() != b"ready":
                await worker.wait()
                raise AssertionError(f"a worker did not start: {line!r}\n{(await error).decode()}")
        started = time.monotonic()
        for worker in workers:  # all at once
            worker.stdin.write(b"go\n")
        for worker in workers:
            await worker.stdin.drain()
            worker.stdin.close()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(worker.stdout.read() for worker in workers)), RUN_TIMEOUT)
        codes = await asyncio.gather(*(worker.wait() for worker in workers))
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    stderr = [(await error).decode() for error in errors]
    assert codes == [0] * WORKERS, "\n".join(stderr)
    reports = [json.loads(output.decode().strip().splitlines()[-1]) for output in outputs]

    # Telegram got each reminder exactly once, and nothing else.
    send_calls = fake_api.calls_to("sendMessage")
    assert [call.status for call in send_calls] == [200] * len(send_calls)
    counts = Counter((call.params["chat_id"], call.params["text"]) for call in send_calls)
    duplicates = {pair: count for pair, count in counts.items() if count > 1}
    assert not duplicates, f"{len(duplicates)} reminders sent more than once, e.g. {next(iter(duplicates))}"
    assert set(counts) == set(expected.values())
    assert len(send_calls) == DUE

    # Each reminder was handled by one worker only, and every worker took a share.
    handled = [{int(reminder_id) for reminder_id in report["outcomes"]} for report in reports]
    assert all(handled), f"a worker handled nothing: {[len(ids) for ids in handled]}"
    assert sum(len(ids) for ids in handled) == DUE
    assert set().union(*handled) == set(expected)
    assert {outcome for report in reports for outcome in report["outcomes"].values()} == {"sent"}

    # The database agrees: every due row sent, with Telegram's message id; the rest untouched.
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            statuses = dict(session.exec(
                select(Reminder.status, func.count()).where(Reminder.id.in_(list(expected)))
                .group_by(Reminder.status)).all())
            assert statuses == {SENT: DUE}
            assert session.exec(select(func.count()).where(
                Reminder.id.in_(list(expected)),
                Reminder.telegram_message_id.is_(None) | Reminder.claimed_until.is_not(None))).one() == 0
            later = session.exec(select(Reminder.status).where(Reminder.id.in_(not_yet_due))).all()
            assert later == [PENDING] * PATIENTS
    finally:
        engine.dispose()
    assert elapsed < RUN_TIMEOUT
