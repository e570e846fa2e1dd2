"""End to end: photo check-ins. The day-3 photo step asks for a photo; the next photo the patient sends
is its answer and reaches staff with three review buttons; each review is told to the patient in the
clinic's voice and shows on /patient. Only the file_id is kept."""

from __future__ import annotations

import pytest

from jobs.intake import store_updates
from jobs.storage.models import Photo, Reminder
from jobs.storage.states import ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID, BotHarness, bot_env


@pytest.fixture
async def clinic(fake_api, database_url, clock):
    """The harness with an out-of-hours number, as a clinic with one would set it."""
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, EMERGENCY_PHONE="+34 900 111 222"), clock)
    await bot.start()
    yield bot
    await bot.stop()


async def _asked_for_a_photo(harness, clock, enroll="/enroll Anna K"):
    await harness.link(enroll)
    clock.set_local(3, 10, 5)
    await harness.dispatch()
    [step] = harness.rows(Reminder, Reminder.step_key == "photo_day3", Reminder.kind == "photo")
    return step


async def _send_photo(harness, fake_api, file_id, caption=""):
    await harness.send(PATIENT_ID, caption, photo_file_id=file_id)
    alert = fake_api.calls_to("sendPhoto")[-1]
    message_id = fake_api.sent_messages(STAFF_ID).index(alert) + 1
    data = [row[0]["callback_data"] for row in alert.params.get("reply_markup", {}).get("inline_keyboard", [])]
    return alert, message_id, data


async def test_the_day_3_photo_step_asks_for_a_photo_with_how_to_take_it(clinic, fake_api, clock):
    step = await _asked_for_a_photo(clinic, clock)
    assert step.status == ReminderStatus.SENT and step.kind == "photo"
    request = fake_api.texts(PATIENT_ID)[-1]
    assert "photo of the treated area" in request and "daylight" in request and "no filter" in request
    assert "same angle" in request
    assert "reply_markup" not in fake_api.sent_messages(PATIENT_ID)[-1].params  # a photo is the answer, not a button


async def test_the_next_photo_is_the_answer_and_staff_review_it_as_expected(clinic, fake_api, clock):
    step = await _asked_for_a_photo(clinic, clock)
    clock.set_local(3, 11, 0)
    alert, message_id, data = await _send_photo(clinic, fake_api, "patient-photo-1", "is this normal?")
    assert alert.params["chat_id"] == STAFF_ID and alert.params["photo"] == "patient-photo-1"
    caption = alert.params["caption"]
    assert "Anna K" in caption and "day 3 after session 1 of 3" in caption and "is this normal?" in caption
    [photo] = clinic.rows(Photo)
    # The review buttons, then the inbox's (the alert is an item: bot/inbox_views.py).
    assert data[:3] == [f"ph:{photo.id}:ok", f"ph:{photo.id}:call", f"ph:{photo.id}:again"]
    assert data[3].startswith("ib:") and data[3].endswith(":take")
    labels = [row[0]["text"] for row in alert.params["reply_markup"]["inline_keyboard"]]
    assert labels[:3] == ["✅ Looks as expected", "📞 Please call the patient", "📷 Ask for another photo"]
    assert "your photo is with the team at Clínica Sol" in fake_api.texts(PATIENT_ID)[-1]
    # Only Telegram's id of the photo is kept; the step is answered and its follow-ups closed.
    assert photo.file_id == "patient-photo-1" and photo.review is None
    [step] = clinic.rows(Reminder, Reminder.id == step.id)
    assert step.answer == "photo" and step.answered_at == clock.now
    follow_ups = clinic.rows(Reminder, Reminder.parent_id == step.id)
    assert {r.kind for r in follow_ups} == {"nudge", "silence"}
    assert all(r.status == ReminderStatus.CANCELLED and r.outcome == "answered" for r in follow_ups)

    await clinic.press(STAFF_ID, data[0], message_id)
    assert "healing just as expected" in fake_api.texts(PATIENT_ID)[-1]
    edit = fake_api.calls_to("editMessageCaption")[-1]
    # Reviewing resolves the photo's inbox item: every copy says by whom, and how.
    assert "Resolved by <b>Test</b>" in edit.params["caption"] and "Looks as expected" in edit.params["caption"]
    assert "is this normal?" in edit.params["caption"]
    assert "reply_markup" not in edit.params or not edit.params["reply_markup"]
    [photo] = clinic.rows(Photo)
    assert photo.review == "ok" and photo.reviewed_by == STAFF_ID
    # A second press (a colleague's copy) changes nothing.
    await clinic.press(STAFF_ID, data[1], message_id)
    assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("This photo has already been reviewed")
    assert clinic.rows(Photo)[0].review == "ok"
    await clinic.send(STAFF_ID, "/patient 1")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "Day 3 photo check-in" in card and "📷 photo Fri 27 November, 11:00: ✅ Looks as expected, by Test" in card
    assert not fake_api.unanswered_callbacks()


