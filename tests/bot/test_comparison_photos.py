"""End to end: before and after, with consent. An outcome step with ``photo = true`` asks once whether the
clinic may keep the patient's photos to compare; with a yes it asks for a photo in the same light as the
day-3 one, and staff see the first and the last side by side on /patient (one album); with a no, no photo
is asked for, ever. The answer can be changed, a withdrawal forgets the comparison photos, forged presses
change nothing, and erasure removes the consent too."""

from __future__ import annotations

import shutil

import pytest

from jobs.storage.models import Event, OutcomeAnswer, Photo, PhotoConsent, Reminder
from jobs.storage.states import ReminderStatus
from messages.catalog import DEFAULTS_DIR
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID, BotHarness, bot_env

CONSENT_QUESTION = "may Clínica Sol keep the photos you send us"
PHOTO_REQUEST = "a photo of the treated area today, in the same light as your day-3 photo"
CHECKIN_REQUEST = "could you send us a photo of the treated area today?"
REFUSED = "This button isn't for you, or it's no longer valid."


@pytest.fixture
async def twice(fake_api, database_url, clock, tmp_path):
    """A clinic whose protocol asks for a comparison photo a month after the series and again at three months."""
    folder = tmp_path / "texts"
    shutil.copytree(DEFAULTS_DIR, folder)
    protocol = folder / "protocols" / "microneedling.toml"
    text = protocol.read_text()
    protocol.write_text(text.replace('key = "outcome_day30"', 'key = "outcome_day30"\nphoto = true'))
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, MESSAGES_DIR=str(folder)), clock)
    await bot.start()
    yield bot
    await bot.stop()


async def _day3_photo(bot, fake_api, clock, *, user_id=PATIENT_ID, file_id="day3-photo"):
    clock.set_local(3, 10, 5)
    await bot.dispatch()
    assert CHECKIN_REQUEST in fake_api.texts(user_id)[-1]
    clock.set_local(3, 11, 0)
    await bot.send(user_id, "", photo_file_id=file_id)


async def _answer_outcome(bot, clock, day, *, user_id=PATIENT_ID, answer=1):
    """The outcome step of ``day`` goes out and the patient answers it ("much improved" by default)."""
    clock.set_local(day, 11, 5)
    await bot.dispatch()
    message_id, data = bot.buttons(user_id)
    assert data[0].startswith("oc:")
    await bot.press(user_id, data[answer], message_id)
    return data[0].split(":")[1]


async def _agreed_and_sent(bot, fake_api, clock, day, file_id):
    """Anna, after the last session: a day-3 photo; then at ``day`` the outcome, a yes, and the photo asked for."""
    await bot.link("/enroll Anna K session=3/3")
    await _day3_photo(bot, fake_api, clock)
    await _answer_outcome(bot, clock, day)
    message_id, data = bot.buttons(PATIENT_ID)
    await bot.press(PATIENT_ID, data[0], message_id)
    assert PHOTO_REQUEST in fake_api.texts(PATIENT_ID)[-1]
    await bot.send(PATIENT_ID, "", photo_file_id=file_id)
    return message_id, data


def _asked_for_photo(fake_api, texts) -> list[str]:
    return [text for text in texts if PHOTO_REQUEST in text or CHECKIN_REQUEST in text]


