"""The send loop: claim a batch, send each reminder, record its outcome; again until none is due.

One recurring JobQueue job calls :func:`dispatch_due`; tests call it directly with a fixed ``now``.
A patient's reminders go out one after another, in due order; different patients in parallel,
with a bounded number of sends in flight (``DeliveryPolicy.concurrency``, which is also the most
that can repeat after a crash: delivery is at-least-once, and only a message sent but not yet
recorded when the process died can repeat).

Sending never aborts a batch: each send error is classified (jobs/dispatch/outcomes.py) and
recorded on its own row. What stops the sends not yet begun, so they go back to pending: a
shutdown, a 429, and an outcome that could not be recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.constants import ParseMode

from jobs.buttons import link_keyboard, outcome_keyboard, reminder_keyboard
from jobs.care.planning import QuietHours
from jobs.care.silence import (
    KIND_NUDGE,
    KIND_SILENCE,
    NUDGE_TEXTS,
    Silence,
    followup_wanted,
    plan_followups,
    record_sent_with_followups,
)
from jobs.dispatch.outcomes import FAILED, RETRIED, Outcome, classify, retry_delay
from jobs.dispatch.pacing import ChatPacer, OutcomeRecorder
from jobs.dispatch.queries import (
    ClaimedReminder,
    claim_due,
    record_failed,
    record_retry,
    record_sent,
    record_skipped,
    record_unreachable,
    release_claims,
)
from jobs.dispatch.render import ClinicInfo, render_nudge, render_reminder
from messages.catalog import Catalog
from messages.protocol import ANSWERED_KINDS, KIND_CHECKIN, KIND_OUTCOME, KIND_PHOTO, KIND_REVIEW

# Tells staff that a step went unanswered (bot/delivery.py gives one); True once some staff chat has it.
StaffAlert = Callable[[ClaimedReminder, Silence], Awaitable[bool]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard the dispatcher works and how patiently it retries."""

    batch_size: int = 200
    # Sends in flight, which is also the most that can repeat after a crash. 4 already drains far
    # faster than Telegram's 30/s (bench/: ~1,900 msg/s on SQLite); 8 or 16 drain faster still,
    # but would widen that bound for no gain a clinic would see.
    concurrency: int = 4
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(minutes=30)


@dataclass
class DispatchReport:
    """What one dispatcher run did: an outcome per reminder, and what staff must hear of."""

    counts: Counter = field(default_factory=Counter)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    # Patients found to have blocked the bot in this run: (patient id, name), for one staff alert each.
    blocked: list[tuple[int, str]] = field(default_factory=list)
    # Reminders that failed for good: (patient id, name, reason), for staff.
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    # False: the pass did not run (another instance was sending). halted: it stopped early (a 429,
    # a shutdown, an outcome it could not record) and more may be due.
    ran: bool = True
    halted: bool = False

    def count(self, outcome: Outcome, reminder_id: int | None = None, n: int = 1) -> None:
        self.counts[outcome] += n
        if reminder_id is not None:
            self.outcomes[reminder_id] = outcome

    @property
    def sent(self) -> int:
        return self.counts[Outcome.SENT]

    @property
    def skipped(self) -> int:
        return self.counts[Outcome.STALE]

    @property
    def failed(self) -> int:
        return sum(self.counts[outcome] for outcome in FAILED)

    @property
    def retried(self) -> int:
        return sum(self.counts[outcome] for outcome in RETRIED)

    @property
    def rate_limited(self) -> int:
        return self.counts[Outcome.RATE_LIMITED]

    @property
    def released(self) -> int:
        return self.counts[Outcome.RELEASED]

    @property
    def closed(self) -> int:
        return self.counts[Outcome.CLOSED]

    @property
    def handled(self) -> int:
        """Rows this run finished or re-queued."""
        return self.sent + self.skipped + self.failed + self.retried + self.closed


