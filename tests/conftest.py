"""Shared fixtures: a fake Bot API server on loopback, a movable clock, and a bot harness.

The harness runs the real python-telegram-bot ``Application`` (handlers, conversation, JobQueue
wiring) against :class:`tests.fakes.bot_api.FakeBotAPI` over real HTTP, with a database file in
the test's temporary folder. Time never passes on its own: tests move :class:`Clock` forward and
call the dispatcher themselves.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select
from telegram import Update

from bot.app import build_application, build_services
from bot.delivery import run_dispatch
from bot.settings import Settings
from tests.fakes.bot_api import FakeBotAPI

CLINIC_ZONE = ZoneInfo("Europe/Madrid")
STAFF_ID = 1001
PATIENT_ID = 2002
OTHER_ID = 3003
SESSION_START = datetime(2026, 11, 24, 15, 30, tzinfo=CLINIC_ZONE)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set_local(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Jump to a wall-clock time in the clinic's zone, ``day`` days after SESSION_START's date."""
        date = SESSION_START.date() + timedelta(days=day)
        self.now = datetime(date.year, date.month, date.day, hour, minute, tzinfo=CLINIC_ZONE)
        return self.now


@pytest.fixture
async def fake_api():
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock(SESSION_START)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aftercare.db'}"


def bot_env(api: FakeBotAPI, database_url: str, **overrides: str) -> dict[str, str]:
    """The settings a clinic would put in .env, pointed at the fake server."""
    env = {
        "BOT_TOKEN": api.token,
        "STAFF_IDS": str(STAFF_ID),
        "DATABASE_URL": database_url,
        "CLINIC_NAME": "Clínica Sol",
        "CLINIC_PHONE": "+34 600 000 000",
        "CLINIC_TIMEZONE": CLINIC_ZONE.key,
        "TELEGRAM_API_BASE_URL": api.root_url,
    }
    env.update(overrides)
    return env


class BotHarness:
    """One bot process, as far as Telegram and the database can tell."""

    def __init__(self, api: FakeBotAPI, env: dict[str, str], clock: Clock) -> None:
        self.api, self.env, self.clock = api, env, clock
        self.app = None
        self.services = None

    async def start(self) -> BotHarness:
        settings = Settings.from_env(self.env)
        self.services = build_services(settings, clock=self.clock)
        self.app = build_application(settings, self.services)
        await self.app.initialize()
        return self

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.shutdown()
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def send(self, user_id: int, text: str, **kwargs) -> None:
        """A user sends ``text`` to the bot (a private chat unless chat_id/chat_type say otherwise)."""
        update = self.api.message_update(user_id=user_id, text=text, **kwargs)
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def press(self, user_id: int, data: str, message_id: int, **kwargs) -> None:
        """A user presses an inline button carrying ``data``."""
        update = self.api.callback_update(user_id=user_id, data=data, message_id=message_id, **kwargs)
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def dispatch(self):
        """One dispatcher pass at the clock's time."""
        return await run_dispatch(self.services, self.app.bot)

    async def enroll(self, text: str = "/enroll Anna K") -> str:
        """Staff enroll a patient; return the invite token from the reply."""
        await self.send(STAFF_ID, text)
        caption = self.api.sent_messages(STAFF_ID)[-1].params.get("caption", "")
        match = re.search(r"\?start=([A-Za-z0-9_-]+)", caption)
        assert match, f"no invite link in the reply: {caption!r}"
        return match.group(1)

    def session(self) -> Session:
        return Session(self.services.store.engine)

    def rows(self, model, *where):
        with self.session() as session:
            return session.exec(select(model).where(*where)).all()


@pytest.fixture
async def harness(fake_api, database_url, clock):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url), clock)
    await bot.start()
    yield bot
    await bot.stop()
