"""The staff outbox's sender: one recurring job sends the queued staff notices, each chat at its own pace.

Everything that writes to a staff chat -- alerts (bot/alerts.py), edits of an inbox item's messages
(bot/inbox_views.py), topic work (bot/topics.py: createForumTopic and the introduction, closing and
reopening), the edits that drop an erased patient's name (bot/erasure.py) -- queues a notice
(jobs/staff/outbox.py) and wakes this job, as a handler wakes the dispatcher. Nothing on the
dispatcher's path talks to a staff chat, so a staff group's 20 messages a minute never hold back a
patient's reminder. A staff command's own reply in a group is paced by the same budget
(bot/rate_limits.py).

A pass claims what is due, most urgent first; each chat's notices go in order, different chats at
once. Before a notice begins, its chat must have budget for every call it may make (a forum's first
alert about a patient is three: the topic, its introduction, the alert); without it the notice waits
in the table until the chat has, and the job is woken then. A 429 holds the whole chat for its
``retry_after``. One sender at a time among instances (a database lock, as for the dispatcher): the
budget is the bot token's, not each instance's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.alerts import alert_calls, deliver_alert
from bot.erasure import UNNAME_PER_NOTICE, queue_unname, unname_calls, unname_in_chat
from bot.inbox_views import edit_calls, edit_views
from bot.rate_limits import CHAT_WRITES, OUTBOX_PACED
from bot.services import Services
from bot.topics import queue_settle, reopen_for_patient, settle_topics
from jobs.dispatch import DeliveryPolicy, retry_delay
from jobs.staff.outbox import (
    Action,
    ClaimedNotice,
    claim_notices,
    hold_chat,
    next_due,
    notice_failed,
    notice_later,
    notice_sent,
)
from jobs.storage.db import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

OUTBOX_JOB_NAME = "send-staff-notices"
OUTBOX_LOCK = "aftercare-outbox"
# The job's own tick, for notices that wait for budget or a retry; queuing one wakes it sooner.
OUTBOX_INTERVAL = timedelta(seconds=5)
OUTBOX_LEASE = timedelta(minutes=5)
OUTBOX_BATCH = 50
# A timeout or a network error: tried again with backoff, given up after this many attempts.
OUTBOX_RETRY = DeliveryPolicy(max_attempts=8, retry_base=timedelta(seconds=15), retry_cap=timedelta(minutes=10))
# Topics closed or reopened per notice (each is a call or two into the staff chat).
SETTLE_PER_NOTICE = 2
# The Bot API methods that write into a chat, and so spend its budget.
PACED = CHAT_WRITES


class OutOfBudget(Exception):  # noqa: N818 - not an error: a notice that must wait its turn
    """The chat has no budget for this notice now; it may go at ``ready_at``."""

    def __init__(self, ready_at: datetime) -> None:
        super().__init__(f"no budget until {ready_at.isoformat()}")
        self.ready_at = ready_at


class PacedBot:
    """The bot, as one notice may use it: every call that writes into the notice's chat spends its budget.

    Before the notice's first call, a chat without budget raises :class:`OutOfBudget` (nothing was
    sent: the notice waits). Once the notice has begun, its later calls (the alert after the topic it
    created, the words that did not fit beside a photo) wait for the budget instead, so a notice is
    never left half-sent. A 429 holds the chat in the pacer for its ``retry_after``.
    """

    def __init__(self, bot: Bot, services: Services, chat_id: int) -> None:
        self._bot, self._services, self._chat_id = bot, services, chat_id
        self._begun = False

    def __getattr__(self, name: str):
        attribute = getattr(self._bot, name)
        if name not in PACED:
            return attribute

        async def paced(*args, **kwargs):
            await self._turn()
            token = OUTBOX_PACED.set(True)  # paced here: the rate limiter lets it through (bot/rate_limits.py)
            try:
                result = await attribute(*args, **kwargs)
            except RetryAfter as exc:
                self._services.staff_pacer.hold(self._chat_id, self._services.clock() + _delay(exc.retry_after))
                raise
            finally:
                OUTBOX_PACED.reset(token)
            self._begun = True
            return result

        return paced

    async def _turn(self) -> None:
        services, pacer = self._services, self._services.staff_pacer
        now = services.clock()
        ready = pacer.ready_at(self._chat_id, now)
        if ready > now:
            if not self._begun:
                raise OutOfBudget(ready)
            await services.outbox_sleep((ready - now).total_seconds())
            now = services.clock()
        pacer.note(self._chat_id, now)


@dataclass
class OutboxReport:
    """What one pass did."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0  # put back: no budget yet, a 429, a retry
    ran: bool = True


