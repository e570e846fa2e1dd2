"""Fault injection at the fake Bot API server: every failure class is handled on its own row."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from telegram import Update

from bot.delivery import note_downtime, report_to_staff
from jobs.dispatch import ChatPacer, DeliveryPolicy, retry_delay
from jobs.storage.models import Enrollment, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import PATIENT_ID, STAFF_ID

SECOND = PATIENT_ID + 1


async def _two_patients_due(harness, clock):
    """Two linked patients whose evening check-in is due now."""
    await harness.link("/enroll Anna K")
    await harness.link("/enroll Ben O", user_id=SECOND)
    clock.set_local(0, 19, 5)


def _row(harness, chat_step):
    patient_id, step = chat_step
    [row] = harness.rows(Reminder, Reminder.patient_id == patient_id, Reminder.step_key == step)
    return row


async def test_rate_limited_reminder_is_requeued_after_retry_after_without_counting_an_attempt(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    fake_api.fail("sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7,
                  chat_id=PATIENT_ID)
    report = await harness.dispatch()
    assert report.rate_limited == 1
    row = _row(harness, (1, "evening_checkin"))
    assert (row.status, row.attempts) == (ReminderStatus.PENDING, 0)
    assert row.due_at == clock.now + timedelta(seconds=7)
    clock.advance(seconds=7)
    report = await harness.dispatch()
    assert _row(harness, (1, "evening_checkin")).status == ReminderStatus.SENT
    assert _row(harness, (2, "evening_checkin")).status == ReminderStatus.SENT


async def test_blocked_patient_becomes_unreachable_staff_told_once_others_unaffected(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    fake_api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user",
                  chat_id=PATIENT_ID, times=5)
    report = await harness.dispatch()
    await report_to_staff(harness.services, harness.app.bot, report)
    await harness.send_notices()
    patients = {p.id: p for p in harness.rows(Patient)}
    assert patients[1].status == PatientStatus.UNREACHABLE and patients[2].status == PatientStatus.ACTIVE
    assert _row(harness, (1, "evening_checkin")).status == ReminderStatus.FAILED
    assert {r.status for r in harness.rows(Reminder, Reminder.patient_id == 1, Reminder.step_key != "expect",
                                           Reminder.step_key != "evening_checkin")} == {ReminderStatus.CANCELLED}
    assert _row(harness, (2, "evening_checkin")).status == ReminderStatus.SENT
    alerts = [t for t in fake_api.texts(STAFF_ID) if "blocked the bot" in t]
    assert len(alerts) == 1 and "Anna K" in alerts[0]
    clock.advance(days=1)
    report = await harness.dispatch()
    await report_to_staff(harness.services, harness.app.bot, report)
    await harness.send_notices()
    assert len([t for t in fake_api.texts(STAFF_ID) if "blocked the bot" in t]) == 1


async def test_unblocking_makes_the_patient_reachable_and_replans_what_is_still_valid(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    fake_api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user", chat_id=PATIENT_ID)
    await harness.dispatch()
    assert harness.rows(Patient, Patient.id == 1)[0].status == PatientStatus.UNREACHABLE
    clock.set_local(1, 8, 30)
    update = {"update_id": 9_000, "my_chat_member": {
        "chat": {"id": PATIENT_ID, "type": "private", "first_name": "Anna"},
        "from": {"id": PATIENT_ID, "is_bot": False, "first_name": "Anna"}, "date": 1_800_000_000,
        "old_chat_member": {"status": "kicked", "user": {"id": 123456789, "is_bot": True, "first_name": "Aftercare"},
                            "until_date": 0},
        "new_chat_member": {"status": "member", "user": {"id": 123456789, "is_bot": True, "first_name": "Aftercare"}},
    }}
    await harness.app.process_update(Update.de_json(update, harness.app.bot))
    assert harness.rows(Patient, Patient.id == 1)[0].status == PatientStatus.ACTIVE
    sun = _row(harness, (1, "sun_care"))
    assert sun.status == ReminderStatus.PENDING  # came back: still valid
    clock.set_local(1, 9, 5)
    await harness.dispatch()
    assert "direct sunlight" in fake_api.texts(PATIENT_ID)[-1]


async def test_a_blocked_patient_writing_again_is_reachable(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    fake_api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user", chat_id=PATIENT_ID)
    await harness.dispatch()
    await harness.send(PATIENT_ID, "sorry, I blocked you by mistake")
    assert harness.rows(Patient, Patient.id == 1)[0].status == PatientStatus.ACTIVE


async def test_bad_request_fails_that_reminder_with_the_reason_and_staff_are_told(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    fake_api.fail("sendMessage", status=400, description="Bad Request: chat not found", chat_id=PATIENT_ID)
    report = await harness.dispatch()
    await report_to_staff(harness.services, harness.app.bot, report)
    await harness.send_notices()
    row = _row(harness, (1, "evening_checkin"))
    assert row.status == ReminderStatus.FAILED and "Chat not found" in row.outcome
    assert _row(harness, (2, "evening_checkin")).status == ReminderStatus.SENT
    assert any("could not be delivered" in t and "Chat not found" in t for t in fake_api.texts(STAFF_ID))


async def test_server_errors_are_retried_with_backoff_then_fail(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    harness.services.policy = DeliveryPolicy(max_attempts=3, retry_base=timedelta(seconds=30))
    fake_api.fail("sendMessage", status=502, description="Bad Gateway", chat_id=PATIENT_ID, times=10)
    await harness.dispatch()
    row = _row(harness, (1, "evening_checkin"))
    assert (row.status, row.attempts) == (ReminderStatus.PENDING, 1)
    assert timedelta(seconds=15) <= row.due_at - clock.now <= timedelta(seconds=30)
    clock.now = row.due_at
    await harness.dispatch()
    row = _row(harness, (1, "evening_checkin"))
    assert (row.status, row.attempts) == (ReminderStatus.PENDING, 2)
    clock.now = row.due_at
    await harness.dispatch()
    row = _row(harness, (1, "evening_checkin"))
    assert (row.status, row.attempts) == (ReminderStatus.FAILED, 3) and "Bad Gateway" in row.outcome


async def test_a_step_that_would_go_stale_while_retrying_is_skipped(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    clock.set_local(1, 0, 59)  # the evening check-in is valid until 01:00
    harness.services.policy = DeliveryPolicy(retry_base=timedelta(minutes=5))
    fake_api.fail("sendMessage", status=500, description="Internal Server Error", chat_id=PATIENT_ID, times=3)
    await harness.dispatch()
    row = _row(harness, (1, "evening_checkin"))
    assert row.status == ReminderStatus.SKIPPED and "stale while retrying" in row.outcome


async def test_timeouts_and_dropped_connections_are_retried(harness, fake_api, clock):
    await _two_patients_due(harness, clock)
    # A short read timeout so the injected hang counts as a timeout.
    harness.app.bot.request.timeouts["read"] = 0.3
    fake_api.hang("sendMessage", seconds=2, chat_id=PATIENT_ID)
    fake_api.drop("sendMessage", chat_id=SECOND)
    report = await harness.dispatch()
    assert report.retried == 2
    for patient_id in (1, 2):
        row = _row(harness, (patient_id, "evening_checkin"))
        assert (row.status, row.attempts) == (ReminderStatus.PENDING, 1)
    clock.advance(minutes=1)
    await harness.dispatch()
    assert {_row(harness, (p, "evening_checkin")).status for p in (1, 2)} == {ReminderStatus.SENT}


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap():
    policy = DeliveryPolicy(retry_base=timedelta(seconds=30), retry_cap=timedelta(minutes=30))
    rng = random.Random(7)
    delays = [retry_delay(n, policy, rng=rng).total_seconds() for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(1800, 30 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] <= 1800


async def test_chat_pacer_spaces_messages_to_one_chat_by_a_second():
    now = [100.0]
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = ChatPacer(1.0, clock=lambda: now[0], sleep=fake_sleep)
    await pacer.wait(1)
    await pacer.wait(2)  # another chat: no wait
    now[0] += 0.25
    await pacer.wait(1)
    assert slept == [0.75]


async def test_wrong_tokens_are_throttled(harness, fake_api):
    token = await harness.enroll()
    for attempt in range(5):
        await harness.send(PATIENT_ID, f"/start WRONGWRONGWRONGWRONGWRONG{attempt}")
    await harness.send(PATIENT_ID, f"/start {token}")
    assert "Too many attempts" in fake_api.texts(PATIENT_ID)[-1]
    assert harness.rows(Patient)[0].status != PatientStatus.ACTIVE


async def test_staff_get_one_summary_after_downtime(harness, fake_api, clock):
    await harness.link()
    await note_downtime(harness.services)  # the bot's first start: nothing to report
    assert harness.services.downtime is None or harness.services.downtime < timedelta(minutes=1)
    clock.set_local(2, 10, 30)  # down from the session evening until day 2
    await harness.restart()
    await note_downtime(harness.services)
    report = await harness.dispatch()
    await report_to_staff(harness.services, harness.app.bot, report)
    await harness.send_notices()
    summary = fake_api.texts(STAFF_ID)[-1]
    assert summary.startswith("🔄 Back after 1 day 19 hrs offline: 1 sent, 2 skipped as out of date")
    report = await harness.dispatch()
    await report_to_staff(harness.services, harness.app.bot, report)
    await harness.send_notices()
    assert fake_api.texts(STAFF_ID)[-1] == summary and len([t for t in fake_api.texts(STAFF_ID) if "Back after" in t]) == 1


async def test_heartbeat_logs_queue_counts(harness, clock, caplog):
    import logging

    from bot.delivery import heartbeat_job

    caplog.set_level(logging.INFO)
    await harness.link()

    class Context:
        bot_data = harness.app.bot_data
        services = harness.services  # what bot/context.py's AftercareContext hands callbacks

    await heartbeat_job(Context())
    assert "heartbeat: 7 pending, 0 due now, 0 failed" in caplog.text


async def test_outcomes_finishing_together_are_committed_in_one_transaction():
    from jobs.dispatch import OutcomeRecorder

    class CountingStore:
        def __init__(self):
            self.transactions = []

        async def run(self, function, /, **kwargs):
            self.transactions.append(len(kwargs["operations"]))
            return function(None, **kwargs)

    store = CountingStore()
    recorder = OutcomeRecorder(store)
    results = await asyncio.gather(*(recorder.record(lambda session, n: n * 2, n=n) for n in range(5)))
    assert results == [0, 2, 4, 6, 8]
    assert store.transactions == [5]  # one commit for the five, each caller got its own result
    assert await recorder.record(lambda session: "alone") == "alone"
    assert store.transactions == [5, 1]


async def test_a_stop_request_halts_the_sends_of_a_claimed_batch_that_have_not_begun(harness, fake_api, clock):
    for index in range(6):
        await harness.link(f"/enroll Batch {index}", user_id=PATIENT_ID + 10 + index)
    clock.set_local(0, 19, 5)  # six evening check-ins due, claimed in one batch
    sent_before = len(fake_api.calls_to("sendMessage"))
    harness.services.policy = DeliveryPolicy(concurrency=1)
    from bot.delivery import run_dispatch

    def should_stop():
        return len(fake_api.calls_to("sendMessage")) > sent_before  # stop after the first send

    report = await run_dispatch(harness.services, harness.app.bot, should_stop=should_stop)
    assert report.sent == 1 and report.released == 5
    assert len(fake_api.calls_to("sendMessage")) == sent_before + 1
    assert not harness.rows(Reminder, Reminder.status == ReminderStatus.CLAIMED)
    assert len(harness.rows(Reminder, Reminder.step_key == "evening_checkin", Reminder.status == ReminderStatus.PENDING)) == 5


async def test_a_failed_outcome_write_stops_the_run_only_after_every_send_in_flight_is_recorded(
        harness, fake_api, clock):
    from jobs import dispatch

    await _two_patients_due(harness, clock)
    first = _row(harness, (1, "evening_checkin")).id
    real = harness.services.store

    class FailingForOne:
        """The database refuses the outcome of patient 1's send (a connection lost, say)."""

        def __init__(self):
            self.engine = real.engine

        async def run(self, function, /, **kwargs):
            operations = kwargs.get("operations", [])
            if function is dispatch._apply_all and any(kw.get("reminder_id") == first for _, kw in operations):
                raise RuntimeError("database went away")
            return await real.run(function, **kwargs)

    fake_api.hang("sendMessage", seconds=0.5, chat_id=SECOND)  # patient 2's send is still in flight
    with pytest.raises(RuntimeError, match="went away"):
        await dispatch.dispatch_due(store=FailingForOne(), bot=harness.app.bot, catalog=harness.services.catalog,
                                    clinic=harness.services.clinic, now=clock.now,
                                    policy=harness.services.policy, pacer=dispatch.ChatPacer(0))
    # The error came up only once patient 2's send had finished and been recorded.
    assert _row(harness, (2, "evening_checkin")).status == ReminderStatus.SENT
    assert _row(harness, (1, "evening_checkin")).status == ReminderStatus.CLAIMED  # its lease will bring it back


