"""Webhook mode end to end: the bot as a process registers its webhook and serves updates by it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

from bot.settings import Settings
from tests.conftest import OTHER_ID

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_webhook_mode_registers_with_a_secret_and_serves_updates(fake_api, database_url, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))}
    env.update(BOT_TOKEN=fake_api.token, TELEGRAM_API_BASE_URL=fake_api.root_url, DATABASE_URL=database_url,
               WEBHOOK_URL=url, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
    bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tmp_path, env=env,
                                               stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_for(lambda: fake_api.calls_to("setWebhook"), 30, "setWebhook")
        registration = fake_api.calls_to("setWebhook")[-1].params
        secret = Settings.from_env({"BOT_TOKEN": fake_api.token}).webhook_secret_token
        assert registration["url"] == url and registration["secret_token"] == secret
        update = fake_api.message_update(user_id=OTHER_ID, text="/start")
        async with aiohttp.ClientSession() as client:
            for _ in range(100):  # the listener starts right after setWebhook
                try:
                    async with client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong" * 4}) as r:
                        assert r.status == 403
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as r:
                assert r.status == 200
        await wait_for(lambda: fake_api.texts(OTHER_ID), 15, "the reply to /start")
        assert "personal link or QR code" in fake_api.texts(OTHER_ID)[0]
        assert len(fake_api.texts(OTHER_ID)) == 1  # the update with the wrong secret was refused
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    stderr = (await bot.stderr.read()).decode()
    assert fake_api.token not in stderr and secret not in stderr
