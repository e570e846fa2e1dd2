"""The dispatcher: claim due reminders atomically, send them, record what happened to each.

One recurring JobQueue job calls :func:`dispatch_due`; tests call it directly with a fixed
``now``. A claim marks rows ``claimed`` with a lease; a process that dies mid-batch leaves rows
whose lease runs out and which the next claim takes again. Delivery is therefore at-least-once:
only a message sent but not yet recorded when the process died can repeat.

Sending never aborts a batch: each reminder's error is classified and recorded on its own row.
A patient's reminders go out one after another, in due order; different patients in parallel,
with a bounded number of sends in flight (thousands at once make httpx's pool collapse).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, union_all, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from jobs import events
from jobs.buttons import reminder_keyboard
from jobs.enrollment import UNREACHABLE_REASON
from jobs.planning import next_session_window
from jobs.storage.models import (
    ACTIVE,
    CANCELLED,
    CLAIMED,
    FAILED,
    OPEN_STATES,
    PENDING,
    SENT,
    SKIPPED,
    UNREACHABLE,
    Enrollment,
    Patient,
    Reminder,
)
from jobs.storage.presence import ME, holder_gone
from messages.catalog import Catalog, Raw

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClinicInfo:
    """The clinic details that step texts quote."""

    name: str
    phone: str
    booking_url: str = ""


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


@dataclass(frozen=True)
class ClaimedReminder:
    """Everything needed to send one reminder, copied out of the database session."""

    id: int
    patient_id: int
    chat_id: int
    patient_name: str
    locale: str
    timezone: str
    step_key: str
    text_key: str
    kind: str
    due_at: datetime
    expires_at: datetime
    attempts: int
    session_number: int
    series_length: int
    session_at: datetime
    protocol_name: str


@dataclass
class DispatchReport:
    """Counts of what one dispatcher run did."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)
    released: int = 0
    rate_limited: int = 0
    # Patients found to have blocked the bot in this run: (patient id, name), for one staff alert each.
    blocked: list[tuple[int, str]] = field(default_factory=list)
    # Reminders that failed for good: (patient id, name, reason), for staff.
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    # False: the pass did not run (another instance was sending). True in halted: it stopped early
    # (a 429, a shutdown, an outcome it could not record) and more may be due.
    ran: bool = True
    halted: bool = False

    @property
    def handled(self) -> int:
        """Rows this run finished or re-queued."""
        return self.sent + self.skipped + self.failed + self.retried


# What the dispatcher needs of a claimed row, in ClaimedReminder's order. Plain columns, not ORM
# objects: building a hundred entities costs more than the query.
_CLAIMED_COLUMNS = (
    Reminder.id, Patient.id, Patient.chat_id, Patient.name, Patient.locale, Patient.timezone,
    Reminder.step_key, Reminder.text_key, Reminder.kind, Reminder.due_at, Reminder.expires_at,
    Reminder.attempts, Enrollment.session_number, Enrollment.series_length, Enrollment.session_at,
    Enrollment.protocol_name,
)


def _claim_statements(dialect: str):
    """The claim's statements, built once with bound parameters (``now``, ``until``, ``limit``, ``me``):
    building them per call cost about as much as PostgreSQL took to run them."""
    now, limit = bindparam("now"), bindparam("limit")
    other = aliased(Reminder)
    in_flight = (
        select(other.id)
        # A dead holder's claim is not in flight: it is about to be taken again itself.
        .where(other.patient_id == Patient.id, other.status == CLAIMED, other.claimed_until > now,
               ~holder_gone(other.holder, dialect))
        .exists()
    )

    def candidates(*condition):
        # key_share: FOR NO KEY UPDATE, which still lets enrollments insert rows referring to the patient.
        return (
            select(Reminder.id, Reminder.due_at)
            .join(Patient, Patient.id == Reminder.patient_id)
            .where(Patient.status == ACTIVE, Patient.chat_id.is_not(None), ~in_flight, *condition)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=[Reminder, Patient], key_share=True)
        )

    pending = candidates(Reminder.status == PENDING, Reminder.due_at <= now)
    # A claim whose lease ran out, or whose holder is known to be gone (a process killed mid-send):
    # taken again at once in the second case, not after the lease.
    expired = candidates(Reminder.status == CLAIMED,
                         or_(Reminder.claimed_until <= now, holder_gone(Reminder.holder, dialect)))
    both = union_all(select(pending.cte("pending")), select(expired.cte("expired"))).subquery("both")
    picked = select(both.c.id).order_by(both.c.due_at, both.c.id).limit(limit).cte("picked")
    in_one = (
        update(Reminder)
        .where(Reminder.id == picked.c.id, Patient.id == Reminder.patient_id, Enrollment.id == Reminder.enrollment_id)
        .values(status=CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME))
        .returning(*_CLAIMED_COLUMNS)
    )
    ids = bindparam("ids", expanding=True)
    mark = (update(Reminder).where(Reminder.id.in_(ids))
            .values(status=CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME)))
    columns = (
        select(*_CLAIMED_COLUMNS)
        .join(Patient, Patient.id == Reminder.patient_id)
        .join(Enrollment, Enrollment.id == Reminder.enrollment_id)
        .where(Reminder.id.in_(ids))
        .order_by(Reminder.due_at, Reminder.id)
    )
    return in_one, pending, expired, mark, columns