@dataclass
class _Run:
    """One dispatcher run's shared state."""

    store: object
    bot: Bot
    catalog: Catalog
    clinic: ClinicInfo
    now: datetime
    policy: DeliveryPolicy
    pacer: ChatPacer
    should_stop: Callable[[], bool]
    quiet_hours: QuietHours = QuietHours.parse("off")
    staff_alert: StaffAlert | None = None
    report: DispatchReport = field(default_factory=DispatchReport)
    # Set by a 429 or an outcome that could not be recorded: finish what is in flight, begin nothing more.
    halted: bool = False
    recorder: OutcomeRecorder | None = None

    def __post_init__(self) -> None:
        self.recorder = OutcomeRecorder(self.store)

    def stopping(self) -> bool:
        return self.halted or self.should_stop()


async def dispatch_due(
    *,
    store,
    bot: Bot,
    catalog: Catalog,
    clinic: ClinicInfo,
    now: datetime,
    policy: DeliveryPolicy = DeliveryPolicy(),
    pacer: ChatPacer | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    holder: int | None = None,
    quiet_hours: QuietHours | None = None,
    staff_alert: StaffAlert | None = None,
) -> DispatchReport:
    """Send every reminder due at ``now``, batch by batch, until none is left.

    ``quiet_hours`` place the nudges a sent check-in or photo step plans (jobs/care/silence.py) and keep
    a late nudge out of them; ``staff_alert`` tells staff of an unanswered step (without it such an
    alert is skipped, with the reason on its row).

    ``should_stop`` is asked before every send: when it says yes (the bot is shutting down),
    sends in flight finish and are recorded, and the rest of the claimed rows are released.
    ``holder`` is this process's presence id, written on its claims.
    """
    run = _Run(store, bot, catalog, clinic, now, policy, pacer or ChatPacer(), should_stop,
               quiet_hours=quiet_hours or QuietHours.parse("off"), staff_alert=staff_alert)
    limiter = asyncio.Semaphore(policy.concurrency)
    while not run.stopping():
        batch = await store.run(claim_due, now=now, limit=policy.batch_size, lease=policy.lease, holder=holder)
        if not batch:
            break
        by_chat: dict[int, list[ClaimedReminder]] = defaultdict(list)
        for item in batch:
            by_chat[item.chat_id].append(item)
        # Every chat's sends finish before an error goes up: none may outlive this run (and the
        # dispatch lock the caller holds for it).
        results = await asyncio.gather(*(_deliver_chat(run, items, limiter) for items in by_chat.values()),
                                       return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]
        if len(batch) < policy.batch_size:
            break
    report = run.report
    report.halted = run.stopping()
    if report.handled or report.released:
        log.info("dispatch: %d sent, %d skipped as stale, %d failed, %d to retry, %d released",
                 report.sent, report.skipped, report.failed, report.retried, report.released)
    return report


async def _deliver_chat(run: _Run, items: list[ClaimedReminder], limiter: asyncio.Semaphore) -> None:
    """One patient's claimed reminders, in order; a blocked patient stops the rest."""
    try:
        for position, item in enumerate(items):
            if not run.stopping():
                await run.pacer.wait(item.chat_id)  # before taking a slot: a paced chat must not idle one
            async with limiter:
                # Asked again once a slot is free: every chat of a batch passes the first check at
                # once, and a stop or a halt that came meanwhile must stop the sends not yet begun.
                if run.stopping():
                    rest = items[position:]
                    await run.recorder.record(release_claims, reminder_ids=[r.id for r in rest])
                    for other in rest:
                        run.report.count(Outcome.RELEASED, other.id)
                    return
                outcome = await _deliver_one(run, item)
            run.report.count(outcome, item.id)
            if outcome is Outcome.BLOCKED:
                for rest in items[position + 1:]:
                    run.report.outcomes[rest.id] = Outcome.CANCELLED
                return
    except BaseException:
        # An outcome that cannot be recorded (the database went away) halts the run like a 429:
        # every other chat stops before its next send, so nothing more goes out unrecorded.
        run.halted = True
        raise


