"""The HTTP side against slow, vanishing and curious clients (bot/web/hardening.py), over real sockets:
half-sent requests are cut off within seconds, a client that hangs up is a warning, every answer has
safe headers and no versions, and /metrics may ask for a token and never takes SQLite's write lock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import Settings
from bot.web.app import build_web_app, start_http
from tests.bot.web.test_openapi_and_server import _free_port
from tests.conftest import BotHarness, bot_env

# Short deadlines for the tests (the real ones are seconds); each wait below is bounded far above them.
SHORT = 0.3
PATIENCE = 5.0


@pytest.fixture
async def served(web_bot):
    """The HTTP side on a real port, with short read deadlines."""
    port = _free_port()
    settings = Settings.from_env({**web_bot.env, "HTTP_PORT": str(port)})
    runner = await start_http(web_bot.services, web_bot.app.bot, settings, header_timeout=SHORT, body_timeout=SHORT)
    yield port
    await runner.cleanup()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (failing the test past PATIENCE)."""
    return await asyncio.wait_for(reader.read(), PATIENCE)


async def test_a_request_whose_headers_never_end_is_cut_off(served):
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(b"POST /hooks/booking HTTP/1.1\r\nHost: clinic\r\nContent-Type: application/json\r\n")
    await writer.drain()
    started = time.monotonic()
    assert await _until_closed(reader) == b""  # closed, no answer: nothing was asked
    assert time.monotonic() - started < PATIENCE
    writer.close()


async def test_a_body_that_never_ends_is_cut_off_with_a_warning(served, caplog):
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(b"POST /hooks/booking HTTP/1.1\r\nHost: clinic\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"event\": ")
    await writer.drain()
    answer = await _until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"too_slow" in answer
    writer.close()
    cut = [record for record in caplog.records if "cut off" in record.getMessage()]
    assert [record.levelno for record in cut] == [logging.WARNING]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_client_that_hangs_up_mid_body_is_a_warning_without_a_traceback(served, caplog):
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(b"POST /hooks/booking HTTP/1.1\r\nHost: clinic\r\nContent-Length: 1000\r\n\r\n{\"ev")
    await writer.drain()
    writer.transport.abort()  # a reset, as a client that crashes or loses its network
    deadline = time.monotonic() + PATIENCE
    while not any("went away" in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, [record.getMessage() for record in caplog.records]
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # let the request log write its line
    gone = [record for record in caplog.records if "went away" in record.getMessage()]
    assert [(record.levelno, record.exc_info) for record in gone] == [(logging.WARNING, None)]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/nowhere"),
                                              ("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/patients/1"),
                                              ("POST", "/hooks/booking")])
async def test_every_answer_has_safe_headers_and_no_versions(served, method, path):
    async with aiohttp.ClientSession() as client, client.request(
            method, f"http://127.0.0.1:{served}{path}", data=b"{}") as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Server"] == "aftercare"


async def test_metrics_ask_for_the_token_when_one_is_set(fake_api, database_url, clock):
    token = "scrape-token-0123456789abcdef"
    bot = await BotHarness(fake_api, bot_env(fake_api, database_url, METRICS_TOKEN=token), clock).start()
    client = TestClient(TestServer(build_web_app(bot.services, bot.app.bot), host="127.0.0.1"))
    await client.start_server()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": token},
                        {"Authorization": f"Basic {token}"}):
            response = await client.get("/metrics", headers=headers)
            assert response.status == 401, headers
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200 and "aftercare_reminders" in await response.text()
        assert (await client.get("/healthz")).status in (200, 503)  # health stays open to the load balancer
    finally:
        await client.close()
        await bot.stop()


def test_the_metrics_token_is_checked_at_start(fake_api, database_url):
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        Settings.from_env(bot_env(fake_api, database_url, METRICS_TOKEN="short"))
    assert "scrape" not in repr(Settings.from_env(bot_env(fake_api, database_url,
                                                          METRICS_TOKEN="scrape-token-0123456789")))


async def test_a_scrape_does_not_wait_for_the_write_lock(web_bot, http):
    """While another writer holds SQLite's write lock, /metrics still answers at once (it only reads)."""
    engine = web_bot.services.store.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = await asyncio.wait_for(http.get("/metrics"), PATIENCE / 2)
        assert response.status == 200 and "aftercare_reminders" in await response.text()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