async def test_consent_yes_then_the_photo_is_asked_and_staff_see_first_and_last_side_by_side(harness, fake_api,
                                                                                            clock):
    await harness.link("/enroll Anna K session=3/3")
    await _day3_photo(harness, fake_api, clock)
    # The day-30 outcome step asks for no photo: no consent question comes with it.
    await _answer_outcome(harness, clock, 30)
    assert not any(CONSENT_QUESTION in text for text in fake_api.texts(PATIENT_ID))
    assert not harness.rows(PhotoConsent)

    reminder_id = await _answer_outcome(harness, clock, 90)
    question = fake_api.texts(PATIENT_ID)[-1]
    assert CONSENT_QUESTION in question and "Only the clinic's team sees them" in question
    assert "If you say no, we won't ask for any" in question
    message_id, data = harness.buttons(PATIENT_ID)
    assert data == [f"pc:{reminder_id}:yes", f"pc:{reminder_id}:no"]
    assert all(len(d.encode()) <= 64 for d in data)
    [consent] = harness.rows(PhotoConsent)
    assert (consent.given, consent.reminder_id, consent.asked_at) == (None, int(reminder_id), clock.now)
    # Asked, not answered: no photo is asked for yet, and staff see that.
    assert not _asked_for_photo(fake_api, fake_api.texts(PATIENT_ID)[-3:])
    await harness.send(STAFF_ID, "/patient 1")
    assert "Photos to compare before and after: asked" in fake_api.texts(STAFF_ID)[-1]

    clock.advance(minutes=2)
    await harness.press(PATIENT_ID, data[0], message_id)
    marked = fake_api.calls_to("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in marked] == ["✓ Yes, keep my photos", "No, thank you"]
    assert "If you change your mind, just tap “No, thank you” above." in fake_api.texts(PATIENT_ID)[-2]
    request = fake_api.texts(PATIENT_ID)[-1]
    assert PHOTO_REQUEST in request and "daylight" in request
    [consent] = harness.rows(PhotoConsent)
    assert (consent.given, consent.answered_at, consent.changes) == (True, clock.now, 0)

    clock.advance(hours=1)
    await harness.send(PATIENT_ID, "", photo_file_id="day90-photo")
    [_, photo] = harness.rows(Photo)
    assert (photo.reminder_id, photo.file_id) == (int(reminder_id), "day90-photo")
    alert = fake_api.calls_to("sendPhoto")[-1]
    assert alert.params["chat_id"] == STAFF_ID and alert.params["photo"] == "day90-photo"
    assert "sent a photo to compare before and after" in alert.params["caption"]
    assert "day 90 after session 3 of 3" in alert.params["caption"]
    assert "your photo is with the team" in fake_api.texts(PATIENT_ID)[-1]
    # The outcome's own answer is untouched by the photo.
    [outcome] = harness.rows(Reminder, Reminder.id == int(reminder_id))
    assert outcome.answer == "mi"
    # Another photo now is a message to the team, not a second comparison photo.
    await harness.send(PATIENT_ID, "", photo_file_id="extra-photo")
    assert len(harness.rows(Photo)) == 2

    await harness.send(STAFF_ID, "/patient 1")
    assert "Photos to compare before and after: agreed" in fake_api.texts(STAFF_ID)[-1]
    [album] = fake_api.media_groups(STAFF_ID)
    media = album.params["media"]
    assert [item["type"] for item in media] == ["photo", "photo"]
    assert [item["media"] for item in media] == ["day3-photo", "day90-photo"]
    assert "first photo" in media[0]["caption"] and "Day 3 photo check-in" in media[0]["caption"]
    assert "latest photo" in media[1]["caption"] and "Three months after the series" in media[1]["caption"]
    assert all("Anna K" in item["caption"] and len(item["caption"]) <= 1024 for item in media)


async def test_consent_no_means_no_photo_is_ever_asked_for(twice, fake_api, clock):
    await twice.link("/enroll Anna K session=3/3")
    await _day3_photo(twice, fake_api, clock)  # the check-in photo, for the team to check the healing
    await _answer_outcome(twice, clock, 30)
    message_id, data = twice.buttons(PATIENT_ID)
    assert CONSENT_QUESTION in fake_api.texts(PATIENT_ID)[-1]
    await twice.press(PATIENT_ID, data[1], message_id)
    assert "we won't ask you for photos" in fake_api.texts(PATIENT_ID)[-1]
    [consent] = twice.rows(PhotoConsent)
    assert consent.given is False and consent.answered_at == clock.now
    declined_at = len(fake_api.texts(PATIENT_ID))

    # The rest of the plan, day by day at the hours its steps are due: the day-90 step asks for a photo
    # in the protocol, but nothing asks this patient for one, and the question is not asked again.
    for day in range(31, 105):
        for hour in (10, 11, 19):
            clock.set_local(day, hour, 5)
            await twice.dispatch()
            _, data = twice.buttons(PATIENT_ID)
            if data and data[0].startswith("oc:") and not twice.rows(OutcomeAnswer, OutcomeAnswer.reminder_id ==
                                                                      int(data[0].split(":")[1])):
                await twice.press(PATIENT_ID, data[1], len(fake_api.sent_messages(PATIENT_ID)))
    [day90] = twice.rows(Reminder, Reminder.step_key == "outcome_day90")
    assert day90.status == ReminderStatus.SENT and day90.answer == "mi"
    after = fake_api.texts(PATIENT_ID)[declined_at:]
    assert after and not _asked_for_photo(fake_api, after)
    assert not any(CONSENT_QUESTION in text for text in after)
    assert not [call for call in fake_api.sent_messages(PATIENT_ID)[declined_at:]
                if "pc:" in str(call.params.get("reply_markup"))]
    assert [row.photo_asked_at for row in twice.rows(OutcomeAnswer)] == [None, None]
    # A photo sent anyway goes to the team as a message; it is not kept as a comparison photo.
    await twice.send(PATIENT_ID, "here's how it looks now", photo_file_id="unasked-photo")
    assert [photo.file_id for photo in twice.rows(Photo)] == ["day3-photo"]
    await twice.send(STAFF_ID, "/patient 1")
    assert "Photos to compare before and after: declined" in fake_api.texts(STAFF_ID)[-1]
    assert fake_api.media_groups(STAFF_ID) == []


async def test_consent_can_be_changed_and_a_withdrawal_forgets_the_comparison_photos(twice, fake_api, clock):
    message_id, data = await _agreed_and_sent(twice, fake_api, clock, 30, "day30-photo")
    await twice.press(PATIENT_ID, data[0], message_id)  # the same answer again changes nothing
    assert fake_api.calls_to("answerCallbackQuery")[-1].params["text"].startswith("You've already answered")

    clock.advance(days=1)
    await twice.press(PATIENT_ID, data[1], message_id)  # No after Yes: withdrawn
    assert "we won't keep your photos to compare any more" in fake_api.texts(PATIENT_ID)[-1]
    marked = fake_api.calls_to("editMessageReplyMarkup")[-1].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in marked] == ["Yes, keep my photos", "✓ No, thank you"]
    [consent] = twice.rows(PhotoConsent)
    assert (consent.given, consent.changes, consent.answered_at) == (False, 1, clock.now)
    # The comparison photo can no longer be shown; the day-3 check-in photo stays in the record.
    assert {p.file_id for p in twice.rows(Photo)} == {"day3-photo", None}
    assert [e.detail for e in twice.rows(Event, Event.kind == "photo_consent")] == ["yes", "no"]
    await twice.send(STAFF_ID, "/patient 1")
    assert "Photos to compare before and after: declined" in fake_api.texts(STAFF_ID)[-1]
    assert fake_api.media_groups(STAFF_ID) == []
    # Withdrawn, a photo is not taken as the (still open) step's answer.
    await twice.send(PATIENT_ID, "", photo_file_id="after-no")
    assert len(twice.rows(Photo)) == 2

    # Yes again while the step is still open: the photo is asked for again, and the pair shows again.
    clock.advance(days=1)
    await twice.press(PATIENT_ID, data[0], message_id)
    assert PHOTO_REQUEST in fake_api.texts(PATIENT_ID)[-1]
    await twice.send(PATIENT_ID, "", photo_file_id="day32-photo")
    await twice.send(STAFF_ID, "/patient 1")
    [album] = fake_api.media_groups(STAFF_ID)
    assert [item["media"] for item in album.params["media"]] == ["day3-photo", "day32-photo"]
    # At three months the question is not asked again: the photo is asked for straight away.
    await _answer_outcome(twice, clock, 90)
    assert PHOTO_REQUEST in fake_api.texts(PATIENT_ID)[-1]
    assert sum(CONSENT_QUESTION in text for text in fake_api.texts(PATIENT_ID)) == 1


