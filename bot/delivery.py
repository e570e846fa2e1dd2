"""The recurring jobs: the dispatcher, the heartbeat and the intake's pruning, thin adapters around jobs/.

After each dispatcher run, staff hear about patients who blocked the bot and reminders that
failed for good; after a long downtime, once the backlog is caught up, staff get one summary
line counting every pass it took.

Nothing here writes to a staff chat: alerts are queued for the staff outbox (bot/outbox.py), which
sends them from its own job at the staff chat's pace, so a staff group's backlog never delays a
patient's reminder.

There is one dispatcher job and nothing else sends reminders: a handler that wants what is due
sent now (a patient who just linked) *wakes* that job (:func:`wake_dispatcher`), so the bound on
sends in flight, the shutdown and the staff report hold for those sends too.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts import StaffText, alert_staff, send_to_chats
from bot.context import AftercareContext
from bot.erasure import queue_unname
from bot.services import Services
from bot.topics import queue_settle
from jobs.care.escalation import days_since_session
from jobs.care.silence import Silence
from jobs.dispatch import ClaimedReminder, DispatchReport, dispatch_due
from jobs.intake import open_count, prune_updates
from jobs.ops import audit
from jobs.ops.health import beat, last_beat, queue_counts
from jobs.staff.inbox import due_for_raising, note_raised, views_of
from jobs.staff.membership import staff_members
from jobs.staff.outbox import Priority, outbox_counts, prune_notices
from jobs.storage.db import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

DISPATCH_JOB_NAME = "dispatch-due-reminders"
HEARTBEAT_JOB_NAME = "heartbeat"
PRUNE_JOB_NAME = "prune-handled-updates"
PRUNE_INTERVAL = timedelta(minutes=30)
INBOX_JOB_NAME = "raise-untaken-escalations"
INBOX_INTERVAL = timedelta(seconds=60)
INBOX_LOCK = "aftercare-inbox"
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
            return DispatchReport(ran=False)
        # The dispatcher can wait out another writer: nobody is waiting on its reply.
        store = services.store.with_busy_timeout(SQLITE_BUSY_TIMEOUT_MS)
        return await dispatch_due(store=store, bot=bot, catalog=services.catalog, clinic=services.clinic,
                                  now=services.clock(), policy=services.policy, pacer=services.pacer,
                                  should_stop=should_stop, holder=services.store.holder,
                                  quiet_hours=services.settings.quiet_hours,
                                  staff_alert=lambda item, silence: alert_silence(services, bot, item, silence))


async def alert_silence(services: Services, bot, item: ClaimedReminder, silence: Silence) -> bool:
    """"No answer from Anna K to the day-2 check-in": the dispatcher's silence alert, as staff read it."""
    patient, enrollment, step = silence.patient, silence.enrollment, silence.step
    zone = ZoneInfo(patient.timezone)
    sent_at = step.sent_at or item.due_at

    def text(staff: str) -> str:  # in each staff chat's language, the times too
        return services.text(
            staff, f"alert_silence_{step.kind}", name=patient.name, patient_id=patient.id,
            day=days_since_session(enrollment.session_at, sent_at, zone),
            step=services.catalog.step_title(staff, step.step_key),
            sent=services.staff_time(sent_at, patient.timezone, locale=staff),
            session_number=enrollment.session_number, series_length=enrollment.series_length)

    chats = await services.staff_chats()
    # Queued, not sent: the staff outbox sends it at the staff chat's pace, off this path. The key
    # keeps a reminder claimed again (after a crash) from queuing a second alert.
    queued = await alert_staff(services, bot, text, patient_id=patient.id, inbox_kind="silence",
                               dedup_key=f"silence:{item.id}")
    log.info("silence alert for patient %d, step %d: queued for %d staff chat(s)", patient.id, step.id, queued)
    # With no staff chat at all there is nobody to retry for: the log above says so.
    return bool(queued) or not chats


