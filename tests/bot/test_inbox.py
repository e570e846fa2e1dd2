"""End to end: the staff inbox. Escalations, photos, silence and patients' messages are items: open ->
taken -> resolved, every alert edited in every staff chat it went to; /inbox; a worried item nobody
took is raised again within clinic hours, and out of hours the patient is told at once; a worried
patient may share their number; /stats counts the inbox; an erased patient's items keep no name.
"""

from __future__ import annotations

import pytest

from bot.delivery import raise_untaken
from jobs.refusal import Refusal
from jobs.staff.inbox import TRANSITIONS, InboxChange, InboxKind, apply_change
from jobs.storage.models import InboxEvent, InboxItem, InboxView, Patient
from jobs.storage.states import InboxStatus
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

COLLEAGUE = 1002
GROUP = -100777
HOURS = "Mon-Fri 09:00-19:00, Sat 10:00-14:00"


async def _start(fake_api, database_url, clock, **env) -> BotHarness:
    settings = {"STAFF_IDS": f"{STAFF_ID},{COLLEAGUE}", **env}
    return await BotHarness(fake_api, bot_env(fake_api, database_url, **settings), clock).start()


@pytest.fixture
async def staffed(fake_api, database_url, clock):
    """Two staff members who each get alerts privately; the clinic open on weekdays 09:00-19:00."""
    bot = await _start(fake_api, database_url, clock, CLINIC_HOURS=HOURS)
    yield bot
    await bot.stop()


async def _worried(bot, clock, *, day=1, hour=9, minute=5, enroll="/enroll Anna K"):
    """Link a patient; on ``day`` the day-2-style check-in is pressed "I'm worried" at hour:minute."""
    await bot.link(enroll)
    clock.set_local(0, 19, 5)
    await bot.dispatch()  # the evening check-in
    message_id, data = bot.buttons(PATIENT_ID)
    clock.set_local(day, hour, minute)
    await bot.press(PATIENT_ID, data[2], message_id)


def _alert(fake_api, chat_id, *, containing="I'm worried"):
    """(message id, text now shown, buttons' data) of the last alert to ``chat_id`` containing the words."""
    calls = [call for call in fake_api.sent_messages(chat_id) 
             if containing in str(call.params.get("text") or call.params.get("caption"))]
    assert calls, f"no alert to {chat_id} containing {containing!r}"
    message_id = fake_api.sent_messages(chat_id).index(calls[-1]) + 1
    stored = fake_api._messages[(chat_id, message_id)]
    markup = stored.get("reply_markup") or {}
    data = [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]
    return message_id, stored.get("text") or stored.get("caption"), data


def _notice(fake_api):
    return fake_api.calls_to("answerCallbackQuery")[-1].params.get("text")


async def test_a_worried_alert_is_an_item_each_staff_member_sees_taken_and_resolved(staffed, fake_api, clock):
    await _worried(staffed, clock)
    [item] = staffed.rows(InboxItem)
    assert (item.kind, item.status, item.patient_id) == ("worried", "open", 1)
    mine, text, data = _alert(fake_api, STAFF_ID)
    theirs, _, their_data = _alert(fake_api, COLLEAGUE)
    assert data == their_data == [f"ib:{item.id}:take", f"ib:{item.id}:done"]
    assert "Anna K" in text

    # Marta takes it: both copies say so and lose the take button.
    await staffed.press(STAFF_ID, data[0], mine, first_name="Marta")
    assert _notice(fake_api).startswith(f"Item #{item.id} is yours")
    for chat_id in (STAFF_ID, COLLEAGUE):
        _, text, buttons = _alert(fake_api, chat_id)
        assert "Marta</b> is on it" in text and "Anna K" in text
        assert buttons == [f"ib:{item.id}:done"]
    # Her colleague, from an old copy of the buttons, cannot take it too.
    await staffed.press(COLLEAGUE, their_data[0], theirs, first_name="Luis")
    assert _notice(fake_api) == f"Marta has already taken item #{item.id}."
    await staffed.press(STAFF_ID, data[0], mine, first_name="Marta")
    assert _notice(fake_api) == f"You have already taken item #{item.id}."

    # Luis resolves it: both copies say who, and no button is left.
    await staffed.press(COLLEAGUE, their_data[1], theirs, first_name="Luis")
    for chat_id in (STAFF_ID, COLLEAGUE):
        _, text, buttons = _alert(fake_api, chat_id)
        assert "Resolved by <b>Luis</b>" in text and buttons == []
    await staffed.press(STAFF_ID, data[1], mine, first_name="Marta")
    assert _notice(fake_api) == f"Item #{item.id} was already resolved by Luis."

    [item] = staffed.rows(InboxItem)
    assert (item.status, item.taken_by, item.taken_by_name, item.resolved_by) == ("resolved", STAFF_ID, "Marta",
                                                                                 COLLEAGUE)
    events = staffed.rows(InboxEvent)
    assert [(e.kind, e.actor, e.actor_id, e.from_status, e.to_status) for e in events] == [
        ("opened", "system", None, None, "open"), ("taken", "staff", STAFF_ID, "open", "taken"),
        ("resolved", "staff", COLLEAGUE, "taken", "resolved")]
    assert not fake_api.unanswered_callbacks()