async def test_a_failed_outcome_write_halts_the_sends_not_yet_begun_like_a_429(harness, fake_api, clock):
    from jobs import dispatch

    for index in range(6):
        await harness.link(f"/enroll Batch {index}", user_id=PATIENT_ID + 10 + index)
    clock.set_local(0, 19, 5)  # six evening check-ins due, claimed in one batch
    real = harness.services.store
    sent_before = len(fake_api.calls_to("sendMessage"))

    class DatabaseGone:
        """The database accepts the claim, then refuses every outcome (a connection lost, say)."""

        def __init__(self):
            self.engine = real.engine

        async def run(self, function, /, **kwargs):
            if function is dispatch._apply_all:
                raise RuntimeError("database went away")
            return await real.run(function, **kwargs)

    with pytest.raises(RuntimeError, match="went away"):
        await dispatch.dispatch_due(store=DatabaseGone(), bot=harness.app.bot, catalog=harness.services.catalog,
                                    clinic=harness.services.clinic, now=clock.now,
                                    policy=DeliveryPolicy(concurrency=2), pacer=dispatch.ChatPacer(0))
    # Only the sends already in flight went out unrecorded; the other four were never begun.
    assert len(fake_api.calls_to("sendMessage")) - sent_before <= 2


def test_a_skipped_reason_is_cut_to_the_column_like_failed_and_retried(harness, clock):
    from jobs.dispatch import claim_due, record_skipped

    store = harness.services.store
    with harness.session() as session:  # one pending row, due now, of an active linked patient
        patient = Patient(name="Long", status=PatientStatus.ACTIVE, chat_id=PATIENT_ID, timezone="UTC", created_at=clock.now)
        session.add(patient)
        session.flush()
        enrollment = Enrollment(patient_id=patient.id, session_at=clock.now, protocol_name="microneedling",
                                protocol_version="1", created_at=clock.now)
        session.add(enrollment)
        session.flush()
        session.add(Reminder(enrollment_id=enrollment.id, patient_id=patient.id, step_key="s", text_key="expect",
                             planned_at=clock.now, due_at=clock.now, expires_at=clock.now + timedelta(hours=1)))
        session.commit()
    [claimed] = store.call(claim_due, now=clock.now, limit=5, lease=timedelta(minutes=5))
    store.call(record_skipped, reminder_id=claimed.id, reason="stale while retrying (" + "x" * 400 + ")")
    [row] = harness.rows(Reminder, Reminder.id == claimed.id)
    assert row.status == ReminderStatus.SKIPPED and len(row.outcome) == 200  # VARCHAR(200): PostgreSQL refused the whole write