_CLAIM_IN_ONE = _claim_statements("postgresql")[0]
_, _PENDING, _EXPIRED, _MARK_CLAIMED, _CLAIMED_ROWS = _claim_statements("sqlite")


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta,
              holder: int | None = None) -> list[ClaimedReminder]:
    """Claim up to ``limit`` due reminders of linked, active patients, oldest first.

    Candidates are pending rows that are due (read through the partial index on pending rows)
    and claims whose lease ran out, of patients with no other claim in flight, so each patient's
    messages keep their order. On PostgreSQL the candidates lock the reminder *and its patient*
    rows with ``FOR NO KEY UPDATE … SKIP LOCKED``: concurrent dispatchers never take the same
    row, nor two rows of one patient. There the whole claim is one ``UPDATE … FROM … RETURNING``
    statement, one round trip. On SQLite the transaction began IMMEDIATE, so a second dispatcher
    waits for the lock and then sees the rows as claimed; the claim there is a select, an update
    and a select, all in-process.

    ``holder`` (this process's presence, jobs/storage/presence.py) is written on the claims; claims
    of a holder known to be gone are candidates at once.
    """
    values = {"now": now, "until": now + lease, "limit": limit, ME: holder}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(_CLAIM_IN_ONE, values).all()
        return sorted((ClaimedReminder(*row) for row in rows), key=lambda item: (item.due_at, item.id))

    ids = [row.id for row in connection.execute(_PENDING, values)]
    if len(ids) < limit:
        ids += [row.id for row in connection.execute(_EXPIRED, values)][: limit - len(ids)]
    if not ids:
        return []
    connection.execute(_MARK_CLAIMED, {**values, "ids": ids})
    return [ClaimedReminder(*row) for row in connection.execute(_CLAIMED_ROWS, {"ids": ids})]


def record_sent(session: Session, *, reminder_id: int, message_id: int, now: datetime) -> None:
    """Mark a reminder sent, with Telegram's message id."""
    record_sent_many(session, [{"reminder_id": reminder_id, "message_id": message_id, "now": now}])


# One statement for any number of sends, run as executemany (psycopg pipelines it: one round trip).
# Bound names differ from the column names, which SQLAlchemy reserves for the SET clause.
_MARK_SENT = (
    update(Reminder.__table__)
    .where(Reminder.__table__.c.id == bindparam("reminder_id"), Reminder.__table__.c.status == CLAIMED)
    .values(status=SENT, sent_at=bindparam("now"), telegram_message_id=bindparam("message_id"), outcome=None,
            claimed_until=None)
)


def record_sent_many(session: Session, sends: list[dict]) -> None:
    """:func:`record_sent` for many reminders at once; each dict holds its keyword arguments."""
    if sends:
        session.connection().execute(_MARK_SENT, sends)


def record_skipped(session: Session, *, reminder_id: int, reason: str) -> None:
    """Mark a reminder skipped (stale), with the reason."""
    _finish(session, reminder_id, status=SKIPPED, outcome=reason[:200])


def record_failed(session: Session, *, reminder_id: int, reason: str, attempts: int) -> None:
    """Mark a reminder failed for good, with the reason."""
    _finish(session, reminder_id, status=FAILED, outcome=reason[:200], attempts=attempts)


def record_retry(session: Session, *, reminder_id: int, due_at: datetime, attempts: int, reason: str) -> None:
    """Put a reminder back in the queue for ``due_at``."""
    _finish(session, reminder_id, status=PENDING, due_at=due_at, attempts=attempts, outcome=reason[:200])


def record_unreachable(session: Session, *, reminder_id: int, patient_id: int, reason: str, now: datetime) -> bool:
    """The patient blocked the bot: fail this reminder, cancel their others, mark them unreachable.

    Returns True only the first time, so staff are told once.
    """
    _finish(session, reminder_id, status=FAILED, outcome=reason[:200])
    patient = session.get(Patient, patient_id)
    if patient is None or patient.status == UNREACHABLE:
        return False
    patient.status = UNREACHABLE
    session.add(patient)
    session.exec(
        update(Reminder)
        .where(Reminder.patient_id == patient_id, Reminder.status.in_(OPEN_STATES), Reminder.id != reminder_id)
        .values(status=CANCELLED, outcome=UNREACHABLE_REASON, claimed_until=None)
    )
    events.record_event(session, kind=events.BLOCKED, patient_id=patient_id, now=now)
    return True


