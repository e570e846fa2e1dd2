"""End to end: outcome questions after the series, a "worse" answer owned in the inbox, review requests to everyone."""

from __future__ import annotations

import pytest

from jobs.staff.inbox import InboxKind
from jobs.storage.models import Event, InboxItem, OutcomeAnswer, Reminder
from jobs.storage.states import InboxStatus, ReminderStatus
from messages.protocol import PGIC_ANSWERS
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID, BotHarness, bot_env

REVIEW_URL = "https://g.page/r/clinica-sol/review"


@pytest.fixture
async def clinic(fake_api, database_url, clock):
    """A clinic with a review page, open on weekdays (the outcome question goes out while it is staffed)."""
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, REVIEW_URL=REVIEW_URL,
                                       CLINIC_HOURS="Mon-Fri 09:00-19:00"), clock)
    await bot.start()
    yield bot
    await bot.stop()


async def _after_the_series(bot, clock):
    """Anna and Ben each had the last session of their series; a month later the question goes out."""
    await bot.link("/enroll Anna K session=3/3")
    await bot.link("/enroll Ben Ortega session=3/3", user_id=OTHER_ID)
    clock.set_local(30, 11, 5)  # Thu 24 Dec 2026, the clinic is open
    await bot.dispatch()


def _markup(fake_api, chat_id):
    return fake_api.sent_messages(chat_id)[-1].params["reply_markup"]["inline_keyboard"]


async def test_the_question_comes_a_month_after_the_last_session_with_seven_answers(clinic, fake_api, clock):
    await _after_the_series(clinic, clock)
    message_id, data = clinic.buttons(PATIENT_ID)
    [reminder] = clinic.rows(Reminder, Reminder.step_key == "outcome_day30", Reminder.patient_id == 1)
    assert data == [f"oc:{reminder.id}:{answer}" for answer in PGIC_ANSWERS]
    labels = [row[0]["text"] for row in _markup(fake_api, PATIENT_ID)]
    assert labels[0] == "Very much improved" and labels[-1] == "Very much worse"
    assert "how has your skin changed overall?" in fake_api.texts(PATIENT_ID)[-1]
    # Not for a patient whose series goes on: the question follows the LAST session only.
    await clinic.link("/enroll Carla session=1/3", user_id=4004)
    clock.set_local(31, 11, 5)
    await clinic.dispatch()
    assert not clinic.rows(Reminder, Reminder.step_key == "outcome_day30", Reminder.patient_id == 3)


async def test_an_answer_is_thanked_and_a_second_press_changes_it_and_says_so(clinic, fake_api, clock):
    await _after_the_series(clinic, clock)
    message_id, data = clinic.buttons(PATIENT_ID)
    await clinic.press(PATIENT_ID, data[1], message_id)  # much improved
    assert "Thank you, Anna K!" in fake_api.texts(PATIENT_ID)[-2]
    assert "anything you'd like to tell us about your results?" in fake_api.texts(PATIENT_ID)[-1]
    marked = fake_api.calls_to("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"]
    assert marked[1][0]["text"] == "✓ Much improved" and marked[0][0]["text"] == "Very much improved"
    clock.advance(days=2)
    await clinic.press(PATIENT_ID, data[0], message_id)  # changed: very much improved
    assert fake_api.texts(PATIENT_ID)[-1] == "Changed: your answer is now “Very much improved” (it was “Much improved”)."
    [row] = clinic.rows(OutcomeAnswer, OutcomeAnswer.patient_id == 1)
    assert (row.answer, row.changes, row.worse, row.scale) == ("vmi", 1, False, "pgic")
    assert [e.detail for e in clinic.rows(Event, Event.kind.in_(["outcome", "outcome_changed"]))] == ["mi", "vmi"]
    await clinic.press(PATIENT_ID, data[0], message_id)  # the same answer again changes nothing
    assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("You've already answered")
    # After the step's validity (7 days) the answer stands.
    clock.advance(days=6)
    await clinic.press(PATIENT_ID, data[6], message_id)
    assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("This question has closed")
    assert clinic.rows(OutcomeAnswer, OutcomeAnswer.patient_id == 1)[0].answer == "vmi"
    assert not clinic.rows(InboxItem)
    # Someone else's press, or an answer no scale has, is refused.
    await clinic.press(OTHER_ID, data[6], message_id)
    await clinic.press(PATIENT_ID, data[0].rsplit(":", 1)[0] + ":maybe", message_id)
    assert [c.params.get("text", "")[:20] for c in fake_api.calls_to("answerCallbackQuery")[-2:]] == [
        "This button isn't fo"] * 2


