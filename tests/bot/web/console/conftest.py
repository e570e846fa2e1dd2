"""The console under test: the real bot harness with the HTTP side on, its pages over real HTTP.

``sign_in`` does what a staff member does: ``/console`` in the private chat, then opens the link.
``init_data`` signs a Mini App's initData with the bot's token as Telegram would.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from bot.web.console.identity import sign_init_data
from tests.conftest import STAFF_ID, BotHarness, bot_env

HTML_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def console_env() -> dict[str, str]:
    """Settings a test may change before the bot starts (PUBLIC_URL, CONSOLE_SESSION_HOURS)."""
    return {"HTTP_PORT": "8089"}


@pytest.fixture
async def console_bot(fake_api, database_url, clock, console_env):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, **console_env), clock)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
async def web(console_bot):
    client = TestClient(TestServer(build_web_app(console_bot.services, console_bot.app.bot), host="127.0.0.1"),
                        cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    yield client
    await client.close()


async def login_link(bot: BotHarness, user_id: int = STAFF_ID) -> str:
    """The path of the sign-in link the bot gives ``user_id`` for ``/console``."""
    await bot.send(user_id, "/console")
    text = bot.api.sent_messages(user_id)[-2 if bot.services.settings.console_over_https else -1].params["text"]
    match = re.search(r"https?://\S+?(/console/login/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def sign_in(bot: BotHarness, web: TestClient, user_id: int = STAFF_ID) -> None:
    response = await web.get(await login_link(bot, user_id))
    assert response.status == 200, await response.text()


async def csrf_of(web: TestClient, path: str = "/console/", **kwargs) -> str:
    response = await web.get(path, **kwargs)
    assert response.status == 200, await response.text()
    match = HTML_CSRF.search(await response.text())
    assert match
    return match.group(1)


def init_data(bot: BotHarness, user_id: int = STAFF_ID, *, signed_at: float | None = None, user_language: str = "en",
              **extra: str) -> str:
    """initData as Telegram signs it for ``user_id``, at ``signed_at`` (the harness clock's now by default)."""
    moment = signed_at if signed_at is not None else bot.clock().timestamp()
    fields = {"query_id": "AAH" + "x" * 10, "auth_date": str(int(moment)),
              "user": json.dumps({"id": user_id, "first_name": "Marta", "last_name": "R", "language_code": user_language},
                                 separators=(",", ":")), **extra}
    return sign_init_data(fields, bot_token=bot.services.settings.bot_token)


def tma(data: str) -> dict[str, str]:
    return {"Authorization": f"tma {data}"}


def real_now() -> float:
    return time.time()
