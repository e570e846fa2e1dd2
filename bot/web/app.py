"""Assembling the HTTP side: every route, the request log, the refusals' answer, the body limit."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from telegram import Bot

from bot.services import Services
from bot.settings import Settings
from bot.web import api, console, health, hooks, metrics, openapi
from bot.web.access_log import log_requests
from bot.web.common import BOT, MAX_BODY_BYTES, SERVICES, WRITE_LOCK, answer_refusals

log = logging.getLogger(__name__)


def build_web_app(services: Services, bot: Bot) -> web.Application:
    """The aiohttp application with every route of the HTTP side."""
    # Outermost first: the request log sees the status the refusals' answer gave.
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[log_requests, answer_refusals,
                                                                            console.console_headers])
    app[SERVICES] = services
    app[BOT] = bot
    app[WRITE_LOCK] = asyncio.Lock()
    for module in (health, metrics, openapi, api, hooks, console):
        module.add_routes(app)
    return app


async def start_http(services: Services, bot: Bot, settings: Settings) -> web.AppRunner:
    """Serve the HTTP side on HTTP_LISTEN:HTTP_PORT; the caller cleans the runner up."""
    runner = web.AppRunner(build_web_app(services, bot), access_log=None)  # log_requests logs each request
    await runner.setup()
    await web.TCPSite(runner, settings.http_listen, settings.http_port).start()
    log.info("HTTP side listening on %s:%d", settings.http_listen, settings.http_port)
    return runner
