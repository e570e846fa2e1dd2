"""The staff outbox: staff notices wait for the staff group's pace; patient reminders never wait for them.

A forum staff group that Telegram lets the bot write to 20 times a minute (the fake server's flood
control, counted by the test's clock), and 50 patients whose check-ins went unanswered at once: each
alert costs three group calls (the topic, its introduction, the alert), so the group needs minutes.
Patient reminders due meanwhile go out on time, every alert arrives in its patient's topic, and
Telegram never has to say "too many requests".
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import update
from telegram import Update

from bot.outbox import outbox_rounds, send_notices
from bot.topics import FORUM_RECHECK_AFTER_FAILURE, staff_forum
from jobs.staff.outbox import Action, Notice, Priority, StaffPacer, StaffPacing, claim_notices, enqueue
from jobs.storage.models import Patient, Reminder, StaffNotice
from jobs.storage.states import NoticeStatus, ReminderStatus
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

FORUM = -1001777000002
PATIENTS = 50


@pytest.fixture
async def staffed(fake_api, database_url, clock):
    fake_api.add_group(FORUM)
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(FORUM)), clock)
    await bot.start()
    yield bot
    await bot.stop()


def _telegram_pace(bot: BotHarness, fake_api, clock) -> None:
    """Telegram's limits, by the test's clock: the fake's flood control and the outbox's own pacing."""
    fake_api.limit_groups(20, 60.0, clock=lambda: clock().timestamp())
    bot.services.staff_pacer = StaffPacer(StaffPacing())

    async def no_real_sleep(seconds: float) -> None:
        # Between two calls of one notice the outbox waits a second: time the test's clock keeps.
        clock.advance(seconds=seconds)

    bot.services.outbox_sleep = no_real_sleep


def _group_calls(fake_api) -> int:
    return sum(1 for call in fake_api.calls if call.params.get("chat_id") == FORUM)


async def test_fifty_silence_alerts_at_once_hold_back_no_reminder_and_all_reach_staff(staffed, fake_api, clock):
    for n in range(PATIENTS):
        await staffed.link(f"/enroll Patient {n}", user_id=5000 + n)
    clock.set_local(2, 10, 5)
    await staffed.dispatch()  # the day-2 check-ins go out; nobody answers them
    _telegram_pace(staffed, fake_api, clock)
    clock.set_local(3, 10, 6)  # 24 h later every silence alert is due at once
    start = clock()
    # Each patient also has a reminder due 45 s from now (the next step of their plan, moved here).
    with staffed.session() as session:
        firsts = {}
        for row in session.exec(Reminder.__table__.select().where(Reminder.status == ReminderStatus.PENDING,
                                                                  Reminder.kind != "silence",
                                                                  Reminder.parent_id.is_(None))
                                .order_by(Reminder.due_at)):
            firsts.setdefault(row.patient_id, row.id)
        session.exec(update(Reminder).where(Reminder.id.in_(firsts.values()))
                     .values(due_at=start + timedelta(seconds=45)))
        session.commit()
    assert len(firsts) == PATIENTS

    before = _group_calls(fake_api)
    from bot.delivery import run_dispatch

    report = await run_dispatch(staffed.services, staffed.app.bot)  # the dispatcher alone
    assert report.sent == PATIENTS  # 50 silence alerts handed to the outbox...
    assert _group_calls(fake_api) == before  # ...and not one call to the staff group on the dispatcher's path
    assert len(staffed.rows(StaffNotice, StaffNotice.status == NoticeStatus.PENDING)) == PATIENTS

    # Both jobs tick every 5 s, as the JobQueue runs them (the outbox's also when woken).
    reminders_checked = False
    for _ in range(12 * 20):
        await outbox_rounds(staffed.services, staffed.app.bot)
        clock.advance(seconds=5)
        await run_dispatch(staffed.services, staffed.app.bot)
        if not reminders_checked and clock() >= start + timedelta(seconds=45):
            rows = staffed.rows(Reminder, Reminder.id.in_(firsts.values()))
            assert [r.status for r in rows] == [ReminderStatus.SENT] * PATIENTS
            # On time: sent at the first dispatcher tick after they were due, whatever the group's backlog.
            assert max(r.sent_at for r in rows) - (start + timedelta(seconds=45)) <= timedelta(seconds=5)
            backlog = staffed.rows(StaffNotice, StaffNotice.status == NoticeStatus.PENDING)
            assert len(backlog) > 30  # the staff group was still far behind
            reminders_checked = True
        if reminders_checked and not staffed.rows(StaffNotice, StaffNotice.status != NoticeStatus.SENT):
            break
    assert reminders_checked
    # Every alert in its patient's own topic, each topic made once, and Telegram never said "too many".
    assert len(fake_api.calls_to("createForumTopic")) == PATIENTS
    for topic in fake_api.topics(FORUM):
        assert sum("No answer from" in text for text in fake_api.in_topic(FORUM, topic.thread_id)) == 1
    assert [call for call in fake_api.calls if call.status == 429] == []
    # And no faster than Telegram allows: 150 group calls at 20 a minute take at least 7 minutes.
    assert clock() - start >= timedelta(minutes=7)
    # Sent notices keep no words.
    assert {notice.payload for notice in staffed.rows(StaffNotice)} == {""}


async def test_a_429_holds_the_chat_for_its_retry_after_and_the_alert_still_arrives(staffed, fake_api, clock):
    await staffed.link()
    fake_api.fail("sendMessage", status=429, retry_after=30, chat_id=FORUM)
    await staffed.services.queue_staff([Notice(FORUM, Action.SEND, {"text": "first"}),
                                        Notice(FORUM, Action.SEND, {"text": "second"})])
    report = await send_notices(staffed.services, staffed.app.bot)
    assert (report.sent, report.waiting) == (0, 2)
    assert {n.due_at for n in staffed.rows(StaffNotice, StaffNotice.status == NoticeStatus.PENDING)} == \
        {clock() + timedelta(seconds=30)}
    clock.advance(seconds=29)
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 0  # not before retry_after
    clock.advance(seconds=1)
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 2
    assert fake_api.texts(FORUM)[-2:] == ["first", "second"]


async def test_urgent_notices_jump_the_queue(staffed, fake_api, clock):
    services = staffed.services
    await services.queue_staff([Notice(FORUM, Action.SEND, {"text": f"routine {n}"}) for n in range(3)])
    await services.queue_staff([Notice(FORUM, Action.SEND, {"text": "worried"}, priority=Priority.URGENT)])
    await send_notices(services, staffed.app.bot)
    assert fake_api.texts(FORUM) == ["worried", "routine 0", "routine 1", "routine 2"]


async def test_a_notice_queued_twice_under_one_key_goes_once(staffed, fake_api, clock):
    notice = Notice(FORUM, Action.SEND, {"text": "no answer"}, dedup_key="silence:7")
    await staffed.services.queue_staff([notice])
    await staffed.services.queue_staff([notice])  # the reminder was claimed again after a crash
    await staffed.send_notices()
    assert fake_api.texts(FORUM) == ["no answer"]
    await staffed.services.queue_staff([notice])  # even once sent
    await staffed.send_notices()
    assert fake_api.texts(FORUM) == ["no answer"]


async def test_a_claim_whose_sender_died_is_taken_again_once_its_lease_ran_out(staffed, clock):
    store = staffed.services.store
    store.call(enqueue, notices=[Notice(FORUM, Action.SEND, {"text": "x"})], now=clock())
    [first] = store.call(claim_notices, now=clock(), limit=10, lease=timedelta(minutes=5), holder=None)
    assert store.call(claim_notices, now=clock(), limit=10, lease=timedelta(minutes=5), holder=None) == []
    later = clock() + timedelta(minutes=6)
    assert [n.id for n in store.call(claim_notices, now=later, limit=10, lease=timedelta(minutes=5),
                                     holder=None)] == [first.id]


async def test_a_failed_get_chat_is_cached_too(staffed, fake_api, clock):
    fake_api.fail("getChat", status=500)  # Telegram has a bad moment
    services, bot = staffed.services, staffed.app.bot
    for _ in range(5):
        assert await staff_forum(services, bot) is None  # not known as a forum: alerts go to the chat itself
    assert len(fake_api.calls_to("getChat")) == 1
    clock.advance(seconds=FORUM_RECHECK_AFTER_FAILURE.total_seconds() - 1)
    await staff_forum(services, bot)
    assert len(fake_api.calls_to("getChat")) == 1
    clock.advance(seconds=1)
    assert await staff_forum(services, bot) == FORUM  # asked again, and now it answers
    assert len(fake_api.calls_to("getChat")) == 2


async def test_alerts_during_a_get_chat_outage_ask_telegram_once(staffed, fake_api, clock):
    await staffed.link()
    fake_api.fail("getChat", status=500, times=100)
    for n in range(5):
        await staffed.services.queue_staff([Notice(FORUM, Action.SEND, {"text": f"about {n}"}, patient_id=1)])
        await staffed.send_notices()
    assert len(fake_api.calls_to("getChat")) == 1
    assert [text for text in fake_api.texts(FORUM) if text.startswith("about")] == [f"about {n}" for n in range(5)]


def test_the_pacer_keeps_a_second_between_calls_and_twenty_a_minute_in_a_group(clock):
    pacer, now = StaffPacer(StaffPacing()), clock()
    assert pacer.ready_at(STAFF_ID, now) == now
    pacer.note(STAFF_ID, now)
    assert pacer.ready_at(STAFF_ID, now) == now + timedelta(seconds=1)  # a private chat: a second apart
    for n in range(20):
        at = now + timedelta(seconds=n)
        assert pacer.ready_at(FORUM, at) == at
        pacer.note(FORUM, at)
    # The 21st waits until the first is a minute old; three calls in a row wait for three to be.
    assert pacer.ready_at(FORUM, now + timedelta(seconds=20)) == now + timedelta(seconds=60)
    assert pacer.ready_at(FORUM, now + timedelta(seconds=20), calls=3) == now + timedelta(seconds=62)
    pacer.hold(FORUM, now + timedelta(minutes=5))
    assert pacer.ready_at(FORUM, now + timedelta(minutes=2)) == now + timedelta(minutes=5)


async def test_many_topics_to_close_go_a_few_per_notice_until_all_are_closed(staffed, fake_api, clock):
    for n in range(5):
        await staffed.link(f"/enroll Patient {n}", user_id=5000 + n)
        await staffed.send(5000 + n, "hello")  # each patient's topic is made
    with staffed.session() as session:  # five plans ended at once (as /cancel marks them)
        session.exec(update(Patient).values(topic_pending="closed"))
        session.commit()
    before = max(n.id for n in staffed.rows(StaffNotice))
    await staffed.rounds()
    topics = fake_api.topics(FORUM)
    assert len(topics) == 5 and all(topic.closed for topic in topics)
    settles = staffed.rows(StaffNotice, StaffNotice.id > before, StaffNotice.action == Action.SETTLE)
    assert len(settles) == 3  # two topics per notice: 2 + 2 + 1


async def test_an_erased_patient_s_alerts_still_waiting_are_never_sent(staffed, fake_api, clock):
    await staffed.link()
    staffed.services.staff_pacer.hold(FORUM, clock() + timedelta(hours=1))  # Telegram holds the staff group
    await staffed.services.queue_staff([Notice(FORUM, Action.SEND, {"text": "Anna K wrote: my cheek"}, patient_id=1),
                                        Notice(FORUM, Action.SEND, {"text": "staff meeting at 5"})])
    await staffed.send(PATIENT_ID, "/delete")
    message_id, data = staffed.buttons(PATIENT_ID)
    await staffed.press(PATIENT_ID, next(d for d in data if d.startswith("cf:delete:yes")), message_id)
    clock.advance(hours=2)
    await send_notices(staffed.services, staffed.app.bot)
    texts = fake_api.texts(FORUM)
    assert "staff meeting at 5" in texts and not any("cheek" in text for text in texts)


async def test_staff_commands_answered_in_the_group_keep_its_pace_and_patients_never_wait(staffed, fake_api, clock):
    """A staff command's own answer in the group goes from its handler, not the outbox: the rate limiter
    paces it by the same budget (bot/rate_limits.py), 20 a minute and a second apart, while a patient's
    reminder due meanwhile goes at once."""
    await staffed.link()
    _telegram_pace(staffed, fake_api, clock)
    slept: list[float] = []
    pace_sleep = staffed.services.outbox_sleep

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await pace_sleep(seconds)

    staffed.services.outbox_sleep = sleep
    clock.advance(minutes=2)  # the group's minute of earlier calls is over
    start, answered = clock(), len(fake_api.texts(FORUM))
    for _ in range(30):
        await staffed.send(STAFF_ID, "/help", chat_id=FORUM, chat_type="supergroup")
    assert len(fake_api.texts(FORUM)) - answered == 30  # every answer arrived...
    assert not [call for call in fake_api.calls if call.status == 429]  # ...and Telegram never said "too many"
    assert clock() - start >= timedelta(seconds=60)  # the 21st waited for the first to be a minute old
    group_calls = [call for call in fake_api.calls_to("sendMessage") if call.params.get("chat_id") == FORUM]
    assert len(group_calls) >= 30

    # The group has no budget left now; a patient's reminder due now does not wait for it.
    with staffed.session() as session:
        session.exec(update(Reminder).where(Reminder.status == ReminderStatus.PENDING).values(due_at=clock()))
        session.commit()
    slept.clear()
    before, at = len(fake_api.texts(PATIENT_ID)), clock()
    report = await staffed.dispatch()
    assert report.sent >= 1 and len(fake_api.texts(PATIENT_ID)) > before
    assert slept == [] and clock() == at


async def test_a_429_on_a_staff_command_s_answer_holds_the_group_for_its_retry_after_then_answers(
        staffed, fake_api, clock):
    await staffed.link()
    _telegram_pace(staffed, fake_api, clock)
    clock.advance(minutes=2)
    fake_api.fail("sendMessage", status=429, retry_after=7, chat_id=FORUM)
    start = clock()
    await staffed.send(STAFF_ID, "/help", chat_id=FORUM, chat_type="supergroup")
    assert clock() - start >= timedelta(seconds=7)  # waited retry_after, then answered
    assert [call.status for call in fake_api.calls_to("sendMessage") if call.params.get("chat_id") == FORUM][-2:] \
        == [429, 200]
    # While a command's answer waits out a 429, the group is held for the outbox too.
    fake_api.fail("sendMessage", status=429, retry_after=30, chat_id=FORUM)
    waiting, release = asyncio.Event(), asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        waiting.set()
        await release.wait()
        clock.advance(seconds=seconds)

    staffed.services.outbox_sleep = held_sleep
    answer = asyncio.create_task(staffed.app.process_update(Update.de_json(
        fake_api.message_update(user_id=STAFF_ID, text="/help", chat_id=FORUM, chat_type="supergroup"),
        staffed.app.bot)))
    await asyncio.wait_for(waiting.wait(), 10)  # the answer got its 429 and waits
    await staffed.services.queue_staff([Notice(FORUM, Action.SEND, {"text": "queued meanwhile"})])
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 0  # held: the group's 429
    release.set()
    await asyncio.wait_for(answer, 10)
    assert [call.status for call in fake_api.calls_to("sendMessage") if call.params.get("chat_id") == FORUM][-2:] \
        == [429, 200]
    clock.advance(seconds=1)
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 1
    assert fake_api.texts(FORUM)[-1] == "queued meanwhile"


async def test_a_staff_command_s_answer_never_waits_past_the_intake_s_lease(staffed, fake_api, clock):
    """Telegram asks the group to wait ten minutes: the answer is given up after the one refusal (its
    update is not held for ten minutes), and the group stays held for the outbox."""
    from bot.rate_limits import GROUP_WAIT_LIMIT

    await staffed.link()
    _telegram_pace(staffed, fake_api, clock)
    clock.advance(minutes=2)
    fake_api.fail("sendMessage", status=429, retry_after=600, chat_id=FORUM)
    start = clock()
    await staffed.send(STAFF_ID, "/help", chat_id=FORUM, chat_type="supergroup")
    assert clock() - start <= GROUP_WAIT_LIMIT
    assert [call.status for call in fake_api.calls_to("sendMessage") if call.params.get("chat_id") == FORUM] == [429]
    await staffed.services.queue_staff([Notice(FORUM, Action.SEND, {"text": "after the wait"})])
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 0
    clock.advance(seconds=600)
    assert (await send_notices(staffed.services, staffed.app.bot)).sent == 1


async def test_while_another_instance_sends_the_outbox_leaves_it_to_the_tick_instead_of_waking_itself(
        staffed, fake_api, clock, monkeypatch):
    """The outbox job may run beside itself (bot/app.py, WOKEN_JOB): were it to wake itself for the notices
    another instance is sending, it would find the lock taken, wake itself again, and so on without pause."""
    import contextlib

    services = staffed.services
    wakes = []
    monkeypatch.setattr(services, "outbox_waker", wakes.append)
    await services.queue_staff([Notice(FORUM, Action.SEND, {"text": "no answer"})])
    assert len(wakes) == 1  # queued: the job is woken
    real_exclusive = services.store.exclusive

    @contextlib.asynccontextmanager
    async def taken(name):
        yield False  # another instance holds the outbox's lock

    monkeypatch.setattr(services.store, "exclusive", taken)
    report = await outbox_rounds(services, staffed.app.bot)
    assert not report.ran and len(wakes) == 1 and fake_api.texts(FORUM) == []
    monkeypatch.setattr(services.store, "exclusive", real_exclusive)
    report = await outbox_rounds(services, staffed.app.bot)  # the next tick, the lock free
    assert report.ran and report.sent == 1 and fake_api.texts(FORUM) == ["no answer"]
