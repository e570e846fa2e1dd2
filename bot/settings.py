"""Settings: one frozen object built from a mapping (``os.environ`` plus ``.env``), checked at start.

Each setting is declared once, as a field of :class:`Settings` made by :func:`setting`: its key in
``.env``, its type (the annotation), its default and the parser that reads it. That one declaration
drives parsing, the list of known keys (``KNOWN_KEYS``, for the misspelt-key warning) and the test
that ``.env.example`` lists every key. A bad value stops start-up with one line naming the key; the
bot token's value is never part of any message.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jobs import inputs
from jobs.care.clinic_hours import ClinicHours
from jobs.care.planning import QuietHours
from jobs.ops.audit import MIN_RETENTION_DAYS
from messages.durations import parse_offset

_TOKEN_SHAPE = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_DATABASE_URL = "sqlite:///aftercare.db"
# Telegram: user and chat ids "have at most 52 significant bits" (Bot API, User.id / Chat.id).
TELEGRAM_ID_LIMIT = 2**52


class SettingsError(ValueError):
    """A setting that is missing or malformed; ``str()`` names the key and what to write."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(f"{key}: {problem}")


def setting(key: str, parse: Callable[[str], object], default: object = None, *, secret: bool = False):
    """Declare a setting: ``key`` in .env, read by ``parse`` (a non-empty, stripped text), else ``default``.

    ``parse`` raises ValueError with a message that does not repeat the key; :meth:`Settings.from_env`
    adds it.
    """
    return field(default=default, repr=not secret, metadata={"key": key, "parse": parse})


# --------------------------------------------------------------------------- parsers


def _text(raw: str) -> str:
    return raw


def _integer(low: int, high: int, unit: Callable[[int], object] = int) -> Callable[[str], object]:
    def parse(raw: str) -> object:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return unit(value)
    return parse


def _audit_retention(raw: str) -> timedelta:
    # Health-data access logs are kept 6-12 months at least (CNIL); shorter would defeat their purpose.
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number of days") from None
    if days < MIN_RETENTION_DAYS:
        raise ValueError(f"{days} days is too short: keep the audit trail at least {MIN_RETENTION_DAYS} days")
    return timedelta(days=days)


def _user_ids(raw: str) -> frozenset[int]:
    parts = [part for part in re.split(r"[,\s]+", raw) if part]
    for part in parts:
        if not re.fullmatch(r"\d{1,16}", part) or not 0 < int(part) < TELEGRAM_ID_LIMIT:
            raise ValueError(f"{part!r} is not a Telegram user id (positive numbers, separated by commas; "
                             "send /enroll to the bot to see yours)")
    return frozenset(int(part) for part in parts)


def _chat_id(raw: str) -> int:
    value = int(raw) if re.fullmatch(r"-?\d{1,20}", raw) else None
    # A group's id is negative (a supergroup's starts with -100); a positive id is one person's chat.
    if value is None or value == 0 or abs(value) >= TELEGRAM_ID_LIMIT:
        raise ValueError(f"{raw!r} is not a Telegram chat id (a group's id is negative and starts with -100: "
                         "send /help in the group as staff and the bot tells you)")
    return value


