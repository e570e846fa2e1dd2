"""The staff inbox: escalations, photos to review, silence and patients' messages as items of work.

This module is the only writer of ``InboxItem.status``. An item is *open* when it is raised,
*taken* when a staff member says "I'll take it", *resolved* when someone marks it done (with an
optional note). Every change is an :class:`InboxChange` checked against ``TRANSITIONS`` by
:func:`apply_change` and recorded as an ``inbox_event`` row (actor, actor id, from, to), like
the patient lifecycle (jobs/patients/lifecycle.py). The alerts that show an item in staff chats are
``inbox_view`` rows: the bot edits each of them after a change (bot/inbox_views.py).

A "worried" item nobody took within ``ESCALATION_REMINDER`` is raised again, during clinic
hours: :func:`due_for_raising` picks them, :func:`note_raised` records it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from jobs.actors import SYSTEM, Actor, Cause
from jobs.inputs import storable_text
from jobs.ops import audit
from jobs.periods import counts_by_period, rows_by_period, summed, tally
from jobs.refusal import Refusal
from jobs.storage.models import InboxEvent, InboxItem, InboxView, Patient
from jobs.storage.states import InboxStatus


class InboxKind(StrEnum):
    """What an item is about (``inbox_item.kind``)."""

    WORRIED = "worried"        # a patient pressed "I'm worried": raised again if nobody takes it
    ESCALATION = "escalation"  # "still red or swollen" past the days it is expected
    PHOTO = "photo"            # a photo check-in to review
    SILENCE = "silence"        # a check-in nobody answered
    MESSAGE = "message"        # a patient wrote to the clinic (one item per conversation until resolved)
    OUTCOME = "outcome"        # an outcome step answered "worse": someone calls the patient (not raised again)


class ItemOrigin(StrEnum):
    """What raised an item, where its kind alone does not say (``inbox_item.origin``; None: the usual way)."""

    WORDS = "words"  # a "worried" item raised by a red flag in the patient's own words, not the button


class InboxChange(StrEnum):
    """What can happen to an item (the ``inbox_event.kind`` each records)."""

    OPEN = "opened"
    TAKE = "taken"
    RESOLVE = "resolved"
    NOTE = "noted"           # a note added (a photo reviewed: "call the patient"), the status unchanged
    RAISE_AGAIN = "raised_again"
    ERASE = "erased"         # the patient erased their data: the item keeps no name, no text


OP, T, R = InboxStatus.OPEN, InboxStatus.TAKEN, InboxStatus.RESOLVED
# From which statuses each change may start (None: the item does not exist yet), and where it goes.
TRANSITIONS: dict[InboxChange, dict[InboxStatus | None, InboxStatus]] = {
    InboxChange.OPEN: {None: OP},
    InboxChange.TAKE: {OP: T},
    InboxChange.RESOLVE: {OP: R, T: R},
    InboxChange.NOTE: {OP: OP, T: T, R: R},
    InboxChange.RAISE_AGAIN: {OP: OP},
    InboxChange.ERASE: {OP: R, T: R, R: R},
}
OPEN_STATUSES = (OP.value, T.value)
NOTE_LIMIT = 500


@dataclass(frozen=True)
class Staffer:
    """The staff member pressing or typing: Telegram id and the name Telegram gives."""

    user_id: int
    name: str

    @property
    def cause(self) -> Cause:
        return Cause(Actor.STAFF, self.user_id)


def _record(session: Session, item: InboxItem, change: InboxChange, cause: Cause, now: datetime,
            before: InboxStatus | None) -> None:
    after = TRANSITIONS[change][before]
    item.status = after.value
    session.add(item)
    session.flush()
    session.add(InboxEvent(item_id=item.id, kind=change.value, at=now, actor=cause.actor.value,
                           actor_id=cause.actor_id, from_status=before.value if before else None,
                           to_status=after.value))


def apply_change(session: Session, *, item: InboxItem, change: InboxChange, cause: Cause, now: datetime,
                 staffer: Staffer | None = None, note: str | None = None) -> InboxItem:
    """Apply ``change`` to ``item`` (in the caller's transaction) or raise :class:`Refusal`, changing nothing."""
    before = InboxStatus(item.status)
    if before not in TRANSITIONS[change]:
        raise _refusal(item, change, staffer)
    if change is InboxChange.TAKE:
        item.taken_by, item.taken_by_name, item.taken_at = staffer.user_id, staffer.name, now
    elif change is InboxChange.RESOLVE:
        item.resolved_by, item.resolved_at = (staffer.user_id, now) if staffer else (None, now)
        item.resolved_by_name = staffer.name if staffer else None
        item.note = note or item.note
    elif change is InboxChange.NOTE:
        item.note = note
    elif change is InboxChange.RAISE_AGAIN:
        item.raised_at, item.raised_again = now, item.raised_again + 1
    elif change is InboxChange.ERASE:
        item.text, item.note = "", None
        for view in session.exec(select(InboxView).where(InboxView.item_id == item.id, InboxView.body.is_not(None))):
            view.body = ""
            session.add(view)
        if before is not R:
            item.resolved_at = now
    _record(session, item, change, cause, now, before)
    return item


def _refusal(item: InboxItem, change: InboxChange, staffer: Staffer | None) -> Refusal:
    if item.status == T.value:
        if staffer is not None and item.taken_by == staffer.user_id:
            return Refusal("inbox_already_yours", item_id=item.id)
        return Refusal("inbox_taken_by", item_id=item.id, who=item.taken_by_name or str(item.taken_by))
    if item.status == R.value:
        return Refusal("inbox_already_resolved", item_id=item.id, who=item.resolved_by_name or "—")
    return Refusal("inbox_refused", item_id=item.id)


# --------------------------------------------------------------------------- opening


def open_item(session: Session, *, kind: str, patient_id: int | None, text: str, now: datetime,
              cause: Cause = SYSTEM, origin: str | None = None) -> InboxItem:
    """A new open item (or, for a patient's message, the conversation's item still open or taken);
    ``origin`` (:class:`ItemOrigin`) says what raised it when the kind alone does not."""
    kind = InboxKind(kind)
    text = storable_text(text)  # the patient's words as they came: PostgreSQL stores no NUL
    if kind is InboxKind.MESSAGE and patient_id is not None:
        current = session.exec(select(InboxItem).where(
            InboxItem.kind == kind.value, InboxItem.patient_id == patient_id,
            InboxItem.status.in_(OPEN_STATUSES)).order_by(InboxItem.id.desc())).first()
        if current is not None:
            return current
    item = InboxItem(kind=kind.value, patient_id=patient_id, text=text, opened_at=now, raised_at=now,
                     origin=ItemOrigin(origin).value if origin else None)
    session.add(item)
    session.flush()
    _record(session, item, InboxChange.OPEN, cause, now, None)
    return item


def add_view(session: Session, *, item_id: int, chat_id: int, message_id: int, caption: bool = False,
             lead: str = "", body: str | None = None, extra_markup: str | None = None,
             locale: str | None = None) -> None:
    """Note that this staff-chat message shows the item (``body``: its own words, if not the item's text;
    ``locale``: the language it is written in, None for STAFF_LANGUAGE)."""
    session.add(InboxView(item_id=item_id, chat_id=chat_id, message_id=message_id, caption=caption,
                          lead=storable_text(lead), body=None if body is None else storable_text(body),
                          extra_markup=extra_markup, locale=locale))


@dataclass(frozen=True)
class ItemViews:
    """An item and every message that shows it."""

    item: InboxItem
    views: list[InboxView]


def views_of(session: Session, *, item_id: int) -> ItemViews:
    """The item and its messages, for the bot to edit."""
    item = session.get(InboxItem, item_id)
    views = list(session.exec(select(InboxView).where(InboxView.item_id == item_id).order_by(InboxView.id)))
    return ItemViews(item, views)


def item_of_message(session: Session, *, chat_id: int, message_id: int) -> InboxItem | None:
    """The item this staff-chat message shows (None: it shows none)."""
    view = session.exec(select(InboxView).where(InboxView.chat_id == chat_id,
                                                InboxView.message_id == message_id)).first()
    return session.get(InboxItem, view.item_id) if view else None


def drop_own_buttons(session: Session, *, item_id: int) -> None:
    """The alert's own buttons (a photo's review) are spent: every view of the item shows the inbox's only."""
    for view in session.exec(select(InboxView).where(InboxView.item_id == item_id,
                                                     InboxView.extra_markup.is_not(None))):
        view.extra_markup = None
        session.add(view)


def patient_phone(session: Session, *, patient_id: int) -> str | None:
    """The number staff may call the patient on (E.164), for the alerts about them."""
    patient = session.get(Patient, patient_id)
    return patient.phone if patient else None


def add_to_text(session: Session, *, patient_id: int, line: str, lines: dict[str, str] | None = None) -> list[int]:
    """Add ``line`` to the open and taken items of a patient (a number they just shared), and ``lines[locale]``
    to their alerts written in another language with words of their own; return the items' ids."""
    items = session.exec(select(InboxItem).where(InboxItem.patient_id == patient_id,
                                                 InboxItem.status.in_(OPEN_STATUSES))).all()
    for item in items:
        if line not in item.text:
            item.text = f"{item.text}\n{line}"
            session.add(item)
    translated = session.exec(select(InboxView).where(
        col(InboxView.item_id).in_([item.id for item in items]), col(InboxView.locale).is_not(None),
        col(InboxView.body).is_not(None)))
    for view in translated:
        own = (lines or {}).get(view.locale or "")
        if own and view.body and own not in view.body:
            view.body = f"{view.body}\n{own}"
            session.add(view)
    return [item.id for item in items]


# --------------------------------------------------------------------------- staff actions


def _item(session: Session, item_id: int) -> InboxItem:
    item = session.get(InboxItem, item_id)
    if item is None:
        raise Refusal("inbox_unknown", item_id=item_id)
    return item


def take_item(session: Session, *, item_id: int, staffer: Staffer, now: datetime) -> InboxItem:
    """"I'll take it": the item is the staff member's (refused if someone has it or it is done)."""
    item = apply_change(session, item=_item(session, item_id), change=InboxChange.TAKE, cause=staffer.cause,
                        now=now, staffer=staffer)
    audit.record(session, action=audit.Action.TAKE, patient_id=item.patient_id, subject=f"item {item.id}", now=now)
    return item


def take_by_reply(session: Session, *, chat_id: int, message_id: int, staffer: Staffer, now: datetime) -> int | None:
    """A staff member answered the patient by replying to an item's alert: an open item becomes theirs.

    Returns the item's id when that changed it (None: not an alert of an item, or someone has it already).
    """
    view = session.exec(select(InboxView).where(InboxView.chat_id == chat_id,
                                                InboxView.message_id == message_id)).first()
    item = session.get(InboxItem, view.item_id) if view else None
    if item is None or item.status != OP.value:
        return None
    apply_change(session, item=item, change=InboxChange.TAKE, cause=staffer.cause, now=now, staffer=staffer)
    return item.id


def resolve_item(session: Session, *, item_id: int, staffer: Staffer, now: datetime,
                 note: str | None = None) -> InboxItem:
    """"Resolved", with an optional note; a note for an item already resolved is added to it."""
    item = _resolve(session, item_id=item_id, staffer=staffer, now=now, note=note)
    audit.record(session, action=audit.Action.RESOLVE, patient_id=item.patient_id, subject=f"item {item.id}", now=now)
    return item


def _resolve(session: Session, *, item_id: int, staffer: Staffer, now: datetime, note: str | None) -> InboxItem:
    item = _item(session, item_id)
    if note and item.status == R.value:
        return apply_change(session, item=item, change=InboxChange.NOTE, cause=staffer.cause, now=now,
                            staffer=staffer, note=note[:NOTE_LIMIT])
    return apply_change(session, item=item, change=InboxChange.RESOLVE, cause=staffer.cause, now=now,
                        staffer=staffer, note=note[:NOTE_LIMIT] if note else None)


def keep_as_task(session: Session, *, item: InboxItem, staffer: Staffer, now: datetime, note: str,
                 take: bool) -> InboxItem:
    """The item stays work to do, with ``note`` saying why (a photo reviewed as "call the patient" or
    "another photo"); with ``take``, an open item becomes ``staffer``'s (whoever asked for the call makes it).
    An item someone resolved meanwhile only gets the note."""
    apply_change(session, item=item, change=InboxChange.NOTE, cause=staffer.cause, now=now, staffer=staffer,
                 note=note[:NOTE_LIMIT])
    if take and item.status == OP.value:
        apply_change(session, item=item, change=InboxChange.TAKE, cause=staffer.cause, now=now, staffer=staffer)
    return item


def resolve_by_review(session: Session, *, item_id: int, staffer: Staffer, now: datetime,
                      note: str | None = None) -> InboxItem:
    """A photo's item resolved as part of its review (audited as that review, jobs.care.photos), not again."""
    return _resolve(session, item_id=item_id, staffer=staffer, now=now, note=note)


def resolve_by_message(session: Session, *, chat_id: int, message_id: int, staffer: Staffer, now: datetime,
                       note: str | None = None) -> int | None:
    """The item this staff-chat message shows, resolved by ``staffer`` (a photo reviewed from its alert);
    a note is added to an item already resolved. Returns its id (None: the message shows no item)."""
    view = session.exec(select(InboxView).where(InboxView.chat_id == chat_id,
                                                InboxView.message_id == message_id)).first()
    if view is None:
        return None
    # Part of the review that resolves it, recorded as that (jobs.care.photos.review_photo), not a second time.
    _resolve(session, item_id=view.item_id, staffer=staffer, now=now, note=note)
    return view.item_id


def resolve_for_patient(session: Session, *, patient_id: int, kinds: tuple[str, ...], now: datetime,
                        cause: Cause = SYSTEM) -> list[int]:
    """Resolve a patient's open and taken items of ``kinds`` (an answer that closes a silence); their ids."""
    items = session.exec(select(InboxItem).where(InboxItem.patient_id == patient_id, InboxItem.kind.in_(kinds),
                                                 InboxItem.status.in_(OPEN_STATUSES))).all()
    for item in items:
        apply_change(session, item=item, change=InboxChange.RESOLVE, cause=cause, now=now)
    return [item.id for item in items]


def erase_items(session: Session, *, patient_id: int, now: datetime) -> list[int]:
    """The patient erased their data: their items close and keep no name, no text; return their ids."""
    items = session.exec(select(InboxItem).where(InboxItem.patient_id == patient_id)).all()
    for item in items:
        apply_change(session, item=item, change=InboxChange.ERASE, cause=Cause(Actor.PATIENT), now=now)
    return [item.id for item in items]


def items_of_patients(session: Session, *, patient_ids: list[int]) -> list[int]:
    """The ids of these patients' items."""
    if not patient_ids:
        return []
    return list(session.exec(select(InboxItem.id).where(InboxItem.patient_id.in_(patient_ids))))


# --------------------------------------------------------------------------- raising again


def due_for_raising(session: Session, *, after: timedelta, now: datetime) -> list[InboxItem]:
    """"Worried" items still open (nobody took them) and last raised at least ``after`` ago, oldest first."""
    return list(session.exec(select(InboxItem).where(
        InboxItem.kind == InboxKind.WORRIED.value, InboxItem.status == OP.value,
        InboxItem.raised_at <= now - after).order_by(InboxItem.opened_at, InboxItem.id)))


def note_raised(session: Session, *, item_id: int, now: datetime) -> InboxItem | None:
    """Record that an item was raised again (None if someone took or resolved it meanwhile)."""
    item = session.get(InboxItem, item_id)
    if item is None or item.status != OP.value:
        return None
    return apply_change(session, item=item, change=InboxChange.RAISE_AGAIN, cause=SYSTEM, now=now)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class InboxRow:
    """One line of /inbox."""

    item: InboxItem
    patient_id: int | None
    patient_name: str
    patient_phone: str | None = None


def open_items(session: Session, *, limit: int) -> tuple[list[InboxRow], int]:
    """Open and taken items, oldest first (at most ``limit``), and how many there are in all."""
    where = InboxItem.status.in_(OPEN_STATUSES)
    total = session.exec(select(func.count()).select_from(InboxItem).where(where)).one()
    rows = session.exec(select(InboxItem, Patient).join(Patient, Patient.id == InboxItem.patient_id, isouter=True)
                        .where(where).order_by(InboxItem.opened_at, InboxItem.id).limit(limit)).all()
    return [InboxRow(item, patient.id if patient else None, patient.name if patient else "",
                     patient.phone if patient else None) for item, patient in rows], total


@dataclass(frozen=True)
class InboxStats:
    """The inbox over a period, for /stats."""

    opened: int
    taken: int
    resolved: int
    raised_again: int
    worried_taken: int
    median_to_take: timedelta | None
    p90_to_take: timedelta | None


def inbox_stats(session: Session, *, since: datetime, now: datetime) -> InboxStats:
    """Items opened, taken and resolved between ``since`` and ``now``; how fast "worried" ones were taken."""
    return inbox_stats_by_period(session, bounds=[since, now])[0]


def inbox_stats_by_period(session: Session, *, bounds: Sequence[datetime], whole: bool = False) -> list[InboxStats]:
    """:func:`inbox_stats` for each period between consecutive ``bounds`` (jobs/periods.py); with ``whole``,
    one more for all of them together."""
    periods = range(len(bounds) - 1)
    counted = [InboxChange.OPEN.value, InboxChange.TAKE.value, InboxChange.RESOLVE.value, InboxChange.RAISE_AGAIN.value]
    counts = tally(counts_by_period(session, InboxEvent.at, bounds, InboxEvent.kind, name="inbox_changes",
                                    where=[col(InboxEvent.kind).in_(counted)]), periods)
    waits: dict[int, list[timedelta]] = {period: [] for period in periods}
    for period, opened, taken in rows_by_period(session, InboxItem.taken_at, bounds, InboxItem.opened_at,
                                                InboxItem.taken_at, name="take_waits",
                                                where=[InboxItem.kind == InboxKind.WORRIED.value]):
        waits[period].append(taken - opened)
    groups = [(counts[period], waits[period]) for period in periods]
    if whole:
        groups.append((summed(counts.values()), [wait for period in periods for wait in waits[period]]))
    result = []
    for done, wait in groups:
        taken = sorted(wait)
        result.append(InboxStats(opened=done[InboxChange.OPEN.value], taken=done[InboxChange.TAKE.value],
                                 resolved=done[InboxChange.RESOLVE.value],
                                 raised_again=done[InboxChange.RAISE_AGAIN.value], worried_taken=len(taken),
                                 median_to_take=percentile(taken, 50), p90_to_take=percentile(taken, 90)))
    return result


def percentile(values: list[timedelta], share: int) -> timedelta | None:
    """The nearest-rank percentile of sorted ``values`` (None when there are none)."""
    if not values:
        return None
    if share == 50 and len(values) % 2 == 0:
        middle = len(values) // 2
        return (values[middle - 1] + values[middle]) / 2
    rank = max(1, math.ceil(share / 100 * len(values)))
    return values[rank - 1]
