"""Every console page and action, as a signed-in staff member: the same functions and words as the chat."""

from __future__ import annotations

import base64
import io
import re

import zxingcpp
from PIL import Image

from jobs.storage.models import Enrollment, Event, InboxItem, Patient
from tests.bot.web.console.conftest import csrf_of, sign_in
from tests.conftest import PATIENT_ID, STAFF_ID


async def _worried_message(bot) -> InboxItem:
    await bot.link()
    await bot.send(PATIENT_ID, "My cheek is hot and swollen")
    (item,) = bot.rows(InboxItem)
    return item


async def test_today_shows_the_inbox_takes_resolves_and_replies(console_bot, web, fake_api, clock):
    item = await _worried_message(console_bot)
    await sign_in(console_bot, web)
    html = await (await web.get("/console/")).text()
    assert f'id="item-{item.id}"' in html and "My cheek is hot and swollen" in html and "Anna K" in html
    assert "Enrolled today (1)" in html
    csrf = await csrf_of(web)
    response = await web.post(f"/console/inbox/{item.id}/take", data={"csrf": csrf}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/console/?notice=inbox_took")
    (item,) = console_bot.rows(InboxItem)
    assert (item.status, item.taken_by, item.taken_by_name) == ("taken", STAFF_ID, "Test")
    page = await (await web.get(response.headers["Location"])).text()
    assert console_bot.services.text("en", "inbox_took", item_id=item.id) in page
    # Taken twice: the same refusal as the chat's, nothing changes.
    again = await web.post(f"/console/inbox/{item.id}/take", data={"csrf": csrf})
    assert again.status == 409
    assert console_bot.services.text("en", "inbox_already_yours", item_id=item.id) in await again.text()
    before = len(fake_api.sent_messages(PATIENT_ID))
    response = await web.post(f"/console/patients/{item.patient_id}/reply",
                              data={"csrf": csrf, "text": "Please call us <now>", "item": str(item.id),
                                    "back": "/console/"})
    assert response.status == 200
    sent = fake_api.sent_messages(PATIENT_ID)[before:]
    header = console_bot.services.text("en", "relay_reply_header")
    assert [call.params["text"] for call in sent] == [f"{header}\nPlease call us &lt;now&gt;"]
    response = await web.post(f"/console/inbox/{item.id}/resolve", data={"csrf": csrf, "note": "called her"})
    assert response.status == 200
    (item,) = console_bot.rows(InboxItem)
    assert (item.status, item.resolved_by, item.note) == ("resolved", STAFF_ID, "called her")
    assert "Nothing is waiting" in await (await web.get("/console/")).text()


async def test_a_reply_to_a_patient_not_linked_is_refused(console_bot, web, fake_api):
    await console_bot.enroll()
    await sign_in(console_bot, web)
    csrf = await csrf_of(web)
    response = await web.post("/console/patients/1/reply", data={"csrf": csrf, "text": "hello"})
    assert response.status == 422
    assert fake_api.sent_messages(PATIENT_ID) == []


async def test_patients_search_ignores_accents_and_case_and_lists_page(console_bot, web):
    await console_bot.enroll("/enroll María José")
    await console_bot.enroll("/enroll Anna K")
    await sign_in(console_bot, web)
    html = await (await web.get("/console/patients", params={"q": "MARIA jose"})).text()
    assert "María José" in html and "Anna K" not in html and "1 patient found" in html
    html = await (await web.get("/console/patients", params={"q": "#2"})).text()
    assert "Anna K" in html and "María José" not in html
    html = await (await web.get("/console/patients", params={"which": "awaiting_link"})).text()
    assert "María José" in html and "Anna K" in html and "2 in all, page 1 of 1" in html
    assert "0 in all" in await (await web.get("/console/patients", params={"which": "active"})).text()
    assert (await web.get("/console/patients", params={"which": "nonsense", "page": "x"})).status == 200


async def test_a_patients_page_shows_the_timeline_and_its_actions_work(console_bot, web, fake_api, clock):
    await console_bot.link()
    clock.advance(days=30)  # the next session is due
    await sign_in(console_bot, web)
    (patient,) = console_bot.rows(Patient)
    html = await (await web.get(f"/console/patients/{patient.id}")).text()
    assert "Anna K" in html and "Session 1 of 3" in html or "1 of 3" in html
    assert (await web.get("/console/patients/999")).status == 404
    assert (await web.get("/console/patients/abc")).status == 404
    csrf = await csrf_of(web, f"/console/patients/{patient.id}")
    # Next session, recorded by this staff member.
    response = await web.post(f"/console/patients/{patient.id}/session", data={"csrf": csrf, "at": "now"})
    assert response.status == 200
    assert len(console_bot.rows(Enrollment)) == 2
    assert any(event.actor_id == STAFF_ID for event in console_bot.rows(Event, Event.kind == "next_session"))
    # Again an hour later: asked to confirm first, nothing recorded.
    clock.advance(hours=1)
    response = await web.post(f"/console/patients/{patient.id}/session", data={"csrf": csrf, "at": "now"})
    assert response.status == 409 and len(console_bot.rows(Enrollment)) == 2
    # Cancel needs the box ticked.
    assert (await web.post(f"/console/patients/{patient.id}/cancel", data={"csrf": csrf})).status == 422
    assert console_bot.rows(Patient)[0].status == "active"
    response = await web.post(f"/console/patients/{patient.id}/cancel", data={"csrf": csrf, "confirm": "yes"})
    assert response.status == 200 and console_bot.rows(Patient)[0].status == "cancelled"


async def test_a_new_invite_shows_a_qr_code_that_opens_the_bot(console_bot, web, fake_api):
    await console_bot.enroll()
    await sign_in(console_bot, web)
    csrf = await csrf_of(web, "/console/patients/1")
    html = await (await web.post("/console/patients/1/invite", data={"csrf": csrf})).text()
    link = _decoded_qr(html)
    assert link.startswith(f"https://t.me/{fake_api.username}?start=") and link in html
    await console_bot.send(PATIENT_ID, f"/start {link.rpartition('=')[2]}")
    assert console_bot.rows(Patient)[0].chat_id == PATIENT_ID


def _decoded_qr(html: str) -> str:
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(match.group(1)))))
    return found.text


