"""Durable intake, the queries: what patients and staff send is stored before Telegram hears it arrived.

Every update is written to ``inbound_update`` (raw JSON, keyed by Telegram's ``update_id``) and
committed; only then is it confirmed to Telegram (the next ``getUpdates`` offset, or the webhook's
200). Workers then take updates from the table, at least once, and mark them done:

- a re-delivered update (same ``update_id``) is ignored, for as long as done rows are kept;
- one chat's updates are handled one at a time, in order: only a chat's *oldest* open update can
  be claimed, on every instance (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two instances never
  take the same one);
- a claim carries a lease and a holder; a dead holder's claims are taken again at once
  (jobs/storage/presence.py), an expired lease's after it;
- handlers note what they have done for an update (``effects``), so a second run after a crash
  does not, for example, relay a patient's message to staff twice.

No ``telegram`` import here: rows are plain JSON; bot/intake.py turns them into updates.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, exists, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from jobs.storage.models import InboundUpdate
from jobs.storage.presence import ME, holder_gone
from jobs.storage.states import UpdateStatus

log = logging.getLogger(__name__)

# A claim taken this often and never finished is an update that kills the whole process (a handler's
# exception does not: the update is marked done): give it up rather than crash-loop on it. High,
# because every restart after a kill -9 or a power cut takes the updates in flight again too.
MAX_ATTEMPTS = 25
OPEN = (UpdateStatus.NEW, UpdateStatus.CLAIMED)


@dataclass(frozen=True)
class ClaimedUpdate:
    """An update to handle: Telegram's JSON and how many times it was taken (1 = first time)."""

    update_id: int
    payload: dict
    attempts: int


def chat_key_of(raw: dict) -> int | None:
    """The chat an update belongs to (or its sender, if it has no chat): its updates keep their order."""
    for key, value in raw.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return chat["id"]
        user = value.get("from") or value.get("user")
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            return user["id"]
    return None


def store_updates(session: Session, *, updates: list[dict], now: datetime) -> int:
    """Write updates as they came; one already stored (a re-delivery) is ignored. Returns how many rows."""
    if not updates:
        return 0
    rows = [{"update_id": raw["update_id"], "chat_key": chat_key_of(raw), "payload": json.dumps(raw),
             "status": UpdateStatus.NEW, "received_at": now, "attempts": 0, "effects": ""} for raw in updates]
    dialect = session.connection().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(InboundUpdate.__table__)
    session.connection().execute(insert.on_conflict_do_nothing(index_elements=["update_id"]), rows)
    return len(rows)


def _claim_statements(dialect: str):
    table = InboundUpdate
    older = aliased(InboundUpdate)
    now = bindparam("now")
    # Only a chat's oldest open update: the next one waits until it is done, whichever instance has it.
    older_open = exists().where(older.chat_key == table.chat_key, older.update_id < table.update_id,
                                older.status.in_(OPEN))
    takeable = or_(
        table.status == UpdateStatus.NEW,
        and_(table.status == UpdateStatus.CLAIMED,
             or_(table.claimed_until <= now, holder_gone(table.holder, dialect))),
    )
    candidates = (
        select(table.update_id)
        .where(table.status.in_(OPEN), takeable, ~older_open)
        .order_by(table.update_id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    mark = (
        update(InboundUpdate)
        .where(InboundUpdate.update_id.in_(bindparam("ids", expanding=True)))
        .values(status=UpdateStatus.CLAIMED, claimed_until=bindparam("until"), holder=bindparam(ME),
                attempts=InboundUpdate.attempts + 1)
        .returning(InboundUpdate.update_id, InboundUpdate.payload, InboundUpdate.attempts)
    )
    return candidates, mark


_CLAIMS = {dialect: _claim_statements(dialect) for dialect in ("sqlite", "postgresql")}


def claim_updates(session: Session, *, now: datetime, limit: int, lease: timedelta,
                  holder: int | None) -> list[ClaimedUpdate]:
    """Take up to ``limit`` updates to handle, oldest first, at most one per chat."""
    connection = session.connection()
    candidates, mark = _CLAIMS[connection.dialect.name]
    ids = [row.update_id for row in connection.execute(candidates, {"now": now, "limit": limit, ME: holder})]
    if not ids:
        return []
    rows = connection.execute(mark, {"ids": ids, "until": now + lease, ME: holder}).all()
    claimed, given_up = [], []
    for row in sorted(rows, key=lambda r: r.update_id):
        if row.attempts > MAX_ATTEMPTS:
            given_up.append(row.update_id)
        else:
            claimed.append(ClaimedUpdate(row.update_id, json.loads(row.payload), row.attempts))
    if given_up:
        log.error("updates %s given up: each was being handled when the process died, %d times", given_up,
                  MAX_ATTEMPTS)
        connection.execute(update(InboundUpdate).where(InboundUpdate.update_id.in_(given_up))
                           .values(status=UpdateStatus.FAILED, done_at=now, claimed_until=None))
    return claimed


def mark_done(session: Session, *, update_ids: list[int], now: datetime) -> None:
    """The updates were handled: done, kept until the retention period ends."""
    if update_ids:
        session.exec(update(InboundUpdate).where(InboundUpdate.update_id.in_(update_ids))
                     .values(status=UpdateStatus.DONE, done_at=now, claimed_until=None))


def note_effect(session: Session, *, update_id: int, effect: str) -> None:
    """Remember that ``effect`` (e.g. "relayed") was done for this update."""
    row = session.get(InboundUpdate, update_id)
    if row is not None and effect not in row.effects.split(","):
        row.effects = ",".join(filter(None, [*row.effects.split(","), effect]))[:200]
        session.add(row)


def has_effect(session: Session, *, update_id: int, effect: str) -> bool:
    """Whether ``effect`` was already done for this update (by an earlier run that did not finish)."""
    row = session.get(InboundUpdate, update_id)
    return row is not None and effect in row.effects.split(",")


def prune_updates(session: Session, *, before: datetime) -> int:
    """Delete handled updates older than ``before``; returns how many."""
    result = session.exec(delete(InboundUpdate).where(
        InboundUpdate.status.in_((UpdateStatus.DONE, UpdateStatus.FAILED)), InboundUpdate.done_at < before))
    return result.rowcount or 0


def open_count(session: Session) -> int:
    """Updates stored and not handled yet (for the heartbeat and the tests)."""
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(InboundUpdate)
                        .where(InboundUpdate.status.in_(OPEN))).one()
