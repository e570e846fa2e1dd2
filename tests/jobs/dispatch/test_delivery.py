"""End to end: timed messages arrive in order by the injected clock, survive restarts, never repeat."""

from __future__ import annotations

from datetime import timedelta

from jobs.dispatch import claim_due
from jobs.storage.models import Reminder
from jobs.storage.states import ReminderStatus
from tests.conftest import PATIENT_ID, BotHarness, bot_env

ORDER = ["expect", "evening_checkin", "sun_care", "settling_check", "photo_day3", "week_sunscreen", "rebook_open",
         "rebook_closing"]
MARKERS = {  # a phrase from each step's text, to recognise it at the fake server
    "expect": "redness and mild swelling",
    "evening_checkin": "How is your skin doing",
    "sun_care": "direct sunlight",
    "settling_check": "swelling should be going down",
    "photo_day3": "photo of the treated area today",
    "week_sunscreen": "One week on",
    "rebook_open": "window for your next session is now open",
    "rebook_closing": "window for your next session closes",
}


def received_steps(api) -> list[str]:
    steps = []
    for text in api.texts(PATIENT_ID):
        found = [step for step, marker in MARKERS.items() if marker in text]
        assert len(found) <= 1, text
        steps.extend(found)
    return steps


async def test_patient_receives_every_message_in_order_as_time_moves(harness, fake_api, clock):
    token = await harness.enroll()
    await harness.send(PATIENT_ID, f"/start {token}")
    assert received_steps(fake_api) == ["expect"]

    clock.set_local(0, 18, 59)
    await harness.dispatch()
    assert received_steps(fake_api) == ["expect"]  # not yet
    for day, hour, expected in [(0, 19, 2), (1, 9, 3), (2, 10, 4), (3, 10, 5), (7, 10, 6), (28, 10, 7), (40, 10, 8)]:
        clock.set_local(day, hour, 1)
        report = await harness.dispatch()
        assert report.sent == 1
        assert received_steps(fake_api) == ORDER[:expected]
        if day == 2:  # the day-2 check-in answered, so it is not followed up
            message_id, data = harness.buttons(PATIENT_ID)
            await harness.press(PATIENT_ID, data[0], message_id)
        if day == 3:  # and so is the day-3 photo check-in
            await harness.send(PATIENT_ID, "", photo_file_id="day-3-photo")
    clock.advance(days=30)
    assert (await harness.dispatch()).sent == 0
    rows = harness.rows(Reminder, Reminder.parent_id.is_(None))
    assert all(r.status == ReminderStatus.SENT and r.telegram_message_id for r in rows)
    assert received_steps(fake_api) == ORDER


async def test_message_text_names_the_patient_clinic_phone_and_next_window(harness, fake_api, clock):
    token = await harness.enroll("/enroll Anna K session=1/3")
    await harness.send(PATIENT_ID, f"/start {token}")
    clock.set_local(28, 10, 5)
    await harness.dispatch()
    text = fake_api.texts(PATIENT_ID)[-1]
    assert "Anna," in text and "Anna K" not in text and "+34 600 000 000" in text
    assert "Tue 22 December" in text and "Tue 5 January" in text  # 4 and 6 weeks after 24 Nov
    assert fake_api.sent_messages(PATIENT_ID)[-1].params["parse_mode"] == "HTML"


async def test_a_restart_in_the_middle_loses_nothing_and_repeats_nothing(harness, fake_api, clock):
    token = await harness.enroll()
    await harness.send(PATIENT_ID, f"/start {token}")
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    clock.set_local(1, 9, 30)
    await harness.dispatch()
    assert received_steps(fake_api) == ORDER[:3]

    await harness.restart()  # a new Application, the same database file
    clock.set_local(1, 10, 0)
    assert (await harness.dispatch()).sent == 0  # nothing sent twice
    clock.set_local(2, 10, 30)
    await harness.dispatch()
    await harness.restart()
    clock.set_local(7, 11, 0)
    await harness.dispatch()
    assert received_steps(fake_api) == ORDER[:4] + ["week_sunscreen"]  # the day-3 photo went stale meanwhile


async def test_after_a_day_of_downtime_what_is_due_goes_once_and_stale_steps_are_skipped(harness, fake_api, clock):
    token = await harness.enroll()
    await harness.send(PATIENT_ID, f"/start {token}")
    await harness.stop()  # the bot is down from the session evening...
    clock.set_local(2, 10, 30)  # ...until day 2: the evening check and the morning sun note went stale
    await harness.start()
    report = await harness.dispatch()
    assert (report.sent, report.skipped) == (1, 2)
    assert received_steps(fake_api) == ["expect", "settling_check"]
    statuses = {r.step_key: (r.status, r.outcome) for r in harness.rows(Reminder)}
    assert statuses["evening_checkin"][0] == ReminderStatus.SKIPPED and "stale" in statuses["evening_checkin"][1]
    assert statuses["sun_care"][0] == ReminderStatus.SKIPPED
    assert (await harness.dispatch()).handled == 0