async def test_forged_or_foreign_consent_presses_are_refused_and_change_nothing(twice, fake_api, clock):
    await twice.link("/enroll Anna K session=3/3")
    await twice.link("/enroll Ben session=3/3", user_id=OTHER_ID)
    anna = await _answer_outcome(twice, clock, 30)
    message_id, data = twice.buttons(PATIENT_ID)
    ben_message, ben_data = twice.buttons(OTHER_ID)  # Ben's question went out in the same round
    await twice.press(OTHER_ID, ben_data[1], ben_message)  # Ben is asked too
    _, ben_consent = twice.buttons(OTHER_ID)
    ben = ben_consent[0].split(":")[1]
    [day90_anna] = twice.rows(Reminder, Reminder.step_key == "outcome_day90", Reminder.patient_id == 1)

    before = [(c.patient_id, c.given, c.changes) for c in twice.rows(PhotoConsent)]
    refusals = len(fake_api.calls_to("answerCallbackQuery"))
    for user_id, forged in (
            (OTHER_ID, f"pc:{anna}:yes"),  # Anna's button pressed from Ben's chat
            (PATIENT_ID, f"pc:{ben}:yes"),  # Ben's button in Anna's chat
            (PATIENT_ID, f"pc:{day90_anna.id}:yes"),  # a step of Anna's that never asked (not sent yet)
            (PATIENT_ID, f"pc:{anna}:maybe"),
            (PATIENT_ID, "pc:99999999999999999999:yes"),
            (PATIENT_ID, f"pc:{anna}:yes:extra"),
            (PATIENT_ID, "pc:²:yes"),
            (PATIENT_ID, f"pc:{anna}:yes" + "x" * 60),
            (STAFF_ID, f"pc:{anna}:no"),
    ):
        await twice.press(user_id, forged, message_id)
    answers = fake_api.calls_to("answerCallbackQuery")[refusals:]
    assert len(answers) == 9 and all(call.status == 200 for call in answers)
    assert [call.params.get("text") for call in answers] == [REFUSED] * 9
    assert [(c.patient_id, c.given, c.changes) for c in twice.rows(PhotoConsent)] == before == [(1, None, 0),
                                                                                                 (2, None, 0)]
    assert not twice.rows(Event, Event.kind == "photo_consent")
    assert fake_api.unanswered_callbacks() == set()
    # Anna's own button still works.
    await twice.press(PATIENT_ID, data[1], message_id)
    assert [c.given for c in twice.rows(PhotoConsent, PhotoConsent.patient_id == 1)] == [False]


