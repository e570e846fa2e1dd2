"""End to end: /status, /help, /pause, /resume, /stop, /delete, /timezone, /language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from jobs.storage.models import Event, Invite, Patient, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from tests.conftest import OTHER_ID, PATIENT_ID


async def test_status_shows_session_next_message_and_next_session_in_the_patient_zone(harness, fake_api):
    await harness.link("/enroll Anna K session=1/4 tz=America/Bogota")
    await harness.send(PATIENT_ID, "/status")
    text = fake_api.texts(PATIENT_ID)[-1]
    assert "Session 1 of 4, on Tue 24 November" in text
    # The evening check-in is at 19:00 in Bogotá, shown in Bogotá time.
    assert "Next message: Tue 24 November, 19:00 (in 10 hours)." in text
    assert "due between Tue 22 December and Tue 5 January" in text
    assert "America/Bogota" in text


async def test_status_for_a_stranger_explains(harness, fake_api):
    await harness.send(OTHER_ID, "/status")
    assert "don't have you as a patient" in fake_api.texts(OTHER_ID)[-1]


async def test_help_lists_clinic_details_and_patient_commands(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/help")
    text = fake_api.texts(PATIENT_ID)[-1]
    assert "Clínica Sol" in text and "+34 600 000 000" in text and "/pause" in text and "/delete" in text
    assert "/enroll" not in text  # staff commands are for staff


async def test_pause_holds_messages_and_resume_continues_skipping_what_went_stale(harness, fake_api, clock):
    await harness.link()
    await harness.send(PATIENT_ID, "/pause")
    assert "Paused" in fake_api.texts(PATIENT_ID)[-1]
    assert harness.rows(Patient)[0].status == PatientStatus.PAUSED
    clock.set_local(1, 10, 0)
    assert (await harness.dispatch()).handled == 0  # nothing while paused
    await harness.send(PATIENT_ID, "/status")
    assert "paused" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(PATIENT_ID, "/resume")
    assert "Welcome back" in fake_api.texts(PATIENT_ID)[-1]
    report = await harness.dispatch()
    assert (report.sent, report.skipped) == (1, 1)  # the morning sun note still valid, last night's check stale
    assert "direct sunlight" in fake_api.texts(PATIENT_ID)[-1]


async def test_stop_asks_first_then_cancels_everything(harness, fake_api, clock):
    await harness.link()
    await harness.send(PATIENT_ID, "/stop")
    message_id, data = harness.buttons(PATIENT_ID)
    assert [d.rsplit(":", 1)[0] for d in data] == ["cf:stop:yes", "cf:stop:no"]
    await harness.press(PATIENT_ID, data[1], message_id)
    assert harness.rows(Patient)[0].status != PatientStatus.STOPPED
    await harness.send(PATIENT_ID, "/stop")  # "keep" closed that prompt: ask again
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)
    assert harness.rows(Patient)[0].status == PatientStatus.STOPPED
    assert {r.status for r in harness.rows(Reminder)} == {ReminderStatus.SENT, ReminderStatus.CANCELLED}
    clock.set_local(2, 10, 30)
    assert (await harness.dispatch()).handled == 0


async def test_delete_erases_name_and_chat_but_keeps_anonymous_counts(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(OTHER_ID, data[0], message_id, chat_id=PATIENT_ID)  # not theirs to press
    assert harness.rows(Patient)[0].status != PatientStatus.DELETED
    await harness.press(PATIENT_ID, data[0], message_id)
    [patient] = harness.rows(Patient)
    assert (patient.status, patient.name, patient.chat_id) == (PatientStatus.DELETED, "", None)
    assert harness.rows(Invite) == []
    assert not harness.rows(Reminder, Reminder.status == ReminderStatus.PENDING)
    assert {e.kind for e in harness.rows(Event)} >= {"enrolled", "linked", "erased"}
    await harness.send(PATIENT_ID, "/status")
    assert "don't have you as a patient" in fake_api.texts(PATIENT_ID)[-1]


async def test_timezone_by_city_replans_local_times(harness, fake_api):
    await harness.link()
    before = {r.step_key: r.due_at for r in harness.rows(Reminder)}
    await harness.send(PATIENT_ID, "/timezone new york")
    assert "America/New_York" in fake_api.texts(PATIENT_ID)[-1]
    [patient] = harness.rows(Patient)
    assert patient.timezone == "America/New_York"
    after = {r.step_key: r for r in harness.rows(Reminder)}
    sun = after["sun_care"].due_at.astimezone(ZoneInfo("America/New_York"))
    assert (sun.hour, sun.minute) == (9, 0) and after["sun_care"].due_at != before["sun_care"]


async def test_timezone_by_location_and_unknown_city(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/timezone")
    prompt = fake_api.sent_messages(PATIENT_ID)[-1].params
    assert prompt["reply_markup"]["keyboard"][0][0]["request_location"] is True
    await harness.send(PATIENT_ID, "", location=(51.5072, -0.1276))
    assert "Europe/London" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(PATIENT_ID, "/timezone Atlantis")
    assert "couldn't find a time zone" in fake_api.texts(PATIENT_ID)[-1]
    assert harness.rows(Patient)[0].timezone == "Europe/London"


async def test_language_buttons_switch_the_texts(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/language")
    message_id, data = harness.buttons(PATIENT_ID)
    assert data[0] == "lang:en" and "lang:es" in data
    await harness.press(PATIENT_ID, "lang:es", message_id)
    assert harness.rows(Patient)[0].locale == "es"
    await harness.send(PATIENT_ID, "/status")
    assert "Sesión" in fake_api.texts(PATIENT_ID)[-1] or "sesión" in fake_api.texts(PATIENT_ID)[-1]
    await harness.press(PATIENT_ID, "lang:xx", message_id)
    assert harness.rows(Patient)[0].locale == "es"


async def test_help_follows_the_language_the_patient_chose(harness, fake_api):
    await harness.link()  # Telegram says English
    await harness.send(PATIENT_ID, "/language")
    message_id, _data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, "lang:es", message_id)
    await harness.send(PATIENT_ID, "/help", language_code="en")
    text = fake_api.texts(PATIENT_ID)[-1]
    assert text.startswith("Soy el asistente de cuidados") and "<b>Tus comandos</b>" in text


async def test_help_without_a_booking_link_has_no_blank_line(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "/help")
    text = fake_api.texts(PATIENT_ID)[-1]
    assert "\n\n" not in text and "Call +34 600 000 000.\n<b>Your commands</b>" in text


async def test_patient_language_comes_from_telegram_when_staff_did_not_set_it(harness, fake_api):
    await harness.link(language_code="es-ES")
    assert harness.rows(Patient)[0].locale == "es"
