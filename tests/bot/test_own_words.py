"""End to end: a patient's own words are heard. A red flag typed (or in a photo's caption) is handled like
*I'm worried*; out of clinic hours every message is answered with the next opening and the number to
call; staff hear about /stop and see it on a stopped patient's later message; linking says what is kept.
"""

from __future__ import annotations

import pytest

from bot.delivery import raise_untaken
from jobs.storage.models import Event, InboxItem, Patient
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

HOURS = "Mon-Fri 09:00-19:00, Sat 10:00-14:00"
SUNDAY = 5  # days after the Tuesday session: Sunday 29 Nov 2026
THE_ISSUE_S_WORDS = "My face is burning and getting more swollen, there are blisters. What should I do??"


async def _start(fake_api, database_url, clock, **env) -> BotHarness:
    return await BotHarness(fake_api, bot_env(fake_api, database_url, **env), clock).start()


@pytest.fixture
async def clinic(fake_api, database_url, clock):
    """Clínica Sol in Madrid, open on weekdays and Saturday mornings, with an out-of-hours number."""
    bot = await _start(fake_api, database_url, clock, CLINIC_HOURS=HOURS, EMERGENCY_PHONE="+34 900 111 222")
    yield bot
    await bot.stop()


def _staff_texts(fake_api) -> list[str]:
    return fake_api.texts(STAFF_ID)


