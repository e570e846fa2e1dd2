"""End to end: staff enroll, the patient links with the invite, refusals change nothing."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from bot.invite_card import qr_png
from jobs.patients.invites import hash_token
from jobs.storage.models import Enrollment, Invite, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_staff_enroll_gets_invite_link_and_qr_code(harness, fake_api):
    token = await harness.enroll("/enroll Anna K")
    [photo] = fake_api.calls_to("sendPhoto")
    caption = photo.params["caption"]
    link = f"https://t.me/{fake_api.username}?start={token}"
    assert link in caption
    assert "Anna K" in caption and "Session 1 of 3" in caption
    assert photo.files["photo"].startswith(PNG_SIGNATURE)
    assert photo.files["photo"] == qr_png(link)  # the picture encodes exactly this link
    assert len(token) >= 22  # at least 128 random bits in URL-safe base64

    [patient] = harness.rows(Patient)
    assert patient.name == "Anna K" and patient.status == PatientStatus.AWAITING_LINK and patient.enrolled_by == STAFF_ID
    [invite] = harness.rows(Invite)
    assert invite.token_hash == hash_token(token) and token not in invite.token_hash  # stored hashed
    assert invite.expires_at - invite.created_at == timedelta(days=7)
    [enrollment] = harness.rows(Enrollment)
    assert enrollment.protocol_name == "microneedling"
    assert enrollment.protocol_version == harness.services.catalog.protocol().version
    assert len(harness.rows(Reminder)) == 8


async def test_enroll_with_options_on_one_line(harness, fake_api, clock):
    await harness.enroll("/enroll Ben Ortega at=yesterday 17:00 session=3/3 protocol=microneedling_peel_laser tz=Europe/London lang=en")
    [patient] = harness.rows(Patient)
    [enrollment] = harness.rows(Enrollment)
    assert patient.name == "Ben Ortega" and patient.timezone == "Europe/London" and patient.locale == "en"
    assert (enrollment.session_number, enrollment.series_length) == (3, 3)
    assert enrollment.protocol_name == "microneedling_peel_laser"
    assert enrollment.session_at == (clock.now - timedelta(days=1)).replace(hour=17, minute=0)
    steps = [r.step_key for r in harness.rows(Reminder)]
    assert "final_thanks" in steps and "rebook_open" not in steps
    # Yesterday's first-evening steps are already past: recorded as skipped, said in the reply.
    assert any(r.status == ReminderStatus.SKIPPED for r in harness.rows(Reminder))
    assert "already past and skipped" in fake_api.sent_messages(STAFF_ID)[-1].params["caption"]


async def test_guided_enroll_form_with_buttons(harness, fake_api, clock):
    await harness.send(STAFF_ID, "/enroll")
    assert "What is their name" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "Carla Núñez")
    ask_protocol = fake_api.sent_messages(STAFF_ID)[-1]
    buttons = [b["callback_data"] for row in ask_protocol.params["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["enroll:protocol:microneedling", "enroll:protocol:microneedling_peel_laser"]
    message_id = ask_protocol.params and fake_api.calls_to("sendMessage")[-1].params  # sent message id below
    form_message = len(fake_api.sent_messages(STAFF_ID))  # the bot numbers its messages per chat from 1
    await harness.press(STAFF_ID, "enroll:protocol:microneedling_peel_laser", form_message)
    await harness.press(STAFF_ID, "enroll:number:2", form_message)
    await harness.press(STAFF_ID, "enroll:when:other", form_message)
    assert message_id is not None
    await harness.send(STAFF_ID, "14:00")
    [patient] = harness.rows(Patient)
    [enrollment] = harness.rows(Enrollment)
    assert patient.name == "Carla Núñez"
    assert enrollment.protocol_name == "microneedling_peel_laser" and enrollment.session_number == 2
    assert enrollment.session_at == clock.now.replace(hour=14, minute=0)
    assert fake_api.calls_to("sendPhoto"), "the form ends with the invite and QR code"


async def test_the_guided_form_keeps_a_running_summary_and_offers_length_language_and_zone(harness, fake_api, clock):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Carla Núñez")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    assert fake_api.texts(STAFF_ID)[-1].startswith("📝 <b>Enrolling Carla Núñez</b>\n\nWhich treatment")

    def screen():
        edit = fake_api.calls_to("editMessageText")[-1].params
        markup = edit.get("reply_markup") or {}
        return edit["text"], [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    await harness.press(STAFF_ID, "enroll:protocol:microneedling_peel_laser", form_message)
    text, buttons = screen()
    assert "Enrolling Carla Núñez" in text and "Treatment: Microneedling + peel or laser" in text
    assert buttons == [f"enroll:number:{n}" for n in range(1, 7)]  # a course is usually 3 to 6 sessions
    await harness.press(STAFF_ID, "enroll:number:4", form_message)
    text, buttons = screen()
    assert "Treatment: Microneedling + peel or laser\nSession 4 of 4\nLanguage: Their Telegram language\n" \
           "Time zone: Europe/Madrid\nCalled: Carla\n\nWhen was the session?" in text
    assert buttons == ["enroll:when:now", "enroll:when:other", "enroll:option:length", "enroll:option:language",
                       "enroll:option:zone", "enroll:option:called"]
    await harness.press(STAFF_ID, "enroll:option:length", form_message)
    text, buttons = screen()
    assert buttons == ["enroll:length:4", "enroll:length:5", "enroll:length:6"]  # not fewer than session 4
    await harness.press(STAFF_ID, "enroll:length:3", form_message)  # forged: shorter than the session number
    assert "no longer open" in fake_api.calls_to("answerCallbackQuery")[-1].params["text"]
    await harness.press(STAFF_ID, "enroll:length:6", form_message)
    assert "Session 4 of 6" in screen()[0]
    await harness.press(STAFF_ID, "enroll:option:language", form_message)
    assert screen()[1] == ["enroll:lang:-"] + [f"enroll:lang:{code}" for code in ("en", "ar", "es", "pt", "ru", "tr", "uk")]
    await harness.press(STAFF_ID, "enroll:lang:es", form_message)
    assert "Language: Español" in screen()[0]
    await harness.press(STAFF_ID, "enroll:option:zone", form_message)
    assert screen()[1] == ["enroll:zone:clinic", "enroll:zone:other"]
    await harness.press(STAFF_ID, "enroll:zone:other", form_message)
    await harness.send(STAFF_ID, "Atlantis")
    assert "<code>Atlantis</code> is not a time zone" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "new york")
    summary = fake_api.texts(STAFF_ID)[-1]
    assert "Session 4 of 6\nLanguage: Español\nTime zone: America/New_York\nCalled: Carla\n\nWhen was the session?" in summary
    await harness.press(STAFF_ID, "enroll:when:now", len(fake_api.sent_messages(STAFF_ID)))
    assert screen()[0].startswith("📝 <b>Enrolling Carla Núñez</b>") and not screen()[1]  # the summary stays
    [patient] = harness.rows(Patient)
    [enrollment] = harness.rows(Enrollment)
    assert (patient.locale, patient.timezone) == ("es", "America/New_York")
    assert (enrollment.session_number, enrollment.series_length, enrollment.protocol_name) == (
        4, 6, "microneedling_peel_laser")
    assert "Session 4 of 6" in fake_api.calls_to("sendPhoto")[-1].params["caption"]


async def test_guided_form_rejects_a_bad_time_and_can_be_cancelled(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Dana")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    await harness.press(STAFF_ID, "enroll:protocol:microneedling", form_message)
    await harness.press(STAFF_ID, "enroll:number:1", form_message)
    await harness.press(STAFF_ID, "enroll:when:other", form_message)
    await harness.send(STAFF_ID, "teatime")
    assert "can't read the session time" in fake_api.texts(STAFF_ID)[-1]
    await harness.send(STAFF_ID, "/cancel")
    assert "nothing was saved" in fake_api.texts(STAFF_ID)[-1]
    assert harness.rows(Patient) == []
    # A button of the closed form now gets a notice, and still nothing is written.
    await harness.press(STAFF_ID, "enroll:number:1", form_message)
    assert "no longer open" in fake_api.calls_to("answerCallbackQuery")[-1].params["text"]
    assert harness.rows(Patient) == []


async def test_the_guided_form_survives_a_restart(harness, fake_api, clock):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Elena Ruiz")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    await harness.press(STAFF_ID, "enroll:protocol:microneedling", form_message)
    await harness.restart()  # or the next update reaches another instance
    await harness.press(STAFF_ID, "enroll:number:2", form_message)
    await harness.press(STAFF_ID, "enroll:when:now", form_message)
    [enrollment] = harness.rows(Enrollment)
    assert (enrollment.session_number, enrollment.session_at) == (2, clock.now)
    assert harness.rows(Patient)[0].name == "Elena Ruiz"


async def test_form_buttons_out_of_order_or_forged_change_nothing(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Fiona")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    for data in ("enroll:number:2", "enroll:when:now", "enroll:protocol:botox"):
        await harness.press(STAFF_ID, data, form_message)
        assert "no longer open" in fake_api.calls_to("answerCallbackQuery")[-1].params["text"]
    # Data no button of ours carries gets the catch-all notice.
    await harness.press(STAFF_ID, "enroll:nonsense", form_message)
    assert "no longer open" in fake_api.calls_to("answerCallbackQuery")[-1].params["text"]
    await harness.press(OTHER_ID, "enroll:protocol:microneedling", form_message)
    assert harness.rows(Patient) == []


async def test_non_staff_enroll_is_refused_and_writes_nothing(harness, fake_api):
    await harness.send(OTHER_ID, "/enroll Mallory")
    assert fake_api.texts(OTHER_ID) == ["Sorry, this command is for the clinic team only."]
    assert harness.rows(Patient) == [] and harness.rows(Invite) == []


async def test_enroll_in_a_group_is_refused(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll Anna K", chat_id=-100555, chat_type="supergroup")
    assert "private chat" in fake_api.texts(-100555)[-1]
    assert harness.rows(Patient) == []


async def test_malformed_enroll_lines_get_a_reason_and_write_nothing(harness, fake_api):
    cases = {
        "/enroll Anna at=teatime": "can't read the session time",
        "/enroll Anna session=5/3": "doesn't fit a series of 3",
        "/enroll Anna session=two": "can't read <code>session=two</code>",
        "/enroll Anna protocol=botox": "no protocol <code>botox</code>",
        "/enroll Anna tz=Mars/Base": "not a time zone",
        "/enroll Anna lang=klingon": "no texts in <code>klingon</code>",
        "/enroll Anna colour=red": "don't know the option <code>colour=</code>",
        "/enroll at=14:00": "give the patient's name",
        "/enroll Anna at=2030-01-01 10:00": "in the future",
        "/enroll Anna at=2026-01-01 10:00": "more than 60 days ago",
    }
    for line, reason in cases.items():
        await harness.send(STAFF_ID, line)
        reply = fake_api.texts(STAFF_ID)[-1]
        assert reason in reply, (line, reply)
        # The reason, then one example: not the whole usage block again.
        assert len(reply.splitlines()) == 2 and reply.splitlines()[1].startswith("For example: <code>/enroll Anna K"), reply
        assert "Options after the name" not in reply
    assert harness.rows(Patient) == []


async def test_an_enrollment_whose_messages_are_all_past_warns_that_nothing_will_be_sent(harness, fake_api):
    # Not the last session: after the last one the 90-day outcome question is still ahead (the 60-day limit).
    await harness.send(STAFF_ID, "/enroll Anna K at=2026-10-10 10:00 session=2/3")
    caption = fake_api.calls_to("sendPhoto")[-1].params["caption"]
    assert "already past and skipped: 8" in caption and "Messages planned: 8" in caption
    assert "⚠️ <b>Nothing will be sent</b>" in caption and "/cancel 1" in caption and "at=yesterday 17:00" in caption
    await harness.send(STAFF_ID, "/enroll Bea at=yesterday 17:00")
    assert "Nothing will be sent" not in fake_api.calls_to("sendPhoto")[-1].params["caption"]


async def test_patient_links_is_greeted_by_name_and_gets_the_first_message_at_once(harness, fake_api, clock):
    token = await harness.enroll()
    clock.advance(minutes=10)
    await harness.send(PATIENT_ID, f"/start {token}")
    texts = fake_api.texts(PATIENT_ID)
    assert texts[0].startswith("Hi Anna, you're all set: Clínica Sol will look after your skin")
    assert "I stay quiet between 21:00 and 08:00.\n\n🔒 What Clínica Sol keeps about you" in texts[0]
    assert texts[0].endswith("It stays until you send /delete, which erases it at once.")
    assert "redness and mild swelling" in texts[1]  # the "what to expect" step, sent at once
    assert len(texts) == 2
    [patient] = harness.rows(Patient)
    assert patient.status == PatientStatus.ACTIVE and patient.chat_id == PATIENT_ID and patient.locale == "en"


async def test_reused_token_is_refused_and_changes_nothing(harness, fake_api):
    token = await harness.enroll()
    await harness.send(PATIENT_ID, f"/start {token}")
    before = [(r.id, r.status, r.due_at) for r in harness.rows(Reminder)]
    await harness.send(OTHER_ID, f"/start {token}")
    assert "already been used" in fake_api.texts(OTHER_ID)[-1]
    [patient] = harness.rows(Patient)
    assert patient.chat_id == PATIENT_ID
    assert [(r.id, r.status, r.due_at) for r in harness.rows(Reminder)] == before
    # The patient opening their own link again is told they are connected already.
    await harness.send(PATIENT_ID, f"/start {token}")
    assert "already connected" in fake_api.texts(PATIENT_ID)[-1]


async def test_expired_and_unknown_tokens_are_refused_and_change_nothing(harness, fake_api, clock):
    token = await harness.enroll()
    clock.advance(days=7, seconds=1)
    await harness.send(PATIENT_ID, f"/start {token}")
    assert "expired" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(PATIENT_ID, "/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "doesn't match any invite" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(PATIENT_ID, "/start <script>")
    assert "doesn't match any invite" in fake_api.texts(PATIENT_ID)[-1]
    [patient] = harness.rows(Patient)
    assert patient.status == PatientStatus.AWAITING_LINK and patient.chat_id is None
    [invite] = harness.rows(Invite)
    assert invite.used_at is None


async def test_start_without_token_explains_how_to_join(harness, fake_api):
    await harness.send(OTHER_ID, "/start")
    assert "personal link or QR code" in fake_api.texts(OTHER_ID)[-1]
    assert harness.rows(Patient) == []


async def test_no_staff_configured_tells_the_admin_their_id(fake_api, database_url, clock):
    from tests.conftest import BotHarness, bot_env

    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, STAFF_IDS=""), clock).start()
    try:
        await bot.send(STAFF_ID, "/enroll Anna")
        assert f"<code>{STAFF_ID}</code>" in fake_api.texts(STAFF_ID)[-1]
        assert bot.rows(Patient) == []
    finally:
        await bot.stop()


async def test_every_call_goes_to_the_configured_bot_api_server(harness, fake_api):
    await harness.enroll()
    bot = harness.app.bot
    assert bot.base_url == f"{fake_api.root_url}/bot{fake_api.token}"
    assert bot.base_file_url == f"{fake_api.root_url}/file/bot{fake_api.token}"
    assert {call.method for call in fake_api.calls} >= {"getMe", "sendPhoto"}


async def test_logs_carry_ids_never_the_token_or_the_patient_name(harness, fake_api, clock, caplog):
    caplog.set_level(logging.DEBUG)
    token = await harness.enroll("/enroll Zebedee Quargle")
    await harness.send(PATIENT_ID, f"/start {token}")
    await harness.send(PATIENT_ID, "my private worry about Xanthippe")
    clock.advance(days=1)
    await harness.dispatch()
    await harness.send(STAFF_ID, "/patient Zebedee")
    log_text = "\n".join(record.getMessage() for record in caplog.records)
    assert re.search(r"enrolled patient \d+", log_text) and "relayed a message of patient 1" in log_text
    for secret in (fake_api.token, "Zebedee", "Quargle", token, "Xanthippe", "redness"):
        assert secret not in log_text


async def test_bare_start_from_a_linked_patient_says_they_are_connected(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/start")
    assert "already connected, Anna" in fake_api.texts(PATIENT_ID)[-1]


async def test_one_telegram_account_never_gets_two_parallel_plans(harness, fake_api):
    await harness.link("/enroll Anna K")
    second = await harness.enroll("/enroll Anna Kowalski")
    await harness.send(PATIENT_ID, f"/start {second}")
    message_id, data = harness.buttons(PATIENT_ID)  # the chat is asked first
    await harness.press(PATIENT_ID, data[0], message_id)
    first, newer = harness.rows(Patient)
    assert (first.status, newer.status) == ("superseded", PatientStatus.ACTIVE)
    assert not harness.rows(Reminder, Reminder.patient_id == first.id, Reminder.status.in_(["pending", "waiting"]))
    assert "linked from a chat that belonged to patient #1" in fake_api.texts(STAFF_ID)[-1]


async def test_enroll_twice_by_mistake_is_pointed_out(harness, fake_api, clock):
    await harness.enroll("/enroll Anna K")
    clock.advance(minutes=3)
    await harness.enroll("/enroll anna k tz=Europe/London")
    caption = fake_api.calls_to("sendPhoto")[-1].params["caption"]
    # The new record is the one to take back (issue 19): it said "/cancel 1", the older patient.
    assert "enrolled 3 minutes ago (#1)" in caption and "/withdraw 2" in caption and "/cancel 1" not in caption
    assert "The patient's messages follow Europe/London" in caption


async def test_typing_while_the_form_waits_for_a_button_says_so(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Gina")
    await harness.send(STAFF_ID, "microneedling")
    assert "choose with the buttons above" in fake_api.texts(STAFF_ID)[-1]


async def test_greeting_without_quiet_hours_does_not_mention_them(fake_api, database_url, clock):
    from tests.conftest import BotHarness, bot_env

    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, QUIET_HOURS="off"), clock).start()
    try:
        await bot.link()
        assert "quiet" not in fake_api.texts(PATIENT_ID)[0] and "00:00" not in fake_api.texts(PATIENT_ID)[0]
    finally:
        await bot.stop()


async def test_network_errors_while_polling_are_one_line_not_a_traceback(harness, caplog):
    from telegram.error import NetworkError

    from bot.handlers.common import error_handler

    class Context:
        error = NetworkError("httpx.ConnectError: All connection attempts failed")
        bot_data = harness.app.bot_data
        services = harness.services  # what bot/context.py's AftercareContext hands callbacks

    await error_handler(None, Context())
    [record] = [r for r in caplog.records if r.name == "bot.handlers.common"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "cannot reach the Bot API while fetching updates" in record.getMessage()


async def test_the_enroll_reply_names_days_and_months_in_the_staff_members_language(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll Ana K", language_code="es")
    caption = fake_api.sent_messages(STAFF_ID)[-1].params["caption"]
    assert "mar, 24 de noviembre de 2026, 15:30 (Europe/Madrid)" in caption  # Tuesday, in Spanish
    assert "Tue" not in caption and "Nov 2026" not in caption
