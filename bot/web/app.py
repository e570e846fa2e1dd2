"""Assembling the HTTP side: every route, the request log, the refusals' answer, the body limit."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from telegram import Bot

from bot.services import Services
from bot.settings import Settings
from bot.web import api, console, health, hooks, metrics, openapi, reviews
from bot.web.access_log import log_requests
from bot.web.common import BODY_TIMEOUT, BOT, MAX_BODY_BYTES, SERVICES, WRITE_LOCK, answer_refusals
from bot.web.hardening import BODY_TIMEOUT_SECONDS, HEADER_TIMEOUT_SECONDS, harden, runner

log = logging.getLogger(__name__)


def build_web_app(services: Services, bot: Bot, *, body_timeout: float = BODY_TIMEOUT_SECONDS,
                  background: bool = False) -> web.Application:
    """The aiohttp application with every route of the HTTP side (and bot/web/hardening.py's headers);
    with ``background`` (a server's), its background work too: the console's stats kept counted."""
    # Outermost first: the request log sees the status the refusals' answer gave.
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[log_requests, answer_refusals,
                                                                            console.console_headers])
    app[SERVICES] = services
    app[BOT] = bot
    app[WRITE_LOCK] = asyncio.Lock()
    app[BODY_TIMEOUT] = body_timeout
    for module in (health, metrics, openapi, api, hooks, reviews, console):
        module.add_routes(app)
    if background:
        console.keep_stats_counted(app)
    return harden(app)


async def start_http(services: Services, bot: Bot, settings: Settings, *,
                     header_timeout: float = HEADER_TIMEOUT_SECONDS,
                     body_timeout: float = BODY_TIMEOUT_SECONDS) -> web.AppRunner:
    """Serve the HTTP side on HTTP_LISTEN:HTTP_PORT; the caller cleans the runner up.

    No access log of aiohttp's own: log_requests logs each request.
    """
    http_runner = runner(build_web_app(services, bot, body_timeout=body_timeout, background=True),
                         header_timeout=header_timeout)
    await http_runner.setup()
    await web.TCPSite(http_runner, settings.http_listen, settings.http_port).start()
    log.info("HTTP side listening on %s:%d", settings.http_listen, settings.http_port)
    return http_runner