async def test_only_staff_press_inbox_buttons_and_forged_ones_change_nothing(staffed, fake_api, clock):
    await _worried(staffed, clock)
    mine, _, data = _alert(fake_api, STAFF_ID)
    await staffed.press(PATIENT_ID, data[0], mine, chat_id=STAFF_ID)  # not staff
    assert _notice(fake_api).startswith("This button isn't for you")
    for forged in ("ib:999:take", "ib:1:grab", "ib:x:take", "ib:" + "9" * 40 + ":done"):
        await staffed.press(STAFF_ID, forged, mine)
        assert _notice(fake_api).startswith(("This button isn't for you", "There is no inbox item"))
    [item] = staffed.rows(InboxItem)
    assert item.status == InboxStatus.OPEN and len(staffed.rows(InboxEvent)) == 1


async def test_inbox_lists_open_and_taken_items_oldest_first_with_the_wait(staffed, fake_api, clock):
    await _worried(staffed, clock, hour=9, minute=5)
    clock.set_local(1, 9, 20)
    await staffed.send(PATIENT_ID, "The left cheek looks swollen")
    await staffed.send(PATIENT_ID, "And it itches")  # the same conversation: the same item
    items = staffed.rows(InboxItem)
    assert [(i.kind, i.status) for i in items] == [("worried", "open"), ("message", "open")]
    assert len(staffed.rows(InboxView, InboxView.item_id == items[1].id)) == 4  # 2 messages x 2 staff
    _, text, data = _alert(fake_api, STAFF_ID, containing="And it itches")
    assert "And it itches" in text and data == [f"ib:{items[1].id}:take", f"ib:{items[1].id}:done"]
    message_id, _, _ = _alert(fake_api, STAFF_ID, containing="left cheek")
    await staffed.press(COLLEAGUE, f"ib:{items[1].id}:take", message_id, first_name="Luis")
    # Both of the conversation's alerts show who has it, each keeping its own words.
    assert "Luis</b> is on it" in _alert(fake_api, STAFF_ID, containing="left cheek")[1]
    assert "And it itches" in _alert(fake_api, STAFF_ID, containing="And it itches")[1]

    clock.set_local(1, 10, 35)
    await staffed.send(STAFF_ID, "/inbox")
    listing = fake_api.texts(STAFF_ID)[-1]
    lines = listing.splitlines()
    assert "2 waiting" in lines[0]
    assert lines[1].startswith(f"#{items[0].id} ⚠️ worried · <b>Anna K</b> (#1) · waiting 1 hr 30 mins")
    assert lines[2] == f"#{items[1].id} 💬 message · <b>Anna K</b> (#1) · waiting 1 hr 15 mins · 🙋 Luis"

    await staffed.send(STAFF_ID, f"/resolve {items[0].id} called her, all fine")
    await staffed.send(STAFF_ID, f"/resolve {items[1].id}")
    assert "📝 called her, all fine" in _alert(fake_api, COLLEAGUE)[1]
    await staffed.send(STAFF_ID, "/inbox")
    assert fake_api.texts(STAFF_ID)[-1].startswith("Nothing is waiting")
    # A message after the conversation was resolved is new work.
    await staffed.send(PATIENT_ID, "One more question")
    assert [(i.kind, i.status) for i in staffed.rows(InboxItem)][-1] == ("message", "open")
    await staffed.send(STAFF_ID, "/take 99")
    assert fake_api.texts(STAFF_ID)[-1] == "There is no inbox item #99."
    await staffed.send(STAFF_ID, "/take")
    assert "/take 5" in fake_api.texts(STAFF_ID)[-1]


