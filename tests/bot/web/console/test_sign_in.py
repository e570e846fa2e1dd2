"""Getting into the console: the one-time link from /console, the session cookie, initData, CSRF, headers."""

from __future__ import annotations

import pytest

from bot.web.console.identity import COOKIE, check_init_data
from bot.web.console.security import CONTENT_SECURITY_POLICY
from jobs.staff.membership import create_staff_invite
from jobs.storage.models import ConsoleLogin, ConsoleSession
from tests.bot.web.console.conftest import csrf_of, init_data, login_link, sign_in, tma
from tests.conftest import OTHER_ID, STAFF_ID


async def test_console_gives_staff_a_link_that_signs_in_once(console_bot, web, fake_api):
    path = await login_link(console_bot)
    reply = fake_api.sent_messages(STAFF_ID)[-1]
    assert reply.params["text"].startswith("Your sign-in link")
    assert "http://127.0.0.1:8089/console/login/" in reply.params["text"]
    # Telegram's servers must not open the link for a preview.
    assert "is_disabled" in str(reply.params.get("link_preview_options"))
    token = path.rpartition("/")[2]
    (login,) = console_bot.rows(ConsoleLogin)
    assert login.token_hash != token and token not in login.token_hash  # only a hash is kept
    assert (await web.get("/console/")).status == 401
    response = await web.get(path)
    assert response.status == 200
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert cookie["path"] == "/console"
    assert int(cookie["max-age"]) == 12 * 3600
    (session,) = console_bot.rows(ConsoleSession)
    assert session.user_id == STAFF_ID and cookie.value not in session.token_hash
    assert (await web.get("/console/")).status == 200
    # Used once: a second opening (even by someone else) is refused and makes no session.
    web.session.cookie_jar.clear()
    again = await web.get(path)
    assert again.status == 403 and COOKIE not in again.cookies
    assert len(console_bot.rows(ConsoleSession)) == 1


async def test_an_expired_link_is_refused(console_bot, web, clock):
    path = await login_link(console_bot)
    clock.advance(minutes=10, seconds=1)
    assert (await web.get(path)).status == 403
    assert (await web.get("/console/")).status == 401
    assert console_bot.rows(ConsoleSession) == []


async def test_a_made_up_link_is_refused(console_bot, web):
    assert (await web.get("/console/login/" + "A" * 43)).status == 403
    assert (await web.get("/console/login/not-a-token")).status == 403


async def test_non_staff_get_the_usual_refusal_and_no_link(console_bot, web, fake_api):
    await console_bot.send(OTHER_ID, "/console")
    (reply,) = fake_api.sent_messages(OTHER_ID)
    assert "/console/login/" not in reply.params["text"]
    assert reply.params["text"] == console_bot.services.text("en", "not_staff", user_id=OTHER_ID)
    assert console_bot.rows(ConsoleLogin) == []


async def test_console_in_a_group_is_refused(console_bot, fake_api):
    await console_bot.send(STAFF_ID, "/console", chat_id=-100555, chat_type="supergroup")
    assert all("/console/login/" not in text for text in fake_api.texts())


async def test_sessions_last_console_session_hours(console_bot, web, clock):
    await sign_in(console_bot, web)
    clock.advance(hours=11, minutes=59)
    assert (await web.get("/console/")).status == 200
    clock.advance(minutes=2)
    assert (await web.get("/console/")).status == 401


async def test_sign_out_ends_the_session_where_it_is_kept(console_bot, web):
    await sign_in(console_bot, web)
    cookie = web.session.cookie_jar.filter_cookies(web.make_url("/console/"))[COOKIE].value
    csrf = await csrf_of(web)
    response = await web.post("/console/logout", data={"csrf": csrf})
    assert response.status == 200 and "signed out" in await response.text()
    assert console_bot.rows(ConsoleSession) == []
    # The old cookie, kept by someone, opens nothing.
    web.session.cookie_jar.update_cookies({COOKIE: cookie}, web.make_url("/console/"))
    assert (await web.get("/console/")).status == 401


