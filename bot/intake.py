"""Durable intake, the Telegram face: updates are stored before Telegram hears they arrived.

python-telegram-bot's own ``Updater`` confirms an update (the next ``getUpdates`` offset) before
its handlers run, and its webhook answers 200 before they run: a crash in between loses the
update -- a patient's ``/start``, or their "I have a fever". So the application is built without
an ``Updater`` and this module takes its place:

- **polling**: its own ``getUpdates`` loop writes each batch to the database (jobs/intake.py) and
  commits it *before* asking for the next offset, which is what confirms them to Telegram;
- **webhook**: a small aiohttp server answers 200 only once the update's row is committed (500
  otherwise, and Telegram sends it again);
- **the worker** takes updates from the table and hands them to ``Application.process_update``
  through the application's update processor (:class:`ChatOrderedProcessor`): different chats
  concurrently, up to ``MAX_CONCURRENT_UPDATES`` at once, one chat's in order; each is marked done
  after its handlers ran. After a crash an update in flight is handled again (at least once), so
  handlers are idempotent by ``update_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

from aiohttp import web
from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut
from telegram.ext import Application, BaseUpdateProcessor

from bot.services import Services
from jobs.intake import claim_updates, mark_done, store_updates

log = logging.getLogger(__name__)

INTAKE_KEY = "intake"
# Updates handled at once. Handlers mostly wait (database, Telegram), so a few dozen would do;
# 16 keeps a burst of /starts moving without crowding the database's worker threads.
MAX_CONCURRENT_UPDATES = 16
# Longer than any handler takes; a claim of a dead process is taken again at once anyway.
UPDATE_LEASE = timedelta(minutes=2)
POLL_TIMEOUT = 10  # seconds of long polling per getUpdates
# How often an idle worker looks at the table without being woken (claims of other instances'
# webhooks, a dead holder's claims, an expired lease).
IDLE_CHECK_SECONDS = 1.0


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of different chats concurrently (bounded by the base class), one chat's in order.

    The worker's claim already hands out one update per chat at a time; this keeps the order for
    any other path into ``process_update`` too.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await ``coroutine`` once no earlier update of the same chat is still running."""
        key = _chat_of(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else of this chat: forget it, the map stays small
                del self._waiting[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def _reason(exc: BaseException) -> str:
    """An error's class (and its driver error's), never its text: a database error's text carries the
    statement's parameters, here the patients' own messages."""
    orig = getattr(exc, "orig", None)
    return f"{type(exc).__name__}: {type(orig).__name__}" if orig is not None else type(exc).__name__


def _chat_of(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


class Intake:
    """Receives updates into the database and works them off from there."""

    def __init__(self, application: Application, services: Services, updates_request) -> None:
        self.application, self.services, self.updates_request = application, services, updates_request
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._worker: asyncio.Task | None = None
        self._poller: asyncio.Task | None = None

    # ------------------------------------------------------------------ receiving

    async def receive(self, updates: list[dict]) -> None:
        """Store updates (committed when this returns), then wake the worker."""
        if updates:
            await self.services.store.run(store_updates, updates=updates, now=self.services.clock())
            self._wake.set()

    async def poll_forever(self) -> None:
        """Polling mode: fetch, store, and only then confirm (by asking for the next offset)."""
        bot = self.application.bot
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        offset: int | None = None  # first call: whatever Telegram has not had confirmed yet
        failures = 0
        while not self._stopping:
            params: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": json.dumps(Update.ALL_TYPES)}
            if offset is not None:
                params["offset"] = offset
            try:
                updates = await self.updates_request.post(f"{bot.base_url}/getUpdates?{urlencode(params)}",
                                                          read_timeout=POLL_TIMEOUT + 5)
                await self.receive(updates)
            except InvalidToken:
                raise
            except Conflict:
                failures += 1
                log.warning("getUpdates refused: another process polls with this bot token, or a webhook is set")
                await self._pause(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            except (TimedOut, NetworkError) as exc:
                # One line, not a traceback per retry; the same offset again, so nothing is confirmed.
                failures += 1
                log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
                await self._pause(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: do not confirm, try again
                failures += 1
                log.warning("could not store updates (%s); they stay unconfirmed at Telegram", _reason(exc))
                await self._pause(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            failures = 0
            if updates:
                offset = max(update["update_id"] for update in updates) + 1

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the intake is stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    def webhook_app(self, *, path: str, secret: str) -> web.Application:
        """Webhook mode: 200 only after the update is committed; 403 without the secret."""

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=403)
            try:
                update = await request.json()
            except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
                return web.Response(status=400)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return web.Response(status=400)
            try:
                await self.receive([update])
            except Exception as exc:  # noqa: BLE001 - not stored: Telegram must send it again
                log.warning("could not store update %s (%s); answering 500 so Telegram sends it again",
                            update["update_id"], _reason(exc))
                return web.Response(status=500)
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/" + path.lstrip("/"), receive)
        return app

    # ------------------------------------------------------------------ working

    async def work_forever(self) -> None:
        """Take updates from the table and handle them, up to the processor's bound at once."""
        processor = self.application.update_processor
        while not self._stopping:
            free = processor.max_concurrent_updates - len(self._in_flight)
            claimed = []
            if free > 0:
                self._wake.clear()
                try:
                    claimed = await self.services.store.run(
                        claim_updates, now=self.services.clock(), limit=free, lease=UPDATE_LEASE,
                        holder=self.services.store.holder)
                except Exception as exc:  # noqa: BLE001 - the database is down: the updates wait in it
                    log.warning("could not claim updates (%s); trying again", _reason(exc))
                    await self._pause(1.0)
                    continue
            for item in claimed:
                task = asyncio.create_task(self._handle(item))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if claimed and len(claimed) == free:
                await self._next_free_slot()
            elif not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_CHECK_SECONDS)

    async def _next_free_slot(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def _handle(self, item) -> None:
        application = self.application
        update = Update.de_json(item.payload, application.bot)
        if item.attempts > 1:
            log.info("update %d: handling it again (attempt %d) after an interrupted run", item.update_id,
                     item.attempts)
        try:
            await application.update_processor.process_update(update, application.process_update(update))
        except Exception:  # noqa: BLE001 - process_update reports handler errors itself; this is the rest
            log.exception("update %d could not be processed", item.update_id)
        try:
            await self.services.store.run(mark_done, update_ids=[item.update_id], now=self.services.clock())
        except Exception as exc:  # noqa: BLE001 - left claimed: handled again once the claim lapses
            log.warning("update %d: could not mark it done (%s)", item.update_id, _reason(exc))
        self._wake.set()  # that chat's next update may be claimed now

    # ------------------------------------------------------------------ running

    def start(self, *, polling: bool) -> None:
        """Start the worker (and, when polling, the getUpdates loop) in the running event loop."""
        self._stopping = False
        self._stopped = asyncio.Event()
        self._worker = asyncio.create_task(self.work_forever(), name="intake-worker")
        if polling:
            self._poller = asyncio.create_task(self.poll_forever(), name="intake-poller")

    async def stop(self, grace: float = 8.0) -> None:
        """Stop fetching and claiming; let the updates in flight finish within ``grace`` seconds (what
        does not is handled after the next start: its holder is gone)."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._poller is not None and not self._poller.done():
            self._poller.cancel()  # a long poll in progress: what it fetches is not confirmed, so not lost
        for task in (self._poller, self._worker):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()

    @property
    def failed(self) -> BaseException | None:
        """Why the poller ended, if it ended on its own (an invalid token)."""
        task = self._poller
        if task is not None and task.done() and not task.cancelled():
            return task.exception()
        return None


def webhook_path(url: str) -> str:
    """The path part of WEBHOOK_URL, where the server listens."""
    return urlparse(url).path or "/"