async def test_an_untaken_worried_item_is_raised_again_to_everyone_in_clinic_hours(fake_api, database_url, clock):
    bot = await _start(fake_api, database_url, clock, CLINIC_HOURS=HOURS, STAFF_CHAT_ID=str(GROUP),
                       ESCALATION_REMINDER="15m")
    try:
        await _worried(bot, clock, day=1, hour=10, minute=0)  # Wednesday 10:00: open
        [item] = bot.rows(InboxItem)
        assert len(fake_api.sent_messages(GROUP)) == 1 and not fake_api.texts(COLLEAGUE)
        assert "clinic is closed" not in " ".join(fake_api.texts(PATIENT_ID))
        clock.set_local(1, 10, 14)
        assert await raise_untaken(bot.services, bot.app.bot) == 0
        await bot.send_notices()
        clock.set_local(1, 10, 15)
        assert await raise_untaken(bot.services, bot.app.bot) == 1
        await bot.send_notices()
        for chat_id in (GROUP, STAFF_ID, COLLEAGUE):
            _, text, data = _alert(fake_api, chat_id, containing="Nobody has taken this yet")
            assert "(15 mins)" in text and "Anna K" in text and data == [f"ib:{item.id}:take", f"ib:{item.id}:done"]
        assert await raise_untaken(bot.services, bot.app.bot) == 0  # not again at once
        await bot.send_notices()
        clock.set_local(1, 10, 30)
        assert await raise_untaken(bot.services, bot.app.bot) == 1  # and again after another interval
        await bot.send_notices()
        # Taking it from a raised copy edits every copy, the first alert in the group included.
        message_id, _, data = _alert(fake_api, COLLEAGUE, containing="Nobody has taken")
        await bot.press(COLLEAGUE, data[0], message_id, first_name="Luis")
        views = bot.rows(InboxView)
        assert len(views) == 7  # the group's alert, then 3 chats x 2 raises
        for view in views:
            assert "Luis</b> is on it" in fake_api._messages[(view.chat_id, view.message_id)]["text"]
        clock.set_local(1, 11, 0)
        assert await raise_untaken(bot.services, bot.app.bot) == 0  # taken: never again
        await bot.send_notices()
        assert [e.kind for e in bot.rows(InboxEvent)] == ["opened", "raised_again", "raised_again", "taken"]
        # A reply to a raised copy still reaches the patient.
        await bot.send(STAFF_ID, "We will call you in 5 minutes", reply_to_message_id=_alert(
            fake_api, STAFF_ID, containing="Nobody has taken")[0])
        assert "We will call you in 5 minutes" in fake_api.texts(PATIENT_ID)[-1]
    finally:
        await bot.stop()


async def test_out_of_hours_the_patient_is_told_at_once_and_the_item_waits_for_opening(staffed, fake_api, clock):
    # Tuesday 20:30, after closing: the emergency number falls back to CLINIC_PHONE.
    await _worried(staffed, clock, day=0, hour=20, minute=30)
    closed = [text for text in fake_api.texts(PATIENT_ID) if "clinic is closed" in text]
    assert closed == ["The clinic is closed right now and opens again Wed 25 November, 09:00. "
                      "If it can't wait, please call +34 600 000 000."]
    clock.set_local(0, 23, 0)
    assert await raise_untaken(staffed.services, staffed.app.bot) == 0  # nobody is at the clinic
    await staffed.send_notices()
    clock.set_local(1, 9, 0)
    assert await raise_untaken(staffed.services, staffed.app.bot) == 1  # the first check once it opens
    await staffed.send_notices()
    assert "(12 hrs 30 mins)" in _alert(fake_api, STAFF_ID, containing="Nobody has taken")[1]


async def test_out_of_hours_the_emergency_number_is_given(fake_api, database_url, clock):
    bot = await _start(fake_api, database_url, clock, CLINIC_HOURS="Mon-Fri 09:00-19:00",
                       EMERGENCY_PHONE="+34 900 111 222")
    try:
        await _worried(bot, clock, day=4, hour=11)  # Saturday
        assert ("The clinic is closed right now and opens again Mon 30 November, 09:00. If it can't wait, please call "
                "+34 900 111 222.") in fake_api.texts(PATIENT_ID)
    finally:
        await bot.stop()