def release_claims(session: Session, *, reminder_ids: list[int]) -> None:
    """Give claimed rows back unsent (shutting down): the next run takes them at once."""
    if reminder_ids:
        session.exec(update(Reminder).where(Reminder.id.in_(reminder_ids), Reminder.status == CLAIMED)
                     .values(status=PENDING, claimed_until=None))


def _finish(session: Session, reminder_id: int, **values: object) -> None:
    # Only a row we still hold: if our lease ran out and another dispatcher took it, leave it alone.
    session.exec(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == CLAIMED)
        .values(claimed_until=None, **values)
    )


def render_reminder(item: ClaimedReminder, *, catalog: Catalog, clinic: ClinicInfo) -> str:
    """The text of a reminder in the patient's language, with the clinic's details filled in."""
    zone = ZoneInfo(item.timezone)
    protocol = catalog.protocols.get(item.protocol_name) or catalog.protocol()
    window_start, window_end = next_session_window(protocol, session_at=item.session_at)
    booking_line = catalog.bot(item.locale, "booking_line", url=clinic.booking_url) if clinic.booking_url else ""
    return catalog.render(
        item.locale, "steps", item.text_key,
        name=item.patient_name,
        clinic_name=clinic.name or catalog.bot(item.locale, "clinic_name_missing"),
        clinic_phone=clinic.phone or catalog.bot(item.locale, "clinic_phone_missing"),
        booking_url=clinic.booking_url,
        booking_line=Raw(booking_line),
        session_number=item.session_number,
        series_length=item.series_length,
        sessions_left=max(item.series_length - item.session_number, 0),
        next_window_start=catalog.format_date(item.locale, window_start.astimezone(zone)),
        next_window_end=catalog.format_date(item.locale, window_end.astimezone(zone)),
    ).strip()