async def test_please_call_tells_the_patient_the_clinic_will_ring_and_whom_to_call_if_worse(clinic, fake_api, clock):
    await _asked_for_a_photo(clinic, clock, "/enroll Anna K phone=+34 611 222 333")
    _, message_id, data = await _send_photo(clinic, fake_api, "patient-photo-2")
    await clinic.press(STAFF_ID, data[1], message_id)
    told = fake_api.texts(PATIENT_ID)[-1]
    assert "someone will call you soon on the number you gave us" in told
    assert "+34 900 111 222" in told  # EMERGENCY_PHONE, the number to call if it gets worse
    caption = fake_api.calls_to("editMessageCaption")[-1].params["caption"]
    assert "is on it" in caption and "Please call the patient" in caption  # a call is a task (issue 19)
    assert clinic.rows(Photo)[0].review == "call"


async def test_please_call_without_a_number_asks_the_patient_to_call_or_send_one(harness, fake_api, clock):
    await _asked_for_a_photo(harness, clock)
    _, message_id, data = await _send_photo(harness, fake_api, "patient-photo-3")
    await harness.press(STAFF_ID, data[1], message_id)
    told = fake_api.texts(PATIENT_ID)[-1]
    assert "We don't have a number for you yet" in told
    assert told.count("+34 600 000 000") == 2  # no EMERGENCY_PHONE: the clinic's phone both times


async def test_ask_for_another_photo_opens_the_step_again_for_the_next_photo(clinic, fake_api, clock):
    step = await _asked_for_a_photo(clinic, clock)
    _, message_id, data = await _send_photo(clinic, fake_api, "blurry-photo")
    clock.set_local(3, 12, 0)
    await clinic.press(STAFF_ID, data[2], message_id)
    assert "Could you send us one more photo" in fake_api.texts(PATIENT_ID)[-1]
    # Two days later the first window would have closed; "another photo" gave the step a new one.
    clock.set_local(5, 11, 0)
    alert, message_id, data = await _send_photo(clinic, fake_api, "sharp-photo")
    first, second = clinic.rows(Photo)
    assert (first.file_id, first.review) == ("blurry-photo", "again")
    assert second.file_id == "sharp-photo" and data[0] == f"ph:{second.id}:ok"
    await clinic.press(STAFF_ID, data[0], message_id)
    assert clinic.rows(Photo)[1].review == "ok"
    [step] = clinic.rows(Reminder, Reminder.id == step.id)
    assert step.answer == "photo"
    # The third photo answers nothing: it is an ordinary message to staff, without review buttons.
    await clinic.send(PATIENT_ID, "", photo_file_id="third-photo")
    relayed = fake_api.calls_to("sendPhoto")[-1]
    assert relayed.params["photo"] == "third-photo" and not review_buttons(relayed)
    assert len(clinic.rows(Photo)) == 2
    await clinic.send(STAFF_ID, "/patient 1")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "📷 Ask for another photo" in card and "✅ Looks as expected" in card


async def test_a_photo_after_the_window_or_without_a_photo_step_is_an_ordinary_message(harness, fake_api, clock):
    await harness.link()
    await harness.send(PATIENT_ID, "before", photo_file_id="early-photo")
    assert not review_buttons(fake_api.calls_to("sendPhoto")[-1])
    clock.set_local(3, 10, 5)
    await harness.dispatch()
    clock.set_local(5, 10, 30)  # the step's two days are over
    await harness.send(PATIENT_ID, "late", photo_file_id="late-photo")
    assert not review_buttons(fake_api.calls_to("sendPhoto")[-1])
    assert harness.rows(Photo) == []


async def test_only_staff_can_review_and_a_forged_review_is_refused(harness, fake_api, clock):
    await _asked_for_a_photo(harness, clock)
    _, message_id, data = await _send_photo(harness, fake_api, "patient-photo-4")
    await harness.press(PATIENT_ID, data[0], message_id, chat_id=STAFF_ID)
    await harness.press(OTHER_ID, data[0], message_id)
    for forged in ("ph:abc:ok", "ph:1:maybe", "ph:99999:ok"):
        await harness.press(STAFF_ID, forged, message_id)
    notices = [c.params.get("text") for c in fake_api.calls_to("answerCallbackQuery")]
    assert notices[-5:] == ["This button isn't for you, or it's no longer valid."] * 5
    assert harness.rows(Photo)[0].review is None
    assert not fake_api.unanswered_callbacks()


async def test_the_same_photo_update_handled_twice_reaches_staff_once(harness, fake_api, clock):
    """The intake is at-least-once: a photo handled again after a crash is recognised by its update."""
    await _asked_for_a_photo(harness, clock)
    update = fake_api.message_update(user_id=PATIENT_ID, text="", photo_file_id="patient-photo-5")
    await harness.services.store.run(store_updates, updates=[update], now=clock.now)  # as the intake does
    await harness.process(update)
    await harness.process(update)  # the same update again, as after a crash before it was marked done
    assert len([c for c in fake_api.calls_to("sendPhoto") if c.params.get("photo") == "patient-photo-5"]) == 1
    assert len(harness.rows(Photo)) == 1