async def test_staff_removed_lose_their_session(console_bot, web, fake_api):
    # An invited staff member (not an admin) signs in, then an admin removes them.
    payload = console_bot.services.store.call(create_staff_invite, created_by=STAFF_ID, now=console_bot.clock(),
                                              ttl=console_bot.services.settings.invite_ttl)
    await console_bot.send(OTHER_ID, f"/start {payload}")
    await sign_in(console_bot, web, OTHER_ID)
    assert (await web.get("/console/")).status == 200
    await console_bot.send(STAFF_ID, f"/removestaff {OTHER_ID}")
    assert console_bot.rows(ConsoleSession) == []
    assert (await web.get("/console/")).status == 401


async def test_a_session_of_someone_no_longer_staff_ends_at_their_next_request(console_bot, web):
    payload = console_bot.services.store.call(create_staff_invite, created_by=STAFF_ID, now=console_bot.clock(),
                                              ttl=console_bot.services.settings.invite_ttl)
    await console_bot.send(OTHER_ID, f"/start {payload}")
    await sign_in(console_bot, web, OTHER_ID)
    from jobs.storage.models import StaffMember

    with console_bot.session() as session:  # removed behind the bot's back (another instance, a restore)
        session.delete(session.get(StaffMember, OTHER_ID))
        session.commit()
    assert (await web.get("/console/")).status == 401
    assert console_bot.rows(ConsoleSession) == []


# --------------------------------------------------------------------------- the Mini App's initData


async def test_init_data_lets_staff_in_on_every_request(console_bot, web):
    data = init_data(console_bot)
    for path in ("/console/", "/console/patients", "/console/enroll", "/console/stats", "/console/protocols",
                 "/console/audit"):
        response = await web.get(path, headers=tma(data))
        assert response.status == 200, path
        assert COOKIE not in response.cookies  # nothing relies on a cookie there
    assert (await web.get("/console/")).status == 401  # the next request without it: not in


async def test_forged_stale_foreign_or_missing_init_data_is_refused(console_bot, web, clock):
    good = init_data(console_bot)
    forged = good.replace("Marta", "Mart4")
    assert (await web.get("/console/", headers=tma(forged))).status == 401
    wrong_key = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    assert (await web.get("/console/", headers=tma(wrong_key))).status == 401
    stale = init_data(console_bot, signed_at=clock().timestamp() - 24 * 3600 - 1)
    assert (await web.get("/console/", headers=tma(stale))).status == 401
    day_old = init_data(console_bot, signed_at=clock().timestamp() - 24 * 3600 + 60)
    assert (await web.get("/console/", headers=tma(day_old))).status == 200
    assert (await web.get("/console/", headers=tma(init_data(console_bot, OTHER_ID)))).status == 401
    assert (await web.get("/console/", headers={"Authorization": "tma "})).status == 401
    assert (await web.get("/console/", headers={"Authorization": "Bearer " + good})).status == 401


def test_init_data_check_follows_telegrams_rules():
    token = "123456:" + "A" * 35
    from datetime import UTC, datetime

    from bot.web.console.identity import sign_init_data

    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    signed = sign_init_data({"auth_date": str(int(now.timestamp())), "user": '{"id":7,"first_name":"A"}',
                             "signature": "abc"}, bot_token=token)
    assert check_init_data(signed, bot_token=token, now=now) == {"id": 7, "first_name": "A"}
    assert check_init_data(signed, bot_token="123456:" + "B" * 35, now=now) is None
    assert check_init_data(signed + "&hash=00", bot_token=token, now=now) is None  # a repeated key
    no_user = sign_init_data({"auth_date": str(int(now.timestamp()))}, bot_token=token)
    assert check_init_data(no_user, bot_token=token, now=now) is None
    bool_id = sign_init_data({"auth_date": str(int(now.timestamp())), "user": '{"id":true}'}, bot_token=token)
    assert check_init_data(bool_id, bot_token=token, now=now) is None


