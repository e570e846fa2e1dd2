"""Keys for the HTTP API: made once and shown once, stored as SHA-256, revoked by name.

A key is 43 random URL-safe characters after ``ak_``: far too many to guess, so one unsalted SHA-256
is enough to store it (the way :mod:`jobs.patients.invites` stores invite tokens); the hash is looked up by
its index and then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from jobs.ops import audit
from jobs.refusal import Refusal
from jobs.storage.models import ApiKey

PREFIX = "ak_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^ak_[A-Za-z0-9_-]{43}$")
# ``last_used_at`` is written at most this often per key: not one write per request.
USE_RECORDED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``api-key list`` shows it (never the key itself)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_key(key: str) -> str:
    """What the database stores for ``key``."""
    return hashlib.sha256(key.encode("ascii", "replace")).hexdigest()


def create_key(session: Session, *, name: str, now: datetime) -> str:
    """Store a new key called ``name`` and return it (the only time it exists in clear)."""
    if not _NAME.match(name):
        raise Refusal("api_key_bad_name", name=name[:64])
    if session.exec(select(ApiKey).where(ApiKey.name == name)).first() is not None:
        raise Refusal("api_key_exists", name=name)
    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=hash_key(key), created_at=now))
    audit.record(session, action=audit.Action.API_KEY_CREATED, subject=name, now=now)
    return key


def list_keys(session: Session) -> list[KeyInfo]:
    """Every key, oldest first, revoked ones included."""
    rows = session.exec(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
    return [KeyInfo(row.name, row.created_at, row.revoked_at, row.last_used_at) for row in rows]


def revoke_key(session: Session, *, name: str, now: datetime) -> bool:
    """Revoke the key called ``name``; False if it was already revoked. Refusal if there is none."""
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise Refusal("api_key_unknown", name=name[:64])
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.add(row)
    audit.record(session, action=audit.Action.API_KEY_REVOKED, subject=name, now=now)
    return True


def verify_key(session: Session, *, presented: str, now: datetime) -> str | None:
    """The name of the live key ``presented`` is, or None (unknown, revoked or malformed)."""
    if not _KEY.match(presented):
        return None
    digest = hash_key(presented)
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= USE_RECORDED_EVERY:
        row.last_used_at = now
        session.add(row)
    return row.name
