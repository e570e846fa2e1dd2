"""End to end: silence noticed. The day-2 check-in (nudge_after = "4h", alert_after = "24h") unanswered
gets one gentle nudge, then staff are told; an answer at any time closes both. The follow-ups are rows
in the database (they survive a restart) and follow the patient's lifecycle."""

from __future__ import annotations

from jobs.storage.models import Reminder
from jobs.storage.states import InboxStatus, ReminderStatus
from tests.conftest import PATIENT_ID, STAFF_ID

NO_ANSWER = "No answer from <b>Anna K</b> (#1) to the day-2 check-in"


def _step(harness, key="settling_check"):
    [step] = harness.rows(Reminder, Reminder.step_key == key, Reminder.parent_id.is_(None))
    return step


def _follow_ups(harness, step):
    return {r.kind: r for r in harness.rows(Reminder, Reminder.parent_id == step.id)}


async def _day_2_check_in_sent(harness, clock):
    await harness.link()
    clock.set_local(2, 10, 5)
    await harness.dispatch()
    step = _step(harness)
    assert step.status == ReminderStatus.SENT
    return step


def _silence_alerts(fake_api):
    return [text for text in fake_api.texts(STAFF_ID) if "No answer from" in text]


async def test_an_unanswered_check_in_is_nudged_once_then_staff_are_told(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    follow_ups = _follow_ups(harness, step)
    assert follow_ups["nudge"].status == ReminderStatus.PENDING and follow_ups["silence"].status == ReminderStatus.PENDING
    clock.set_local(2, 14, 0)
    await harness.dispatch()
    assert "gentle reminder" not in fake_api.texts(PATIENT_ID)[-1]  # 4 h after 10:05 is 14:05
    clock.set_local(2, 14, 6)
    await harness.dispatch()
    nudge = fake_api.sent_messages(PATIENT_ID)[-1]
    assert "just a gentle reminder" in nudge.params["text"]
    # The nudge carries the check-in's own buttons: pressing one answers the day-2 check-in.
    data = [row[0]["callback_data"] for row in nudge.params["reply_markup"]["inline_keyboard"]]
    assert data == [f"ci:{step.id}:fine", f"ci:{step.id}:red", f"ci:{step.id}:worried"]
    clock.set_local(2, 20, 0)
    await harness.dispatch()
    assert sum("gentle reminder" in text for text in fake_api.texts(PATIENT_ID)) == 1  # one nudge only
    assert _silence_alerts(fake_api) == []
    clock.set_local(3, 10, 6)
    await harness.dispatch()
    [alert] = _silence_alerts(fake_api)
    assert NO_ANSWER in alert and "Settling check, red flags" in alert and "session 1 of 3" in alert
    assert "Thu 26 November, 10:05" in alert
    assert {r.kind: r.status for r in _follow_ups(harness, step).values()} == {"nudge": ReminderStatus.SENT, "silence": ReminderStatus.SENT}
    await harness.send(STAFF_ID, "/patient 1")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "✅ Thu 26 November, 14:06 · Settling check, red flags: gentle reminder" in card
    assert "✅ Fri 27 November, 10:06 · Settling check, red flags: staff told of no answer" in card
    alert = _silence_alerts(fake_api)[-1]
    # A staff reply to the alert reaches the patient, like a reply to any alert about them.
    alert_id = fake_api.texts(STAFF_ID).index(alert) + 1
    await harness.send(STAFF_ID, "Hi Anna, how are you?", reply_to_message_id=alert_id)
    assert "Hi Anna, how are you?" in fake_api.texts(PATIENT_ID)[-1]


async def test_an_answer_after_the_nudge_closes_it_and_staff_are_not_told(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    clock.set_local(2, 14, 10)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    clock.set_local(2, 18, 0)
    await harness.press(PATIENT_ID, data[0], message_id)  # "It's fine", under the nudge
    assert "Lovely to hear, Anna" in fake_api.texts(PATIENT_ID)[-1]
    assert _step(harness).answer == "fine"
    silence = _follow_ups(harness, step)["silence"]
    assert (silence.status, silence.outcome) == (ReminderStatus.CANCELLED, "answered")
    clock.set_local(3, 12, 0)
    await harness.dispatch()
    assert _silence_alerts(fake_api) == []


async def test_an_answer_before_the_nudge_closes_both(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[1], message_id)
    assert {r.status for r in _follow_ups(harness, step).values()} == {ReminderStatus.CANCELLED}
    before = len(fake_api.texts(PATIENT_ID))
    clock.set_local(3, 12, 0)
    await harness.dispatch()
    assert len(fake_api.texts(PATIENT_ID)) == before + 1  # only the day-3 photo request
    assert "photo of the treated area" in fake_api.texts(PATIENT_ID)[-1]
    assert _silence_alerts(fake_api) == []


async def test_words_instead_of_a_button_answer_a_check_in_but_not_a_photo_step(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    clock.set_local(2, 11, 0)
    await harness.send(PATIENT_ID, "Still a bit pink but fine")
    assert "Still a bit pink but fine" in fake_api.texts(STAFF_ID)[-1]
    assert {(r.status, r.outcome) for r in _follow_ups(harness, step).values()} == {(ReminderStatus.CANCELLED, "answered")}
    clock.set_local(3, 10, 5)
    await harness.dispatch()  # the photo request
    photo_step = _step(harness, "photo_day3")
    await harness.send(PATIENT_ID, "I'll send it tonight")
    assert {r.status for r in _follow_ups(harness, photo_step).values()} == {ReminderStatus.PENDING}


async def test_the_follow_ups_survive_a_restart(harness, fake_api, clock):
    await _day_2_check_in_sent(harness, clock)
    await harness.restart()
    clock.set_local(2, 14, 10)
    await harness.dispatch()
    assert "just a gentle reminder" in fake_api.texts(PATIENT_ID)[-1]
    await harness.restart()
    clock.set_local(3, 10, 10)
    await harness.dispatch()
    assert len(_silence_alerts(fake_api)) == 1


async def test_a_late_nudge_waits_for_the_end_of_quiet_hours(harness, fake_api, clock):
    """The bot was down from the afternoon to 23:00: the nudge is due, but not at night."""
    step = await _day_2_check_in_sent(harness, clock)
    clock.set_local(2, 23, 0)
    await harness.dispatch()
    assert "gentle reminder" not in fake_api.texts(PATIENT_ID)[-1]
    nudge = _follow_ups(harness, step)["nudge"]
    assert nudge.status == ReminderStatus.PENDING and nudge.due_at == clock.set_local(3, 8, 0)
    clock.set_local(3, 8, 1)
    await harness.dispatch()
    assert "just a gentle reminder" in fake_api.texts(PATIENT_ID)[-1]


async def test_a_paused_patient_is_not_nudged_and_a_stopped_one_not_at_all(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    await harness.send(PATIENT_ID, "/pause")
    assert {r.status for r in _follow_ups(harness, step).values()} == {ReminderStatus.HELD}
    clock.set_local(2, 15, 0)
    await harness.dispatch()
    assert "gentle reminder" not in "".join(fake_api.texts(PATIENT_ID))
    await harness.send(PATIENT_ID, "/stop")
    _, buttons = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, buttons[0], harness.buttons(PATIENT_ID)[0])
    assert {r.status for r in _follow_ups(harness, step).values()} == {ReminderStatus.CANCELLED}
    clock.set_local(3, 12, 0)
    await harness.dispatch()
    assert "gentle reminder" not in "".join(fake_api.texts(PATIENT_ID))
    assert _silence_alerts(fake_api) == []


async def test_an_answer_while_stopped_keeps_a_resume_from_reviving_the_nudge(harness, fake_api, clock):
    step = await _day_2_check_in_sent(harness, clock)
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.send(PATIENT_ID, "/stop")
    _, buttons = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, buttons[0], harness.buttons(PATIENT_ID)[0])
    await harness.press(PATIENT_ID, data[0], message_id)  # the check-in, answered while stopped
    await harness.send(PATIENT_ID, "/resume")
    assert {r.outcome for r in _follow_ups(harness, step).values()} == {"answered"}
    clock.set_local(2, 15, 0)
    await harness.dispatch()
    assert "gentle reminder" not in "".join(fake_api.texts(PATIENT_ID))


async def test_an_unanswered_photo_step_is_nudged_then_staff_are_told(harness, fake_api, clock):
    await harness.link()
    clock.set_local(3, 10, 5)
    await harness.dispatch()
    clock.set_local(3, 14, 10)
    await harness.dispatch()
    assert "please send us that photo of the treated area" in fake_api.texts(PATIENT_ID)[-1]
    assert "reply_markup" not in fake_api.sent_messages(PATIENT_ID)[-1].params
    clock.set_local(4, 10, 10)
    await harness.dispatch()
    alert = fake_api.texts(STAFF_ID)[-1]
    assert "No photo from <b>Anna K</b> (#1) for the day-3 photo check-in (Day 3 photo check-in)" in alert


async def test_stats_count_answers_the_median_wait_and_photo_reviews(harness, fake_api, clock):
    await _day_2_check_in_sent(harness, clock)
    message_id, data = harness.buttons(PATIENT_ID)
    clock.set_local(2, 12, 5)
    await harness.press(PATIENT_ID, data[0], message_id)  # answered after 2 h
    clock.set_local(3, 10, 5)
    await harness.dispatch()  # the photo request
    clock.set_local(3, 11, 5)
    await harness.send(PATIENT_ID, "", photo_file_id="photo-for-stats")  # answered after 1 h
    photo = fake_api.calls_to("sendPhoto")[-1]
    await harness.press(STAFF_ID, [row[0]["callback_data"] for row in photo.params["reply_markup"]["inline_keyboard"]][1],
                        fake_api.sent_messages(STAFF_ID).index(photo) + 1)
    await harness.send(STAFF_ID, "/stats")
    stats = fake_api.texts(STAFF_ID)[-1]
    assert "Check-ins answered: 2 of 2 (100%) · median time to answer: 1 hr 30 mins" in stats
    assert "Photos: 1 received · reviewed 1 (as expected 0 · call 1 · another asked 0)" in stats
    assert "Unanswered check-ins: 0 nudged · 0 told to staff" in stats


async def test_an_answer_after_staff_were_told_resolves_the_silence_item_on_every_copy(harness, fake_api, clock):
    from jobs.storage.models import InboxItem

    step = await _day_2_check_in_sent(harness, clock)
    clock.set_local(2, 14, 10)
    await harness.dispatch()  # the nudge, with the check-in's buttons
    message_id, data = harness.buttons(PATIENT_ID)
    clock.set_local(3, 10, 6)
    await harness.dispatch()  # staff told: a "no answer" item in the inbox
    [item] = harness.rows(InboxItem, InboxItem.kind == "silence")
    assert item.status == InboxStatus.OPEN
    await harness.press(PATIENT_ID, data[0], message_id)  # the patient answers at last
    [item] = harness.rows(InboxItem, InboxItem.kind == "silence")
    assert item.status == InboxStatus.RESOLVED
    edit = [c for c in fake_api.calls_to("editMessageText") if c.params["chat_id"] == STAFF_ID][-1]
    assert NO_ANSWER in edit.params["text"] and "Closed" in edit.params["text"]
    assert _step(harness).answer == "fine" and step.id == _step(harness).id


async def test_staff_read_clinic_time_with_the_patients_zone_named_where_it_differs(harness, fake_api, clock):
    """Issue 19: the silence alert said "sent 10:05" in London time to a clinic in Madrid, with no zone."""
    await harness.link("/enroll Anna K tz=Europe/London")
    clock.set_local(2, 11, 5)  # 10:05 in London: the day-2 check-in goes
    await harness.dispatch()
    assert _step(harness).status == ReminderStatus.SENT
    clock.set_local(3, 11, 10)
    await harness.dispatch()
    [alert] = _silence_alerts(fake_api)
    assert "Thu 26 November, 11:05" in alert  # the clinic's time, as the inbox shows it
    assert "10:05" in alert and "Europe/London" in alert  # and the patient's, with their zone named
    await harness.send(STAFF_ID, "/patient 1")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "Thu 26 November, 11:05 · Settling check, red flags" in card
    assert "Europe/Madrid" in card and "Europe/London" in card