async def test_without_clinic_hours_it_is_raised_any_time_and_nobody_is_told_closed(harness, fake_api, clock):
    await _worried(harness, clock, day=0, hour=23, minute=0)
    assert not [text for text in fake_api.texts(PATIENT_ID) if "closed" in text]
    clock.set_local(0, 23, 15)
    assert await raise_untaken(harness.services, harness.app.bot) == 1
    await harness.send_notices()


async def test_a_worried_patient_shares_their_number_and_every_alert_shows_it(staffed, fake_api, clock):
    await _worried(staffed, clock)
    offer = fake_api.sent_messages(PATIENT_ID)[-1]
    keyboard = offer.params["reply_markup"]["keyboard"]
    assert keyboard == [[{"text": "📞 Share my number", "request_contact": True}]]
    assert "share your number" in offer.params["text"]
    # Someone else's contact is not theirs to give.
    await staffed.process(fake_api.message_update(user_id=PATIENT_ID, text="", contact=("34611000000", 4242)))
    assert "your own number" in fake_api.texts(PATIENT_ID)[-1]
    await staffed.process(fake_api.message_update(user_id=PATIENT_ID, text="", contact=("34611222333", PATIENT_ID)))
    assert fake_api.texts(PATIENT_ID)[-1] == "Thank you — the team can now call you on +34 611 22 23 33."
    assert fake_api.sent_messages(PATIENT_ID)[-1].params["reply_markup"] == {"remove_keyboard": True}
    [patient] = staffed.rows(Patient)
    assert patient.phone == "+34611222333"
    for chat_id in (STAFF_ID, COLLEAGUE):
        assert "📞 +34 611 22 23 33" in _alert(fake_api, chat_id)[1]
    # /delete erases the number with the rest.


async def test_an_enrolled_number_is_on_the_escalation_and_no_number_is_asked_for(staffed, fake_api, clock):
    await _worried(staffed, clock, enroll="/enroll Anna K phone=+34 611 222 333")
    assert "📞 +34 611 22 23 33" in _alert(fake_api, STAFF_ID)[1]
    assert not any("share your number" in text for text in fake_api.texts(PATIENT_ID))


async def test_a_late_still_red_is_an_escalation_item_never_raised_again(staffed, fake_api, clock):
    await staffed.link()
    clock.set_local(2, 10, 5)
    await staffed.dispatch()  # the day-2 check-in (and the earlier ones)
    message_id, data = staffed.buttons(PATIENT_ID)
    clock.set_local(3, 10, 0)
    await staffed.press(PATIENT_ID, data[1], message_id)
    [item] = staffed.rows(InboxItem)
    assert item.kind == InboxKind.ESCALATION
    assert _alert(fake_api, STAFF_ID, containing="Still red")[2] == [f"ib:{item.id}:take", f"ib:{item.id}:done"]
    clock.set_local(3, 12, 0)
    assert await raise_untaken(staffed.services, staffed.app.bot) == 0
    await staffed.send_notices()


async def test_stats_count_the_inbox_and_how_fast_worried_patients_were_taken(staffed, fake_api, clock):
    await _worried(staffed, clock, day=1, hour=9, minute=0)
    message_id, _, data = _alert(fake_api, STAFF_ID)
    clock.set_local(1, 9, 4)
    await staffed.press(STAFF_ID, data[0], message_id)
    clock.set_local(1, 10, 0)
    await staffed.send(PATIENT_ID, "Hello?")
    clock.set_local(1, 9 + 3, 0)
    [_, item] = staffed.rows(InboxItem)
    await staffed.send(STAFF_ID, f"/resolve {item.id}")
    await staffed.send(STAFF_ID, "/stats")
    stats = fake_api.texts(STAFF_ID)[-1]
    assert "Inbox: 2 opened · 1 taken · 1 resolved" in stats
    assert "Worried patients taken: 1 · time to take: median 4 mins, 90% within 4 mins" in stats
    assert "Raised again because nobody took them: 0" in stats


