"""The audit trail: who saw or changed a patient's record, through which face, and whether it was allowed.

Shaped like FHIR's ``AuditEvent`` (when, who, what, which patient, through which face, the outcome)
and holding ids only: no patient name, no phone, no message text, so an erasure leaves it whole.

**Who** is set once at each face's door and read here, so no use case can record it differently:
the chat sets it for every update (``bot.app``), the API for every request with a key
(``bot.web.auth``), the command line for the whole command (``bot.cli``). It travels in a
context variable, which ``asyncio.to_thread`` (``Store.run``) copies onto the worker thread.
Nothing set means the system itself (a job). A use case may pass ``who`` to override it (the
patient who erases their data is not the Telegram user the chat saw, for the trail: ids only).

**Tamper evidence**: each row's ``hash`` is SHA-256 over its fields and the previous row's hash,
and its ``id`` is the previous row's plus one. The writer takes the next place under a lock
held to the end of its transaction: ``pg_advisory_xact_lock`` on PostgreSQL, the write lock
every transaction takes with ``BEGIN IMMEDIATE`` on SQLite, so several instances append in one
order. :func:`verify` walks the chain and names the first row that does not match: edited (its
hash), removed (a gap), inserted or reordered (its previous hash). A hash is not a signature:
someone who can write the database and knows this scheme can rebuild the whole chain after a
row; the head hash printed by ``aftercare audit verify`` and kept with each backup is what
catches that.

**Retention**: :func:`prune` drops whole months older than ``AUDIT_RETENTION_DAYS`` and keeps
the last dropped row's id and hash as the anchor the kept chain is verified from.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from jobs.inputs import storable_text
from jobs.storage.models import AuditAnchor, AuditEvent

GENESIS = "0" * 64
# The key of the PostgreSQL advisory lock appenders take ("audit" as a number; any constant would do).
AUDIT_LOCK_KEY = int.from_bytes(hashlib.sha256(b"aftercare audit trail").digest()[:8], "big", signed=True)
# Shortest retention a clinic may set: CNIL advises keeping access logs six to twelve months.
MIN_RETENTION_DAYS = 180


class Action(StrEnum):
    """What was done or seen (FHIR ``AuditEvent.action``: R read, C create, U update, D delete, E execute)."""

    VIEW_PATIENT = "view_patient"      # R  /patient, GET /api/v1/patients/{id}, a console page
    EXPORT = "export"                  # R  every patient's data written out (``count`` says how many)
    ENROLL = "enroll"                  # C  a new patient (/enroll, the form, the API)
    IMPORT = "import"                  # C  a CSV of patients (``count``)
    INVITE = "invite"                  # U  a new invite link for a patient
    SESSION = "session"                # U  the next session of a series recorded
    CANCEL = "cancel"                  # U  staff cancelled a patient's messages
    REOPEN = "reopen"                  # U  staff reopened them
    WITHDRAW = "withdraw"              # U  staff withdrew a mistaken enrollment (/withdraw, confirmed)
    REPLY = "reply"                    # U  staff answered a patient (text not kept)
    TAKE = "take"                      # U  an inbox item taken
    RESOLVE = "resolve"                # U  an inbox item resolved
    PHOTO_REVIEW = "photo_review"      # U  a patient's photo reviewed
    STAFF_ADDED = "staff_added"        # C  someone joined the staff (``subject``: their Telegram id)
    STAFF_REMOVED = "staff_removed"    # D  an admin removed a staff member (``subject``: their id)
    API_KEY_CREATED = "api_key_created"  # C  ``subject``: the key's name
    API_KEY_REVOKED = "api_key_revoked"  # D  ``subject``: the key's name
    BACKUP = "backup"                  # R  the whole database copied to a file
    RESTORE = "restore"                # C  a backup put back
    ERASURE = "erasure"                # D  a patient erased their data
    ACCESS = "access"                  # E  a staff-only door tried (refused: by whom, through which face)
    SIGN_IN = "sign_in"                # E  a staff member signed in to the console from a browser
    AUDIT_PRUNED = "audit_pruned"      # D  old segments of this trail dropped (``count`` rows)
    VIEW_AUDIT = "view_audit"          # R  an admin read this trail in the console (its filters; ``count`` rows)


# FHIR's code for each action (http://hl7.org/fhir/audit-event-action).
FHIR_ACTION = {action: code for code, actions in {
    "R": (Action.VIEW_PATIENT, Action.EXPORT, Action.BACKUP, Action.VIEW_AUDIT),
    "C": (Action.ENROLL, Action.IMPORT, Action.STAFF_ADDED, Action.API_KEY_CREATED, Action.RESTORE),
    "D": (Action.STAFF_REMOVED, Action.API_KEY_REVOKED, Action.ERASURE, Action.AUDIT_PRUNED),
    "E": (Action.ACCESS, Action.SIGN_IN),
}.items() for action in actions}


class Outcome(StrEnum):
    """How it ended (FHIR ``AuditEvent.outcome``: 0 success, 4 minor failure, 8 serious failure)."""

    SUCCESS = "success"
    REFUSED = "refused"  # not staff, not an admin, no live API key
    FAILED = "failed"    # allowed, but it could not be done


class Face(StrEnum):
    """Through which door it came."""

    CHAT = "chat"        # Telegram
    CONSOLE = "console"  # the staff console's pages (Mini App or browser)
    API = "api"          # the JSON API, with a key
    CLI = "cli"          # the ``aftercare`` command on the server
    SYSTEM = "system"    # the bot itself (a job)


class ActorKind(StrEnum):
    """Who acted."""

    PERSON = "person"      # a Telegram user (``actor_id``): staff when allowed; anyone when refused
    API_KEY = "api_key"    # a system holding an API key (``actor_name``); unknown when refused
    OPERATOR = "operator"  # someone at the server's shell (``actor_name``: the OS user)
    PATIENT = "patient"    # the patient of ``patient_id`` (their Telegram identity is not kept)
    SYSTEM = "system"      # the bot itself


@dataclass(frozen=True)
class Who:
    """The actor and the face, as the door saw them."""

    kind: ActorKind
    face: Face
    id: int | None = None
    name: str | None = None


SYSTEM = Who(ActorKind.SYSTEM, Face.SYSTEM)
_acting: contextvars.ContextVar[Who] = contextvars.ContextVar("audit_who", default=SYSTEM)


@contextlib.contextmanager
def acting(who: Who) -> Iterator[Who]:
    """Everything recorded inside this block (and the worker threads it starts) was done by ``who``."""
    token = _acting.set(who)
    try:
        yield who
    finally:
        _acting.reset(token)


def current() -> Who:
    """Who is acting here (the system when no door said)."""
    return _acting.get()


def patient_acting(face: Face = Face.CHAT) -> Who:
    """The patient themself (their id goes in ``patient_id``; no Telegram identity is kept)."""
    return Who(ActorKind.PATIENT, face)


def _hash(row: AuditEvent) -> str:
    """SHA-256 over every field but the hash itself, in a fixed order and form."""
    fields = {
        "id": row.id, "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"), "action": row.action,
        "outcome": row.outcome, "face": row.face, "actor": row.actor, "actor_id": row.actor_id,
        "actor_name": row.actor_name, "patient_id": row.patient_id, "subject": row.subject,
        "count": row.count, "prev_hash": row.prev_hash,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _lock(session: Session) -> None:
    """Hold the right to append until this transaction ends (SQLite's BEGIN IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def _tail(session: Session) -> tuple[int, str]:
    """The last row's id and hash (the anchor's after a prune of everything; 0 and GENESIS when empty)."""
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    if last is not None:
        return last.id, last.hash
    anchor = session.get(AuditAnchor, 1)
    return (anchor.through_id, anchor.hash) if anchor is not None else (0, GENESIS)


def record(session: Session, *, action: Action, now: datetime, patient_id: int | None = None,
           outcome: Outcome = Outcome.SUCCESS, count: int | None = None, subject: object = None,
           who: Who | None = None) -> AuditEvent:
    """Append one row (in the caller's transaction: it is kept only if what it records is).

    Call it last in the transaction: on PostgreSQL it holds the trail's lock until the commit.
    A refused person's name is not kept (they may be a patient): their Telegram id says who tried.
    """
    who = who or current()
    _lock(session)
    last_id, last_hash = _tail(session)
    name = who.name if outcome is Outcome.SUCCESS or who.kind is not ActorKind.PERSON else None
    row = AuditEvent(id=last_id + 1, at=now, action=Action(action).value, outcome=Outcome(outcome).value,
                     face=who.face.value, actor=who.kind.value, actor_id=who.id,
                     # A Telegram name is whatever its owner typed: no NUL (PostgreSQL), no lone surrogate (hashing).
                     actor_name=storable_text(name)[:200] if name else None, patient_id=patient_id,
                     subject=str(subject)[:64] if subject is not None else None,
                     count=count, prev_hash=last_hash, hash="")
    row.hash = _hash(row)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Verified:
    """What :func:`verify` found: rows checked, the head hash, and the first row that does not match."""

    rows: int
    head: str
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(session: Session) -> Verified:
    """Walk the chain from the anchor; stop at the first row that does not match."""
    anchor = session.get(AuditAnchor, 1)
    expected_id, prev = (anchor.through_id + 1, anchor.hash) if anchor else (1, GENESIS)
    checked = 0
    for row in session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).yield_per(1000):
        if row.id != expected_id:
            why = (f"rows {expected_id}–{row.id - 1} are missing" if row.id > expected_id
                   else f"row {row.id} is out of place")
            return Verified(checked, prev, row.id, f"{why} (removed?)")
        if row.prev_hash != prev:
            return Verified(checked, prev, row.id, "it does not follow the row before it (inserted or reordered?)")
        if _hash(row) != row.hash:
            return Verified(checked, prev, row.id, "its fields do not match its hash (edited?)")
        prev, expected_id, checked = row.hash, row.id + 1, checked + 1
    return Verified(checked, prev)