async def _deliver_one(run: _Run, item: ClaimedReminder) -> Outcome:
    """Send one reminder and record its outcome."""
    record, now = run.recorder.record, run.now
    if item.expires_at <= now:
        await record(record_skipped, reminder_id=item.id, reason="stale: expired before it could be sent")
        return Outcome.STALE
    if item.kind in (KIND_NUDGE, KIND_SILENCE):
        silence = await run.store.run(followup_wanted, parent_id=item.parent_id)
        if silence is None:
            await record(record_skipped, reminder_id=item.id, reason="closed: the step was answered")
            return Outcome.CLOSED
        if item.kind == KIND_SILENCE:
            return await _alert_silence(run, item, silence)
        zone = ZoneInfo(item.timezone)
        if run.quiet_hours.contains(now.astimezone(zone).time().replace(tzinfo=None)):
            # Late (the bot was down, the patient paused): a nudge never goes out at night.
            later = run.quiet_hours.move_out(now, zone)
            if later >= item.expires_at:
                await record(record_skipped, reminder_id=item.id, reason="stale: only quiet hours were left")
                return Outcome.STALE
            await record(record_retry, reminder_id=item.id, due_at=later, attempts=item.attempts,
                         reason="deferred: quiet hours")
            return Outcome.RETRY
    if item.kind == KIND_REVIEW and not run.clinic.review_url:
        await record(record_skipped, reminder_id=item.id, reason="skipped: REVIEW_URL is not set")
        return Outcome.STALE
    if item.kind == KIND_OUTCOME and not run.clinic.hours.is_open(now, run.clinic.zone):
        # Asked while the clinic is staffed, so that a "worse" answer finds someone to own it.
        opening = run.clinic.hours.next_opening(now, run.clinic.zone)
        if opening is None or opening >= item.expires_at:
            await record(record_skipped, reminder_id=item.id,
                         reason="stale: the clinic does not open before it expires")
            return Outcome.STALE
        await record(record_retry, reminder_id=item.id, due_at=opening, attempts=item.attempts,
                     reason="deferred: clinic hours")
        return Outcome.RETRY
    try:
        if item.kind == KIND_NUDGE:
            text = render_nudge(item, catalog=run.catalog, clinic=run.clinic)
            # A check-in's nudge carries the check-in's own buttons again; a photo's needs none.
            keyboard = (reminder_keyboard(KIND_CHECKIN, item.parent_id, catalog=run.catalog, locale=item.locale)
                        if item.text_key == NUDGE_TEXTS[KIND_CHECKIN] else None)
        else:
            text = render_reminder(item, catalog=run.catalog, clinic=run.clinic)
            keyboard = _keyboard(run, item)
    except (KeyError, ValueError) as exc:
        log.error("reminder %d: cannot render text %r: %s", item.id, item.text_key, exc)
        return await _fail(run, item, Outcome.BROKEN, f"render: {exc}", attempts=item.attempts)
    try:
        message = await run.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except Exception as exc:  # noqa: BLE001 - classified below; one reminder's error never aborts the batch
        return await _after_error(run, item, exc, classify(exc))
    if item.kind in ANSWERED_KINDS and (item.nudge_after_spec or item.alert_after_spec):
        followups = plan_followups(kind=item.kind, nudge_after=item.nudge_after_spec,
                                   alert_after=item.alert_after_spec, sent_at=now, zone=ZoneInfo(item.timezone),
                                   quiet_hours=run.quiet_hours,
                                   answer_until=item.expires_at if item.kind == KIND_PHOTO else None)
        await record(record_sent_with_followups, reminder_id=item.id, message_id=message.message_id, now=now,
                     followups=followups)
    else:
        await record(record_sent, reminder_id=item.id, message_id=message.message_id, now=now)
    return Outcome.SENT