async def test_an_erased_patient_s_items_keep_no_name_and_their_alerts_say_so(staffed, fake_api, clock):
    await _worried(staffed, clock)
    await staffed.send(PATIENT_ID, "My cheek is hot")
    await staffed.send(PATIENT_ID, "/delete")
    message_id, data = staffed.buttons(PATIENT_ID)
    await staffed.press(PATIENT_ID, next(d for d in data if d.startswith("cf:delete:yes")), message_id)
    items = staffed.rows(InboxItem)
    assert [(i.status, i.text) for i in items] == [("resolved", ""), ("resolved", "")]
    assert all(view.body in (None, "") for view in staffed.rows(InboxView))
    for view in staffed.rows(InboxView):
        text = fake_api._messages[(view.chat_id, view.message_id)]["text"]
        assert "Anna" not in text and "cheek" not in text and "erased their data" in text
    await staffed.send(STAFF_ID, "/inbox")
    assert fake_api.texts(STAFF_ID)[-1].startswith("Nothing is waiting")
    assert {e.kind for e in staffed.rows(InboxEvent)} == {"opened", "erased"}


async def test_a_photo_alert_is_an_item_edited_in_its_caption(staffed, fake_api, clock):
    await staffed.link()
    await staffed.send(PATIENT_ID, "left side today", photo_file_id="photo-of-cheek")
    [item] = staffed.rows(InboxItem)
    message_id, caption, data = _alert(fake_api, STAFF_ID, containing="sent a photo")
    assert data == [f"ib:{item.id}:take", f"ib:{item.id}:done"]
    await staffed.press(STAFF_ID, data[0], message_id, first_name="Marta")
    assert "Marta</b> is on it" in fake_api._messages[(STAFF_ID, message_id)]["caption"]
    assert fake_api.calls_to("editMessageCaption")


def test_every_change_of_the_table_is_checked(database_url):
    """A change the item's status does not allow is refused and records nothing."""
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from jobs.staff.inbox import SYSTEM, open_item
    from jobs.storage.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    with Session(engine) as session:
        for status in InboxStatus:
            item = open_item(session, kind="worried", patient_id=None, text="x", now=now)
            item.status = status.value
            before = len(session.exec(select(InboxEvent)).all())
            for change, moves in TRANSITIONS.items():
                if status in moves or change is InboxChange.OPEN:
                    continue
                with pytest.raises(Refusal):
                    apply_change(session, item=item, change=change, cause=SYSTEM, now=now)
                assert item.status == status.value
            assert len(session.exec(select(InboxEvent)).all()) == before
    engine.dispose()


async def test_a_staff_reply_to_an_alert_takes_its_item(staffed, fake_api, clock):
    await staffed.link()
    await staffed.send(PATIENT_ID, "Is it normal that it peels?")
    [item] = staffed.rows(InboxItem)
    message_id, _, _ = _alert(fake_api, COLLEAGUE, containing="peels")
    await staffed.send(COLLEAGUE, "Yes, leave it be", reply_to_message_id=message_id, first_name="Luis\u202e")
    assert "Yes, leave it be" in fake_api.texts(PATIENT_ID)[-1]
    [item] = staffed.rows(InboxItem)
    assert (item.status, item.taken_by, item.taken_by_name) == ("taken", COLLEAGUE, "Luis")
    assert "Luis</b> is on it" in _alert(fake_api, STAFF_ID, containing="peels")[1]
    # A second reply, by someone else, leaves it with Luis.
    mine, _, _ = _alert(fake_api, STAFF_ID, containing="peels")
    await staffed.send(STAFF_ID, "Use the serum too", reply_to_message_id=mine)
    assert staffed.rows(InboxItem)[0].taken_by == COLLEAGUE


async def test_the_check_is_a_recurring_job_of_the_application(harness):
    from bot.delivery import INBOX_INTERVAL, INBOX_JOB_NAME

    [job] = harness.app.job_queue.get_jobs_by_name(INBOX_JOB_NAME)
    assert job.job.trigger.interval == INBOX_INTERVAL


async def test_a_long_inbox_fits_one_message_and_counts_the_rest(harness, fake_api, clock):
    from jobs.staff.inbox import open_item

    with harness.session() as session:
        for number in range(40):
            patient = Patient(name=f"{'Ñ' * 100} {number}", timezone="Europe/Madrid", created_at=clock.now)
            session.add(patient)
            session.flush()
            open_item(session, kind="message", patient_id=patient.id, text="hello", now=clock.now)
        session.commit()
    await harness.send(STAFF_ID, "/inbox")
    listing = fake_api.texts(STAFF_ID)[-1]
    rows = [line for line in listing.splitlines() if line.startswith("#")]
    assert 10 <= len(rows) < 40 and f"… and {40 - len(rows)} more." in listing
    assert "40 waiting" in listing
