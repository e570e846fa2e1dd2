"""Several dispatcher processes on one PostgreSQL database send each reminder exactly once.

Three separate processes (tests/system/dispatch_worker.py) run ``jobs.dispatch.dispatch_due`` at
the same time against one database and the fake Bot API server, until nothing is left. The claim
(``FOR UPDATE SKIP LOCKED``) must hand every due row to exactly one of them. Each due reminder
goes to a chat of its own, so the fake server's count of messages per chat is the count per
reminder; and every row must end ``sent`` with Telegram's message id. Rows the claim must leave
alone (not due yet, patient not linked, patient paused) are mixed in.

Runs whenever the PostgreSQL test server is reachable, whatever AFTERCARE_TEST_DB says; skipped
when it is not, and failed instead under CI=true (see ``postgres_url`` in conftest).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
DUE = 5_000
FIRST_CHAT_ID = 700_000_001
START_TIMEOUT = 30
RUN_TIMEOUT = 90  # the run takes about 20-30 s on 2 cores; this only stops a hang


def seed(engine, now: datetime) -> tuple[dict[int, int], list[int], set[int]]:
    """Write the patients, their enrollments and reminders.

    Returns the chat id of every due reminder by reminder id, the ids of reminders that must stay
    pending, and the chat ids that must get nothing.
    """
    session_at = now - timedelta(hours=3)
    due_at = [now - timedelta(hours=1) + timedelta(milliseconds=7 * number) for number in range(DUE)]
    tomorrow = now + timedelta(days=1)

    def patient(number: int, status: str, chat_id: int | None) -> Patient:
        return Patient(name=f"Patient {number:05d}", status=status, chat_id=chat_id, timezone="Europe/Madrid",
                       locale="en", created_at=session_at, linked_at=session_at if chat_id else None)

    def reminder(enrollment: Enrollment, at: datetime) -> Reminder:
        return Reminder(enrollment_id=enrollment.id, patient_id=enrollment.patient_id, step_key="expect",
                        text_key="expect", kind="info", planned_at=at, due_at=at,
                        expires_at=at + timedelta(days=1))

    with Session(engine, expire_on_commit=False) as session:
        active = [patient(number, PatientStatus.ACTIVE, FIRST_CHAT_ID + number) for number in range(DUE)]
        unlinked = [patient(DUE + number, PatientStatus.AWAITING_LINK, None) for number in range(20)]
        paused = [patient(DUE + 20 + number, PatientStatus.PAUSED, FIRST_CHAT_ID + DUE + number) for number in range(20)]
        patients = active + unlinked + paused
        session.add_all(patients)
        session.flush()
        enrollments = [
            Enrollment(patient_id=p.id, session_number=1, series_length=3, session_at=session_at,
                       protocol_name="microneedling", protocol_version="test", created_at=session_at)
            for p in patients
        ]
        session.add_all(enrollments)
        session.flush()
        due = [reminder(enrollment, at) for enrollment, at in zip(enrollments[:DUE], due_at, strict=True)]
        later = [reminder(enrollment, tomorrow) for enrollment in enrollments[:50]]
        held = [reminder(enrollment, due_at[0]) for enrollment in enrollments[DUE:]]  # unlinked, paused
        session.add_all(due + later + held)
        session.commit()
        chat_of = {p.id: p.chat_id for p in patients}
        return ({r.id: chat_of[r.patient_id] for r in due}, [r.id for r in later + held],
                {p.chat_id for p in paused})


async def start_worker(database_url: str, api) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.system.dispatch_worker", database_url, api.root_url, api.token,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_three_dispatcher_processes_send_each_of_5000_reminders_exactly_once(postgres_url, fake_api):
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        chat_of, must_stay_pending, must_get_nothing = seed(engine, datetime.now(UTC))
    finally:
        engine.dispose()
    assert len(chat_of) == DUE and len(set(chat_of.values())) == DUE

    workers = [await start_worker(postgres_url, fake_api) for _ in range(WORKERS)]
    errors = [asyncio.create_task(worker.stderr.read()) for worker in workers]
    try:
        for worker, error in zip(workers, errors, strict=True):
            line = await asyncio.wait_for(worker.stdout.readline(), START_TIMEOUT)
            if line.strip() != b"ready":
                await worker.wait()
                raise AssertionError(f"a worker did not start: {line!r}\n{(await error).decode()}")
        for worker in workers:  # all three at once
            worker.stdin.write(b"go\n")
        for worker in workers:
            await worker.stdin.drain()
            worker.stdin.close()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(worker.stdout.read() for worker in workers)), RUN_TIMEOUT)
        codes = await asyncio.wait_for(asyncio.gather(*(worker.wait() for worker in workers)), 10)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    stderr = [(await error).decode() for error in errors]
    assert codes == [0] * WORKERS, "\n".join(stderr)
    reports = [json.loads(output.decode().strip().splitlines()[-1]) for output in outputs]

    # Telegram got each reminder exactly once (one chat per reminder), and nothing else.
    send_calls = fake_api.calls_to("sendMessage")
    assert [call.status for call in send_calls] == [200] * len(send_calls)
    per_chat = Counter(call.params["chat_id"] for call in send_calls)
    repeated = {chat: count for chat, count in per_chat.items() if count > 1}
    assert not repeated, f"{len(repeated)} reminders sent more than once, e.g. chat {next(iter(repeated))}"
    assert set(per_chat) == set(chat_of.values())
    assert not must_get_nothing & set(per_chat)
    assert all(call.params["text"].strip() for call in send_calls)

    # Each reminder was handled by one worker only, and every worker took a share.
    handled = [{int(reminder_id) for reminder_id in report["outcomes"]} for report in reports]
    assert all(handled), f"a worker handled nothing: {[len(ids) for ids in handled]}"
    assert sum(len(ids) for ids in handled) == DUE
    assert set().union(*handled) == set(chat_of)
    assert {outcome for report in reports for outcome in report["outcomes"].values()} == {"sent"}

    # The database agrees: every due row sent with Telegram's message id (the first message in
    # its chat, so 1), the lease cleared; the rows the claim must skip are untouched.
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(Reminder.status, Reminder.telegram_message_id, Reminder.claimed_until)
                                .where(Reminder.id.in_(list(chat_of)))).all()
            assert Counter(rows) == {(ReminderStatus.SENT, 1, None): DUE}
            assert session.exec(select(func.count()).where(Reminder.id.in_(must_stay_pending),
                                                           Reminder.status == ReminderStatus.PENDING)).one() == len(must_stay_pending)
    finally:
        engine.dispose()
