"""The JSON API over real HTTP: keys, enrollment as /enroll does it, idempotent external_id, a patient's timeline."""

from __future__ import annotations

import asyncio
import base64
import re

from sqlmodel import select

from jobs.ops.api_keys import create_key, list_keys, revoke_key
from jobs.storage.models import Invite, Patient, Reminder
from messages.catalog import html_to_plain
from tests.bot.web.conftest import auth
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


def _patients(web_bot) -> list[Patient]:
    return web_bot.rows(Patient)


async def test_enrollment_needs_a_live_key_and_a_refused_call_changes_nothing(web_bot, http, api_key):
    body = {"name": "Anna K"}
    assert (await http.post("/api/v1/enrollments", json=body)).status == 401
    assert (await http.post("/api/v1/enrollments", json=body, headers=auth("ak_" + "x" * 43))).status == 401
    assert (await http.post("/api/v1/enrollments", json=body, headers={"Authorization": api_key})).status == 401
    assert (await http.post("/api/v1/enrollments", json=body, headers={"Authorization": "Basic " + api_key})).status == 401
    web_bot.services.store.call(revoke_key, name="practice-system", now=web_bot.clock())
    response = await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["error"] == "unauthorized"
    assert (await http.get("/api/v1/patients/1", headers=auth(api_key))).status == 401
    assert _patients(web_bot) == []


async def test_enrollment_answers_201_with_a_working_invite_and_qr(web_bot, http, api_key, fake_api):
    response = await http.post("/api/v1/enrollments", headers=auth(api_key), json={
        "name": "Anna K", "session_at": "2026-11-24T15:00:00+01:00", "session": "2/4", "protocol": "microneedling",
        "tz": "Europe/London", "lang": "es", "phone": "+34 600 111 222", "external_id": "crm-77"})
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"patient_id", "status", "created", "invite_url", "qr_png", "expires_at"}
    assert body["created"] is True and body["status"] == "awaiting_link"
    assert base64.b64decode(body["qr_png"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert body["invite_url"].startswith(f"https://t.me/{fake_api.username}?start=")
    assert body["expires_at"] == (web_bot.clock() + web_bot.services.settings.invite_ttl).isoformat()
    (patient,) = _patients(web_bot)
    assert (patient.id, patient.name, patient.timezone, patient.locale, patient.phone, patient.external_id) == (
        body["patient_id"], "Anna K", "Europe/London", "es", "+34600111222", "crm-77")
    # The link works as one made by /enroll does.
    token = body["invite_url"].rpartition("=")[2]
    await web_bot.send(PATIENT_ID, f"/start {token}")
    assert web_bot.rows(Patient)[0].chat_id == PATIENT_ID


async def test_a_bad_field_is_422_with_the_enroll_explanation_and_its_name(web_bot, http, api_key):
    catalog = web_bot.services.catalog

    async def refused(body: dict) -> dict:
        response = await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
        assert response.status == 422, await response.text()
        return await response.json()

    answer = await refused({"name": "Anna", "protocol": "botox"})
    assert answer["field"] == "protocol" and answer["key"] == "enroll_error_unknown_protocol"
    assert answer["message"] == html_to_plain(catalog.bot("en", "enroll_error_unknown_protocol", value="botox",
                                                          protocols=", ".join(sorted(catalog.protocols))))
    assert (await refused({"name": "Anna", "session_at": "2026-11-24 15:00"}))["field"] == "session_at"
    assert (await refused({"name": "Anna", "session_at": "yesterday"}))["key"] == "api_error_session_at"
    assert (await refused({"name": "Anna", "session_at": "2027-01-01T10:00:00+01:00"}))["key"] == "enroll_error_future"
    assert (await refused({"name": "Anna", "session": "5", "series": 3}))["field"] == "session"
    assert (await refused({"name": "Anna", "series": 99}))["field"] == "series"
    assert (await refused({"name": "Anna", "tz": "Mars/Base"}))["field"] == "tz"
    assert (await refused({"name": "Anna", "lang": "xx"}))["field"] == "lang"
    assert (await refused({"name": "Anna", "phone": "12"}))["field"] == "phone"
    assert (await refused({"name": ""}))["field"] == "name"
    assert (await refused({"name": "An\u202ena"}))["field"] == "name"
    assert (await refused({"name": 5}))["key"] == "api_error_type"
    assert (await refused({"name": "Anna", "extrnal_id": "x"}))["field"] == "extrnal_id"
    assert _patients(web_bot) == []


async def test_bad_json_is_400_and_a_large_body_413(web_bot, http, api_key):
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe", b""):
        response = await http.post("/api/v1/enrollments", data=raw, headers=auth(api_key))
        assert response.status == 400, raw
        assert (await response.json())["error"] == "bad_json"
    response = await http.post("/api/v1/enrollments", data=b'{"name": "' + b"a" * 70_000 + b'"}',
                               headers=auth(api_key))
    assert response.status == 413
    assert _patients(web_bot) == []


async def test_a_repeated_external_id_is_the_same_patient_with_a_fresh_invite_until_linked(web_bot, http, api_key):
    body = {"name": "Anna K", "external_id": "crm-1"}
    first = await (await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))).json()
    again = await http.post("/api/v1/enrollments", json={**body, "name": "Someone Else"}, headers=auth(api_key))
    assert again.status == 200
    second = await again.json()
    assert second["patient_id"] == first["patient_id"] and second["created"] is False
    assert second["invite_url"] != first["invite_url"] and second["qr_png"]
    assert [p.name for p in _patients(web_bot)] == ["Anna K"]
    reminders = len(web_bot.rows(Reminder))
    # The patient links with the newest link; a third call has no invite to give.
    await web_bot.send(PATIENT_ID, f"/start {second['invite_url'].rpartition('=')[2]}")
    third = await (await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))).json()
    assert third["patient_id"] == first["patient_id"]
    assert third["invite_url"] is None and third["qr_png"] is None and third["expires_at"] is None
    assert len(web_bot.rows(Reminder)) == reminders and len(_patients(web_bot)) == 1