def _keyboard(run: _Run, item: ClaimedReminder):
    """The buttons under a step: answers (check-in, rebooking, the outcome's scale), or the review link."""
    if item.kind == KIND_OUTCOME:
        scale = run.catalog.protocol_for(item.protocol_name).step_scale(item.step_key)
        return outcome_keyboard(item.id, scale, catalog=run.catalog, locale=item.locale)
    if item.kind == KIND_REVIEW:
        return link_keyboard(run.catalog.bot(item.locale, "review_button"), run.clinic.review_link(item.id))
    return reminder_keyboard(item.kind, item.id, catalog=run.catalog, locale=item.locale)


async def _alert_silence(run: _Run, item: ClaimedReminder, silence: Silence) -> Outcome:
    """Tell staff that a step went unanswered; retried like a send when no staff chat got it."""
    if run.staff_alert is None:
        await run.recorder.record(record_skipped, reminder_id=item.id, reason="no staff alert channel in this run")
        return Outcome.STALE
    try:
        delivered = await run.staff_alert(item, silence)
    except Exception as exc:  # noqa: BLE001 - one alert's error never aborts the batch
        log.error("reminder %d: the silence alert raised", item.id, exc_info=exc)
        delivered = False
    if not delivered:
        return await _retry_or_fail(run, item, "no staff chat got the alert")
    await run.recorder.record(record_sent, reminder_id=item.id, message_id=None, now=run.now)
    return Outcome.SENT


async def _after_error(run: _Run, item: ClaimedReminder, exc: Exception, outcome: Outcome) -> Outcome:
    """Record what a send error means for the reminder (see jobs/dispatch/outcomes.py)."""
    record, now = run.recorder.record, run.now
    if outcome is Outcome.RATE_LIMITED:
        # Telegram's flood control: wait as told; not the reminder's fault, so no attempt is counted.
        delay = _seconds(exc.retry_after)
        run.halted = True
        await record(record_retry, reminder_id=item.id, due_at=now + timedelta(seconds=delay),
                     attempts=item.attempts, reason=f"rate limited for {delay:.0f}s")
        return outcome
    if outcome is Outcome.BLOCKED:
        log.warning("reminder %d: patient %d blocked the bot (%s)", item.id, item.patient_id, exc.message)
        newly = await record(record_unreachable, reminder_id=item.id, patient_id=item.patient_id,
                             reason=f"blocked: {exc.message}", now=now)
        if newly:
            run.report.blocked.append((item.patient_id, item.patient_name))
        return outcome
    if outcome is Outcome.REFUSED:
        log.warning("reminder %d: Telegram refused it: %s", item.id, exc.message)
        return await _fail(run, item, outcome, f"bad request: {exc.message}", attempts=item.attempts + 1)
    if outcome is Outcome.RETRY:
        return await _retry_or_fail(run, item, f"{type(exc).__name__}: {exc.message}")
    log.error("reminder %d: unexpected error while sending", item.id, exc_info=exc)
    return await _fail(run, item, outcome, f"error: {type(exc).__name__}", attempts=item.attempts + 1)


async def _fail(run: _Run, item: ClaimedReminder, outcome: Outcome, reason: str, *, attempts: int) -> Outcome:
    await run.recorder.record(record_failed, reminder_id=item.id, reason=reason, attempts=attempts)
    run.report.failures.append((item.patient_id, item.patient_name, reason))
    return outcome


async def _retry_or_fail(run: _Run, item: ClaimedReminder, reason: str) -> Outcome:
    attempts = item.attempts + 1
    policy = run.policy
    if attempts >= policy.max_attempts:
        log.warning("reminder %d: giving up after %d attempts (%s)", item.id, attempts, reason)
        return await _fail(run, item, Outcome.GAVE_UP, reason, attempts=attempts)
    delay = retry_delay(attempts, policy)
    if run.now + delay >= item.expires_at:
        # It would go stale before the next try: skip it now rather than send it late.
        await run.recorder.record(record_skipped, reminder_id=item.id, reason=f"stale while retrying ({reason})")
        return Outcome.STALE
    await run.recorder.record(record_retry, reminder_id=item.id, due_at=run.now + delay, attempts=attempts,
                              reason=reason)
    return Outcome.RETRY


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
