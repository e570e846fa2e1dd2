"""Settings: one frozen object built from a mapping (``os.environ`` plus ``.env``), checked at start.

Every key is listed in ``.env.example``. A bad value stops start-up with one line naming the key;
the bot token's value is never part of any message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jobs.planning import QuietHours

_TOKEN_SHAPE = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_DATABASE_URL = "sqlite:///aftercare.db"


class SettingsError(ValueError):
    """A setting that is missing or malformed; ``str()`` names the key and what to write."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with."""

    bot_token: str = field(repr=False)
    staff_ids: frozenset[int] = frozenset()
    database_url: str = DEFAULT_DATABASE_URL
    clinic_name: str = ""
    clinic_phone: str = ""
    clinic_timezone: ZoneInfo = ZoneInfo("UTC")
    quiet_hours: QuietHours = QuietHours.parse("21:00-08:00")
    series_length: int = 3
    invite_ttl: timedelta = timedelta(days=7)
    dispatch_interval: float = 30.0
    messages_dir: Path | None = None
    telegram_api_base_url: str | None = None
    log_level: str = "INFO"
    booking_url: str = ""
    default_protocol: str = "microneedling"
    staff_chat_id: int | None = None
    staff_locale: str = "en"
    claim_lease: timedelta = timedelta(minutes=5)
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    update_retention: timedelta = timedelta(hours=24)

    @property
    def webhook_secret_token(self) -> str:
        """The secret Telegram sends with every webhook call: WEBHOOK_SECRET, or one derived from the token.

        Derived, every instance behind a load balancer agrees on it without configuration.
        """
        return self.webhook_secret or hashlib.sha256(f"aftercare-webhook:{self.bot_token}".encode()).hexdigest()[:48]

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_token: bool = True) -> Settings:
        """Build settings from ``env``; raise SettingsError naming the first bad key."""
        reader = _Reader(env)
        token = reader.text("BOT_TOKEN")
        if require_token:
            if not token:
                raise SettingsError("BOT_TOKEN", "missing: put BOT_TOKEN=<the token from @BotFather> in .env")
            if not _TOKEN_SHAPE.match(token):
                raise SettingsError("BOT_TOKEN", "does not look like a bot token (digits, a colon, then letters)")
        return cls(
            bot_token=token,
            staff_ids=reader.ids("STAFF_IDS"),
            database_url=reader.database_url("DATABASE_URL"),
            clinic_name=reader.text("CLINIC_NAME"),
            clinic_phone=reader.text("CLINIC_PHONE"),
            clinic_timezone=reader.zone("CLINIC_TIMEZONE"),
            quiet_hours=reader.parse("QUIET_HOURS", QuietHours.parse, "21:00-08:00"),
            series_length=reader.integer("SERIES_LENGTH", 3, low=1, high=20),
            invite_ttl=timedelta(days=reader.integer("INVITE_TTL_DAYS", 7, low=1, high=90)),
            dispatch_interval=float(reader.integer("DISPATCH_INTERVAL_SECONDS", 30, low=1, high=3600)),
            messages_dir=reader.folder("MESSAGES_DIR"),
            telegram_api_base_url=reader.url("TELEGRAM_API_BASE_URL"),
            log_level=reader.choice("LOG_LEVEL", LOG_LEVELS, "INFO"),
            booking_url=reader.url("BOOKING_URL") or "",
            default_protocol=reader.text("DEFAULT_PROTOCOL") or cls.default_protocol,
            staff_chat_id=reader.chat_id("STAFF_CHAT_ID"),
            staff_locale=(reader.text("STAFF_LANGUAGE") or "en").lower(),
            claim_lease=timedelta(seconds=reader.integer("CLAIM_LEASE_SECONDS", 300, low=2, high=86400)),
            webhook_url=reader.webhook_url("WEBHOOK_URL"),
            webhook_listen=reader.text("WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=reader.integer("WEBHOOK_PORT", 8443, low=1, high=65535),
            webhook_secret=reader.secret("WEBHOOK_SECRET"),
            update_retention=timedelta(hours=reader.integer("UPDATE_RETENTION_HOURS", 24, low=1, high=24 * 30)),
        )

    def is_admin(self, user_id: int | None) -> bool:
        """Whether a Telegram user id is an admin (listed in STAFF_IDS)."""
        return user_id is not None and user_id in self.staff_ids


class _Reader:
    """Reads one key at a time, turning a bad value into a SettingsError that names the key."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, key: str) -> str:
        return (self.env.get(key) or "").strip()

    def parse(self, key: str, parser, default: str):
        try:
            return parser(self.text(key) or default)
        except ValueError as exc:
            raise SettingsError(key, str(exc)) from None

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        raw = self.text(key)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(key, f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise SettingsError(key, f"{value} is outside {low}..{high}")
        return value

    def ids(self, key: str) -> frozenset[int]:
        raw = self.text(key)
        parts = [part for part in re.split(r"[,\s]+", raw) if part]
        bad = [part for part in parts if not re.fullmatch(r"-?\d{1,20}", part)]
        if bad:
            raise SettingsError(key, f"{bad[0]!r} is not a Telegram user id (numbers, separated by commas)")
        return frozenset(int(part) for part in parts)

    def secret(self, key: str) -> str:
        raw = self.text(key)
        if raw and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", raw):
            raise SettingsError(key, "use 16 to 256 letters, digits, _ or - (Telegram's rule for secret tokens)")
        return raw

    def chat_id(self, key: str) -> int | None:
        raw = self.text(key)
        if not raw:
            return None
        if not re.fullmatch(r"-?\d{1,20}", raw):
            raise SettingsError(key, f"{raw!r} is not a Telegram chat id (a group's id starts with -100)")
        return int(raw)

    def zone(self, key: str) -> ZoneInfo:
        raw = self.text(key) or "UTC"
        try:
            return ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise SettingsError(key, f"{raw!r} is not an IANA time zone such as Europe/Madrid") from None

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        raw = (self.text(key) or default).upper()
        if raw not in choices:
            raise SettingsError(key, f"{raw!r} is not one of {', '.join(choices)}")
        return raw

    def folder(self, key: str) -> Path | None:
        raw = self.text(key)
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise SettingsError(key, f"folder {raw!r} not found")
        return path

    def url(self, key: str) -> str | None:
        raw = self.text(key).rstrip("/")
        if not raw:
            return None
        parsed = urlparse(raw)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise SettingsError(key, f"{raw!r} is not an http(s) URL")
        return raw

    def webhook_url(self, key: str) -> str | None:
        url = self.url(key)
        if url and urlparse(url).scheme != "https" and urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SettingsError(key, "Telegram only posts to https:// URLs")
        return url

    def database_url(self, key: str) -> str:
        raw = self.text(key) or DEFAULT_DATABASE_URL
        try:
            url = make_url(raw)
        except ArgumentError:
            raise SettingsError(key, "is not a database URL such as sqlite:///aftercare.db") from None
        backend = url.get_backend_name()
        if backend not in {"sqlite", "postgresql"}:
            raise SettingsError(key, f"{backend!r} is not supported: use sqlite:///… or postgresql+psycopg://…")
        if backend == "postgresql" and url.get_driver_name() != "psycopg":
            raise SettingsError(key, "use the psycopg 3 driver: postgresql+psycopg://…")
        return raw
