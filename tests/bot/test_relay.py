"""End to end: a patient writes, staff see it and reply, the patient gets the reply."""

from __future__ import annotations

import html

from jobs.storage.models import RelayLink
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID, BotHarness, bot_env

STAFF_GROUP = -1001234567890


async def test_patient_text_goes_to_staff_and_a_reply_comes_back(harness, fake_api, clock):
    await harness.link()
    clock.set_local(2, 12, 0)
    await harness.send(PATIENT_ID, "Is it normal that it itches a bit? <b>")
    assert "passed" in fake_api.texts(PATIENT_ID)[-1] or "gone to the team" in fake_api.texts(PATIENT_ID)[-1]
    relayed = fake_api.texts(STAFF_ID)[-1]
    assert "Anna K" in relayed and "day 2 after session 1" in relayed and "itches a bit? &lt;b&gt;" in relayed
    staff_message_id = len(fake_api.sent_messages(STAFF_ID))
    await harness.send(STAFF_ID, "Yes, mild itching is normal. Don't scratch!", reply_to_message_id=staff_message_id)
    assert html.unescape(fake_api.texts(PATIENT_ID)[-1]).endswith("Yes, mild itching is normal. Don't scratch!")
    assert "Clínica Sol" in fake_api.texts(PATIENT_ID)[-1]
    assert fake_api.texts(STAFF_ID)[-1] == "Sent to Anna K."


async def test_patient_photo_is_relayed_with_its_caption(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "this spot", photo_file_id="patient-photo-1")
    photo = fake_api.calls_to("sendPhoto")[-1]
    assert photo.params["chat_id"] == STAFF_ID and photo.params["photo"] == "patient-photo-1"
    assert "Anna K" in photo.params["caption"] and "this spot" in photo.params["caption"]


async def test_strangers_get_an_explanation_and_nothing_is_forwarded(harness, fake_api):
    await harness.send(OTHER_ID, "hello?")
    assert "only talk with patients the clinic has enrolled" in fake_api.texts(OTHER_ID)[-1]
    assert fake_api.texts(STAFF_ID) == []
    assert harness.rows(RelayLink) == []


async def test_a_reply_from_a_non_staff_user_does_not_reach_the_patient(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "hello clinic")
    staff_message_id = len(fake_api.sent_messages(STAFF_ID))
    before = len(fake_api.texts(PATIENT_ID))
    await harness.send(OTHER_ID, "I'm not staff", reply_to_message_id=staff_message_id, chat_id=STAFF_ID)
    assert len(fake_api.texts(PATIENT_ID)) == before


async def test_with_a_staff_chat_alerts_and_relays_go_to_the_group(fake_api, database_url, clock):
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_CHAT_ID=str(STAFF_GROUP)), clock).start()
    try:
        await bot.link()
        await bot.send(PATIENT_ID, "a question")
        assert "a question" in fake_api.texts(STAFF_GROUP)[-1]
        group_message_id = len(fake_api.sent_messages(STAFF_GROUP))
        await bot.send(STAFF_ID, "an answer", chat_id=STAFF_GROUP, chat_type="supergroup",
                       reply_to_message_id=group_message_id)
        assert fake_api.texts(PATIENT_ID)[-1].endswith("an answer")
        await bot.send(STAFF_ID, "team chatter", chat_id=STAFF_GROUP, chat_type="supergroup")
        assert fake_api.texts(STAFF_GROUP)[-1] == "Sent to Anna K."  # the bot stays out of the team's talk
    finally:
        await bot.stop()


async def test_a_voice_message_or_file_is_copied_to_staff_and_a_voice_reply_goes_back(harness, fake_api, clock):
    await harness.link()
    clock.set_local(1, 10, 0)
    await harness.send(PATIENT_ID, "", media="voice")
    await harness.send(PATIENT_ID, "the lab report", media="document")
    copies = fake_api.calls_to("copyMessage")
    assert [(c.params["chat_id"], c.params["from_chat_id"]) for c in copies] == [(STAFF_ID, PATIENT_ID)] * 2
    assert "Anna K" in copies[0].params["caption"] and "day 1 after session 1" in copies[0].params["caption"]
    assert copies[1].params["caption"].endswith(": the lab report")
    assert "gone to the team" in fake_api.texts(PATIENT_ID)[-1]
    # Staff answer the copied voice message with a voice message of their own: copied to the patient.
    voice_copy_id = len(fake_api.sent_messages(STAFF_ID)) - 1
    await harness.send(STAFF_ID, "", media="voice", reply_to_message_id=voice_copy_id)
    back = fake_api.calls_to("copyMessage")[-1]
    assert (back.params["chat_id"], back.params["from_chat_id"]) == (PATIENT_ID, STAFF_ID)
    assert "Clínica Sol" in back.params["caption"]
    assert fake_api.texts(STAFF_ID)[-1] == "Sent to Anna K."


async def test_a_sticker_gets_an_answer_and_is_not_relayed(harness, fake_api):
    await harness.link()
    staff_before = len(fake_api.texts(STAFF_ID))
    await harness.send(PATIENT_ID, "", media="sticker")
    assert fake_api.calls_to("copyMessage") == [] and len(fake_api.texts(STAFF_ID)) == staff_before
    assert "not stickers or video notes" in fake_api.texts(PATIENT_ID)[-1]
