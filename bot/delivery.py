"""The recurring jobs: the dispatcher and the heartbeat, thin adapters around jobs/ functions.

After each dispatcher run, staff hear about patients who blocked the bot and reminders that
failed for good; the first run after a long downtime also sends staff one summary line.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import ContextTypes

from bot.alerts import alert_staff
from bot.services import Services, services_of
from jobs.dispatch import DispatchReport, dispatch_due
from jobs.health import beat, last_beat, queue_counts
from jobs.storage.db import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

DISPATCH_JOB_NAME = "dispatch-due-reminders"
HEARTBEAT_JOB_NAME = "heartbeat"
DISPATCH_LOCK = "aftercare-dispatch"
HEARTBEAT_INTERVAL = timedelta(seconds=60)
# A gap between heartbeats longer than this is downtime worth telling staff about.
DOWNTIME_WORTH_REPORTING = timedelta(minutes=10)


async def run_dispatch(services: Services, bot, *, should_stop=lambda: False) -> DispatchReport:
    """Send what is due now, by the services' clock, unless another instance is sending.

    Instances that share a database share one bot token, and Telegram's 30 messages/s is the
    token's: one of them sends at a time (it holds the database's "dispatch" lock), so their
    pacing adds up to 30/s, not 30/s each. The others skip the tick; if the sender dies, its
    lock goes with its connection and the next tick of another instance takes over.
    """
    async with services.store.exclusive(DISPATCH_LOCK) as mine:
        if not mine:
            log.debug("dispatch: another instance is sending; skipping this tick")
            return DispatchReport()
        # The dispatcher can wait out another writer: nobody is waiting on its reply.
        store = services.store.with_busy_timeout(SQLITE_BUSY_TIMEOUT_MS)
        return await dispatch_due(store=store, bot=bot, catalog=services.catalog, clinic=services.clinic,
                                  now=services.clock(), policy=services.policy, pacer=services.pacer,
                                  should_stop=should_stop)


async def dispatch_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """JobQueue callback: one dispatcher pass, then the alerts it calls for."""
    services = services_of(context)
    application = context.application
    # Application.stop() clears `running` before it waits for jobs: stop sending at once then.
    report = await run_dispatch(services, context.bot, should_stop=lambda: not application.running)
    await report_to_staff(services, context.bot, report)


async def report_to_staff(services: Services, bot, report: DispatchReport) -> None:
    """Blocked patients and failures (once each), and the back-after-downtime summary."""
    staff = services.staff_locale
    for patient_id, name in report.blocked:
        await alert_staff(services, bot, services.text(staff, "alert_blocked", name=name, patient_id=patient_id),
                          patient_id=patient_id)
    for patient_id, name, reason in report.failures:
        await alert_staff(services, bot, services.text(staff, "alert_failed", name=name, patient_id=patient_id,
                                                       reason=reason), patient_id=patient_id)
    downtime, services.downtime = services.downtime, None
    if downtime is not None and downtime >= DOWNTIME_WORTH_REPORTING:
        hours = downtime.total_seconds() / 3600
        await alert_staff(services, bot, services.text(
            staff, "alert_back", duration=f"{hours:.0f} h" if hours >= 1 else f"{downtime.seconds // 60} min",
            sent=report.sent, skipped=report.skipped, failed=report.failed))


async def note_downtime(services: Services) -> None:
    """At start: how long since the last heartbeat (reported after the first dispatcher run)."""
    previous = await services.store.run(last_beat)
    now = services.clock()
    services.downtime = now - previous if previous else None
    await services.store.run(beat, now=now)


async def heartbeat_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A steady log line with the queue's state; the beat that tells the next start about downtime."""
    services = services_of(context)
    now = services.clock()
    await services.store.run(beat, now=now)
    counts = await services.store.run(queue_counts, now=now)
    log.info("heartbeat: %(pending)d pending, %(due)d due now, %(failed)d failed", counts)
