"""Who is asking the console: a Mini App's ``initData`` or a browser's session cookie, checked on every request.

Two doors, one rule (only staff get in, checked now, not when they signed in):

- **Inside Telegram** every request carries ``Authorization: tma <initData>``; :func:`check_init_data`
  verifies it as Telegram documents ("Validating data received via the Mini App"): the fields but
  ``hash``, sorted, ``key=value`` joined by newlines, HMAC-SHA256 under the key
  HMAC-SHA256("WebAppData", bot token); ``auth_date`` at most :data:`INIT_DATA_MAX_AGE` old. No
  cookie is relied on there.
- **In a browser** the cookie :data:`COOKIE` holds a session token from a one-time link
  (jobs/staff/console_access.py); the database keeps only its hash.

Each form and htmx POST carries a CSRF token (:func:`csrf_token`): an HMAC of the session, under a key
derived from the bot token, so nothing more is stored. Logs name the staff id only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from aiohttp import web

from bot.web.common import SERVICES, write
from jobs.ops import audit
from jobs.patients.invites import hash_token
from jobs.staff.console_access import end_sessions_of, session_user
from jobs.staff.inbox import Staffer

log = logging.getLogger(__name__)

COOKIE = "aftercare_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
# Telegram signs initData when the Mini App opens; a day covers a long shift without reopening.
INIT_DATA_MAX_AGE = timedelta(days=1)
# A clock a little ahead of ours is not a forgery.
INIT_DATA_FUTURE_SLACK = timedelta(minutes=5)
MAX_INIT_DATA = 4096


@dataclass(frozen=True)
class Identity:
    """A staff member in the console, and how they came in (``tma``: the Mini App; ``cookie``: a browser)."""

    staffer: Staffer
    via: str
    session_key: str  # what the CSRF token is bound to
    locale: str  # the pages' language: the Telegram user's (Mini App), else STAFF_LANGUAGE

    @property
    def user_id(self) -> int:
        return self.staffer.user_id


# Where a checked request keeps who it is (a typed key on aiohttp versions that have them).
IDENTITY = web.RequestKey("console_identity", Identity) if hasattr(web, "RequestKey") else "console_identity"


def check_init_data(init_data: str, *, bot_token: str, now: datetime) -> dict | None:
    """The Telegram user an ``initData`` string vouches for, or None (forged, stale, malformed, no user)."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    received = fields.pop("hash", "")
    if len(fields) + 1 != len(pairs) or not received:
        return None  # a repeated key: not something Telegram sends
    check_string = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received.lower()):
        return None
    try:
        signed_at = datetime.fromtimestamp(int(fields.get("auth_date", "")), tz=UTC)
        user = json.loads(fields.get("user", ""))
    except (ValueError, OverflowError, OSError):
        return None
    if not now - INIT_DATA_MAX_AGE <= signed_at <= now + INIT_DATA_FUTURE_SLACK:
        return None
    if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
        return None
    return user


def sign_init_data(fields: dict[str, str], *, bot_token: str) -> str:
    """``initData`` as Telegram would sign it (for tests, the screenshots script and local trials)."""
    from urllib.parse import urlencode

    check_string = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def _name(user: dict) -> str:
    words = " ".join(str(user.get(part) or "") for part in ("first_name", "last_name"))
    name = " ".join("".join(c for c in words if c.isprintable()).split())
    return name[:200] or str(user["id"])


async def identify(request: web.Request) -> Identity | None:
    """The staff member behind this request, or None. A browser session of someone no longer staff ends here."""
    services = request.app[SERVICES]
    now = services.clock()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "tma":
        user = check_init_data(presented.strip(), bot_token=services.settings.bot_token, now=now)
        if user is None:
            log.warning("console: Mini App request with initData that does not check out")
            return None
        if not await services.is_staff(user["id"]):
            log.warning("console: Mini App request from non-staff user %s", user["id"])
            await _refused(request, user["id"])
            return None
        language = user.get("language_code") if isinstance(user.get("language_code"), str) else None
        return Identity(Staffer(user["id"], _name(user)), "tma", f"tma:{user['id']}",
                        services.catalog.resolve_locale(language, fallback=services.staff_locale))
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    found = await write(request, session_user, token=token, now=now)
    if found is None:
        return None
    user_id, name = found
    if not await services.is_staff(user_id):
        ended = await write(request, end_sessions_of, user_id=user_id)
        log.warning("console: %d session(s) of user %s ended: no longer staff", ended, user_id)
        await _refused(request, user_id)
        return None
    return Identity(Staffer(user_id, name or str(user_id)), "cookie", hash_token(token), services.staff_locale)


async def _refused(request: web.Request, user_id: int) -> None:
    """The audit trail notes a staff-only door tried by someone who is not staff (their id only)."""
    await write(request, audit.record, action=audit.Action.ACCESS, outcome=audit.Outcome.REFUSED,
                now=request.app[SERVICES].clock(), who=audit.Who(audit.ActorKind.PERSON, audit.Face.CONSOLE,
                                                                 id=user_id))


def _csrf_key(bot_token: str) -> bytes:
    return hashlib.sha256(f"aftercare-console-csrf:{bot_token}".encode()).digest()


def csrf_token(request: web.Request, identity: Identity) -> str:
    """The CSRF token every form and htmx POST of this identity carries."""
    key = _csrf_key(request.app[SERVICES].settings.bot_token)
    return hmac.new(key, identity.session_key.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(request: web.Request, identity: Identity, presented: str) -> bool:
    """Whether a POST's token is this identity's."""
    return bool(presented) and hmac.compare_digest(csrf_token(request, identity), presented)
