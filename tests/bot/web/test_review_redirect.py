"""The review link through the HTTP side: counted as opened once, then on to REVIEW_URL; forged tokens count nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from jobs.storage.models import Reminder
from tests.conftest import PATIENT_ID, STAFF_ID, BotHarness, bot_env

REVIEW_URL = "https://g.page/r/clinica-sol/review"
PUBLIC_URL = "https://aftercare.clinica-sol.example"


@pytest.fixture
async def review_bot(fake_api, database_url, clock):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, REVIEW_URL=REVIEW_URL, PUBLIC_URL=PUBLIC_URL,
                                       HTTP_PORT="8099"), clock)
    await bot.start()
    client = TestClient(TestServer(build_web_app(bot.services, bot.app.bot), host="127.0.0.1"))
    await client.start_server()
    yield bot, client
    await client.close()
    await bot.stop()


async def test_the_link_goes_through_the_redirect_and_counts_once(review_bot, fake_api, clock):
    bot, http = review_bot
    await bot.link("/enroll Anna K session=3/3")
    clock.set_local(33, 11, 5)
    await bot.dispatch()
    [[button]] = fake_api.sent_messages(PATIENT_ID)[-1].params["reply_markup"]["inline_keyboard"]
    [review] = bot.rows(Reminder, Reminder.kind == "review")
    assert button["url"].startswith(f"{PUBLIC_URL}/r/{review.id}-") and REVIEW_URL not in button["url"]
    path = button["url"].removeprefix(PUBLIC_URL)
    for _ in range(2):  # pressed twice: counted once
        response = await http.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == REVIEW_URL
        assert response.headers["Cache-Control"] == "no-store"
    [review] = bot.rows(Reminder, Reminder.kind == "review")
    assert review.answer == "opened"
    await bot.send(STAFF_ID, "/stats")
    assert "Review requests: 1 sent, 1 opened." in fake_api.texts(STAFF_ID)[-1]


@pytest.mark.parametrize("token", ["1-0000000000000000000a", "1", "x-y", "99999999999999-abc"])
async def test_a_forged_token_still_reaches_the_review_page_and_counts_nothing(review_bot, clock, token):
    bot, http = review_bot
    await bot.link("/enroll Anna K session=3/3")
    clock.set_local(33, 11, 5)
    await bot.dispatch()
    response = await http.get(f"/r/{token}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == REVIEW_URL
    assert bot.rows(Reminder, Reminder.kind == "review")[0].answer is None
