"""The HTTP side inside the real bot process (``python -m bot`` with HTTP_PORT), over a real port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime

import aiohttp

from jobs.ops.api_keys import create_key
from jobs.storage.db import Store, make_engine, upgrade
from tests.system.test_webhook import free_port


async def test_http_port_serves_health_and_the_api_from_the_running_bot(fake_api, database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    key = Store(engine).call(create_key, name="practice", now=datetime.now(UTC))
    engine.dispose()
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("BOT_", "WEBHOOK_", "DATABASE_", "HTTP_"))}
    env.update(BOT_TOKEN=fake_api.token, TELEGRAM_API_BASE_URL=fake_api.root_url, DATABASE_URL=database_url,
               HTTP_PORT=str(port), CLINIC_TIMEZONE="Europe/Madrid")
    bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tmp_path, env=env,
                                               stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(300):  # the HTTP side starts once the bot has started
                try:
                    async with client.get(f"{base}/healthz") as response:
                        health = await response.json()
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            assert health["status"] == "ok" and health["dispatcher_heartbeat"]  # the start-up beat
            async with client.post(f"{base}/api/v1/enrollments", json={"name": "Zoe Q", "external_id": "x-1"},
                                   headers={"Authorization": f"Bearer {key}"}) as response:
                assert response.status == 201
                body = await response.json()
            assert body["invite_url"].startswith(f"https://t.me/{fake_api.username}?start=")
            async with client.post(f"{base}/api/v1/enrollments", json={"name": "Zoe Q"}) as response:
                assert response.status == 401
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    stderr = (await bot.stderr.read()).decode()
    assert f"HTTP side listening on 127.0.0.1:{port}" in stderr
    assert "http POST /api/v1/enrollments 201 " in stderr and "http POST /api/v1/enrollments 401 " in stderr
    assert "Zoe" not in stderr and key not in stderr and fake_api.token not in stderr