async def test_the_issue_s_sunday_evening_blisters_are_a_worried_item_and_the_patient_is_told_what_to_do(
        clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(SUNDAY, 19, 39)
    await clinic.send(PATIENT_ID, THE_ISSUE_S_WORDS)

    replies = fake_api.texts(PATIENT_ID)[-3:]
    assert not any("your message has gone to the team" in text for text in replies)
    guidance, closed, share = replies
    assert "Please don't wait for us" in guidance and "blisters" in guidance
    assert "local emergency number" in guidance
    assert closed == ("The clinic is closed right now and opens again Mon 30 November, 09:00. If it can't wait, "
                      "please call +34 900 111 222.")
    assert "share your number" in share

    [item] = clinic.rows(InboxItem)
    assert (item.kind, item.status, item.origin) == ("worried", "open", "words")
    alert = _staff_texts(fake_api)[-1]
    assert "in their own words" in alert and "Anna K" in alert
    assert "burning and getting more swollen, there are blisters" in alert  # quoted for staff
    assert [(e.kind, e.detail) for e in clinic.rows(Event, Event.kind == "escalated")] == [("escalated", "words")]

    await clinic.send(STAFF_ID, "/inbox")
    assert f"#{item.id} ⚠️ worried (in their own words) · <b>Anna K</b> (#1)" in _staff_texts(fake_api)[-1]

    # Raised again like any worried item: not overnight, at Monday's opening.
    clock.set_local(SUNDAY, 23, 0)
    assert await raise_untaken(clinic.services, clinic.app.bot) == 0
    clock.set_local(SUNDAY + 1, 9, 0)
    assert await raise_untaken(clinic.services, clinic.app.bot) == 1
    await clinic.send_notices()  # the staff outbox sends it, as its job would
    raised = _staff_texts(fake_api)[-1]
    assert "Nobody has taken this yet" in raised and "there are blisters" in raised

    # A staff reply to the worried alert reaches the patient, as for any alert.
    message_id = fake_api.sent_messages(STAFF_ID).index(fake_api.sent_messages(STAFF_ID)[-1]) + 1
    await clinic.send(STAFF_ID, "We will call you at 9:15", reply_to_message_id=message_id)
    assert "We will call you at 9:15" in fake_api.texts(PATIENT_ID)[-1]


async def test_a_london_patient_is_told_the_opening_in_their_own_time(clinic, fake_api, clock):
    await clinic.link("/enroll Anna K tz=Europe/London")
    clock.set_local(SUNDAY, 19, 39)
    await clinic.send(PATIENT_ID, "there is pus coming out of a spot")
    assert ("The clinic is closed right now and opens again Mon 30 November, 08:00. If it can't wait, please call "
            "+34 900 111 222.") in fake_api.texts(PATIENT_ID)


async def test_a_spanish_patient_s_red_flag_is_answered_in_spanish(clinic, fake_api, clock):
    await clinic.link(language_code="es")
    clock.set_local(SUNDAY, 20, 10)
    await clinic.send(PATIENT_ID, "Me han salido ampollas y me arde cada vez más", language_code="es")
    guidance, closed, _share = fake_api.texts(PATIENT_ID)[-3:]
    assert "no esperes a que te contactemos" in guidance and "ampollas" in guidance
    assert closed == ("Ahora mismo la clínica está cerrada; vuelve a abrir lun, 30 de noviembre, 09:00. Si no puede esperar, "
                      "llama al +34 900 111 222.")
    [item] = clinic.rows(InboxItem)
    assert item.kind == "worried" and "ampollas" in item.text


async def test_a_negated_near_miss_is_an_ordinary_message(clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(1, 11, 0)  # Wednesday, open
    await clinic.send(PATIENT_ID, "no blisters at all, thanks")
    assert fake_api.texts(PATIENT_ID)[-1] == "Thanks — your message has gone to the team at Clínica Sol."
    [item] = clinic.rows(InboxItem)
    assert item.kind == "message"
    await clinic.send(PATIENT_ID, "sin ampollas", language_code="es")
    assert [i.kind for i in clinic.rows(InboxItem)] == ["message"]  # the same conversation


async def test_in_clinic_hours_a_red_flag_gets_the_guidance_and_no_closed_notice(clinic, fake_api, clock):
    await clinic.link("/enroll Anna K phone=+34 611 222 333")
    clock.set_local(1, 11, 0)
    await clinic.send(PATIENT_ID, "I think I have a fever, 38.5")
    assert "Please don't wait for us" in fake_api.texts(PATIENT_ID)[-1]  # no closed notice, no number asked
    assert not any("closed" in text for text in fake_api.texts(PATIENT_ID))
    alert = _staff_texts(fake_api)[-1]
    assert "📞 +34 611 22 23 33" in alert and "38.5" in alert


async def test_a_message_edited_to_a_red_flag_is_read_again(clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(1, 11, 0)
    await clinic.send(PATIENT_ID, "all fine thanks")
    await clinic.send(PATIENT_ID, "all fine thanks, no blisters", edited=True)  # still fine: an edit, as before
    assert [i.kind for i in clinic.rows(InboxItem)] == ["message"]
    assert "edited a message" in _staff_texts(fake_api)[-1]
    await clinic.send(PATIENT_ID, "actually there are blisters now", edited=True)
    assert [i.kind for i in clinic.rows(InboxItem)] == ["message", "worried"]
    assert "in their own words" in _staff_texts(fake_api)[-1]
    assert "Please don't wait for us" in fake_api.texts(PATIENT_ID)[-2]


async def test_a_photo_caption_with_a_red_flag_is_a_worried_item_with_the_photo(clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(1, 11, 0)
    await clinic.send(PATIENT_ID, "yellow crusts on my chin since this morning", photo_file_id="patient-photo-9")
    [item] = clinic.rows(InboxItem)
    assert item.kind == "worried"
    photo = fake_api.sent_messages(STAFF_ID)[-1]
    assert photo.params["photo"] == "patient-photo-9"
    assert "in their own words" in photo.params["caption"] and "yellow crusts" in photo.params["caption"]
    assert "Please don't wait for us" in fake_api.texts(PATIENT_ID)[-2]


async def test_a_photo_check_in_with_a_red_flag_caption_is_a_worried_item_with_its_review_buttons(
        clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(3, 10, 0)
    await clinic.dispatch()  # the day-3 photo check-in, among others
    clock.set_local(3, 10, 30)
    await clinic.send(PATIENT_ID, "here it is, it has blisters now", photo_file_id="check-in-photo")
    [item] = clinic.rows(InboxItem)
    assert item.kind == "worried"
    alert = fake_api.sent_messages(STAFF_ID)[-1]
    assert alert.params["photo"] == "check-in-photo" and "in their own words" in alert.params["caption"]
    data = [b["callback_data"] for row in alert.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any(d.startswith("ph:") for d in data)  # the review buttons stay
    assert "Please don't wait for us" in fake_api.texts(PATIENT_ID)[-2]


async def test_out_of_hours_every_message_says_when_it_will_be_read_and_whom_to_call(clinic, fake_api, clock):
    await clinic.link("/enroll Anna K tz=Europe/London")
    clock.set_local(SUNDAY, 19, 39)
    await clinic.send(PATIENT_ID, "Can I wear make-up tomorrow?")
    assert fake_api.texts(PATIENT_ID)[-1] == (
        "Thanks — your message has gone to the team at Clínica Sol.\n"
        "The clinic is closed right now: the team will read it when it opens, Mon 30 November, 08:00. "
        "If it can't wait, please call +34 900 111 222.")
    clock.set_local(SUNDAY + 1, 10, 0)  # Monday, open
    await clinic.send(PATIENT_ID, "And can I exercise?")
    assert fake_api.texts(PATIENT_ID)[-1] == "Thanks — your message has gone to the team at Clínica Sol."


async def test_without_clinic_hours_nothing_is_said_about_opening(harness, fake_api, clock):
    await harness.link()
    clock.set_local(SUNDAY, 23, 30)
    await harness.send(PATIENT_ID, "Can I wear make-up tomorrow?")
    assert fake_api.texts(PATIENT_ID)[-1] == "Thanks — your message has gone to the team at Clínica Sol."


async def test_staff_hear_about_stop_and_a_stopped_patient_s_message_says_so(clinic, fake_api, clock):
    await clinic.link()
    clock.set_local(1, 11, 0)
    await clinic.send(PATIENT_ID, "/stop")
    message_id, data = clinic.buttons(PATIENT_ID)
    await clinic.press(PATIENT_ID, data[0], message_id)
    assert clinic.rows(Patient)[0].status == "stopped"
    assert _staff_texts(fake_api)[-1] == ("⏹ <b>Anna K</b> (#1) sent /stop: no more messages go to them. "
                                         "They can send /resume to start again.")
    clock.set_local(2, 11, 0)
    await clinic.send(PATIENT_ID, "Actually, one question about sunscreen")
    alert = _staff_texts(fake_api)[-1]
    assert "Actually, one question" in alert and "⏹ They stopped their messages (/stop)." in alert


async def test_linking_says_what_is_kept_and_links_the_privacy_notice(fake_api, database_url, clock):
    bot = await _start(fake_api, database_url, clock, PRIVACY_URL="https://clinicasol.example/privacy")
    try:
        await bot.link()
        greeting = next(text for text in fake_api.texts(PATIENT_ID) if "you're all set" in text)
        assert "your name, this chat, your answers and messages" in greeting
        assert "/delete" in greeting
        assert '<a href="https://clinicasol.example/privacy">' in greeting
    finally:
        await bot.stop()


async def test_without_a_privacy_url_the_line_still_says_what_is_kept(harness, fake_api, clock):
    await harness.link(language_code="es")
    greeting = fake_api.texts(PATIENT_ID)[0]
    assert "tu nombre, este chat, tus respuestas y mensajes" in greeting and "/delete" in greeting
    assert "href" not in greeting
