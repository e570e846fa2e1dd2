"""What the HTTP routes share: the application keys, JSON answers, a bounded body read, the refusals' answer."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from telegram import Bot

from bot.services import Services
from bot.web.access_log import logged_path
from jobs.refusal import Refusal
from jobs.storage.db import SQLITE_BUSY_TIMEOUT_MS
from messages.catalog import html_to_plain

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
BOT = web.AppKey("bot", Bot)
# Larger than any enrollment or booking call (Cal.com's payloads are a few kilobytes).
MAX_BODY_BYTES = 64 * 1024


WRITE_LOCK = web.AppKey("write_lock", asyncio.Lock)
# How long a handler waits for a whole body (bot/web/hardening.py sets it).
BODY_TIMEOUT = web.AppKey("body_timeout", float)


async def write(request: web.Request, function, /, **kwargs):
    """Run a data function for a request, in its own transaction (see :func:`write_in`)."""
    return await write_in(request.app, function, **kwargs)


async def write_in(app: web.Application, function, /, **kwargs):
    """Run a data function for the HTTP side, in its own transaction (on SQLite every transaction begins
    IMMEDIATE, taking the write lock, so reads queue here too).

    On SQLite one writer at a time holds the file; the HTTP side's writers queue here, in order,
    instead of polling SQLite's lock against each other (8 at once starved some past 10 s). A
    caller of the API waits for the lock as long as the dispatcher does: a Telegram user would be
    told "busy" after 2 s, a booking system can wait. PostgreSQL takes them side by side.
    """
    services = app[SERVICES]
    store = services.store.with_busy_timeout(SQLITE_BUSY_TIMEOUT_MS)
    if store.engine.dialect.name != "sqlite":
        return await store.run(function, **kwargs)
    async with app[WRITE_LOCK]:
        return await store.run(function, **kwargs)


def json_error(status: int, error: str, message: str, *, headers: dict | None = None,
               **extra: object) -> web.Response:
    """An error answer: ``{"error": ..., "message": ...}`` and whatever else the caller needs."""
    return web.json_response({"error": error, "message": message, **extra}, status=status, headers=headers)


async def read_body(request: web.Request) -> bytes | web.Response:
    """The raw body, or a 413 answer past :data:`MAX_BODY_BYTES`, or a 408 when it is not all there in
    time (the connection is then closed: a client that trickles its body holds nothing of ours)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return json_error(413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    deadline = request.app[BODY_TIMEOUT]
    try:
        async with asyncio.timeout(deadline):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    except TimeoutError:
        log.warning("http %s %s: the body was not all there after %g s: cut off", request.method,
                    logged_path(request), deadline)
        response = json_error(408, "too_slow", f"the body must arrive within {deadline:g} seconds")
        response.force_close()
        return response


def parse_json_object(raw: bytes) -> dict | web.Response:
    """A JSON object from ``raw``, or a 400 answer."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return json_error(400, "bad_json", "the body is not JSON (UTF-8)")
    except RecursionError:
        # 64 KiB of "[" nests deeper than Python's parser goes; no call of ours nests at all.
        return json_error(400, "bad_json", "the body's JSON is nested too deeply")
    if not isinstance(value, dict):
        return json_error(400, "bad_json", "the body must be a JSON object")
    return value


async def read_json(request: web.Request) -> dict | web.Response:
    """A JSON object from the request's body, or the 400/413 answer to give instead."""
    raw = await read_body(request)
    return raw if isinstance(raw, web.Response) else parse_json_object(raw)


def refusal_text(services: Services, refusal: Refusal) -> str:
    """A refusal's explanation as /enroll gives it, in the staff language, as plain text."""
    return html_to_plain(services.text(services.staff_locale, refusal.key, **refusal.values))


# A refusal is 422 (the request cannot be carried out as written) unless it says nobody is there.
NOT_FOUND_KEYS = frozenset({"api_not_found", "booking_unknown_patient"})


@web.middleware
async def answer_refusals(request: web.Request, handler) -> web.StreamResponse:
    """Say no the one way on the HTTP side: a Refusal raised by a route (or what it calls) becomes a JSON
    answer with the same explanation /enroll would give, naming the field when the refusal knows it.

    The HTTP twin of the bot's error handler (``bot/handlers/common.py``): routes raise, none catches.
    """
    try:
        return await handler(request)
    except Refusal as refusal:
        log.info("http request refused: %s", refusal.key)  # the request log's line follows, with the path
        not_found = refusal.key in NOT_FOUND_KEYS
        return json_error(404 if not_found else 422, "not_found" if not_found else "invalid",
                          refusal_text(request.app[SERVICES], refusal), field=getattr(refusal, "field", None),
                          key=refusal.key)
