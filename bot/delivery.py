"""The recurring dispatcher job: a few-line adapter around jobs.dispatch.dispatch_due."""

from __future__ import annotations

import logging

from telegram.ext import ContextTypes

from bot.services import Services, services_of
from jobs.dispatch import DispatchReport, dispatch_due

log = logging.getLogger(__name__)

DISPATCH_JOB_NAME = "dispatch-due-reminders"


async def run_dispatch(services: Services, bot) -> DispatchReport:
    """Send what is due now, by the services' clock."""
    return await dispatch_due(store=services.store, bot=bot, catalog=services.catalog,
                              clinic=services.clinic, now=services.clock(), policy=services.policy)


async def dispatch_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """JobQueue callback: one dispatcher pass."""
    await run_dispatch(services_of(context), context.bot)
