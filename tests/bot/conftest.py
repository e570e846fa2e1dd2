"""Fixtures of the bot's tests: the durable intake running as in production, and waiting on it."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.intake import INTAKE_KEY
from jobs.storage.models import InboundUpdate
from jobs.storage.states import UpdateStatus


async def until(predicate, what: str, timeout: float = 15) -> None:
    """Wait for the fake server or the database to show ``predicate`` (real HTTP takes real time)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def all_done(harness) -> bool:
    return all(row.status == UpdateStatus.DONE for row in harness.rows(InboundUpdate))


@pytest.fixture
async def intake(harness):
    """The harness's intake, with the application started as in production (its JobQueue runs)."""
    intake = harness.app.bot_data[INTAKE_KEY]
    await harness.app.start()
    yield intake
    await intake.stop()
    await harness.app.stop()