async def send_notices(services: Services, bot: Bot, *, should_stop=lambda: False) -> OutboxReport:
    """One pass: send every notice due now that its chat has budget for; the rest wait in the table."""
    report = OutboxReport()
    async with services.store.exclusive(OUTBOX_LOCK) as mine:
        if not mine:
            return OutboxReport(ran=False)  # another instance is sending
        # Like the dispatcher, the outbox can wait out another writer: nobody waits on its reply.
        store = services.store.with_busy_timeout(SQLITE_BUSY_TIMEOUT_MS)
        while not should_stop():
            batch = await store.run(claim_notices, now=services.clock(), limit=OUTBOX_BATCH, lease=OUTBOX_LEASE,
                                    holder=services.store.holder)
            if not batch:
                break
            by_chat: dict[int, list[ClaimedNotice]] = {}
            for notice in batch:
                by_chat.setdefault(notice.chat_id, []).append(notice)
            results = await asyncio.gather(*(_send_chat(services, store, bot, notices, report, should_stop)
                                             for notices in by_chat.values()), return_exceptions=True)
            errors = [result for result in results if isinstance(result, BaseException)]
            if errors:
                raise errors[0]
            if len(batch) < OUTBOX_BATCH:
                break
    if report.sent or report.failed:
        log.info("staff outbox: %d sent, %d failed, %d waiting for their chat's turn", report.sent, report.failed,
                 report.waiting)
    return report


async def _send_chat(services: Services, store, bot: Bot, notices: list[ClaimedNotice], report: OutboxReport,
                     should_stop) -> None:
    """One chat's claimed notices, in order; the first that must wait holds the rest back with it."""
    for position, notice in enumerate(notices):
        if should_stop():
            await _put_back(store, notices[position:], services.clock(), report)
            return
        now = services.clock()
        ready = services.staff_pacer.ready_at(notice.chat_id, now, await _calls_needed(services, notice))
        if ready > now:
            await _put_back(store, notices[position:], ready, report)
            return
        try:
            await _perform(services, PacedBot(bot, services, notice.chat_id), notice)
        except OutOfBudget as exc:
            await _put_back(store, notices[position:], exc.ready_at, report)
            return
        except RetryAfter as exc:
            until = services.clock() + _delay(exc.retry_after)
            log.warning("staff chat %s: Telegram asks to wait %.0f s; its notices wait", notice.chat_id,
                        _delay(exc.retry_after).total_seconds())
            await store.run(hold_chat, chat_id=notice.chat_id, until=until)
            await _put_back(store, notices[position:], until, report)
            return
        except (Forbidden, BadRequest) as exc:
            # A staff member who blocked the bot, a chat the bot was removed from: the others still hear.
            log.warning("could not alert staff chat %s: %s", notice.chat_id, exc)
            await store.run(notice_failed, notice_id=notice.id, now=services.clock(), error=str(exc))
            report.failed += 1
            continue
        except (NetworkError, TelegramError) as exc:
            attempts = notice.attempts + 1
            if attempts >= OUTBOX_RETRY.max_attempts:
                log.warning("staff notice %d to chat %s: giving up after %d attempts: %s", notice.id, notice.chat_id,
                            attempts, exc)
                await store.run(notice_failed, notice_id=notice.id, now=services.clock(), error=str(exc))
                report.failed += 1
            else:
                log.warning("staff notice %d to chat %s: %s; trying again later", notice.id, notice.chat_id, exc)
                await store.run(notice_later, notice_id=notice.id, attempts=attempts, error=str(exc),
                                due_at=services.clock() + retry_delay(attempts, OUTBOX_RETRY))
                report.waiting += 1
            continue
        except Exception as exc:  # noqa: BLE001 - one notice's bug never stops the others
            log.exception("staff notice %d to chat %s failed", notice.id, notice.chat_id)
            await store.run(notice_failed, notice_id=notice.id, now=services.clock(), error=type(exc).__name__)
            report.failed += 1
            continue
        await store.run(notice_sent, notice_id=notice.id, now=services.clock())
        report.sent += 1