async def dispatch_rounds(services: Services, bot, *, should_stop=lambda: False) -> None:
    """Dispatcher passes, each reported to staff, for as long as someone woke the dispatcher meanwhile."""
    if services.dispatching:
        # The job ran again beside a pass (see WOKEN_JOB in bot/app.py): that pass runs once more instead.
        services.dispatch_wanted = True
        return
    services.dispatching = True
    try:
        while True:
            services.dispatch_wanted = False
            report = await run_dispatch(services, bot, should_stop=should_stop)
            await report_to_staff(services, bot, report)
            await _settle_topics(services, bot)
            if not services.dispatch_wanted or should_stop():
                return
    finally:
        services.dispatching = False


async def dispatch_job(context: AftercareContext) -> None:
    """JobQueue callback: dispatcher passes, then the alerts they call for."""
    application = context.application
    # Application.stop() clears `running` before it waits for jobs: stop sending at once then.
    await dispatch_rounds(context.services, context.bot, should_stop=lambda: not application.running)


async def _settle_topics(services: Services, bot) -> None:
    """The patients' topics the lifecycle marked are to be closed or reopened, and staff messages that name
    an erased patient are to be edited to drop the name: both queued for the staff outbox (this pass
    only writes rows; nothing here calls Telegram)."""
    try:
        await queue_settle(services)
    except Exception:  # noqa: BLE001 - a topic left open is no reason to stop sending reminders
        log.exception("could not queue closing or reopening the patients' topics; trying again at the next pass")
    try:
        await queue_unname(services)
    except Exception:  # noqa: BLE001 - nor is a name left in a staff chat: it is tried again
        log.exception("could not queue the edits of erased patients' staff messages; trying again at the next pass")


def wake_dispatcher(services: Services, job_queue) -> None:
    """Have the dispatcher job run now, or once more right after the pass it is in."""
    services.dispatch_wanted = True
    if services.dispatching or job_queue is None:
        return  # the running pass looks at dispatch_wanted when it ends
    for job in job_queue.get_jobs_by_name(DISPATCH_JOB_NAME):
        job.job.modify(next_run_time=datetime.now(UTC))


async def report_to_staff(services: Services, bot, report: DispatchReport) -> None:
    """Blocked patients and failures (once each), and the back-after-downtime summary."""
    for patient_id, name in report.blocked:
        await alert_staff(services, bot, StaffText("alert_blocked", {"name": name, "patient_id": patient_id}),
                          patient_id=patient_id)
    for patient_id, name, reason in report.failures:
        # The reason is Telegram's words (English whatever the language): said as they are.
        await alert_staff(services, bot, StaffText("alert_failed", {"name": name, "patient_id": patient_id,
                                                                    "reason": reason}), patient_id=patient_id)
    if services.downtime is None:
        return
    # Count every pass until the backlog is caught up: a pass that ran to the end (not a tick skipped
    # because another instance was sending, not one halted by a 429 or a stop).
    tally = services.downtime_tally
    for name in ("sent", "skipped", "failed"):
        tally[name] = tally.get(name, 0) + getattr(report, name)
    if not report.ran or report.halted:
        return
    downtime, services.downtime, services.downtime_tally = services.downtime, None, {}
    if downtime >= DOWNTIME_WORTH_REPORTING:
        await alert_staff(services, bot, lambda staff: services.text(
            staff, "alert_back", duration=services.duration(staff, downtime),
            sent=tally["sent"], skipped=tally["skipped"], failed=tally["failed"]))


async def note_downtime(services: Services) -> None:
    """At start: how long since the last heartbeat (reported after the first dispatcher run)."""
    previous = await services.store.run(last_beat)
    now = services.clock()
    services.downtime = now - previous if previous else None
    await services.store.run(beat, now=now)


async def heartbeat_job(context: AftercareContext) -> None:
    """A steady log line with the queue's state; the beat that tells the next start about downtime."""
    services = context.services
    now = services.clock()
    if services.store.presence is not None:
        await asyncio.to_thread(services.store.presence.refresh)
    await services.store.run(beat, now=now)
    counts = await services.store.run(queue_counts, now=now)
    waiting = await services.store.run(open_count)
    outbox = await services.store.run(outbox_counts, now=now)
    log.info("heartbeat: %(pending)d pending, %(due)d due now, %(failed)d failed; %(updates)d updates waiting; "
             "%(notices)d staff notices waiting (%(notices_due)d due)",
             {**counts, "updates": waiting, "notices": outbox["pending"], "notices_due": outbox["due"]})