async def test_an_unlinked_patient_whose_invite_is_used_up_gets_a_usable_one(web_bot, http, api_key):
    body = {"name": "Anna K", "external_id": "crm-2"}
    await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
    web_bot.clock.advance(days=8)  # past INVITE_TTL_DAYS: the first invite has expired
    answer = await (await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))).json()
    await web_bot.send(PATIENT_ID, f"/start {answer['invite_url'].rpartition('=')[2]}")
    assert _patients(web_bot)[0].chat_id == PATIENT_ID
    with web_bot.session() as session:
        assert len(session.exec(select(Invite)).all()) == 2


async def test_two_concurrent_calls_with_one_external_id_make_one_patient(web_bot, http, api_key):
    body = {"name": "Anna K", "external_id": "crm-race"}
    answers = await asyncio.gather(*(http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
                                     for _ in range(4)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200, 200, 200, 201]
    ids = {(await answer.json())["patient_id"] for answer in answers}
    assert len(ids) == 1 and len(_patients(web_bot)) == 1


async def test_a_patient_reads_back_with_status_and_timeline(web_bot, http, api_key):
    created = await (await http.post("/api/v1/enrollments", json={"name": "Anna K", "external_id": "e-9"},
                                     headers=auth(api_key))).json()
    response = await http.get(f"/api/v1/patients/{created['patient_id']}", headers=auth(api_key))
    assert response.status == 200
    patient = await response.json()
    assert patient["status"] == "awaiting_link" and patient["linked"] is False and patient["external_id"] == "e-9"
    assert len(patient["timeline"]) == len(web_bot.rows(Reminder)) > 0
    assert {row["status"] for row in patient["timeline"]} == {"waiting"}
    assert [event["event"] for event in patient["history"]] == ["enrolled"]
    for bad in ("0", "abc", "99999999999", "1e3", "-1", "%C2%B2", "4242"):
        answer = await http.get(f"/api/v1/patients/{bad}", headers=auth(api_key))
        assert answer.status == 404, bad


async def test_api_key_create_list_revoke(web_bot):
    store, now = web_bot.services.store, web_bot.clock()
    key = store.call(create_key, name="booking", now=now)
    assert re.fullmatch(r"ak_[A-Za-z0-9_-]{43}", key)
    from jobs.refusal import Refusal

    try:
        store.call(create_key, name="booking", now=now)
        raise AssertionError("a second key of one name was made")
    except Refusal as exc:
        assert exc.key == "api_key_exists"
    (info,) = store.call(list_keys)
    assert info.name == "booking" and info.revoked_at is None
    assert store.call(revoke_key, name="booking", now=now) is True
    assert store.call(revoke_key, name="booking", now=now) is False
    assert key not in repr(store.call(list_keys))


async def test_called_is_the_name_the_patient_is_greeted_by(web_bot, http, api_key):
    """Issue 19: the API's ``called`` goes through the one reader; the default is the first word of the name."""
    for body in ({"name": "Anna Karenina", "called": "Annie"}, {"name": "Pia Jones"}):
        assert (await http.post("/api/v1/enrollments", headers=auth(api_key), json=body)).status == 201
    assert [(p.name, p.called) for p in _patients(web_bot)] == [("Anna Karenina", "Annie"), ("Pia Jones", "Pia")]
    read = await (await http.get("/api/v1/patients/1", headers=auth(api_key))).json()
    assert (read["name"], read["called"]) == ("Anna Karenina", "Annie")
    refused = await http.post("/api/v1/enrollments", headers=auth(api_key), json={"name": "X", "called": ""})
    assert refused.status == 201  # empty means "the default", as for every optional field
    refused = await http.post("/api/v1/enrollments", headers=auth(api_key), json={"name": "X", "called": "y" * 61})
    assert refused.status == 422 and (await refused.json())["field"] == "called"


async def _links(http, api_key, body: dict, times: int) -> list[str]:
    """``times`` enrollment calls with one body; the invite token of each answer."""
    answers = [await (await http.post("/api/v1/enrollments", json=body, headers=auth(api_key))).json()
               for _ in range(times)]
    return [answer["invite_url"].rpartition("=")[2] for answer in answers]


async def test_an_older_api_link_cannot_take_over_a_linked_patient(web_bot, http, api_key, fake_api):
    first, second, third = await _links(http, api_key, {"name": "Hilda M", "external_id": "crm-h"}, 3)
    await web_bot.send(PATIENT_ID, f"/start {third}")
    (patient,) = _patients(web_bot)
    assert patient.chat_id == PATIENT_ID
    staff_before = len(fake_api.sent_messages(STAFF_ID))
    await web_bot.send(OTHER_ID, f"/start {first}")
    # Nothing moved: the record stays with its patient, the stranger is told no and asked nothing.
    assert _patients(web_bot)[0].chat_id == PATIENT_ID
    (answer,) = fake_api.texts(OTHER_ID)
    assert answer == html_to_plain(web_bot.services.text("en", "start_taken"))
    assert "Hilda" not in answer and not fake_api.sent_messages(OTHER_ID)[-1].params.get("reply_markup")
    await web_bot.send(PATIENT_ID, "/status")
    assert "Session 1 of 3" in fake_api.texts(PATIENT_ID)[-1]
    # Staff hear that a used link was tried, naming their patient and not the stranger.
    alerts = fake_api.texts(STAFF_ID)[staff_before:]
    assert len(alerts) == 1 and f"#{patient.id}" in alerts[0] and str(OTHER_ID) not in alerts[0]
    # The second link is as dead, and so is the third for anyone but its patient.
    await web_bot.send(OTHER_ID, f"/start {second}")
    await web_bot.send(OTHER_ID, f"/start {third}")
    assert _patients(web_bot)[0].chat_id == PATIENT_ID
    assert fake_api.texts(OTHER_ID)[1:] == [answer, answer]


async def test_a_new_invite_retires_every_older_open_one(web_bot, http, api_key, fake_api):
    first, second = await _links(http, api_key, {"name": "Anna K", "external_id": "crm-r"}, 2)
    await web_bot.send(PATIENT_ID, f"/start {first}")
    assert _patients(web_bot)[0].chat_id is None
    assert fake_api.texts(PATIENT_ID)[-1] == html_to_plain(web_bot.services.text("en", "start_expired"))
    await web_bot.send(PATIENT_ID, f"/start {second}")
    assert _patients(web_bot)[0].chat_id == PATIENT_ID


async def test_twelve_concurrent_calls_for_one_external_id_leave_one_live_link(web_bot, http, api_key):
    body = {"name": "Anna K", "external_id": "crm-12"}
    answers = await asyncio.gather(*(http.post("/api/v1/enrollments", json=body, headers=auth(api_key))
                                     for _ in range(12)))
    assert sorted(answer.status for answer in answers) == [200] * 11 + [201]
    now = web_bot.clock()
    live = web_bot.rows(Invite, Invite.used_at.is_(None), Invite.expires_at > now)
    assert len(live) == 1 and len(_patients(web_bot)) == 1


async def test_an_older_link_opened_by_a_chat_that_follows_someone_asks_nothing(web_bot, http, api_key, fake_api):
    await web_bot.link("/enroll Bob B", user_id=OTHER_ID)
    first, second = await _links(http, api_key, {"name": "Hilda M", "external_id": "crm-q"}, 2)
    await web_bot.send(PATIENT_ID, f"/start {second}")
    await web_bot.send(OTHER_ID, f"/start {first}")
    # No "switch to Hilda?" question: the link is refused, and both chats keep their own records.
    assert not fake_api.sent_messages(OTHER_ID)[-1].params.get("reply_markup")
    assert fake_api.texts(OTHER_ID)[-1] == html_to_plain(web_bot.services.text("en", "start_taken"))
    assert {p.name: p.chat_id for p in _patients(web_bot)} == {"Bob B": OTHER_ID, "Hilda M": PATIENT_ID}
    assert "Someone opened an old invite link of <b>Hilda M</b> (#2)" in fake_api.texts(STAFF_ID)[-1]
