"""The HTTP side under test: the real bot harness, its aiohttp application on a test server over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from jobs.ops.api_keys import create_key
from tests.conftest import BotHarness, bot_env

BOOKING_SECRET = "booking-secret-0123456789"
CALCOM_SECRET = "calcom-secret-0123456789"


@pytest.fixture
async def web_bot(fake_api, database_url, clock):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url, BOOKING_WEBHOOK_SECRET=BOOKING_SECRET,
                                       CALCOM_WEBHOOK_SECRET=CALCOM_SECRET,
                                       BOOKING_URL="https://cal.com/clinica-sol/session"), clock)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
async def http(web_bot):
    client = TestClient(TestServer(build_web_app(web_bot.services, web_bot.app.bot), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def api_key(web_bot) -> str:
    return web_bot.services.store.call(create_key, name="practice-system", now=web_bot.clock())


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def signed(body: dict | bytes, secret: str = BOOKING_SECRET) -> tuple[bytes, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
