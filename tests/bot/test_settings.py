"""Settings: defaults with only a token, and a clear one-line error naming the key for bad values."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import KNOWN_KEYS, Settings, SettingsError, unknown_keys

TOKEN = "123456789:TEST_token_for_settings_abcdefghij"


def test_only_a_token_is_needed():
    settings = Settings.from_env({"BOT_TOKEN": TOKEN})
    assert settings.database_url == "sqlite:///aftercare.db"
    assert settings.clinic_timezone == ZoneInfo("UTC")
    assert str(settings.quiet_hours) == "21:00-08:00"
    assert settings.series_length == 3 and settings.invite_ttl == timedelta(days=7)
    assert settings.dispatch_interval == 30 and settings.staff_ids == frozenset()
    assert TOKEN not in repr(settings)


def test_every_key_is_read():
    settings = Settings.from_env({
        "BOT_TOKEN": TOKEN, "STAFF_IDS": "11, 22 33", "DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db",
        "CLINIC_NAME": "Clínica Sol", "CLINIC_PHONE": "+34 600", "CLINIC_TIMEZONE": "Europe/Madrid",
        "QUIET_HOURS": "22:30-07:15", "SERIES_LENGTH": "6", "INVITE_TTL_DAYS": "3",
        "DISPATCH_INTERVAL_SECONDS": "10", "MESSAGES_DIR": ".", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/",
        "LOG_LEVEL": "debug", "BOOKING_URL": "https://example.org/book", "DEFAULT_PROTOCOL": "microneedling_peel_laser",
    })
    assert settings.staff_ids == {11, 22, 33}
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081"
    assert settings.log_level == "DEBUG" and settings.series_length == 6
    assert str(settings.quiet_hours) == "22:30-07:15" and settings.invite_ttl == timedelta(days=3)
    assert settings.default_protocol == "microneedling_peel_laser"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BOT_TOKEN", "", "BOT_TOKEN: missing"),
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN: does not look like a bot token"),
        ("STAFF_IDS", "12,abc", "STAFF_IDS: 'abc' is not a Telegram user id"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: 'mysql' is not supported"),
        ("DATABASE_URL", "postgresql+asyncpg://u@h/db", "DATABASE_URL: use the psycopg 3 driver"),
        ("DATABASE_URL", "::nonsense::", "DATABASE_URL: is not a database URL"),
        ("CLINIC_TIMEZONE", "Mars/Olympus", "CLINIC_TIMEZONE: 'Mars/Olympus' is not an IANA time zone"),
        ("QUIET_HOURS", "late", "QUIET_HOURS: 'late' is not a window"),
        ("SERIES_LENGTH", "0", "SERIES_LENGTH: 0 is outside 1..20"),
        ("SERIES_LENGTH", "three", "SERIES_LENGTH: 'three' is not a whole number"),
        ("INVITE_TTL_DAYS", "365", "INVITE_TTL_DAYS: 365 is outside 1..90"),
        ("DISPATCH_INTERVAL_SECONDS", "0", "DISPATCH_INTERVAL_SECONDS: 0 is outside"),
        ("MESSAGES_DIR", "/no/such/folder", "MESSAGES_DIR: folder '/no/such/folder' not found"),
        ("TELEGRAM_API_BASE_URL", "127.0.0.1:8081", "TELEGRAM_API_BASE_URL: '127.0.0.1:8081' is not an http(s) URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: 'LOUD' is not one of"),
        ("BOOKING_URL", "book.example", "BOOKING_URL: 'book.example' is not an http(s) URL"),
        ("WEBHOOK_URL", "http://bot.clinic.example/telegram", "WEBHOOK_URL: Telegram only posts to https:// URLs"),
        ("WEBHOOK_SECRET", "short", "WEBHOOK_SECRET: use 16 to 256 letters"),
        ("STAFF_CHAT_ID", "staff-group", "STAFF_CHAT_ID: 'staff-group' is not a Telegram chat id"),
        ("CLAIM_LEASE_SECONDS", "1", "CLAIM_LEASE_SECONDS: 1 is outside 2..86400"),
        ("STAFF_IDS", "-5", "STAFF_IDS: '-5' is not a Telegram user id (positive numbers"),
        ("STAFF_IDS", "1001, 0", "STAFF_IDS: '0' is not a Telegram user id"),
        ("STAFF_IDS", str(2**52), f"STAFF_IDS: '{2**52}' is not a Telegram user id"),
        ("STAFF_CHAT_ID", "12345678901234567890", "STAFF_CHAT_ID: '12345678901234567890' is not a Telegram chat id"),
        ("STAFF_CHAT_ID", "-12345678901234567890", "STAFF_CHAT_ID: '-12345678901234567890' is not a Telegram chat id"),
        ("STAFF_CHAT_ID", "0", "STAFF_CHAT_ID: '0' is not a Telegram chat id"),
        ("WEBHOOK_LISTEN", "not-an-ip", "WEBHOOK_LISTEN: 'not-an-ip' is not an IP address"),
        ("WEBHOOK_PORT", "http", "WEBHOOK_PORT: 'http' is not a whole number"),
        ("ESCALATION_REMINDER", "soon", "ESCALATION_REMINDER: 'soon' is not a duration such as 15m"),
        ("ESCALATION_REMINDER", "0m", "ESCALATION_REMINDER: '0m' is outside 1m..24h"),
        ("CLINIC_HOURS", "Mon-Fri 9-19", "CLINIC_HOURS: 'Mon-Fri 9-19' is not a day (or days) and a time window"),
        ("CLINIC_HOURS", "Mon-Fri 09:00-19:00; Sat 10:00-14:00", "CLINIC_HOURS: 'Mon-Fri 09:00-19:00; Sat"),
        ("CLINIC_HOURS", "Mon-Fry 09:00-19:00", "CLINIC_HOURS: 'Mon-Fry 09:00-19:00': 'Fry' is not a day"),
        ("CLINIC_HOURS", "Fri-Mon 09:00-19:00", "CLINIC_HOURS: 'Fri-Mon 09:00-19:00': the days run backwards"),
        ("CLINIC_HOURS", "Mon 19:00-09:00", "CLINIC_HOURS: 'Mon 19:00-09:00': the window must end after it starts"),
        ("CLINIC_HOURS", "Mon 09:00-25:00", "CLINIC_HOURS: 'Mon 09:00-25:00': 25:00 is not a time of day"),
        ("CLINIC_HOURS", "Mon-Fri 09:00-19:00,", "CLINIC_HOURS: '' is not a day"),
        ("HTTP_PORT", "0", "HTTP_PORT: 0 is outside 1..65535"),
        ("HTTP_LISTEN", "everywhere", "HTTP_LISTEN: 'everywhere' is not an IP address"),
        ("BOOKING_WEBHOOK_SECRET", "short", "BOOKING_WEBHOOK_SECRET: use 16 to 256 characters"),
    ],
)
def test_a_bad_value_names_the_key(key, value, message):
    env = {"BOT_TOKEN": TOKEN, key: value}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(message)
    assert raised.value.key == key
    assert TOKEN not in str(raised.value)


def test_a_malformed_token_is_not_echoed():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BOT_TOKEN": "secret-looking-but-wrong"})
    assert "secret-looking-but-wrong" not in str(raised.value)


def test_env_example_lists_exactly_the_declared_settings():
    from dataclasses import fields
    from pathlib import Path

    declared = [item.metadata["key"] for item in fields(Settings)]
    assert list(KNOWN_KEYS) == declared and len(declared) == len(set(declared)) >= 20
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    listed = re.findall(r"^#?\s*([A-Z][A-Z_]+)=", example, re.MULTILINE)
    assert sorted(listed) == sorted(declared)
    # The admin's page of settings names each one too (docs/settings.md, linked from the README).
    page = (Path(__file__).parents[2] / "docs" / "settings.md").read_text()
    assert [key for key in declared if f"`{key}`" not in page and f"`{key}=" not in page] == []


def test_every_declared_setting_is_read_from_its_key(tmp_path):
    """One declaration drives parsing: a value under each key reaches its field (none is read twice)."""
    from dataclasses import fields

    env = {"BOT_TOKEN": TOKEN, "STAFF_IDS": "7", "STAFF_CHAT_ID": "-1001234567890", "STAFF_LANGUAGE": "ES",
           "DEFAULT_LANGUAGE": "RU",
           "DATABASE_URL": "sqlite:///x.db", "CLINIC_NAME": "n", "CLINIC_PHONE": "p", "BOOKING_URL": "https://b.example",
           "PRIVACY_URL": "https://p.example/privacy",
           "EMERGENCY_PHONE": "e", "CLINIC_TIMEZONE": "Europe/Madrid", "QUIET_HOURS": "off", "SERIES_LENGTH": "5", "INVITE_TTL_DAYS": "2",
           "DISPATCH_INTERVAL_SECONDS": "9", "CLAIM_LEASE_SECONDS": "60", "MESSAGES_DIR": ".",
           "DEFAULT_PROTOCOL": "p2", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:1", "WEBHOOK_URL": "https://w.example/t",
           "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": "99", "WEBHOOK_SECRET": "s" * 16, "LOG_LEVEL": "error",
           "UPDATE_RETENTION_HOURS": "48", "CARD_FONTS": str(tmp_path / "font.ttf"),
           "CLINIC_HOURS": "Mon-Fri 09:00-19:00, Sat 10:00-14:00", "ESCALATION_REMINDER": "30m",
           "HTTP_PORT": "8081", "HTTP_LISTEN": "0.0.0.0", "BOOKING_WEBHOOK_SECRET": "b" * 16,
           "CALCOM_WEBHOOK_SECRET": "c" * 16, "METRICS_TOKEN": "m" * 16, "AUDIT_RETENTION_DAYS": "730",
           "REVIEW_URL": "https://r.example/review", "PUBLIC_URL": "https://care.example-clinic.com",
           "CONSOLE_SESSION_HOURS": "8"}
    (tmp_path / "font.ttf").write_bytes(b"")
    assert set(env) == set(KNOWN_KEYS)
    defaults = Settings.from_env({"BOT_TOKEN": TOKEN})
    configured = Settings.from_env(env)
    changed = [item.metadata["key"] for item in fields(Settings)
               if getattr(configured, item.name) != getattr(defaults, item.name)]
    assert sorted(changed) == sorted(key for key in KNOWN_KEYS if key != "BOT_TOKEN")


def test_the_audit_trail_is_kept_at_least_180_days():
    assert Settings.from_env({"BOT_TOKEN": TOKEN}).audit_retention.days == 365
    assert Settings.from_env({"BOT_TOKEN": TOKEN, "AUDIT_RETENTION_DAYS": "180"}).audit_retention.days == 180
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BOT_TOKEN": TOKEN, "AUDIT_RETENTION_DAYS": "179"})
    assert raised.value.key == "AUDIT_RETENTION_DAYS" and "at least 180 days" in str(raised.value)


def test_a_misspelt_key_is_named_with_the_closest_known_one():
    assert unknown_keys(["STAF_IDS", "CLINIC_PHONE"]) == ["STAF_IDS: unknown setting, ignored (did you mean STAFF_IDS?)"]
    assert unknown_keys(["CLINIC_PHONE_NUMBER"])[0].endswith("(did you mean CLINIC_PHONE?)")
    assert "not one of the settings" in unknown_keys(["FAVOURITE_COLOUR"])[0]


def test_postgresql_without_its_driver_says_which_extra_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BOT_TOKEN": TOKEN, "DATABASE_URL": "postgresql+psycopg://u:pw@db/aftercare"})
    assert str(raised.value) == 'DATABASE_URL: PostgreSQL needs its driver: install the postgres extra, pip install ".[postgres]"'


def test_the_http_side_may_not_share_the_webhook_port():
    env = {"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://w.example/t", "WEBHOOK_PORT": "8443", "HTTP_PORT": "8443"}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert raised.value.key == "HTTP_PORT"
    assert "\n" not in str(raised.value) and "WEBHOOK_PORT" in str(raised.value)
    assert Settings.from_env({**env, "HTTP_PORT": "8080"}).http_port == 8080
    assert Settings.from_env({"BOT_TOKEN": TOKEN}).http_port is None  # off by default


def test_the_console_base_is_public_url_or_the_http_sides_own_address():
    plain = Settings.from_env({"BOT_TOKEN": TOKEN, "HTTP_PORT": "8081", "HTTP_LISTEN": "0.0.0.0"})
    assert (plain.console_base, plain.console_over_https, plain.console_session_hours) == (
        "http://0.0.0.0:8081", False, 12)
    public = Settings.from_env({"BOT_TOKEN": TOKEN, "HTTP_PORT": "8081", "PUBLIC_URL": "https://care.example.com/"})
    assert (public.console_base, public.console_over_https) == ("https://care.example.com", True)
    with pytest.raises(SettingsError, match="^PUBLIC_URL: "):
        Settings.from_env({"BOT_TOKEN": TOKEN, "PUBLIC_URL": "care.example.com"})
    with pytest.raises(SettingsError, match="^CONSOLE_SESSION_HOURS: "):
        Settings.from_env({"BOT_TOKEN": TOKEN, "CONSOLE_SESSION_HOURS": "0"})