async def test_patient_linking_late_skips_stale_steps_and_gets_what_is_still_valid(harness, fake_api, clock):
    token = await harness.enroll()
    clock.set_local(1, 10, 0)  # links the next morning
    await harness.send(PATIENT_ID, f"/start {token}")
    assert received_steps(fake_api) == ["expect", "sun_care"]  # both still valid, sent at once, in order
    assert {r.step_key for r in harness.rows(Reminder, Reminder.status == ReminderStatus.SKIPPED)} == {"evening_checkin"}


async def test_linking_during_quiet_hours_sends_what_is_due_at_once(harness, fake_api, clock):
    token = await harness.enroll()
    clock.set_local(0, 22, 30)  # the evening check was due at 19:00; the patient is here now
    await harness.send(PATIENT_ID, f"/start {token}")
    assert received_steps(fake_api) == ["expect", "evening_checkin"]


async def test_reminders_of_unlinked_patients_wait(harness, fake_api, clock):
    await harness.enroll()
    clock.set_local(0, 19, 30)
    assert (await harness.dispatch()).handled == 0
    assert {r.status for r in harness.rows(Reminder)} == {ReminderStatus.WAITING}


async def test_two_dispatchers_never_claim_the_same_reminder(harness, clock):
    for name in ("A", "B", "C"):
        token = await harness.enroll(f"/enroll Patient {name}")
        await harness.send(PATIENT_ID + ord(name), f"/start {token}")
    clock.set_local(2, 10, 30)
    store = harness.services.store
    first = store.call(claim_due, now=clock.now, limit=100, lease=timedelta(minutes=5))
    second = store.call(claim_due, now=clock.now, limit=100, lease=timedelta(minutes=5))
    assert first and second == []
    # A lease that ran out (its dispatcher died) is claimed again.
    third = store.call(claim_due, now=clock.now + timedelta(minutes=6), limit=100, lease=timedelta(minutes=5))
    assert sorted(r.id for r in third) == sorted(r.id for r in first)
    assert {r.status for r in harness.rows(Reminder, Reminder.id.in_([r.id for r in third]))} == {ReminderStatus.CLAIMED}


async def test_one_patient_is_never_claimed_by_two_dispatchers_at_once(harness, clock):
    await harness.link()
    clock.set_local(1, 9, 30)  # the evening check-in and the morning sun note are both due
    store = harness.services.store
    first = store.call(claim_due, now=clock.now, limit=1, lease=timedelta(minutes=5))
    assert [r.step_key for r in first] == ["evening_checkin"]
    # Another dispatcher must not take this patient's next message while the first is in flight:
    # it would race it to the chat and could arrive first.
    assert store.call(claim_due, now=clock.now, limit=10, lease=timedelta(minutes=5)) == []
    # Once the lease runs out (the first dispatcher died), everything of the patient is claimable again.
    later = store.call(claim_due, now=clock.now + timedelta(minutes=6), limit=10, lease=timedelta(minutes=5))
    assert first[0].id in {r.id for r in later}


async def test_the_dispatcher_job_is_one_recurring_job_with_the_configured_interval(fake_api, database_url, clock):
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, DISPATCH_INTERVAL_SECONDS="45"), clock).start()
    try:
        jobs = {job.name: job for job in bot.app.job_queue.jobs()}
        # One dispatcher job for all reminders (not one job per reminder), the staff outbox's, the heartbeat,
        # the pruning and the inbox's check for worried patients nobody took.
        assert sorted(jobs) == ["dispatch-due-reminders", "heartbeat", "prune-handled-updates",
                                "raise-untaken-escalations", "send-staff-notices"]
        assert jobs["dispatch-due-reminders"].job.trigger.interval == timedelta(seconds=45)
        assert jobs["dispatch-due-reminders"].job.misfire_grace_time is None
    finally:
        await bot.stop()


def _statements(engine):
    """A list that fills with each statement the engine sends (with executemany's flag), and a stop."""
    from sqlalchemy import event

    seen: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement.split()[0].upper(), executemany))

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


async def test_a_claim_is_one_statement_on_postgresql_and_comes_back_in_due_order(harness, clock):
    for name in ("A", "B", "C"):
        await harness.link(f"/enroll Patient {name}", user_id=PATIENT_ID + ord(name))
    clock.set_local(2, 10, 30)
    store = harness.services.store
    seen, stop = _statements(store.engine)
    try:
        claimed = store.call(claim_due, now=clock.now, limit=100, lease=timedelta(minutes=5))
    finally:
        stop()
    assert len(claimed) == 9 and {r.patient_id for r in claimed} == {1, 2, 3}  # three steps due for each
    assert [(r.due_at, r.id) for r in claimed] == sorted((r.due_at, r.id) for r in claimed)
    assert all(r.patient_name.startswith("Patient ") and r.chat_id for r in claimed)
    # PRAGMA busy_timeout comes when the pooled connection last served a handler (a shorter wait).
    queries = [verb for verb, _ in seen if verb not in ("BEGIN", "COMMIT", "PRAGMA")]
    # PostgreSQL: one round trip (UPDATE … FROM locking CTEs … RETURNING). SQLite, in-process: pending
    # rows, then (fewer than the limit) expired claims, the update, the columns.
    expected = ["WITH"] if store.engine.dialect.name == "postgresql" else ["SELECT", "SELECT", "UPDATE", "SELECT"]
    assert queries == expected