async def _put_back(store, notices: list[ClaimedNotice], due_at: datetime, report: OutboxReport) -> None:
    """These wait until ``due_at``; so does everything else waiting for their chat (it has no budget
    before then), so that the rest of this pass does not claim them only to put them back."""
    await store.run(_later_all, notices=notices, due_at=due_at)
    report.waiting += len(notices)


def _later_all(session, *, notices: list[ClaimedNotice], due_at: datetime) -> None:
    for notice in notices:
        notice_later(session, notice_id=notice.id, due_at=due_at, attempts=notice.attempts)
    hold_chat(session, chat_id=notices[0].chat_id, until=due_at)


async def _calls_needed(services: Services, notice: ClaimedNotice) -> int:
    """The most calls a notice may make in its chat: budget it must have before it begins."""
    if notice.action is Action.SEND:
        return await alert_calls(services, notice)
    if notice.action is Action.EDIT:
        return await edit_calls(services, notice)
    if notice.action is Action.UNNAME:
        return await unname_calls(services, notice.chat_id)
    # Settling: a topic's rename (an erased patient) and its closing, for each topic it may do.
    return 2 * SETTLE_PER_NOTICE if notice.action is Action.SETTLE else 1


async def _perform(services: Services, bot: PacedBot, notice: ClaimedNotice) -> None:
    if notice.action is Action.SEND:
        await deliver_alert(services, bot, notice)
    elif notice.action is Action.EDIT:
        await edit_views(services, bot, notice)
    elif notice.action is Action.SETTLE:
        # A few topics per notice, so that alerts waiting for the chat are not held behind many. A full
        # batch done: the rest are queued again (the key was freed when this one was claimed); fewer: what
        # is left could not be done now, and the dispatcher's next pass queues it again.
        if await settle_topics(services, bot, limit=SETTLE_PER_NOTICE) >= SETTLE_PER_NOTICE:
            await queue_settle(services)
    elif notice.action is Action.REOPEN and notice.patient_id is not None:
        await reopen_for_patient(services, bot, notice.patient_id)
    elif notice.action is Action.UNNAME:
        # Erased patients' names off this chat's messages, a few per notice; a full batch: more may be left.
        if await unname_in_chat(services, bot, notice.chat_id) >= UNNAME_PER_NOTICE:
            await queue_unname(services, [notice.chat_id])


async def outbox_rounds(services: Services, bot: Bot, *, should_stop=lambda: False) -> OutboxReport:
    """Outbox passes for as long as something was queued meanwhile; then the job is set for the next wait."""
    if services.outbox_running:
        # The job ran again beside a pass (see WOKEN_JOB in bot/app.py): that pass runs once more instead.
        services.outbox_wanted = True
        return OutboxReport()
    services.outbox_running = True
    total = OutboxReport()
    try:
        while True:
            services.outbox_wanted = False
            report = await send_notices(services, bot, should_stop=should_stop)
            total.sent, total.failed, total.waiting = (total.sent + report.sent, total.failed + report.failed,
                                                       report.waiting)
            total.ran = report.ran
            if not services.outbox_wanted or should_stop():
                break
    finally:
        services.outbox_running = False
    # Another instance is sending (it did not run): its notices are due now, and waking at once would only
    # find the lock taken again, over and over; the next tick looks again.
    if services.outbox_waker is not None and total.ran and not should_stop():
        # A notice waiting for its chat's budget goes when it has it, not at the next tick.
        soonest = await services.store.run(next_due)
        if soonest is not None:
            services.outbox_waker(max(soonest - services.clock(), timedelta(0)) + datetime.now(UTC))
    return total


async def outbox_job(context) -> None:
    """JobQueue callback: send the staff notices whose turn has come."""
    application = context.application
    await outbox_rounds(context.services, context.bot, should_stop=lambda: not application.running)


def outbox_waker(job_queue):
    """What :func:`wake_outbox` calls: move the outbox job's next run to ``when`` (if sooner)."""

    def wake(when: datetime) -> None:
        for job in job_queue.get_jobs_by_name(OUTBOX_JOB_NAME):
            current = getattr(job.job, "next_run_time", None)  # None: the scheduler has not started
            if current is None or when < current:
                job.job.modify(next_run_time=when)

    return wake


def _delay(value: int | timedelta) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))
