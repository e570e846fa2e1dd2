"""The aiohttp request class under python-telegram-bot: same wire format as httpx, same errors."""

from __future__ import annotations

import pytest
import pytest_asyncio
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from bot.http_client import AiohttpRequest
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.test_bot_api import PNG_BYTES

CHAT = 555_000_222


def make_bot(api: FakeBotAPI, request) -> telegram.Bot:
    return telegram.Bot(api.token, base_url=f"{api.root_url}/bot", base_file_url=f"{api.root_url}/file/bot",
                        request=request, get_updates_request=AiohttpRequest(connection_pool_size=1))


@pytest_asyncio.fixture
async def api():
    async with FakeBotAPI() as fake:
        yield fake


@pytest_asyncio.fixture
async def bot(api):
    async with make_bot(api, AiohttpRequest()) as real_bot:
        yield real_bot


async def test_a_message_arrives_exactly_as_httpx_would_send_it(api):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Fine", callback_data="c:1:ok")]])
    for request in (HTTPXRequest(), AiohttpRequest()):
        async with make_bot(api, request) as client:
            message = await client.send_message(CHAT, "<b>Día 1</b> — ça va?", parse_mode="HTML",
                                                reply_markup=keyboard)
            assert message.chat.id == CHAT and message.reply_markup == keyboard
    by_httpx, by_aiohttp = api.calls_to("sendMessage")
    assert by_aiohttp.params == by_httpx.params
    assert by_aiohttp.params["text"] == "<b>Día 1</b> — ça va?"


async def test_a_photo_is_uploaded_as_multipart_with_its_caption(api, bot):
    message = await bot.send_photo(CHAT, photo=PNG_BYTES, caption="Your invite", filename="invite.png")
    call = api.calls_to("sendPhoto")[0]
    assert call.files["photo"] == PNG_BYTES
    assert call.params["caption"] == "Your invite"
    assert message.photo[0].file_size == len(PNG_BYTES)
    # A GET with no parameters (a file download) goes through the same class.
    assert await bot.request.retrieve(
        f"{api.root_url}/file/bot{api.token}/photos/{message.photo[0].file_id}") == PNG_BYTES


async def test_a_hang_past_the_read_timeout_is_timed_out(api, bot):
    api.hang("sendMessage", seconds=2)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "slow", read_timeout=0.2)
    bot.request.timeouts["read"] = 0.2  # the default, when a call names none
    api.hang("sendMessage", seconds=2)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "slow again")


async def test_a_dropped_connection_is_a_network_error(api, bot):
    api.drop("sendMessage")
    with pytest.raises(NetworkError, match="aiohttp"):
        await bot.send_message(CHAT, "lost")
    assert (await bot.send_message(CHAT, "next")).text == "next"


async def test_nothing_listening_is_a_network_error():
    request = AiohttpRequest(connect_timeout=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post("http://127.0.0.1:9/bot1234567:x/getMe")
    finally:
        await request.shutdown()


async def test_a_request_before_initialize_or_after_shutdown_is_refused_and_initialize_reopens(api):
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{api.root_url}/bot{api.token}/getMe", "POST")
    await request.initialize()
    await request.shutdown()
    await request.shutdown()  # twice is harmless
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{api.root_url}/bot{api.token}/getMe", "POST")
    await request.initialize()
    try:
        status, body = await request.do_request(f"{api.root_url}/bot{api.token}/getMe", "POST")
        assert status == 200 and b'"is_bot":true' in body.replace(b" ", b"")
    finally:
        await request.shutdown()


async def test_proxies_come_from_the_environment_and_no_proxy_is_honoured(api, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    request = AiohttpRequest()
    assert request._proxy_for("https://api.telegram.org/bot1234567:x/getMe") == "http://proxy.example:3128"
    assert request._proxy_for(f"{api.root_url}/bot1234567:x/getMe") is None
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("ALL_PROXY", "http://all.example:3128")
    other = AiohttpRequest()
    assert other._proxy_for("https://api.telegram.org/bot1234567:x/getMe") == "http://all.example:3128"
    async with make_bot(api, request) as client:  # loopback is bypassed, so the fake is reached
        assert (await client.send_message(CHAT, "direct")).text == "direct"


async def _raw_server(handler):
    """A bare TCP server on loopback that answers with whatever ``handler`` writes."""
    import asyncio

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await handler(writer)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_an_error_message_never_carries_the_url_with_the_token():
    async def garbled(writer):
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    server, root = await _raw_server(garbled)
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{root}/bot1234567:SECRET-token/getMe")
        assert "SECRET" not in str(caught.value) and "1234567" not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    finally:
        await request.shutdown()
        server.close()


async def test_a_slow_transfer_that_keeps_moving_is_not_cut_off():
    import asyncio

    async def trickle(writer):
        body = b'{"ok":true,"result":"' + b"x" * 12 + b'"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        for byte in body:  # 35 bytes, 0.05 s apart: 1.75 s in all, no pause longer than the read timeout
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    server, root = await _raw_server(trickle)
    request = AiohttpRequest(read_timeout=0.3, connect_timeout=0.3, pool_timeout=0.3)
    await request.initialize()
    try:
        # Every timeout 0.3 s, the whole call 1.75 s: each step is bounded, not their sum.
        assert await request.post(f"{root}/bot1234567:x/getFile", write_timeout=0.3) == "x" * 12
    finally:
        await request.shutdown()
        server.close()