def _narrowed(query, *, patient_id: int | None, actor_id: int | None, since: datetime | None):
    """``query`` kept to a patient, a staff member (who acted, or was added or removed) and a start time."""
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if actor_id is not None:
        query = query.where((AuditEvent.actor_id == actor_id) | (AuditEvent.subject == str(actor_id)))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    return query


def events(session: Session, *, patient_id: int | None = None, actor_id: int | None = None,
           since: datetime | None = None, limit: int | None = None) -> list[AuditEvent]:
    """The trail, oldest first, narrowed to a patient, a staff member (Telegram id) or a start time."""
    query = _narrowed(select(AuditEvent).order_by(col(AuditEvent.id)), patient_id=patient_id, actor_id=actor_id,
                      since=since)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def latest_events(session: Session, *, limit: int, patient_id: int | None = None, actor_id: int | None = None,
                  since: datetime | None = None, before: int | None = None) -> list[AuditEvent]:
    """The trail newest first, narrowed as :func:`events` is, ``limit`` rows numbered below ``before``.

    A page goes on from the last row of the one before (``before`` = its id), never by an offset: a
    trail grows while someone reads it, and counting past a year of rows on every page costs.
    """
    query = _narrowed(select(AuditEvent).order_by(col(AuditEvent.id).desc()), patient_id=patient_id,
                      actor_id=actor_id, since=since)
    if before is not None:
        query = query.where(col(AuditEvent.id) < before)
    return list(session.exec(query.limit(limit)))


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def prune(session: Session, *, retention: timedelta, now: datetime) -> int:
    """Drop the whole months (UTC) that ended more than ``retention`` ago; return how many rows went.

    The last dropped row's id and hash become the anchor, so what is kept still verifies. The
    prune itself is recorded (by the system), and the chain must verify first: a trail that was
    tampered with is never pruned, that would hide it.
    """
    if retention < timedelta(days=MIN_RETENTION_DAYS):
        raise ValueError(f"audit retention below {MIN_RETENTION_DAYS} days")
    _lock(session)
    cutoff = _month_start(now - retention)  # everything before this month's first instant is old enough
    through = session.exec(select(func.max(AuditEvent.id)).where(col(AuditEvent.at) < cutoff)).one()
    if through is None:
        return 0
    if not verify(session).ok:
        raise TamperedTrail("the audit trail does not verify: run `aftercare audit verify` (nothing pruned)")
    last = session.get(AuditEvent, through)
    assert last is not None  # under the lock, and rows are only ever deleted here
    anchor = session.get(AuditAnchor, 1) or AuditAnchor(id=1, through_id=0, hash=GENESIS, pruned_at=now)
    anchor.through_id, anchor.hash, anchor.pruned_at = last.id, last.hash, now
    session.add(anchor)
    gone = session.exec(select(func.count()).where(col(AuditEvent.id) <= through)).one()
    session.execute(delete(AuditEvent).where(col(AuditEvent.id) <= through))
    session.flush()
    record(session, action=Action.AUDIT_PRUNED, now=now, count=gone, who=SYSTEM)
    return gone


class TamperedTrail(RuntimeError):
    """The audit trail does not verify; ``str()`` says what to run."""