class ChatPacer:
    """At most one message per chat per ``interval``: Telegram's limit for a single private chat.

    Remembers when each chat last got a message; entries older than the interval are dropped,
    so it stays small. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, interval: float = 1.0, *, clock=time.monotonic, sleep=asyncio.sleep) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._last: dict[int, float] = {}

    async def wait(self, chat_id: int) -> None:
        """Sleep until ``chat_id`` may get its next message, then note that it gets one now."""
        if self.interval <= 0:
            return
        now = self.clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self.interval:
            await self.sleep(self.interval - (now - last))
            now = self.clock()
        self._last[chat_id] = now
        if len(self._last) > 1024:
            self._last = {chat: at for chat, at in self._last.items() if now - at < self.interval}


class OutcomeRecorder:
    """Group commit: outcomes of sends that finish together are written in one transaction.

    Each send still waits until its own outcome is committed before it counts as done, so the
    crash promise is unchanged (only sends in flight can repeat); but eight sends finishing at
    once cost one worker-thread hop and one commit instead of eight.
    """

    def __init__(self, store) -> None:
        self.store = store
        self._waiting: list[tuple[Callable, dict, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def record(self, function: Callable, /, **kwargs):
        """Apply ``function(session, **kwargs)`` with whatever else is waiting; return its result."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((function, kwargs, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the other sends that finished in this loop turn join in
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self.store.run(_apply_all, operations=[(f, kw) for f, kw, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiting send gets the error, none is lost
                    for _, _, future in batch:
                        if not future.done():  # a send cancelled meanwhile no longer listens
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None


def _apply_all(session: Session, *, operations: list[tuple[Callable, dict]]) -> list:
    # Sends are nearly all of a batch: one executemany for them (each touches its own row, so the
    # order between them and the rest does not matter); everything else one by one.
    record_sent_many(session, [kwargs for function, kwargs in operations if function is record_sent])
    return [None if function is record_sent else function(session, **kwargs) for function, kwargs in operations]


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
    report: DispatchReport = field(default_factory=DispatchReport)
    # Set by a flood-control answer (429): finish what is in flight, send nothing more this run.
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
) -> DispatchReport:
    """Send every reminder due at ``now``, batch by batch, until none is left.

    ``should_stop`` is asked before every send: when it says yes (the bot is shutting down),
    sends in flight finish and are recorded, and the rest of the claimed rows are released.
    """
    run = _Run(store, bot, catalog, clinic, now, policy, pacer or ChatPacer(), should_stop)
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
        outcomes = await asyncio.gather(*(_deliver_chat(run, items, limiter) for items in by_chat.values()),
                                        return_exceptions=True)
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
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
        await _deliver_chat_items(run, items, limiter)
    except BaseException:
        # An outcome that cannot be recorded (the database went away) halts the run like a 429:
        # every other chat stops before its next send, so nothing more goes out unrecorded.
        run.halted = True
        raise


async def _deliver_chat_items(run: _Run, items: list[ClaimedReminder], limiter: asyncio.Semaphore) -> None:
    for position, item in enumerate(items):
        if not run.stopping():
            await run.pacer.wait(item.chat_id)  # before taking a slot: a paced chat must not idle one
        async with limiter:
            # Asked again once a slot is free: every chat of a batch passes the first check at
            # once, and a shutdown or a 429 that came meanwhile must stop the sends not yet begun.
            if run.stopping():
                await run.recorder.record(release_claims, reminder_ids=[rest.id for rest in items[position:]])
                run.report.released += len(items) - position
                return
            outcome = await _deliver_one(run, item)
        run.report.outcomes[item.id] = outcome
        if outcome == "blocked":
            for rest in items[position + 1:]:
                run.report.outcomes[rest.id] = "cancelled"
            return


async def _deliver_one(run: _Run, item: ClaimedReminder) -> str:
    now, report = run.now, run.report
    if item.expires_at <= now:
        await run.recorder.record(record_skipped, reminder_id=item.id, reason="stale: expired before it could be sent")
        report.skipped += 1
        return "skipped"
    try:
        text = render_reminder(item, catalog=run.catalog, clinic=run.clinic)
        keyboard = reminder_keyboard(item.kind, item.id, catalog=run.catalog, locale=item.locale)
    except (KeyError, ValueError) as exc:
        log.error("reminder %d: cannot render text %r: %s", item.id, item.text_key, exc)
        return await _fail(run, item, f"render: {exc}", attempts=item.attempts)
    try:
        message = await run.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except RetryAfter as exc:
        # Telegram's flood control: wait as told; not the reminder's fault, so no attempt is counted.
        delay = _seconds(exc.retry_after)
        run.halted = True
        await run.recorder.record(record_retry, reminder_id=item.id, due_at=now + timedelta(seconds=delay),
                        attempts=item.attempts, reason=f"rate limited for {delay:.0f}s")
        report.retried += 1
        report.rate_limited += 1
        return "retry"
    except Forbidden as exc:
        log.warning("reminder %d: patient %d blocked the bot (%s)", item.id, item.patient_id, exc.message)
        newly = await run.recorder.record(record_unreachable, reminder_id=item.id, patient_id=item.patient_id,
                                reason=f"blocked: {exc.message}", now=now)
        if newly:
            report.blocked.append((item.patient_id, item.patient_name))
        report.failed += 1
        return "blocked"
    except BadRequest as exc:
        log.warning("reminder %d: Telegram refused it: %s", item.id, exc.message)
        return await _fail(run, item, f"bad request: {exc.message}", attempts=item.attempts + 1)
    except (TimedOut, NetworkError) as exc:
        # TimedOut is a NetworkError; both may or may not have reached Telegram: retry (at-least-once).
        return await _retry_or_fail(run, item, f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - one reminder's surprise must not abort the batch
        log.exception("reminder %d: unexpected error while sending", item.id)
        return await _fail(run, item, f"error: {type(exc).__name__}", attempts=item.attempts + 1)
    await run.recorder.record(record_sent, reminder_id=item.id, message_id=message.message_id, now=now)
    report.sent += 1
    return "sent"


async def _fail(run: _Run, item: ClaimedReminder, reason: str, *, attempts: int) -> str:
    await run.recorder.record(record_failed, reminder_id=item.id, reason=reason, attempts=attempts)
    run.report.failed += 1
    run.report.failures.append((item.patient_id, item.patient_name, reason))
    return "failed"


async def _retry_or_fail(run: _Run, item: ClaimedReminder, reason: str) -> str:
    attempts = item.attempts + 1
    policy = run.policy
    if attempts >= policy.max_attempts:
        log.warning("reminder %d: giving up after %d attempts (%s)", item.id, attempts, reason)
        return await _fail(run, item, reason, attempts=attempts)
    delay = retry_delay(attempts, policy)
    if run.now + delay >= item.expires_at:
        # It would go stale before the next try: skip it now rather than send it late.
        await run.recorder.record(record_skipped, reminder_id=item.id, reason=f"stale while retrying ({reason})")
        run.report.skipped += 1
        return "skipped"
    await run.recorder.record(record_retry, reminder_id=item.id, due_at=run.now + delay, attempts=attempts,
                              reason=reason)
    run.report.retried += 1
    return "retry"


def retry_delay(attempts: int, policy: DeliveryPolicy, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: half to all of base * 2^(attempts-1), capped.

    The jitter keeps many reminders that failed together (a Telegram outage) from retrying in lockstep.
    """
    ceiling = min(policy.retry_cap, policy.retry_base * (2 ** (attempts - 1))).total_seconds()
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