# --------------------------------------------------------------------------- CSRF and headers


async def test_every_post_needs_the_csrf_token(console_bot, web):
    await sign_in(console_bot, web)
    for path in ("/console/enroll", "/console/logout", "/console/inbox/1/take", "/console/patients/1/cancel"):
        response = await web.post(path, data={"name": "Anna K", "confirm": "yes"})
        assert response.status == 403, path
        assert (await web.post(path, data={"name": "Anna K", "csrf": "0" * 40})).status == 403
    assert console_bot.rows(ConsoleSession)  # the logout without a token did nothing
    from jobs.storage.models import Patient

    assert console_bot.rows(Patient) == []
    # The Mini App's token is bound to its user, not to a cookie.
    data = init_data(console_bot)
    csrf = await csrf_of(web, "/console/enroll", headers=tma(data))
    web.session.cookie_jar.clear()
    response = await web.post("/console/enroll", data={"name": "Anna K", "csrf": csrf}, headers=tma(data))
    assert response.status == 201
    other = await csrf_of(web, "/console/enroll", headers=tma(init_data(console_bot)))
    assert other == csrf


async def test_every_console_answer_carries_the_security_headers(console_bot, web):
    await sign_in(console_bot, web)
    for path in ("/console/", "/console/app", "/console/login/nope", "/console/static/htmx.min.js",
                 "/console/patients/999999", "/console/nowhere"):
        response = await web.get(path)
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "default-src 'self'" in CONTENT_SECURITY_POLICY
        assert "frame-ancestors https://web.telegram.org https://webk.telegram.org https://webz.telegram.org" \
            in CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in (await web.get("/healthz")).headers


async def test_pages_have_no_inline_script_and_load_nothing_from_elsewhere(console_bot, web):
    await sign_in(console_bot, web)
    for path in ("/console/", "/console/app", "/console/enroll", "/console/stats", "/console/patients",
                 "/console/protocols", "/console/audit"):
        html = await (await web.get(path)).text()
        assert "<script>" not in html and " on" + "click=" not in html and "javascript:" not in html
        assert "https://" not in html.replace("https://t.me/", ""), path


@pytest.mark.parametrize("console_env", [{"HTTP_PORT": "8089", "PUBLIC_URL": "https://care.example-clinic.com",
                                          "CONSOLE_SESSION_HOURS": "2"}])
async def test_over_https_the_link_the_mini_app_button_and_a_secure_cookie(console_bot, web, fake_api):
    path = await login_link(console_bot)
    link_message, app_message = fake_api.sent_messages(STAFF_ID)[-2:]
    assert f"https://care.example-clinic.com{path}" in link_message.params["text"]
    (button,) = app_message.params["reply_markup"]["inline_keyboard"][0]
    assert button["web_app"] == {"url": "https://care.example-clinic.com/console/app"}
    menu = fake_api.calls_to("setChatMenuButton")[-1].params
    assert menu["chat_id"] == STAFF_ID and menu["menu_button"]["type"] == "web_app"
    assert menu["menu_button"]["web_app"]["url"] == "https://care.example-clinic.com/console/app"
    response = await web.get(path)
    cookie = response.cookies[COOKIE]
    assert cookie["secure"] and int(cookie["max-age"]) == 2 * 3600


@pytest.mark.parametrize("console_env", [{}])
async def test_without_the_http_side_console_says_it_is_off(console_bot, fake_api):
    await console_bot.send(STAFF_ID, "/console")
    assert "HTTP_PORT" in fake_api.sent_messages(STAFF_ID)[-1].params["text"]
    assert console_bot.rows(ConsoleLogin) == []


async def test_the_mini_app_speaks_its_users_language(console_bot, web):
    data = init_data(console_bot, user_language="es")
    html = await (await web.get("/console/", headers=tma(data))).text()
    assert '<html lang="es">' in html and "Bandeja" in html
    assert '<html lang="en">' in await (await web.get("/console/", headers=tma(init_data(console_bot)))).text()
