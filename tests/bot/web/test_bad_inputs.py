"""Every bad input on the HTTP side is a 4xx that changes nothing, never a 500: JSON nested past any
parser's depth, times at the ends of the calendar. On SQLite and PostgreSQL (AFTERCARE_TEST_DB)."""

from __future__ import annotations

import logging

import pytest

from jobs.storage.models import Booking, BookingEvent, Patient
from tests.bot.web.conftest import auth
from tests.bot.web.test_hooks import _hook, _linked_patient

# 20,000 levels in 40 kB: under the body limit, far past Python's recursion limit.
NESTED = b"[" * 20_000 + b"]" * 20_000
NESTED_OBJECT = b'{"a":' * 8_000 + b"1" + b"}" * 8_000


@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("path", ["/api/v1/enrollments", "/hooks/booking"])
async def test_json_nested_past_any_depth_is_a_400(web_bot, http, api_key, caplog, body, path):
    from tests.bot.web.conftest import signed

    caplog.set_level(logging.INFO)
    raw, digest = signed(body)
    headers = {**auth(api_key), "X-Aftercare-Signature": f"sha256={digest}", "Content-Type": "application/json"}
    response = await http.post(path, data=raw, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"] == "bad_json"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+00:00", "0001-01-01T10:00:00+14:00",
                                   "9999-12-31T23:59:59-12:00", "9999-12-31T10:00:00+00:00"])
async def test_a_booking_at_the_ends_of_the_calendar_is_a_422(web_bot, http, caplog, start):
    caplog.set_level(logging.INFO)
    patient = await _linked_patient(web_bot)
    response = await _hook(http, {"event": "booked", "id": "b-1", "patient_id": patient.id, "start": start})
    assert response.status == 422, await response.text()
    assert (await response.json())["field"] == "start"
    assert web_bot.rows(Booking) == [] and web_bot.rows(BookingEvent) == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("session_at", ["0001-01-01T00:00:00+00:00", "9999-12-31T10:00:00+00:00"])
async def test_an_enrollment_at_the_ends_of_the_calendar_is_a_422(web_bot, http, api_key, session_at):
    response = await http.post("/api/v1/enrollments", json={"name": "Anna K", "session_at": session_at},
                               headers=auth(api_key))
    assert response.status == 422, await response.text()
    assert (await response.json())["field"] == "session_at"
    assert web_bot.rows(Patient) == []


async def test_a_calcom_booking_in_year_9999_is_a_422(web_bot, http):
    from tests.bot.web.conftest import CALCOM_SECRET
    from tests.bot.web.test_hooks import _calcom

    patient = await _linked_patient(web_bot)
    created = _calcom("BOOKING_CREATED", "uid-1", "9999-12-31T23:59:59Z", patient.booking_ref)
    response = await _hook(http, created, secret=CALCOM_SECRET, path="/hooks/calcom")
    assert response.status == 422 and (await response.json())["field"] == "payload.startTime"
    assert web_bot.rows(Booking) == []


async def test_telegrams_webhook_answers_nested_json_with_a_400(web_bot):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.intake import INTAKE_KEY

    app = web_bot.app.bot_data[INTAKE_KEY].webhook_app(path="/tg", secret="s" * 16)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.post("/tg", data=NESTED, headers={"X-Telegram-Bot-Api-Secret-Token": "s" * 16})
        assert response.status == 400