async def test_sends_that_finish_together_are_marked_sent_by_one_executemany(harness, clock):
    import asyncio

    from jobs.dispatch import OutcomeRecorder, record_sent

    for name in ("A", "B", "C"):
        await harness.link(f"/enroll Patient {name}", user_id=PATIENT_ID + ord(name))
    clock.set_local(2, 10, 30)
    store = harness.services.store
    claimed = store.call(claim_due, now=clock.now, limit=100, lease=timedelta(minutes=5))
    # One of them was taken over meanwhile (its lease ran out and it was re-queued): leave it alone.
    taken = claimed[0].id
    with store.engine.begin() as connection:
        connection.execute(Reminder.__table__.update().where(Reminder.__table__.c.id == taken).values(status=ReminderStatus.PENDING))
    recorder = OutcomeRecorder(store)
    seen, stop = _statements(store.engine)
    try:
        await asyncio.gather(*(recorder.record(record_sent, reminder_id=r.id, message_id=900 + n, now=clock.now)
                               for n, r in enumerate(claimed)))
    finally:
        stop()
    assert [entry for entry in seen if entry[0] == "UPDATE"] == [("UPDATE", True)]
    rows = {r.id: r for r in harness.rows(Reminder, Reminder.id.in_([r.id for r in claimed]))}
    assert rows[taken].status == ReminderStatus.PENDING and rows[taken].telegram_message_id is None
    for n, item in enumerate(claimed[1:], start=1):
        row = rows[item.id]
        assert (row.status, row.telegram_message_id, row.claimed_until) == (ReminderStatus.SENT, 900 + n, None)
        assert row.sent_at == clock.now


async def test_a_start_wakes_the_one_dispatcher_job_whose_report_reaches_staff(harness, fake_api, clock):
    """The patient blocked the bot right after opening the link: the woken pass finds it out, and
    staff hear of it (the old inline pass dropped its report)."""
    from tests.conftest import STAFF_ID

    token = await harness.enroll()
    # The greeting, the error notice and then the first aftercare message all meet a blocked chat.
    fake_api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user",
                  chat_id=PATIENT_ID, times=5)
    await harness.send(PATIENT_ID, f"/start {token}")
    alerts = [text for text in fake_api.texts(STAFF_ID) if "blocked the bot" in text]
    assert len(alerts) == 1 and "Anna K" in alerts[0]


async def test_a_wake_during_a_pass_runs_one_more_pass_after_it_never_beside_it(harness, fake_api, clock,
                                                                                monkeypatch):
    from bot import delivery

    await harness.link()
    running = 0
    passes = []
    real = delivery.run_dispatch

    async def counting(services, bot, **kwargs):
        nonlocal running
        running += 1
        passes.append(running)
        if len(passes) == 1:  # a patient links while the first pass is sending
            delivery.wake_dispatcher(services, harness.app.job_queue)
        try:
            return await real(services, bot, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(delivery, "run_dispatch", counting)
    job = harness.app.job_queue.get_jobs_by_name(delivery.DISPATCH_JOB_NAME)[0]
    planned = job.next_t
    await delivery.dispatch_rounds(harness.services, harness.app.bot)
    assert passes == [1, 1]  # two passes, one after the other: never two at once (the bound of 4 holds)
    assert job.next_t == planned  # the job was not rescheduled beside the running pass
    assert not harness.services.dispatching and not harness.services.dispatch_wanted


async def test_a_second_job_run_beside_a_pass_only_asks_it_for_one_more(harness, monkeypatch):
    """The dispatcher and outbox jobs may run twice at once (bot/app.py, WOKEN_JOB): the second run
    sends nothing itself, so the in-flight bound and the one-pass-at-a-time order hold."""
    from bot import delivery, outbox

    async def must_not_run(*args, **kwargs):
        raise AssertionError("a second pass ran beside the first")

    monkeypatch.setattr(delivery, "run_dispatch", must_not_run)
    monkeypatch.setattr(outbox, "send_notices", must_not_run)
    services = harness.services
    services.dispatching = services.outbox_running = True
    await delivery.dispatch_rounds(services, harness.app.bot)
    report = await outbox.outbox_rounds(services, harness.app.bot)
    assert services.dispatch_wanted and services.outbox_wanted and report.sent == 0
    assert services.dispatching and services.outbox_running  # still the first pass's