async def test_erasure_removes_the_consent_and_the_photo_ids(harness, fake_api, clock):
    await _agreed_and_sent(harness, fake_api, clock, 90, "day90-photo")
    assert harness.rows(PhotoConsent)
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)
    assert not harness.rows(PhotoConsent)
    assert [photo.file_id for photo in harness.rows(Photo)] == [None, None]


async def test_staff_review_a_comparison_photo_and_another_one_keeps_the_outcome_answer(harness, fake_api, clock):
    await _agreed_and_sent(harness, fake_api, clock, 90, "day90-photo")
    alert = fake_api.calls_to("sendPhoto")[-1]
    data = [row[0]["callback_data"] for row in alert.params["reply_markup"]["inline_keyboard"]]
    [_, photo] = harness.rows(Photo)
    assert data[:3] == [f"ph:{photo.id}:ok", f"ph:{photo.id}:call", f"ph:{photo.id}:again"]
    clock.advance(days=20)  # past the step's 14 days: "another photo" opens the request again all the same
    await harness.press(STAFF_ID, data[2], fake_api.sent_messages(STAFF_ID).index(alert) + 1)
    assert "Could you send us one more photo" in fake_api.texts(PATIENT_ID)[-1]
    [step] = harness.rows(Reminder, Reminder.id == photo.reminder_id)
    assert step.answer == "mi" and step.expires_at > clock.now
    clock.advance(hours=2)
    await harness.send(PATIENT_ID, "", photo_file_id="day110-photo")
    assert [p.file_id for p in harness.rows(Photo)] == ["day3-photo", "day90-photo", "day110-photo"]
    await harness.send(STAFF_ID, "/patient 1")
    [album] = fake_api.media_groups(STAFF_ID)
    assert [item["media"] for item in album.params["media"]] == ["day3-photo", "day110-photo"]


def test_an_album_caption_past_telegrams_limit_goes_as_plain_text_cut_to_fit():
    from bot.handlers.console import _album_photo

    short = _album_photo("photo-a", "<b>Anna</b> (#1) · first photo")
    assert (short.caption, short.parse_mode) == ("<b>Anna</b> (#1) · first photo", "HTML")
    long = _album_photo("photo-a", "<b>A &amp; B</b> " + "x" * 1100)
    assert long.parse_mode is None and len(long.caption) == 1024 and long.caption.startswith("A & B x")


async def test_a_first_answer_after_the_step_closed_asks_nothing_more(harness, fake_api, clock):
    await harness.link("/enroll Anna K session=3/3")
    clock.set_local(90, 11, 5)
    await harness.dispatch()
    message_id, data = harness.buttons(PATIENT_ID)
    clock.set_local(105, 11, 5)  # the 14 days are over: a first answer is still taken, but no photo could follow
    await harness.press(PATIENT_ID, data[1], message_id)
    assert harness.rows(OutcomeAnswer)[0].answer == "mi"
    assert not harness.rows(PhotoConsent) and not any(CONSENT_QUESTION in t for t in fake_api.texts(PATIENT_ID))
