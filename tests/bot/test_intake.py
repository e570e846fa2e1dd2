"""Durable intake: updates are stored before Telegram hears they arrived, handled from the database
at least once, each chat's in order, and handling one twice does what it did once."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from telegram import Update

from bot.delivery import prune_job
from bot.intake import UPDATE_LEASE, ChatOrderedProcessor
from jobs.intake import claim_updates, mark_done, store_updates
from jobs.storage.models import InboundUpdate, Invite, Patient
from jobs.storage.presence import Presence
from jobs.storage.states import UpdateStatus
from tests.bot.conftest import all_done, until
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


async def test_polling_confirms_an_update_only_once_it_is_stored(harness, fake_api, intake, monkeypatch):
    real_run = harness.services.store.run
    refused = []

    async def run(function, /, **kwargs):
        if function is store_updates and not refused:
            refused.append(kwargs["updates"][0]["update_id"])
            raise RuntimeError("database went away")
        return await real_run(function, **kwargs)

    monkeypatch.setattr(harness.services.store, "run", run)
    fake_api.push_update(fake_api.message_update(user_id=OTHER_ID, text="/start"))
    intake.start(polling=True)
    await until(lambda: fake_api.texts(OTHER_ID) and all_done(harness), "the reply to /start")
    offsets = [call.params.get("offset") for call in fake_api.calls_to("getUpdates")]
    # The batch that could not be stored was not confirmed: the next call asked from the same place
    # (no offset), Telegram gave the update again, and only then was it confirmed.
    assert refused and offsets[:2] == [None, None]
    assert refused[0] + 1 in offsets
    assert len(fake_api.texts(OTHER_ID)) == 1
    [row] = harness.rows(InboundUpdate)
    # Handled: the row keeps its id for de-duplication, not the update (issue 20).
    assert row.update_id == refused[0] and row.status == UpdateStatus.DONE and row.payload == "" and row.chat_key is None


async def test_an_update_delivered_twice_is_handled_once(harness, fake_api, intake):
    raw = fake_api.message_update(user_id=OTHER_ID, text="/start")
    await intake.receive([raw])
    await intake.receive([dict(raw)])  # Telegram sends it again (a webhook retry, a lost confirmation)
    intake.start(polling=False)
    await until(lambda: fake_api.texts(OTHER_ID) and all_done(harness), "the reply")
    await asyncio.sleep(0.3)
    assert len(fake_api.texts(OTHER_ID)) == 1
    assert len(harness.rows(InboundUpdate)) == 1


def _dies_before_done(harness, monkeypatch) -> list[int]:
    """The first update handled is not marked done, as when the process dies right after its handlers
    ran: it stays claimed (payload and effects kept) and is taken again once its lease lapses."""
    real_run = harness.services.store.run
    lost: list[int] = []

    async def run(function, /, **kwargs):
        if function is mark_done and not lost:
            lost.extend(kwargs["update_ids"])
            return None
        return await real_run(function, **kwargs)

    monkeypatch.setattr(harness.services.store, "run", run)
    return lost


async def _handled_again(harness, intake, lost: list[int]) -> None:
    await until(lambda: lost and not intake._in_flight, "the first run")
    [row] = harness.rows(InboundUpdate, InboundUpdate.update_id == lost[0])
    assert row.status == UpdateStatus.CLAIMED and row.payload  # not done: what it said is still there to redo
    harness.clock.advance(seconds=UPDATE_LEASE.total_seconds() + 1)
    intake._wake.set()
    await until(lambda: all_done(harness) and harness.rows(InboundUpdate)[0].attempts == 2, "the second run")


async def test_a_patient_message_handled_twice_reaches_staff_once(harness, fake_api, intake, monkeypatch):
    await harness.link()
    raw = fake_api.message_update(user_id=PATIENT_ID, text="I have pus and a fever")
    lost = _dies_before_done(harness, monkeypatch)
    await intake.receive([raw])
    intake.start(polling=False)
    await _handled_again(harness, intake, lost)
    to_staff = [text for text in fake_api.texts(STAFF_ID) if "pus and a fever" in text]
    assert len(to_staff) == 1
    assert harness.rows(InboundUpdate)[0].effects == "relayed"


async def test_a_start_handled_twice_links_once(harness, fake_api, intake, monkeypatch):
    token = await harness.enroll()
    raw = fake_api.message_update(user_id=PATIENT_ID, text=f"/start {token}")
    lost = _dies_before_done(harness, monkeypatch)
    await intake.receive([raw])
    intake.start(polling=False)
    await _handled_again(harness, intake, lost)
    [patient] = harness.rows(Patient)
    assert patient.chat_id == PATIENT_ID and len(harness.rows(Invite)) == 1
    # The first message came once, from the dispatcher job the /start woke.
    await until(lambda: [t for t in fake_api.texts(PATIENT_ID) if "redness and mild swelling" in t], "the first message")
    await asyncio.sleep(0.3)
    assert len([t for t in fake_api.texts(PATIENT_ID) if "redness and mild swelling" in t]) == 1


async def test_a_slow_chat_does_not_hold_up_the_others(harness, fake_api, intake):
    fake_api.hang("sendMessage", seconds=2.0, chat_id=OTHER_ID)
    await intake.receive([fake_api.message_update(user_id=OTHER_ID, text="/start")])
    await intake.receive([fake_api.message_update(user_id=PATIENT_ID, text="/start")])
    started = time.monotonic()
    intake.start(polling=False)
    await until(lambda: fake_api.texts(PATIENT_ID), "the second chat's reply")
    assert time.monotonic() - started < 1.5  # not behind the first chat's slow reply
    await until(lambda: fake_api.texts(OTHER_ID), "the slow reply")


async def test_one_chats_updates_run_in_order_and_other_chats_beside_them(fake_api):
    processor = ChatOrderedProcessor(4)
    first_a = Update.de_json(fake_api.message_update(user_id=1, text="a1"), None)
    second_a = Update.de_json(fake_api.message_update(user_id=1, text="a2"), None)
    only_b = Update.de_json(fake_api.message_update(user_id=2, text="b1"), None)
    log: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, wait: bool = False) -> None:
        log.append(f"{name} start")
        if wait:
            await release.wait()
        log.append(f"{name} end")

    tasks = [asyncio.create_task(processor.process_update(first_a, handle("a1", wait=True))),
             asyncio.create_task(processor.process_update(second_a, handle("a2"))),
             asyncio.create_task(processor.process_update(only_b, handle("b1")))]
    await asyncio.sleep(0.05)
    assert log == ["a1 start", "b1 start", "b1 end"]  # b ran beside a; a2 waits for a1
    release.set()
    await asyncio.gather(*tasks)
    assert log[3:] == ["a1 end", "a2 start", "a2 end"]


async def test_handled_updates_are_pruned_after_the_retention(harness, fake_api, clock):
    store = harness.services.store
    raws = [fake_api.message_update(user_id=OTHER_ID + n, text="hi") for n in range(3)]
    store.call(store_updates, updates=raws, now=clock.now)
    [first, *_] = store.call(claim_updates, now=clock.now, limit=1, lease=timedelta(minutes=2), holder=None)
    store.call(mark_done, update_ids=[first.update_id], now=clock.now)
    assert harness.services.settings.update_retention == timedelta(hours=24)  # UPDATE_RETENTION_HOURS' default

    class Context:
        bot_data = harness.app.bot_data
        services = harness.services  # what bot/context.py's AftercareContext hands callbacks

    clock.advance(hours=23, minutes=59)
    await prune_job(Context())
    assert len(harness.rows(InboundUpdate)) == 3
    clock.advance(minutes=2)
    await prune_job(Context())  # the handled one goes; the two still open stay, however old
    assert sorted(row.update_id for row in harness.rows(InboundUpdate)) == [r["update_id"] for r in raws[1:]]


async def test_claims_take_one_update_per_chat_and_a_dead_holders_at_once(harness, fake_api, clock):
    store = harness.services.store
    lease = timedelta(minutes=2)
    raws = [fake_api.message_update(user_id=OTHER_ID, text="one"), fake_api.message_update(user_id=OTHER_ID, text="two"),
            fake_api.message_update(user_id=PATIENT_ID, text="three")]
    store.call(store_updates, updates=raws, now=clock.now)
    alive = Presence(store.engine).acquire()
    try:
        # A process that holds the claims and is gone: on PostgreSQL a holder id nobody holds a lock
        # for; on SQLite anyone else's, once this process holds the file's presence.
        first = store.call(claim_updates, now=clock.now, limit=10, lease=lease, holder=424242)
        assert [c.update_id for c in first] == [raws[0]["update_id"], raws[2]["update_id"]]  # one per chat
        again = store.call(claim_updates, now=clock.now, limit=10, lease=lease, holder=alive.holder)
        assert [c.update_id for c in again] == [raws[0]["update_id"], raws[2]["update_id"]]
        assert [c.attempts for c in again] == [2, 2]
        # Our own live claims are not taken again, and the chat's second update waits for its first.
        assert store.call(claim_updates, now=clock.now, limit=10, lease=lease, holder=alive.holder) == []
    finally:
        alive.release()


async def test_a_wake_as_the_dispatcher_job_winds_down_still_sends_at_once(harness, fake_api, intake, monkeypatch):
    """The patient links just after a pass has ended but while its job is still counted as running
    (APScheduler refuses a second instance then): the woken pass must still run, not 30 s later."""
    from bot import delivery

    token = await harness.enroll()
    ended, release = asyncio.Event(), asyncio.Event()
    real_rounds = delivery.dispatch_rounds
    calls = []

    async def rounds(services, bot, **kwargs):
        calls.append(1)
        await real_rounds(services, bot, **kwargs)
        if len(calls) == 1:
            ended.set()
            await release.wait()  # the pass is over; the job that ran it is not, yet

    monkeypatch.setattr(delivery, "dispatch_rounds", rounds)
    try:
        delivery.wake_dispatcher(harness.services, harness.app.job_queue)
        await asyncio.wait_for(ended.wait(), 15)
        await intake.receive([fake_api.message_update(user_id=PATIENT_ID, text=f"/start {token}")])
        intake.start(polling=False)
        await until(lambda: all_done(harness) and harness.rows(Patient)[0].chat_id == PATIENT_ID, "the link")
        await asyncio.sleep(0.2)  # the wake has been tried while the first job was still running
    finally:
        release.set()  # a failure above must not leave the job waiting (the JobQueue's stop would wait for it)
    await until(lambda: [t for t in fake_api.texts(PATIENT_ID) if "redness and mild swelling" in t],
                "the first message", timeout=10)