async def test_a_worse_answer_is_an_owned_inbox_item_and_the_patient_is_told(clinic, fake_api, clock):
    await _after_the_series(clinic, clock)
    message_id, data = clinic.buttons(OTHER_ID)
    await clinic.press(OTHER_ID, data[-1], message_id)  # very much worse
    assert "someone will be in touch with you" in fake_api.texts(OTHER_ID)[-2]
    alert = fake_api.texts(STAFF_ID)[-1]
    assert "Ben Ortega" in alert and "Very much worse" in alert and "One month after the series" in alert
    [item] = clinic.rows(InboxItem)
    assert (item.kind, item.status) == (InboxKind.OUTCOME, InboxStatus.OPEN)
    # Staff take it: the item is owned (an outcome item is not raised again like "worried").
    _, staff_data = clinic.buttons(STAFF_ID)
    take = next(d for d in staff_data if d.endswith(":take"))
    await clinic.press(STAFF_ID, take, len(fake_api.sent_messages(STAFF_ID)))
    [item] = clinic.rows(InboxItem)
    assert (item.status, item.taken_by) == (InboxStatus.TAKEN, STAFF_ID)
    await clinic.send(STAFF_ID, "/inbox")
    assert "📉" in fake_api.texts(STAFF_ID)[-1] and "outcome: worse" in fake_api.texts(STAFF_ID)[-1]
    # Changing between two "worse" answers tells staff nothing new; the answer is still changed.
    await clinic.press(OTHER_ID, data[-2], message_id)
    assert len(clinic.rows(InboxItem)) == 1
    assert "it was “Very much worse”" in fake_api.texts(OTHER_ID)[-1]


async def test_the_review_request_goes_to_every_patient_including_the_unhappy_one(clinic, fake_api, clock):
    await _after_the_series(clinic, clock)
    for user_id, answer in ((PATIENT_ID, 0), (OTHER_ID, -1)):  # very much improved; very much worse
        message_id, data = clinic.buttons(user_id)
        await clinic.press(user_id, data[answer], message_id)
    clock.set_local(33, 11, 5)
    await clinic.dispatch()
    for user_id in (PATIENT_ID, OTHER_ID):
        assert "an honest review helps" in fake_api.texts(user_id)[-1]
        [[button]] = _markup(fake_api, user_id)
        assert (button["text"], button["url"]) == ("⭐ Leave a review", REVIEW_URL)
    sent = clinic.rows(Reminder, Reminder.kind == "review", Reminder.status == ReminderStatus.SENT)
    assert len(sent) == 2
    # /stats: the answers by protocol step and by session count, the share answered, review requests.
    await clinic.send(STAFF_ID, "/stats")
    stats = fake_api.texts(STAFF_ID)[-1]
    assert "2 of 2 outcome questions answered (100%), 1 worse." in stats
    assert ("• Microneedling, One month after the series: how it turned out: Very much improved 1 · "
            "Very much worse 1") in stats
    assert "• after session 3: Very much improved 1 · Very much worse 1" in stats
    assert "Review requests: 2 sent, - opened." in stats  # no redirect on the HTTP side: not counted
    # /patient shows the answer in the timeline and in its own section.
    await clinic.send(STAFF_ID, "/patient 2")
    card = fake_api.texts(STAFF_ID)[-1]
    assert "One month after the series: how it turned out — answered: Very much worse" in card
    assert "• One month after the series: how it turned out: 📉 Very much worse" in card