async def test_erasing_the_patient_erases_the_photo_ids_and_keeps_the_review_count(harness, fake_api, clock):
    await _asked_for_a_photo(harness, clock)
    _, message_id, data = await _send_photo(harness, fake_api, "patient-photo-6")
    await harness.press(STAFF_ID, data[0], message_id)
    await harness.send(PATIENT_ID, "/delete")
    _, buttons = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, buttons[0], harness.buttons(PATIENT_ID)[0])
    [photo] = harness.rows(Photo)
    assert photo.file_id is None and photo.review == "ok"


async def test_the_combined_protocol_asks_for_photos_on_day_3_and_day_7(harness, fake_api, clock):
    await harness.link("/enroll Anna K protocol=microneedling_peel_laser")
    photos = harness.rows(Reminder, Reminder.kind == "photo")
    assert sorted(r.step_key for r in photos) == ["photo_day3", "photo_day7"]
    assert all((r.nudge_after_spec, r.alert_after_spec) == ("4h", "24h") for r in photos)


def review_buttons(call) -> list[str]:
    """The photo-review buttons a staff message carries (an ordinary message has the inbox's only)."""
    rows = call.params.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row if button["callback_data"].startswith("ph:")]


# --------------------------------------------------------------------------- a call is a task (issue 19)


def _item_of(harness, photo_index=0):
    from jobs.storage.models import InboxItem
    return harness.rows(InboxItem, InboxItem.kind == "photo")[photo_index]


async def test_please_call_leaves_the_item_taken_with_the_phone_until_someone_resolves_it(clinic, fake_api, clock):
    await _asked_for_a_photo(clinic, clock, "/enroll Anna K phone=+34 611 222 333")
    alert, message_id, data = await _send_photo(clinic, fake_api, "patient-photo-call")
    assert "+34 611 22 23 33" in alert.params["caption"]  # every alert about a patient with a phone shows it
    await clinic.press(STAFF_ID, data[1], message_id)
    item = _item_of(clinic)
    assert (item.status, item.taken_by) == ("taken", STAFF_ID)  # the call is a task, the presser's
    caption = fake_api.calls_to("editMessageCaption")[-1].params["caption"]
    assert "Resolved" not in caption and "<b>Test</b> is on it" in caption and "Please call the patient" in caption
    assert "+34 611 22 23 33" in caption
    buttons = fake_api.calls_to("editMessageCaption")[-1].params["reply_markup"]["inline_keyboard"]
    data_after = [b["callback_data"] for row in buttons for b in row]
    assert data_after == [f"ib:{item.id}:done"]  # reviewed: the review buttons go, the task stays
    await clinic.send(STAFF_ID, "/inbox")
    listing = fake_api.texts(STAFF_ID)[-1]
    assert f"#{item.id} 📷" in listing and "+34 611 22 23 33" in listing and "🙋 Test" in listing
    await clinic.send(STAFF_ID, f"/resolve {item.id} called her, all fine")
    assert _item_of(clinic).status == "resolved"


async def test_please_call_out_of_hours_says_the_clinic_will_call_when_it_opens(fake_api, database_url, clock):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, CLINIC_HOURS="Mon-Fri 09:00-19:00"), clock)
    await bot.start()
    try:
        await _asked_for_a_photo(bot, clock, "/enroll Anna K phone=+34 611 222 333")
        clock.set_local(3, 20, 0)  # Friday 27 November, 20:00: closed until Monday
        _, message_id, data = await _send_photo(bot, fake_api, "evening-photo")
        await bot.press(STAFF_ID, data[1], message_id)
        told = fake_api.texts(PATIENT_ID)[-1]
        assert "soon" not in told
        assert "when the clinic opens" in told and "Mon 30 November, 09:00" in told
    finally:
        await bot.stop()


async def test_please_call_without_a_number_offers_the_share_button(harness, fake_api, clock):
    await _asked_for_a_photo(harness, clock)
    _, message_id, data = await _send_photo(harness, fake_api, "no-number-photo")
    await harness.press(STAFF_ID, data[1], message_id)
    asked = fake_api.sent_messages(PATIENT_ID)[-1]
    [[button]] = asked.params["reply_markup"]["keyboard"]
    assert button["request_contact"] is True
    assert _item_of(harness).status == "taken"


async def test_another_photo_keeps_the_item_open_until_the_next_photo_is_reviewed(clinic, fake_api, clock):
    await _asked_for_a_photo(clinic, clock)
    _, message_id, data = await _send_photo(clinic, fake_api, "blurry")
    await clinic.press(STAFF_ID, data[2], message_id)
    first = _item_of(clinic)
    assert first.status == "open"
    caption = fake_api.calls_to("editMessageCaption")[-1].params["caption"]
    assert "Resolved" not in caption and "Ask for another photo" in caption
    clock.set_local(3, 15, 0)
    _, message_id, data = await _send_photo(clinic, fake_api, "sharp")
    assert _item_of(clinic).status == "open"  # the next photo came; it is not reviewed yet
    await clinic.press(STAFF_ID, data[0], message_id)
    assert _item_of(clinic, 0).status == "resolved" and _item_of(clinic, 1).status == "resolved"