def _secret(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", raw):
        raise ValueError("use 16 to 256 letters, digits, _ or - (Telegram's rule for secret tokens)")
    return raw


def _hook_secret(raw: str) -> str:
    if len(raw) < 16 or len(raw) > 256 or any(char.isspace() for char in raw):
        raise ValueError("use 16 to 256 characters without spaces (the same secret as in the booking system)")
    return raw


def _metrics_token(raw: str) -> str:
    if len(raw) < 16 or len(raw) > 256 or not raw.isascii() or any(not char.isprintable() or char.isspace()
                                                                    for char in raw):
        raise ValueError("use 16 to 256 printable ASCII characters without spaces (Prometheus sends it as "
                         "a bearer token: authorization: {credentials: …})")
    return raw


def _zone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{raw!r} is not an IANA time zone such as Europe/Madrid") from None


def _reminder(raw: str) -> timedelta:
    try:
        value = parse_offset(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a duration such as 15m, 30m or 1h") from None
    if not timedelta(minutes=1) <= value <= timedelta(days=1):
        raise ValueError(f"{raw!r} is outside 1m..24h")
    return value


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(f"{raw.upper()!r} is not one of {', '.join(LOG_LEVELS)}")
    return raw.upper()


def _folder(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ValueError(f"folder {raw!r} not found")
    return path


def _url(raw: str) -> str:
    raw = raw.rstrip("/")
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError(f"{raw!r} is not an http(s) URL")
    return raw


def _webhook_url(raw: str) -> str:
    url = _url(raw)
    if urlparse(url).scheme != "https" and urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("Telegram only posts to https:// URLs")
    return url


def _ip_address(raw: str) -> str:
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an IP address to listen on, such as 0.0.0.0 (all) or 127.0.0.1") from None
    return raw


def _font_files(raw: str) -> tuple[Path, ...]:
    paths = tuple(Path(part.strip()).expanduser() for part in raw.split(",") if part.strip())
    for path in paths:
        if path.suffix.lower() not in (".ttf", ".otf", ".ttc"):
            raise ValueError(f"{str(path)!r} is not a font file (.ttf, .otf or .ttc)")
        if not path.is_file():
            raise ValueError(f"font file {str(path)!r} not found")
    return paths


def _database_url(raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a database URL such as sqlite:///aftercare.db") from None
    backend = url.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ValueError(f"{backend!r} is not supported: use sqlite:///… or postgresql+psycopg://…")
    if backend == "postgresql":
        if url.get_driver_name() != "psycopg":
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://…")
        if importlib.util.find_spec("psycopg") is None:
            raise ValueError('PostgreSQL needs its driver: install the postgres extra, pip install ".[postgres]"')
    return raw


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with; each field is one key of ``.env``."""

    bot_token: str = setting("BOT_TOKEN", _text, "", secret=True)
    staff_ids: frozenset[int] = setting("STAFF_IDS", _user_ids, frozenset())
    staff_chat_id: int | None = setting("STAFF_CHAT_ID", _chat_id)
    staff_locale: str = setting("STAFF_LANGUAGE", str.lower, "en")
    # A patient's language when Telegram's is one the clinic has no texts for, and before they link
    # (a row of the import or the API without a language, its printed card); checked against the texts.
    default_locale: str = setting("DEFAULT_LANGUAGE", str.lower, "en")
    database_url: str = setting("DATABASE_URL", _database_url, DEFAULT_DATABASE_URL)
    clinic_name: str = setting("CLINIC_NAME", _text, "")
    clinic_phone: str = setting("CLINIC_PHONE", _text, "")
    # The number a patient calls when things get worse out of hours; empty = CLINIC_PHONE.
    emergency_phone: str = setting("EMERGENCY_PHONE", _text, "")
    # When the clinic is staffed (empty: always); a "worried" item is raised again only then.
    clinic_hours: ClinicHours = setting("CLINIC_HOURS", ClinicHours.parse, ClinicHours())
    # A "worried" item nobody took within this is raised again to every staff member and the staff chat.
    escalation_reminder: timedelta = setting("ESCALATION_REMINDER", _reminder, timedelta(minutes=15))
    booking_url: str = setting("BOOKING_URL", _url, "")
    # The clinic's privacy notice, linked from the line that tells a patient on linking what is kept.
    privacy_url: str = setting("PRIVACY_URL", _url, "")
    # Where review steps send every patient they reach (Google, a booking site, the clinic's page);
    # empty: review steps are skipped, and `aftercare check` says so.
    review_url: str = setting("REVIEW_URL", _url, "")
    clinic_timezone: ZoneInfo = setting("CLINIC_TIMEZONE", _zone, ZoneInfo("UTC"))
    quiet_hours: QuietHours = setting("QUIET_HOURS", QuietHours.parse, QuietHours.parse("21:00-08:00"))
    series_length: int = setting("SERIES_LENGTH", _integer(1, 20), 3)
    invite_ttl: timedelta = setting("INVITE_TTL_DAYS", _integer(1, 90, lambda n: timedelta(days=n)),
                                    timedelta(days=7))
    dispatch_interval: float = setting("DISPATCH_INTERVAL_SECONDS", _integer(1, 3600, float), 30.0)
    claim_lease: timedelta = setting("CLAIM_LEASE_SECONDS", _integer(2, 86400, lambda n: timedelta(seconds=n)),
                                     timedelta(minutes=5))
    messages_dir: Path | None = setting("MESSAGES_DIR", _folder)
    default_protocol: str = setting("DEFAULT_PROTOCOL", _text, "microneedling")
    telegram_api_base_url: str | None = setting("TELEGRAM_API_BASE_URL", _url)
    webhook_url: str | None = setting("WEBHOOK_URL", _webhook_url)
    webhook_listen: str = setting("WEBHOOK_LISTEN", _ip_address, "0.0.0.0")
    webhook_port: int = setting("WEBHOOK_PORT", _integer(1, 65535), 8443)
    webhook_secret: str = setting("WEBHOOK_SECRET", _secret, "", secret=True)
    # The HTTP side (bot/web/): off unless HTTP_PORT is set; loopback unless told otherwise.
    http_port: int | None = setting("HTTP_PORT", _integer(1, 65535))
    http_listen: str = setting("HTTP_LISTEN", _ip_address, "127.0.0.1")
    # The HTTP side's address as staff and patients' phones reach it (behind the reverse proxy): the staff
    # console (bot/web/console/) is opened there, and with HTTP_PORT, review links go through its redirect
    # (/r/...), which counts them as opened. Empty: http://HTTP_LISTEN:HTTP_PORT for the console.
    public_url: str = setting("PUBLIC_URL", _url, "")
    console_session_hours: int = setting("CONSOLE_SESSION_HOURS", _integer(1, 24 * 30), 12)
    booking_webhook_secret: str = setting("BOOKING_WEBHOOK_SECRET", _hook_secret, "", secret=True)
    calcom_webhook_secret: str = setting("CALCOM_WEBHOOK_SECRET", _hook_secret, "", secret=True)
    # When set, GET /metrics answers only a scrape that sends "Authorization: Bearer <this>".
    metrics_token: str = setting("METRICS_TOKEN", _metrics_token, "", secret=True)
    log_level: str = setting("LOG_LEVEL", _log_level, "INFO")
    # The invite cards' fonts (bot/invite_sheets.py), tried before the system's DejaVu Sans and fallbacks.
    card_fonts: tuple[Path, ...] = setting("CARD_FONTS", _font_files, ())
    update_retention: timedelta = setting("UPDATE_RETENTION_HOURS",
                                          _integer(1, 24 * 30, lambda n: timedelta(hours=n)), timedelta(hours=24))
    # How long the audit trail keeps a month of rows once all of it is this old (jobs/ops/audit.py).
    audit_retention: timedelta = setting("AUDIT_RETENTION_DAYS", _audit_retention, timedelta(days=365))

    @property
    def webhook_secret_token(self) -> str:
        """The secret Telegram sends with every webhook call: WEBHOOK_SECRET, or one derived from the token.

        Derived, every instance behind a load balancer agrees on it without configuration.
        """
        return self.webhook_secret or hashlib.sha256(f"aftercare-webhook:{self.bot_token}".encode()).hexdigest()[:48]

    @property
    def review_redirect(self) -> str:
        """The base of review links through the HTTP side ("<PUBLIC_URL>/r/"), or "" when it is off."""
        return f"{self.public_url}/r/" if self.http_port and self.public_url else ""

    @property
    def review_secret(self) -> str:
        """The key that signs review links: derived from the token, so every instance agrees on it."""
        return hashlib.sha256(f"aftercare-review:{self.bot_token}".encode()).hexdigest()

    @property
    def console_base(self) -> str:
        """Where staff open the console: PUBLIC_URL, or the HTTP side's own address."""
        if self.public_url:
            return self.public_url
        host = f"[{self.http_listen}]" if ":" in self.http_listen else self.http_listen
        return f"http://{host}:{self.http_port or 8080}"

    @property
    def console_over_https(self) -> bool:
        """Whether the console is reached over HTTPS (Telegram opens Mini Apps only then)."""
        return self.console_base.startswith("https://")

    @property
    def phone_region(self) -> str | None:
        """The country whose national numbers staff may type without "+": CLINIC_PHONE's (None if unknown)."""
        return inputs.phone_region(self.clinic_phone) if self.clinic_phone else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_token: bool = True) -> Settings:
        """Build settings from ``env``; raise SettingsError naming the first bad key."""
        values: dict[str, object] = {}
        for item in fields(cls):
            key = item.metadata["key"]
            raw = (env.get(key) or "").strip()
            if not raw:
                continue  # the declared default
            try:
                values[item.name] = item.metadata["parse"](raw)
            except ValueError as exc:
                raise SettingsError(key, str(exc)) from None
        token = str(values.get("bot_token", ""))
        if require_token:
            if not token:
                raise SettingsError("BOT_TOKEN", "missing: put BOT_TOKEN=<the token from @BotFather> in .env")
            if not _TOKEN_SHAPE.match(token):
                raise SettingsError("BOT_TOKEN", "does not look like a bot token (digits, a colon, then letters)")
        settings = cls(**values)
        if settings.http_port is not None and settings.webhook_url and settings.http_port == settings.webhook_port:
            raise SettingsError("HTTP_PORT", f"{settings.http_port} is WEBHOOK_PORT's too: give the HTTP side "
                                "a port of its own")
        return settings

    def is_admin(self, user_id: int | None) -> bool:
        """Whether a Telegram user id is an admin (listed in STAFF_IDS)."""
        return user_id is not None and user_id in self.staff_ids


KNOWN_KEYS: tuple[str, ...] = tuple(item.metadata["key"] for item in fields(Settings))


def unknown_keys(keys: Iterable[str]) -> list[str]:
    """One warning line per key that is not a setting, naming the closest known key when one is close."""
    lines = []
    for key in keys:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(key.upper(), KNOWN_KEYS, n=1, cutoff=0.7)
        hint = f"did you mean {close[0]}?" if close else "it is not one of the settings in .env.example"
        lines.append(f"{key}: unknown setting, ignored ({hint})")
    return lines
