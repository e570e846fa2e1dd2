"""Every bad input on the HTTP side is a 4xx that changes nothing, never a 500: JSON nested past any
parser's depth, times at the ends of the calendar. On SQLite and PostgreSQL (AFTERCARE_TEST_DB)."""

from __future__ import annotations

import json
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


def _shapes(rng, patient_id: int) -> list[tuple[str, bytes]]:
    """Seeded fuzz bodies of every shape issue 20 found: JSON nested to a random depth (arrays, objects,
    mixed), times in any year from 1 to 9999 with any offset, NULs, lone surrogates and control
    characters in the text fields; (path, body) pairs for the API and the booking hook."""
    def nested(depth: int) -> bytes:
        opens = b"".join(rng.choice([b"[", b'{"a":']) for _ in range(depth))
        closes = b"".join(b"]" if piece == ord("[") else b"}" for piece in reversed(
            [chunk for chunk in opens if chunk in (ord("["), ord("{"))]))
        return opens + b"1" + closes

    def when() -> str:
        year = rng.choice([1, 2, 9998, 9999, rng.randint(1, 9999)])
        offset = rng.choice(["+00:00", "+14:00", "-12:00", "Z", "+23:59", ""])
        return f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00{offset}"

    def text() -> str:
        return "".join(rng.choice(["a", "\x00", "\\ud800", "\u202e", "=", "\x1b", "é", " "])
                       for _ in range(rng.randint(0, 12)))

    bodies = []
    for _ in range(40):
        kind = rng.randrange(3)
        if kind == 0:
            body = nested(rng.choice([1, 50, 999, 1_001, 5_000, 20_000]))
            bodies += [("/api/v1/enrollments", body), ("/hooks/booking", body)]
        elif kind == 1:
            enrollment = {"name": text() or "Anna", "session_at": when(), "external_id": text()}
            bodies.append(("/api/v1/enrollments", json.dumps(enrollment).replace("\\\\ud800", "\\ud800").encode()))
        else:
            booking = {"event": rng.choice(["booked", "rescheduled", "cancelled"]), "id": text() or "b",
                       "patient_id": patient_id, "start": when()}
            bodies.append(("/hooks/booking", json.dumps(booking).encode()))
    return bodies


async def test_fuzzed_bodies_of_these_shapes_are_never_a_500(web_bot, http, api_key, caplog):
    """The fuzz for the HTTP side: whatever the shape, a 2xx or a 4xx, never a 500 or an ERROR line."""
    import random

    from tests.bot.web.conftest import signed

    caplog.set_level(logging.INFO)
    patient = await _linked_patient(web_bot)
    statuses = []
    for path, body in _shapes(random.Random(20), patient.id):
        raw, digest = signed(body)
        headers = {**auth(api_key), "X-Aftercare-Signature": f"sha256={digest}", "Content-Type": "application/json"}
        response = await http.post(path, data=raw, headers=headers)
        statuses.append(response.status)
        assert response.status < 500, (path, body[:200], await response.text())
    assert {400, 422} <= set(statuses)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
