"""End to end: check-in buttons with escalation by day, and rebooking buttons."""

from __future__ import annotations

from jobs.storage.models import Event, Reminder
from jobs.storage.states import ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


async def _checkin_message(harness, clock, day, hour):
    clock.set_local(day, hour, 5)
    await harness.dispatch()
    return harness.buttons(PATIENT_ID)


async def test_checkin_message_carries_three_answer_buttons(harness, clock):
    await harness.link()
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    [reminder] = harness.rows(Reminder, Reminder.step_key == "evening_checkin")
    assert data == [f"ci:{reminder.id}:fine", f"ci:{reminder.id}:red", f"ci:{reminder.id}:worried"]


async def test_fine_is_thanked_and_not_escalated(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    await harness.press(PATIENT_ID, data[0], message_id)
    assert "Lovely to hear, Anna" in fake_api.texts(PATIENT_ID)[-1]
    assert fake_api.texts(STAFF_ID)[-1].startswith("✅")  # nothing new for staff since the enrollment
    [reminder] = harness.rows(Reminder, Reminder.step_key == "evening_checkin")
    assert reminder.answer == "fine"
    # The buttons are replaced by the answer.
    edit = fake_api.calls_to("editMessageText")[-1]
    assert "Your answer: 😊 It's fine" in edit.params["text"] and "reply_markup" not in edit.params


async def test_still_red_on_day_0_is_expected_and_not_escalated(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    await harness.press(PATIENT_ID, data[1], message_id)
    assert "Some redness and swelling are expected on the day of your session," in fake_api.texts(PATIENT_ID)[-1]
    assert not harness.rows(Event, Event.kind == "escalated")


async def test_still_red_the_next_morning_says_the_day_after_in_words(harness, fake_api, clock):
    await harness.link("/enroll Ana lang=es")
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    clock.set_local(1, 9, 0)
    await harness.press(PATIENT_ID, data[1], message_id)
    reply = fake_api.texts(PATIENT_ID)[-1]
    assert "rojez e hinchazón el día siguiente a la sesión," in reply and "día 1" not in reply


async def test_still_red_on_day_3_goes_to_staff(harness, fake_api, clock):
    await harness.link()
    clock.set_local(0, 19, 5)
    await harness.dispatch()
    message_id, data = await _checkin_message(harness, clock, 2, 10)  # the day-2 settling check
    clock.set_local(3, 9, 0)  # answered the next morning: day 3
    await harness.press(PATIENT_ID, data[1], message_id)
    assert "By now, on day 3 after your session, it should be settling" in fake_api.texts(PATIENT_ID)[-1]
    alert = fake_api.texts(STAFF_ID)[-1]
    assert "Anna K" in alert and "Still red or swollen" in alert and "day 3" in alert
    assert len(harness.rows(Event, Event.kind == "escalated")) == 1


async def test_worried_always_goes_to_staff_with_phone_and_red_flags(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    await harness.press(PATIENT_ID, data[2], message_id)
    reply = fake_api.texts(PATIENT_ID)[-2]  # then the offer to share a number (tests/bot/test_inbox.py)
    assert "+34 600 000 000" in reply and "fever" in reply and "blisters" in reply
    alert = fake_api.texts(STAFF_ID)[-1]
    assert "⚠️" in alert and "I'm worried" in alert and "day 0 after session 1 of 3" in alert


async def test_a_button_pressed_twice_or_by_someone_else_changes_nothing(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    await harness.press(OTHER_ID, data[2], message_id, chat_id=PATIENT_ID)  # someone else's press
    await harness.press(OTHER_ID, data[2], message_id)  # forged: the same data in another chat
    answers = [c.params.get("text") for c in fake_api.calls_to("answerCallbackQuery")]
    assert answers[-2:] == ["This button isn't for you, or it's no longer valid."] * 2
    [reminder] = harness.rows(Reminder, Reminder.step_key == "evening_checkin")
    assert reminder.answer is None
    await harness.press(PATIENT_ID, data[0], message_id)
    await harness.press(PATIENT_ID, data[2], message_id)
    assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("You've already answered")
    [reminder] = harness.rows(Reminder, Reminder.step_key == "evening_checkin")
    assert reminder.answer == "fine"
    for forged in ("ci:abc:fine", f"ci:{reminder.id}:maybe", "ci:999999:fine"):
        await harness.press(PATIENT_ID, forged, message_id)
        assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("This button isn't")
    assert not harness.rows(Event, Event.kind == "escalated")


async def _rebook_message(harness, clock):
    clock.set_local(28, 10, 5)
    await harness.dispatch()
    return harness.buttons(PATIENT_ID)


async def test_booked_stops_rebooking_reminders_and_tells_staff(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _rebook_message(harness, clock)
    assert [d.rsplit(":", 1)[1] for d in data] == ["booked", "later", "stop"]
    await harness.press(PATIENT_ID, data[0], message_id)
    assert "see you at your next session" in fake_api.texts(PATIENT_ID)[-1]
    assert "says they have booked session 2 of 3" in fake_api.texts(STAFF_ID)[-1]
    [closing] = harness.rows(Reminder, Reminder.step_key == "rebook_closing")
    assert closing.status == ReminderStatus.CANCELLED
    clock.set_local(41, 10, 0)
    assert (await harness.dispatch()).sent == 0


async def test_remind_me_later_moves_the_reminder(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _rebook_message(harness, clock)
    await harness.press(PATIENT_ID, data[1], message_id)
    assert "I'll remind you again on Fri 25 December, 10:05" in fake_api.texts(PATIENT_ID)[-1]
    snoozed = harness.rows(Reminder, Reminder.step_key == "rebook_open", Reminder.status == ReminderStatus.PENDING)
    assert len(snoozed) == 1
    clock.set_local(31, 10, 10)
    await harness.dispatch()
    assert "window for your next session is now open" in fake_api.texts(PATIENT_ID)[-1]


async def test_not_continuing_ends_the_series_politely(harness, fake_api, clock):
    await harness.link()
    message_id, data = await _rebook_message(harness, clock)
    await harness.press(PATIENT_ID, data[2], message_id)
    asked_id, asked = harness.buttons(PATIENT_ID)  # it asks once (issue 19)
    await harness.press(PATIENT_ID, asked[0], asked_id)
    assert "Thank you for your sessions with Clínica Sol" in fake_api.texts(PATIENT_ID)[-1]
    assert "is not continuing the series" in fake_api.texts(STAFF_ID)[-1]
    assert all(r.status != ReminderStatus.PENDING for r in harness.rows(Reminder, Reminder.kind == "rebook"))


async def test_spanish_patient_gets_spanish_buttons_and_replies(harness, fake_api, clock):
    await harness.link("/enroll Lucía lang=es")
    assert "Lucía" in fake_api.texts(PATIENT_ID)[0] and "Hi " not in fake_api.texts(PATIENT_ID)[0]
    message_id, data = await _checkin_message(harness, clock, 0, 19)
    markup = fake_api.sent_messages(PATIENT_ID)[-1].params["reply_markup"]
    labels = [row[0]["text"] for row in markup["inline_keyboard"]]
    assert labels != ["😊 It's fine", "🔴 Still red or swollen", "😟 I'm worried"]
    await harness.press(PATIENT_ID, data[2], message_id)
    assert "fiebre" in fake_api.texts(PATIENT_ID)[-2]
    assert "comparte tu número" in fake_api.texts(PATIENT_ID)[-1]