async def test_enroll_uses_the_one_reader_and_shows_the_qr(console_bot, web, fake_api):
    await sign_in(console_bot, web)
    csrf = await csrf_of(web, "/console/enroll")
    html = await (await web.get("/console/enroll")).text()
    for field in ("name", "called", "at", "session", "protocol", "lang", "tz", "phone", "external_id"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    refused = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna", "session": "5/3"})
    assert refused.status == 422
    assert 'aria-invalid="true"' in await refused.text()
    refused = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna", "at": "tomorrow-ish"})
    assert refused.status == 422
    refused = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna", "protocol": "botox"})
    catalog = console_bot.services.catalog
    assert catalog.bot("en", "enroll_error_unknown_protocol", value="botox",
                       protocols=", ".join(sorted(catalog.protocols))) in await refused.text()
    assert console_bot.rows(Patient) == []
    response = await web.post("/console/enroll", data={
        "csrf": csrf, "name": "Anna K", "at": "yesterday 17:00", "session": "2/4", "protocol": "microneedling",
        "lang": "es", "tz": "Europe/London", "phone": "+34 600 111 222", "external_id": "crm-9"})
    assert response.status == 201
    html = await response.text()
    (patient,) = console_bot.rows(Patient)
    assert (patient.name, patient.locale, patient.timezone, patient.phone, patient.external_id,
            patient.enrolled_by) == ("Anna K", "es", "Europe/London", "+34600111222", "crm-9", STAFF_ID)
    (enrollment,) = console_bot.rows(Enrollment)
    assert (enrollment.session_number, enrollment.series_length) == (2, 4)
    link = _decoded_qr(html)
    assert link in html and "data-print" in html
    # The same reference again: the same patient, a fresh invite.
    again = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna K", "external_id": "crm-9"})
    assert again.status == 200 and len(console_bot.rows(Patient)) == 1


async def test_enroll_takes_the_called_name_with_the_chats_rule_and_words(console_bot, web, fake_api):
    await sign_in(console_bot, web)
    csrf = await csrf_of(web, "/console/enroll")
    # Too long: /enroll's call= refusal, word for word, the field marked, nobody enrolled.
    refused = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna Karenina", "called": "x" * 80})
    assert refused.status == 422
    html = await refused.text()
    assert "60 characters at most" in html and 'id="called"' in html
    assert re.search(r'<input id="called"[^>]*aria-invalid="true"', html)
    assert console_bot.rows(Patient) == []
    response = await web.post("/console/enroll", data={"csrf": csrf, "name": "Anna Karenina", "called": " Annie "})
    assert response.status == 201
    assert console_bot.services.text("en", "enroll_form_called", called="Annie") in await response.text()
    # Without it, the first word of the name, as in the chat.
    response = await web.post("/console/enroll", data={"csrf": csrf, "name": "María José Ruiz"})
    assert "Called: María" in await response.text()
    assert [(p.name, p.called) for p in console_bot.rows(Patient)] == [("Anna Karenina", "Annie"),
                                                                       ("María José Ruiz", "María")]
    # The patient reads it; staff screens keep the full name.
    link = _decoded_qr(await (await web.post("/console/patients/1/invite", data={"csrf": csrf})).text())
    await console_bot.send(PATIENT_ID, f"/start {link.rpartition('=')[2]}")
    greeting = fake_api.texts(PATIENT_ID)[-1]
    assert "Annie" in greeting and "Karenina" not in greeting
    assert "Anna Karenina" in await (await web.get("/console/patients/1")).text()


async def test_stats_draws_each_chart_with_its_table(console_bot, web):
    await console_bot.link()
    await sign_in(console_bot, web)
    html = await (await web.get("/console/stats")).text()
    assert html.count("<svg") == 11 and html.count("<table") == 11
    assert "Enrollments and links per week" in html and 'role="img"' in html
    assert "Last 56 days" in html
    assert (await web.get("/console/stats", params={"weeks": "2"})).status == 200


async def test_protocols_show_the_plan_with_its_texts_in_any_language(console_bot, web):
    await sign_in(console_bot, web)
    html = await (await web.get("/console/protocols", params={"protocol": "microneedling", "lang": "es",
                                                              "at": "2026-11-20 15:30", "session": "1/3"})).text()
    assert html.count('<li class="card">') >= 5
    assert "Ana" in html  # the sample patient's name in the Spanish texts
    refused = await (await web.get("/console/protocols", params={"at": "whenever"})).text()
    assert 'class="refusal"' in refused


async def test_a_photo_is_fetched_from_telegram_when_shown_and_never_kept(console_bot, web, fake_api):
    from jobs.storage.models import Photo, Reminder

    await console_bot.link()
    (reminder, *_) = console_bot.rows(Reminder)
    with console_bot.session() as session:
        session.add(Photo(reminder_id=reminder.id, patient_id=reminder.patient_id, file_id="patient-photo-1",
                          received_at=console_bot.clock()))
        session.add(Photo(reminder_id=reminder.id, patient_id=reminder.patient_id, file_id="gone-from-telegram",
                          received_at=console_bot.clock()))
        session.commit()
    fake_api.add_file("patient-photo-1", b"\xff\xd8\xff jpeg bytes")
    await sign_in(console_bot, web)
    html = await (await web.get(f"/console/patients/{reminder.patient_id}")).text()
    assert 'data-photo="/console/photos/1"' in html and 'data-photo="/console/photos/2"' in html
    response = await web.get("/console/photos/1")
    assert response.status == 200 and await response.read() == b"\xff\xd8\xff jpeg bytes"
    assert response.headers["Cache-Control"] == "no-store" and response.content_type == "image/jpeg"
    assert [call.params["file_id"] for call in fake_api.calls_to("getFile")] == ["patient-photo-1"]
    assert (await web.get("/console/photos/2")).status == 502
    assert (await web.get("/console/photos/99")).status == 404
    web.session.cookie_jar.clear()
    assert (await web.get("/console/photos/1")).status == 401


async def test_console_actions_are_in_the_audit_trail_as_the_console_and_the_staff_member(console_bot, web):
    from jobs.ops.audit import verify
    from jobs.storage.models import AuditEvent
    from tests.bot.web.console.conftest import init_data, tma
    from tests.conftest import OTHER_ID

    item = await _worried_message(console_bot)
    await sign_in(console_bot, web)
    await web.get(f"/console/patients/{item.patient_id}")
    csrf = await csrf_of(web)
    await web.post(f"/console/patients/{item.patient_id}/reply", data={"csrf": csrf, "text": "Call us",
                                                                        "item": str(item.id)})
    await web.post(f"/console/inbox/{item.id}/resolve", data={"csrf": csrf})
    await web.get("/console/", headers=tma(init_data(console_bot, OTHER_ID)))  # not staff
    console = [(row.action, row.outcome, row.actor_id, row.patient_id) for row in console_bot.rows(AuditEvent)
               if row.face == "console"]
    assert console == [("sign_in", "success", STAFF_ID, None), ("view_patient", "success", STAFF_ID, item.patient_id),
                       # the reply takes the open item: part of the reply, as in the chat, not recorded again
                       ("reply", "success", STAFF_ID, item.patient_id),
                       ("resolve", "success", STAFF_ID, item.patient_id), ("access", "refused", OTHER_ID, None)]
    assert console_bot.rows(InboxItem)[0].resolved_by == STAFF_ID
    assert console_bot.services.store.call(verify).broken_at is None


async def test_before_and_after_shows_the_first_and_the_last_photo_side_by_side_only_with_consent(console_bot, web,
                                                                                                 clock):
    from datetime import timedelta

    from jobs.storage.models import Photo, PhotoConsent, Reminder

    await console_bot.link()
    (reminder, *_) = console_bot.rows(Reminder)
    with console_bot.session() as session:
        for n, file_id in enumerate(("day3", "day30", "day90")):
            session.add(Photo(reminder_id=reminder.id, patient_id=reminder.patient_id, file_id=file_id,
                              received_at=clock.now + timedelta(days=n)))
        session.commit()
    await sign_in(console_bot, web)
    page = f"/console/patients/{reminder.patient_id}"
    html = await (await web.get(page)).text()
    assert "Photos to compare before and after: not asked yet." in html
    assert 'class="pair"' not in html and "Before and after" not in html  # no consent: no comparison
    with console_bot.session() as session:
        session.add(PhotoConsent(patient_id=reminder.patient_id, reminder_id=reminder.id, asked_at=clock.now,
                                 given=True, answered_at=clock.now))
        session.commit()
    html = await (await web.get(page)).text()
    assert "Photos to compare before and after: agreed" in html
    assert "Before and after: the first and the latest photo" in html
    pair = html[html.index('<div class="pair">'):]
    pair = pair[:pair.index("</div>")]
    assert re.findall(r'data-photo="/console/photos/(\d+)"', pair) == ["1", "3"]
    assert "first photo" in pair and "latest photo" in pair and "<b>Anna K</b>" in pair
    # Withdrawn: the pair is gone again.
    with console_bot.session() as session:
        consent = session.get(PhotoConsent, reminder.patient_id)
        consent.given = False
        session.add(consent)
        session.commit()
    html = await (await web.get(page)).text()
    assert 'class="pair"' not in html and "Photos to compare before and after: declined" in html


def _enrolled_this_week(html: str) -> list[str]:
    """The last row (this week) of the enrollments chart's table: enrolled, linked."""
    figure = html.split("<h2>Enrollments and links per week</h2>", 1)[1].split("</figure>", 1)[0]
    last = re.findall(r"<tr>(.*?)</tr>", figure, re.S)[-1]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", last, re.S)]


async def test_stats_are_counted_once_a_minute_and_again_after_a_console_action(console_bot, web, clock):
    await console_bot.link()
    await sign_in(console_bot, web)
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["1", "1"]
    # From the chat: the page keeps the figures it counted for up to a minute (stats_cache.FRESH), then counts again.
    await console_bot.link("/enroll Ben B", user_id=5001)
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["1", "1"]
    clock.advance(seconds=59)
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["1", "1"]
    # Another number of weeks is counted on its own, now.
    assert _enrolled_this_week(await (await web.get("/console/stats", params={"weeks": "2"})).text())[-2:] == ["2", "2"]
    clock.advance(seconds=1)
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["2", "2"]
    # From the console: any staff action forgets the figures, the next look counts at once.
    csrf = await csrf_of(web, "/console/enroll")
    assert (await web.post("/console/enroll", data={"csrf": csrf, "name": "Cleo C"})).status == 201
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["3", "2"]
    # A refused POST (no CSRF token) changes nothing and forgets nothing.
    await console_bot.link("/enroll Dora D", user_id=5002)
    assert (await web.post("/console/enroll", data={"name": "Eve E"})).status == 403
    assert _enrolled_this_week(await (await web.get("/console/stats")).text())[-2:] == ["3", "2"]