async def prune_job(context: AftercareContext) -> None:
    """Delete handled updates older than UPDATE_RETENTION_HOURS (kept so a re-delivery is recognised), and
    the audit trail's months older than AUDIT_RETENTION_DAYS."""
    services = context.services
    before = services.clock() - services.settings.update_retention
    removed = await services.store.run(prune_updates, before=before)
    if removed:
        log.info("pruned %d handled updates", removed)
    # Sent staff notices kept their keys (a re-claimed silence alert is not queued twice), not their words.
    notices = await services.store.run(prune_notices, before=before)
    if notices:
        log.info("pruned %d sent staff notices", notices)
    try:
        removed = await services.store.run(audit.prune, retention=services.settings.audit_retention,
                                           now=services.clock())
    except audit.TamperedTrail as exc:
        log.error("%s", exc)
        return
    if removed:
        log.info("pruned %d audit rows older than %d days", removed, services.settings.audit_retention.days)


async def raise_untaken(services: Services, bot) -> int:
    """Raise again, to every staff member and the staff chat, each "worried" item nobody took within
    ESCALATION_REMINDER, during CLINIC_HOURS; return how many were raised. Out of hours nothing is
    raised (the patient was told at once that the clinic is closed); the first check once the clinic
    opens raises what waited overnight.
    """
    settings = services.settings
    now = services.clock()
    if not settings.clinic_hours.is_open(now, settings.clinic_timezone):
        return 0
    async with services.store.exclusive(INBOX_LOCK) as mine:
        if not mine:
            return 0  # another instance is raising them
        items = await services.store.run(due_for_raising, after=settings.escalation_reminder, now=now)
        if not items:
            return 0
        members = await services.store.run(staff_members)
        chats = sorted(set(settings.staff_ids) | {member.user_id for member in members})
        if settings.staff_chat_id is not None:
            chats.insert(0, settings.staff_chat_id)
        staff = services.staff_locale
        locales = {chat_id: await services.chat_locale(chat_id) for chat_id in chats}
        raised = 0
        for item in items:
            # Recorded first: a crash after this sends it once less, never twice.
            item = await services.store.run(note_raised, item_id=item.id, now=now)
            if item is None:
                continue  # taken or resolved meanwhile
            minutes = int((now - item.opened_at).total_seconds() // 60)
            for locale, body, locale_chats in await _raised_in(services, item.id, chats, locales):
                lead = services.text(locale, "inbox_raised_again", item_id=item.id,
                                     waited=services.duration(locale, now - item.opened_at))
                await send_to_chats(services, bot, locale_chats, "", patient_id=item.patient_id, item_id=item.id,
                                    lead=lead, body=body, priority=Priority.URGENT,
                                    locale=None if locale == staff else locale)
            log.info("inbox item %d raised again to %d chat(s): nobody took it in %d min", item.id, len(chats), minutes)
            raised += 1
        return raised


async def _raised_in(services: Services, item_id: int | None, chats: list[int],
                     locales: dict[int, str]) -> list[tuple[str, str | None, list[int]]]:
    """An item raised again, as each chat reads it: (language, its own words or None for the item's, chats).

    A private chat in another language than STAFF_LANGUAGE gets the words its first alert of the item had in
    its own language; one that had none in it (it joined since) reads the item in STAFF_LANGUAGE, as the item's
    words are, so that no message is half in two languages."""
    staff = services.staff_locale
    views = (await services.store.run(views_of, item_id=item_id)).views
    groups: dict[tuple[str, str | None], list[int]] = {}
    for chat_id in chats:
        locale, body = staff, None
        if locales[chat_id] != staff:
            own = [view.body for view in views if view.chat_id == chat_id and view.locale == locales[chat_id]
                   and view.body is not None]
            if own:
                locale, body = locales[chat_id], own[0]
        groups.setdefault((locale, body), []).append(chat_id)
    return [(locale, body, group) for (locale, body), group in groups.items()]


async def inbox_job(context: AftercareContext) -> None:
    """JobQueue callback: raise again the worried items nobody took."""
    await raise_untaken(context.services, context.bot)
