"""Staff membership: admins come from STAFF_IDS; admins can invite more staff and remove them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, select

from jobs.inputs import storable_text
from jobs.ops import audit
from jobs.patients.invites import hash_token, looks_like_token, new_token
from jobs.refusal import Refusal
from jobs.staff.console_access import end_sessions_of
from jobs.storage.models import StaffInvite, StaffMember, StaffName

# Deep-link payloads starting with this are staff invites, not patient invites.
STAFF_TOKEN_PREFIX = "staff-"


def is_staff_member(session: Session, *, user_id: int) -> bool:
    """Whether ``user_id`` joined through a staff invite (and was not removed)."""
    return session.get(StaffMember, user_id) is not None


def staff_members(session: Session) -> list[StaffMember]:
    """Everyone added through staff invites, oldest first."""
    return list(session.exec(select(StaffMember).order_by(StaffMember.added_at)))


def create_staff_invite(session: Session, *, created_by: int, now: datetime, ttl: timedelta) -> str:
    """A one-time staff invite payload (``staff-<token>``); only its hash is stored."""
    token = new_token()
    session.add(StaffInvite(token_hash=hash_token(token), created_by=created_by, created_at=now,
                            expires_at=now + ttl))
    return STAFF_TOKEN_PREFIX + token


def redeem_staff_invite(session: Session, *, payload: str, user_id: int, now: datetime,
                        name: str | None = None) -> None:
    """Make ``user_id`` staff, remembering the ``name`` Telegram gives, or raise Refusal (``why``:
    unknown, used or expired) changing nothing."""
    token = payload.removeprefix(STAFF_TOKEN_PREFIX)
    if not looks_like_token(token):
        raise Refusal("staff_invite_bad", why="unknown")
    invite = session.exec(select(StaffInvite).where(StaffInvite.token_hash == hash_token(token))
                          .with_for_update()).first()
    if invite is None:
        raise Refusal("staff_invite_bad", why="unknown")
    if invite.used_at is not None:
        raise Refusal("staff_invite_bad", why="used")
    if invite.expires_at <= now:
        raise Refusal("staff_invite_bad", why="expired")
    # Telegram's name is whatever its owner typed: PostgreSQL refuses a NUL in text.
    name = storable_text(name) if name else name
    invite.used_at, invite.used_by = now, user_id
    session.add(invite)
    member = session.get(StaffMember, user_id)
    if member is None:
        session.add(StaffMember(user_id=user_id, added_by=invite.created_by, added_at=now, name=name))
        # The new member acts (they opened the link); who made the invite is on the staff_member row.
        audit.record(session, action=audit.Action.STAFF_ADDED, subject=user_id, now=now)
    elif name:
        member.name = name
        session.add(member)


def remove_staff(session: Session, *, user_id: int, now: datetime) -> bool:
    """Remove an invited staff member (their console sessions end with it); False if there was none."""
    member = session.get(StaffMember, user_id)
    if member is None:
        return False
    session.delete(member)
    end_sessions_of(session, user_id=user_id)
    audit.record(session, action=audit.Action.STAFF_REMOVED, subject=user_id, now=now)
    return True


def note_staff_name(session: Session, *, user_id: int, name: str, now: datetime, language: str | None = None) -> None:
    """Remember the name Telegram gives this staff member (for "by Marta" on staff screens) and, when the update
    says it, their language (for what is sent to them later)."""
    row = session.get(StaffName, user_id)
    if row is None:
        session.add(StaffName(user_id=user_id, name=name[:200], seen_at=now, language=language))
    elif row.name != name or (language and row.language != language):
        row.name, row.seen_at, row.language = name[:200], now, language or row.language
        session.add(row)


def staff_language(session: Session, *, user_id: int) -> str | None:
    """The Telegram language this staff member last acted in, if known."""
    row = session.get(StaffName, user_id)
    return row.language if row is not None else None


def staff_names(session: Session, *, user_ids: Iterable[int]) -> dict[int, str]:
    """The names of these staff members that are known: as they last acted, else as they joined."""
    wanted = sorted({user_id for user_id in user_ids if user_id is not None})
    if not wanted:
        return {}
    names = {row.user_id: row.name for row in session.exec(select(StaffMember).where(
        StaffMember.user_id.in_(wanted))) if row.name}
    names.update({row.user_id: row.name for row in session.exec(select(StaffName).where(
        StaffName.user_id.in_(wanted)))})
    return names
