"""Running the bot: python-telegram-bot's start-up and shut-down order, with the durable intake
(bot/intake.py) in place of its Updater, in polling or webhook mode.

``Application.run_polling``/``run_webhook`` need an Updater; this is their sequence without it:
initialize, ``post_init``, start (the JobQueue), take updates, and on SIGTERM/SIGINT stop taking
them, let the updates and sends in flight finish, stop, shut down, ``post_shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.http_client import REQUESTS_KEY
from bot.intake import INTAKE_KEY, Intake, webhook_path
from bot.services import SERVICES_KEY, Services
from bot.settings import Settings
from bot.web.app import start_http
from bot.web.hardening import runner as hardened_runner

log = logging.getLogger(__name__)


async def serve(application: Application, settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (or until the token is refused, which is raised)."""
    services: Services = application.bot_data[SERVICES_KEY]
    intake: Intake = application.bot_data[INTAKE_KEY]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Who holds this process's claims: refuses a second instance on one SQLite file.
    await asyncio.to_thread(services.store.take_presence)
    site_runner: web.AppRunner | None = None
    http_runner: web.AppRunner | None = None
    initialized = False
    try:
        await application.initialize()  # getMe: a bad token or an unreachable server ends it here
        initialized = True
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        if settings.webhook_url:
            path = webhook_path(settings.webhook_url)
            site_runner = hardened_runner(intake.webhook_app(path=path, secret=settings.webhook_secret_token))
            await site_runner.setup()
            await web.TCPSite(site_runner, settings.webhook_listen, settings.webhook_port).start()
            await application.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret_token,
                                              allowed_updates=Update.ALL_TYPES)
        if settings.http_port is not None:
            http_runner = await start_http(services, application.bot, settings)
        intake.start(polling=not settings.webhook_url)
        await _until(stop, intake)
    finally:
        log.info("stopping: no new updates; finishing what is in flight")
        await asyncio.gather(intake.stop(), _stop_application(application), return_exceptions=True)
        if site_runner is not None:
            await site_runner.cleanup()
        if http_runner is not None:
            await http_runner.cleanup()
        if application.post_stop is not None:
            await application.post_stop(application)
        await application.shutdown()
        if not initialized:
            # A failed start (no network, a refused token) leaves the bot's HTTP sessions open, and
            # PTB's shutdown skips an Application, and (22.0) a Bot, that never initialized: close
            # them here, so the clean one-line error is the last thing printed.
            for request in application.bot_data[REQUESTS_KEY]:
                await request.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
    failure = intake.failed
    if failure is not None:
        raise failure


async def _until(stop: asyncio.Event, intake: Intake) -> None:
    while not stop.is_set() and intake.failed is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _stop_application(application: Application) -> None:
    if application.running:
        await application.stop()
