"""Signed booking hooks over real HTTP: our own JSON and Cal.com's, replays, the .ics parsed back."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import icalendar

from jobs.care.bookings import evening_before
from jobs.patients.reminder_moves import CancelReason
from jobs.storage.models import Booking, BookingEvent, Patient, Reminder
from jobs.storage.states import ReminderStatus
from messages.protocol import KIND_APPOINTMENT, KIND_REBOOK
from tests.bot.web.conftest import CALCOM_SECRET, signed
from tests.conftest import PATIENT_ID, STAFF_ID

START = "2026-12-29T10:00:00+01:00"
MADRID = ZoneInfo("Europe/Madrid")


async def _hook(http, body, *, secret=None, signature=None, path="/hooks/booking"):
    raw, digest = signed(body, secret) if secret else signed(body)
    header = "X-Cal-Signature-256" if path == "/hooks/calcom" else "X-Aftercare-Signature"
    value = digest if path == "/hooks/calcom" else f"sha256={digest}"
    return await http.post(path, data=raw, headers={header: signature if signature is not None else value,
                                                    "Content-Type": "application/json"})


def _rebooks(web_bot) -> list[Reminder]:
    return web_bot.rows(Reminder, Reminder.kind == KIND_REBOOK)


def _appointments(web_bot) -> list[Reminder]:
    return web_bot.rows(Reminder, Reminder.kind == KIND_APPOINTMENT)


async def _linked_patient(web_bot) -> Patient:
    await web_bot.link("/enroll Anna K session=1/3", language_code="en")
    (patient,) = web_bot.rows(Patient)
    return patient


async def test_a_bad_signature_is_401_and_changes_nothing(web_bot, http):
    patient = await _linked_patient(web_bot)
    body = {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": START}
    raw, digest = signed(body)
    for header in ({}, {"X-Aftercare-Signature": digest}, {"X-Aftercare-Signature": "sha256=" + "0" * 64},
                   {"X-Aftercare-Signature": "sha256=" + signed(body, "another-secret-0123")[1]}):
        response = await http.post("/hooks/booking", data=raw, headers=header)
        assert response.status == 401
    tampered = raw.replace(b"b-1", b"b-2")
    assert (await http.post("/hooks/booking", data=tampered, headers={"X-Aftercare-Signature": f"sha256={digest}"})
            ).status == 401
    assert web_bot.rows(Booking) == [] and web_bot.rows(BookingEvent) == []
    assert all(row.status in ("pending", "sent", "skipped") for row in _rebooks(web_bot))


async def test_booked_stops_rebooking_confirms_with_an_ics_and_plans_the_evening_before(web_bot, http, fake_api):
    patient = await _linked_patient(web_bot)
    open_rebooks = [row for row in _rebooks(web_bot) if row.status == ReminderStatus.PENDING]
    assert open_rebooks
    response = await _hook(http, {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": START})
    assert response.status == 200
    answer = await response.json()
    assert answer["changed"] is True and answer["event"] == "booked" and answer["patient_id"] == patient.id
    assert {(row.status, row.outcome) for row in _rebooks(web_bot)} == {
        ("cancelled", CancelReason.BOOKED_ELSEWHERE.value)}
    (reminder,) = _appointments(web_bot)
    start = datetime.fromisoformat(START)
    assert reminder.status == ReminderStatus.PENDING and reminder.expires_at == start
    assert reminder.due_at == evening_before(start, MADRID) == datetime(2026, 12, 28, 18, 0, tzinfo=MADRID)
    # The patient got the confirmation with a calendar file; it parses back, in the patient's zone.
    (call,) = fake_api.calls_to("sendDocument")
    assert call.params["chat_id"] == PATIENT_ID and "Tue, 29 December 2026" in call.params["caption"]
    calendar = icalendar.Calendar.from_ical(call.files["document"])
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == start and str(event["dtstart"].params["TZID"]) == "Europe/Madrid"
    assert calendar.walk("VTIMEZONE") and str(event["status"]) == "CONFIRMED"
    # Staff were told (by the staff outbox's job), and the patient's card shows the planned reminder by its name.
    await web_bot.send_notices()
    assert any("booked a session" in text for text in fake_api.texts(STAFF_ID))
    await web_bot.send(STAFF_ID, f"/patient {patient.id}")
    assert "Booked session: the evening before" in fake_api.texts(STAFF_ID)[-1]
    # The evening before, the reminder goes out like any other, and survives a restart until then.
    await web_bot.restart()
    web_bot.clock.now = datetime(2026, 12, 28, 18, 1, tzinfo=MADRID)
    await web_bot.dispatch()
    assert any("your session at" in text and "Tue 29 December" in text for text in fake_api.texts(PATIENT_ID))


async def test_the_same_event_twice_changes_nothing(web_bot, http, fake_api):
    patient = await _linked_patient(web_bot)
    body = {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": START}
    first = await (await _hook(http, body)).json()
    second = await _hook(http, body)
    assert second.status == 200 and (await second.json()) == {**first, "changed": False, "replayed": True,
                                                              "patient_id": None, "status": None,
                                                              "reminder_at": None}
    # Another body saying what is already true (same booking, same time) changes nothing either.
    third = await (await _hook(http, {**body, "note": "resent"})).json()
    assert third["changed"] is False
    assert len(web_bot.rows(Booking)) == 1 and len(_appointments(web_bot)) == 1
    assert len(fake_api.calls_to("sendDocument")) == 1


async def test_rescheduled_moves_the_reminder_and_cancelled_brings_the_rebooking_back(web_bot, http, fake_api):
    patient = await _linked_patient(web_bot)
    await _hook(http, {"event": "booked", "id": "b-1", "external_id": None, "patient_id": patient.id, "start": START})
    moved = await (await _hook(http, {"event": "rescheduled", "id": "b-1", "patient_id": patient.id,
                                      "start": "2027-01-05T17:30:00+01:00"})).json()
    assert moved["event"] == "rescheduled" and moved["changed"] is True
    appointments = sorted(_appointments(web_bot), key=lambda row: row.id)
    assert [(row.status, row.outcome) for row in appointments] == [
        ("cancelled", CancelReason.BOOKING_CHANGED.value), ("pending", None)]
    assert appointments[1].due_at == datetime(2027, 1, 4, 18, 0, tzinfo=MADRID)
    assert len(fake_api.calls_to("sendDocument")) == 2
    ics = icalendar.Calendar.from_ical(fake_api.calls_to("sendDocument")[-1].files["document"])
    assert ics.walk("VEVENT")[0].decoded("dtstart") == datetime(2027, 1, 5, 17, 30, tzinfo=MADRID)
    cancelled = await (await _hook(http, {"event": "cancelled", "id": "b-1", "patient_id": patient.id})).json()
    assert cancelled["changed"] is True and cancelled["status"] == "cancelled"
    assert all(row.status == "cancelled" for row in _appointments(web_bot))
    # The rebooking reminders whose window is still open are back, as they were.
    assert {row.status for row in _rebooks(web_bot)} == {"pending"}
    await web_bot.send_notices()
    assert any("cancelled their session" in text for text in fake_api.texts(STAFF_ID))
    assert any("has been cancelled" in text for text in fake_api.texts(PATIENT_ID))


async def test_cancelled_after_the_window_closed_brings_nothing_back(web_bot, http):
    patient = await _linked_patient(web_bot)
    await _hook(http, {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": "2027-02-01T10:00:00+01:00"})
    web_bot.clock.now = datetime(2027, 1, 20, 12, 0, tzinfo=MADRID)  # both rebooking windows are over
    await _hook(http, {"event": "cancelled", "id": "b-1", "patient_id": patient.id})
    assert {row.status for row in _rebooks(web_bot)} == {"cancelled"}


async def test_an_unknown_patient_is_404_and_bad_fields_422(web_bot, http):
    assert (await _hook(http, {"event": "booked", "id": "b", "patient_id": 4242, "start": START})).status == 404
    assert (await _hook(http, {"event": "booked", "id": "b", "external_id": "nobody", "start": START})).status == 404
    for body, field in (({"event": "moved", "id": "b", "patient_id": 1, "start": START}, "event"),
                        ({"event": "booked", "patient_id": 1, "start": START}, "id"),
                        ({"event": "booked", "id": "b", "start": START}, "patient_id"),
                        ({"event": "booked", "id": "b", "patient_id": 1, "start": "2026-12-29 10:00"}, "start"),
                        ({"event": "booked", "id": "b", "patient_id": True, "start": START}, "patient_id")):
        response = await _hook(http, body)
        assert response.status == 422 and (await response.json())["field"] == field
    raw = b"{nope"
    assert (await http.post("/hooks/booking", data=raw, headers={"X-Aftercare-Signature": "sha256=" + signed(raw)[1]})
            ).status == 400
    assert web_bot.rows(Booking) == []


def _calcom(trigger: str, uid: str, start: str | None, reference: str | None, **extra) -> dict:
    payload = {"uid": uid, "bookingId": 901, "title": "Session between Clínica Sol and Anna", "status": "ACCEPTED",
               "startTime": start, "endTime": None, "organizer": {"name": "Clínica Sol", "timeZone": "Europe/Madrid"},
               "attendees": [{"name": "Anna K", "email": "anna@example.com", "timeZone": "Europe/Madrid"}],
               "metadata": {"aftercare": reference} if reference else {}, **extra}
    return {"triggerEvent": trigger, "createdAt": "2026-11-24T14:40:00.000Z", "payload": payload}


async def test_calcom_bookings_find_the_patient_by_the_reference_their_link_carries(web_bot, http, fake_api):
    patient = await _linked_patient(web_bot)
    # The rebooking reminder's link carries the patient's reference as Cal.com booking metadata.
    web_bot.clock.set_local(28, 10, 1)
    await web_bot.dispatch()
    assert any(f"https://cal.com/clinica-sol/session?metadata[aftercare]={patient.booking_ref}" in text
               for text in fake_api.texts(PATIENT_ID))
    created = _calcom("BOOKING_CREATED", "uid-1", "2026-12-29T09:00:00Z", patient.booking_ref)
    response = await _hook(http, created, secret=CALCOM_SECRET, path="/hooks/calcom")
    assert response.status == 200 and (await response.json())["changed"] is True
    (booking,) = web_bot.rows(Booking)
    assert (booking.source, booking.booking_key, booking.patient_id) == ("calcom", "uid-1", patient.id)
    assert {row.status for row in _rebooks(web_bot) if row.status != ReminderStatus.SENT} <= {ReminderStatus.CANCELLED}
    # Cal.com gives the moved booking a new uid and names the old one.
    moved = _calcom("BOOKING_RESCHEDULED", "uid-2", "2027-01-04T16:00:00Z", patient.booking_ref,
                    rescheduleUid="uid-1")
    assert (await (await _hook(http, moved, secret=CALCOM_SECRET, path="/hooks/calcom")).json())["event"] == \
        "rescheduled"
    (booking,) = web_bot.rows(Booking)
    assert booking.booking_key == "uid-2" and booking.start_at == datetime(2027, 1, 4, 16, 0, tzinfo=ZoneInfo("UTC"))
    cancelled = _calcom("BOOKING_CANCELLED", "uid-2", "2027-01-04T16:00:00Z", patient.booking_ref)
    assert (await (await _hook(http, cancelled, secret=CALCOM_SECRET, path="/hooks/calcom")).json())["status"] == \
        "cancelled"


async def test_calcom_signature_other_triggers_and_strangers(web_bot, http):
    patient = await _linked_patient(web_bot)
    created = _calcom("BOOKING_CREATED", "uid-1", "2026-12-29T09:00:00Z", patient.booking_ref)
    assert (await _hook(http, created, secret="wrong-secret-0123456789", path="/hooks/calcom")).status == 401
    # Aftercare's own signature format is not Cal.com's.
    raw, digest = signed(created, CALCOM_SECRET)
    assert (await http.post("/hooks/calcom", data=raw, headers={"X-Cal-Signature-256": f"sha256={digest}"})
            ).status == 401
    ping = {"triggerEvent": "PING", "createdAt": "2026-11-24T14:40:00.000Z", "payload": {}}
    assert (await (await _hook(http, ping, secret=CALCOM_SECRET, path="/hooks/calcom")).json())["changed"] is False
    stranger = _calcom("BOOKING_CREATED", "uid-9", "2026-12-29T09:00:00Z", None)
    answer = await _hook(http, stranger, secret=CALCOM_SECRET, path="/hooks/calcom")
    assert answer.status == 200 and "ignored" in await answer.json()
    forged = _calcom("BOOKING_CREATED", "uid-8", "2026-12-29T09:00:00Z", "not-a-reference")
    assert (await _hook(http, forged, secret=CALCOM_SECRET, path="/hooks/calcom")).status == 404
    assert web_bot.rows(Booking) == []


async def test_a_hook_without_its_secret_is_not_there(fake_api, database_url, clock):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web.app import build_web_app
    from tests.conftest import BotHarness, bot_env

    bot = await BotHarness(fake_api, bot_env(fake_api, database_url), clock).start()
    client = TestClient(TestServer(build_web_app(bot.services, bot.app.bot), host="127.0.0.1"))
    await client.start_server()
    try:
        raw = json.dumps({"event": "booked"}).encode()
        assert (await client.post("/hooks/booking", data=raw)).status == 404
        assert (await client.post("/hooks/calcom", data=raw)).status == 404
    finally:
        await client.close()
        await bot.stop()


def test_only_a_calcom_booking_page_carries_the_reference():
    from jobs.dispatch import ClinicInfo

    plain = ClinicInfo("Clínica Sol", "+34", "https://clinic.example/book")
    assert plain.booking_link("ref123") == "https://clinic.example/book"
    calcom = ClinicInfo("Clínica Sol", "+34", "https://cal.com/sol/session?layout=month", calcom=True)
    assert calcom.booking_link("ref123") == "https://cal.com/sol/session?layout=month&metadata[aftercare]=ref123"
    assert calcom.booking_link(None) == "https://cal.com/sol/session?layout=month"  # an erased patient: none


async def test_the_same_call_three_times_at_once_is_applied_once(web_bot, http, fake_api):
    import asyncio

    patient = await _linked_patient(web_bot)
    body = {"event": "booked", "id": "b-7", "patient_id": patient.id, "start": START}
    answers = await asyncio.gather(*(_hook(http, body) for _ in range(3)))
    assert [answer.status for answer in answers] == [200, 200, 200]
    changed = [(await answer.json())["changed"] for answer in answers]
    assert sorted(changed) == [False, False, True]
    assert len(web_bot.rows(Booking)) == 1 and len(web_bot.rows(BookingEvent)) == 1
    assert len(_appointments(web_bot)) == 1 and len(fake_api.calls_to("sendDocument")) == 1


async def test_the_calendar_file_has_plain_text(fake_api, database_url, clock):
    """A clinic called "Skin & Co" is "Skin & Co" in the calendar, not its HTML escape."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web.app import build_web_app
    from tests.bot.web.conftest import BOOKING_SECRET
    from tests.conftest import BotHarness, bot_env

    env = bot_env(fake_api, database_url, BOOKING_WEBHOOK_SECRET=BOOKING_SECRET, CLINIC_NAME="Skin & Co <Derm>")
    bot = await BotHarness(fake_api, env, clock).start()
    try:
        async with TestClient(TestServer(build_web_app(bot.services, bot.app.bot), host="127.0.0.1")) as http:
            patient = await _linked_patient(bot)
            response = await _hook(http, {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": START})
            assert response.status == 200
    finally:
        await bot.stop()
    raw = fake_api.calls_to("sendDocument")[-1].files["document"]
    event = icalendar.Calendar.from_ical(raw).walk("VEVENT")[0]
    assert str(event["summary"]) == "Session at Skin & Co <Derm>"
    assert str(event["location"]) == "Skin & Co <Derm>"
    assert "&amp;" not in raw.decode() and "&lt;" not in raw.decode()
