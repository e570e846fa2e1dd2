"""End to end: relays fit Telegram's limits, staff commands stay commands, edits are not re-run (issue 11)."""

from __future__ import annotations

import html

from jobs.storage.models import Enrollment, Event
from tests.conftest import PATIENT_ID, STAFF_ID


def _unescaped(fake_api, chat_id) -> str:
    return html.unescape("\n".join(fake_api.texts(chat_id)))


async def test_a_patient_message_of_4096_characters_reaches_staff_whole(harness, fake_api):
    await harness.link()
    text = ("My skin <is> red & " * 300)[:4096]
    await harness.send(PATIENT_ID, text)
    assert "gone to the team" in fake_api.texts(PATIENT_ID)[-1]
    header, body = fake_api.texts(STAFF_ID)[-2:]
    assert "Anna K" in header and html.unescape(body) == text
    # A reply to either part reaches the patient.
    for message_id in (len(fake_api.sent_messages(STAFF_ID)) - 1, len(fake_api.sent_messages(STAFF_ID))):
        await harness.send(STAFF_ID, f"reply to {message_id}", reply_to_message_id=message_id)
        assert fake_api.texts(PATIENT_ID)[-1].endswith(f"reply to {message_id}")


async def test_a_photo_with_a_1024_character_caption_reaches_staff_whole(harness, fake_api):
    await harness.link()
    caption = ("this spot < there & " * 60)[:1024]
    await harness.send(PATIENT_ID, caption, photo_file_id="patient-photo-9")
    photo = fake_api.calls_to("sendPhoto")[-1]
    assert photo.status == 200 and photo.params["chat_id"] == STAFF_ID and "Anna K" in photo.params["caption"]
    assert html.unescape(fake_api.texts(STAFF_ID)[-1]) == caption
    assert "gone to the team" in fake_api.texts(PATIENT_ID)[-1]


async def test_a_long_file_caption_reaches_staff_whole(harness, fake_api):
    await harness.link()
    caption = "r" * 1024
    await harness.send(PATIENT_ID, caption, media="document")
    assert fake_api.calls_to("copyMessage")[-1].status == 200
    assert fake_api.texts(STAFF_ID)[-1] == caption


async def test_a_long_staff_reply_reaches_the_patient_whole(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "question")
    reply = ("Keep it clean & calm <3 " * 200)[:4096]
    await harness.send(STAFF_ID, reply, reply_to_message_id=len(fake_api.sent_messages(STAFF_ID)))
    assert html.unescape(fake_api.texts(PATIENT_ID)[-1]) == reply
    assert "Clínica Sol" in fake_api.texts(PATIENT_ID)[-2]
    assert fake_api.texts(STAFF_ID)[-1] == "Sent to Anna K."


async def test_a_staff_reply_that_is_a_command_runs_as_one(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "question")
    to_patient = len(fake_api.texts(PATIENT_ID))
    await harness.send(STAFF_ID, "/patient 1", reply_to_message_id=len(fake_api.sent_messages(STAFF_ID)))
    assert len(fake_api.texts(PATIENT_ID)) == to_patient  # nothing went to the patient
    assert "Anna K" in fake_api.texts(STAFF_ID)[-1] and "#1" in fake_api.texts(STAFF_ID)[-1]


async def test_a_staff_reply_with_a_command_caption_is_not_sent(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "question")
    to_patient = len(fake_api.sent_messages(PATIENT_ID))
    await harness.send(STAFF_ID, "/cancel 1", photo_file_id="staff-photo",
                       reply_to_message_id=len(fake_api.sent_messages(STAFF_ID)))
    assert len(fake_api.sent_messages(PATIENT_ID)) == to_patient
    assert "/" in fake_api.texts(STAFF_ID)[-1]


async def test_an_edited_session_command_records_no_second_session(harness, fake_api, clock):
    await harness.link()
    clock.advance(days=30)
    await harness.send(STAFF_ID, "/session 1")
    assert len(harness.rows(Enrollment)) == 2
    replies = len(fake_api.texts(STAFF_ID))
    await harness.send(STAFF_ID, "/session 1", edited=True)
    await harness.send(STAFF_ID, "/stats", edited=True)
    assert len(harness.rows(Enrollment)) == 2
    assert len(fake_api.texts(STAFF_ID)) == replies


async def test_an_edited_patient_message_reaches_staff_once_marked_as_an_edit(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "it itches")
    before_staff, before_patient = len(fake_api.texts(STAFF_ID)), len(fake_api.texts(PATIENT_ID))
    await harness.send(PATIENT_ID, "it itches a lot", edited=True)
    staff = fake_api.texts(STAFF_ID)[before_staff:]
    assert len(staff) == 1 and "edited" in staff[0] and "it itches a lot" in staff[0]
    assert len(fake_api.texts(PATIENT_ID)) == before_patient  # no second "sent to the team"
    events = len(harness.rows(Event))
    await harness.send(PATIENT_ID, "/stop", edited=True)  # an edited command is not re-run
    assert len(fake_api.texts(PATIENT_ID)) == before_patient and len(harness.rows(Event)) == events


async def test_an_edited_staff_reply_is_not_sent_to_the_patient_again(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "question")
    await harness.send(STAFF_ID, "answer", reply_to_message_id=len(fake_api.sent_messages(STAFF_ID)))
    to_patient = len(fake_api.texts(PATIENT_ID))
    await harness.send(STAFF_ID, "answer, corrected", reply_to_message_id=len(fake_api.sent_messages(STAFF_ID)) - 1,
                       edited=True)
    assert len(fake_api.texts(PATIENT_ID)) == to_patient
