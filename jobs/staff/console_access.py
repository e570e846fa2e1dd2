"""Who is signed in to the staff console: one-time sign-in links and browser sessions, stored as hashes.

A staff member's ``/console`` makes a link (:func:`create_login`), valid :data:`LOGIN_TTL` and good
once; opening it (:func:`redeem_login`) starts a session whose token lives only in the browser's
cookie. :func:`session_user` reads the cookie on each request; the caller still asks whether that
person is staff *now*, and ends their sessions (:func:`end_sessions_of`) when they are not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from jobs.patients.invites import hash_token, looks_like_token, new_token
from jobs.storage.models import ConsoleLogin, ConsoleSession

# Long enough to open the link on the desk's computer, short enough that a forwarded one is dead.
LOGIN_TTL = timedelta(minutes=10)


def create_login(session: Session, *, user_id: int, name: str, now: datetime) -> str:
    """A fresh one-time sign-in token for ``user_id`` (only its hash is stored); expired links are swept."""
    session.exec(delete(ConsoleLogin).where(col(ConsoleLogin.expires_at) <= now))
    token = new_token()
    session.add(ConsoleLogin(token_hash=hash_token(token), user_id=user_id, name=name[:200], created_at=now,
                             expires_at=now + LOGIN_TTL))
    return token


def redeem_login(session: Session, *, token: str, now: datetime, lasting: timedelta) -> tuple[int, str] | None:
    """Use a sign-in token once: the user id and a new session token, or None (unknown, used or expired)."""
    if not looks_like_token(token):
        return None
    login = session.exec(select(ConsoleLogin).where(ConsoleLogin.token_hash == hash_token(token))
                         .with_for_update()).first()
    if login is None or login.used_at is not None or login.expires_at <= now:
        return None
    login.used_at = now
    session.add(login)
    cookie = new_token()
    session.add(ConsoleSession(token_hash=hash_token(cookie), user_id=login.user_id, name=login.name, created_at=now,
                               expires_at=now + lasting))
    return login.user_id, cookie


def session_user(session: Session, *, token: str, now: datetime) -> tuple[int, str] | None:
    """The staff id and name a live session token belongs to (None: unknown, ended or expired)."""
    if not looks_like_token(token):
        return None
    found = session.exec(select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token))).first()
    if found is None or found.expires_at <= now:
        return None
    return found.user_id, found.name


def end_session(session: Session, *, token: str) -> None:
    """*Sign out*: the session ends here, whatever the browser keeps."""
    session.exec(delete(ConsoleSession).where(
        col(ConsoleSession.token_hash) == hash_token(token)))


def end_sessions_of(session: Session, *, user_id: int) -> int:
    """End every console session of a person who is no longer staff; how many there were."""
    result = session.exec(delete(ConsoleSession).where(
        col(ConsoleSession.user_id) == user_id))
    return result.rowcount or 0