async def test_without_review_url_the_step_is_skipped_and_says_why(harness, fake_api, clock):
    await harness.link("/enroll Anna K session=3/3")
    clock.set_local(33, 11, 5)
    await harness.dispatch()
    [review] = harness.rows(Reminder, Reminder.kind == "review")
    assert (review.status, review.outcome) == (ReminderStatus.SKIPPED, "skipped: REVIEW_URL is not set")
    assert "review" not in fake_api.texts(PATIENT_ID)[-1]


async def test_the_question_waits_for_the_clinic_to_open(fake_api, database_url, clock):
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, CLINIC_HOURS="Fri 09:00-19:00"), clock).start()
    try:
        await bot.link("/enroll Anna K session=3/3")
        clock.set_local(30, 11, 5)  # Thursday: closed
        await bot.dispatch()
        [outcome] = bot.rows(Reminder, Reminder.step_key == "outcome_day30")
        assert outcome.status == ReminderStatus.PENDING and outcome.outcome == "deferred: clinic hours"
        clock.set_local(31, 9, 1)  # Friday 09:01
        await bot.dispatch()
        assert "how has your skin changed overall?" in fake_api.texts(PATIENT_ID)[-1]
    finally:
        await bot.stop()


async def test_what_the_patient_writes_after_answering_reaches_staff_like_any_message(clinic, fake_api, clock):
    await _after_the_series(clinic, clock)
    message_id, data = clinic.buttons(PATIENT_ID)
    await clinic.press(PATIENT_ID, data[2], message_id)
    assert "Just write it here" in fake_api.texts(PATIENT_ID)[-1]
    await clinic.send(PATIENT_ID, "The scars on my cheeks are much softer, thank you!")
    assert any("The scars on my cheeks are much softer" in text for text in fake_api.texts(STAFF_ID)[-2:])
    [item] = clinic.rows(InboxItem)
    assert item.kind == InboxKind.MESSAGE  # a message, not an outcome to call about


async def test_a_protocols_own_scale_gives_the_buttons_and_says_which_answers_are_worse(fake_api, database_url, clock,
                                                                                       tmp_path):
    import shutil

    from messages.catalog import DEFAULTS_DIR

    folder = tmp_path / "mine"
    shutil.copytree(DEFAULTS_DIR, folder)
    protocol = folder / "protocols" / "microneedling.toml"
    protocol.write_text(protocol.read_text().replace('key = "outcome_day30"', 'key = "outcome_day30"\nscale = "gais"')
                        + '\n[scales.gais]\nanswers = [\n'
                          '  { key = "better", labels = { en = "Better", es = "Mejor" } },\n'
                          '  { key = "same", labels = { en = "The same" } },\n'
                          '  { key = "worse", labels = { en = "Worse", es = "Peor" }, worse = true },\n]\n')
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, MESSAGES_DIR=str(folder)), clock).start()
    try:
        await bot.link("/enroll Ana session=3/3 lang=es")
        clock.set_local(30, 11, 5)
        await bot.dispatch()
        message_id, data = bot.buttons(PATIENT_ID)
        assert [d.rsplit(":", 1)[1] for d in data] == ["better", "same", "worse"]
        assert [row[0]["text"] for row in _markup(fake_api, PATIENT_ID)] == ["Mejor", "The same", "Peor"]
        await bot.press(PATIENT_ID, data[1], message_id)
        assert not bot.rows(InboxItem)
        await bot.press(PATIENT_ID, data[2], message_id)
        [item] = bot.rows(InboxItem)
        assert item.kind == InboxKind.OUTCOME and "Worse" in fake_api.texts(STAFF_ID)[-1]
        [row] = bot.rows(OutcomeAnswer)
        assert (row.scale, row.answer, row.worse) == ("gais", "worse", True)
    finally:
        await bot.stop()