async def test_the_summary_after_downtime_counts_every_pass_until_caught_up(harness, fake_api, clock):
    from collections import Counter

    from jobs.dispatch import DispatchReport, Outcome

    def report(sent=0, skipped=0, failed=0, **flags):
        return DispatchReport(counts=Counter({Outcome.SENT: sent, Outcome.STALE: skipped, Outcome.REFUSED: failed}),
                              **flags)

    services = harness.services
    services.downtime = timedelta(hours=14)
    # With several instances the first tick may be another's (skipped here); a 429 halts a pass early.
    await report_to_staff(services, harness.app.bot, report(ran=False))
    await harness.send_notices()
    await report_to_staff(services, harness.app.bot, report(sent=30, skipped=1, halted=True))
    await harness.send_notices()
    assert not [text for text in fake_api.texts(STAFF_ID) if "Back after" in text]  # not caught up yet
    await report_to_staff(services, harness.app.bot, report(sent=7, skipped=4, failed=1))
    await harness.send_notices()
    [summary] = [text for text in fake_api.texts(STAFF_ID) if "Back after" in text]
    assert summary.startswith("🔄 Back after 14 hrs offline: 37 sent, 5 skipped as out of date, 1 failed")
    await report_to_staff(services, harness.app.bot, report(sent=3))
    await harness.send_notices()
    assert len([text for text in fake_api.texts(STAFF_ID) if "Back after" in text]) == 1


def test_each_send_error_is_classified_into_one_outcome():
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    from jobs.dispatch import Outcome, classify

    assert classify(RetryAfter(3)) is Outcome.RATE_LIMITED
    assert classify(Forbidden("Forbidden: bot was blocked by the user")) is Outcome.BLOCKED
    assert classify(BadRequest("Bad Request: chat not found")) is Outcome.REFUSED  # a NetworkError subclass
    assert classify(TimedOut()) is Outcome.RETRY and classify(NetworkError("Bad Gateway")) is Outcome.RETRY
    assert classify(ZeroDivisionError()) is Outcome.BROKEN
