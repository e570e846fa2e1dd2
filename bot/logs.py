"""Logging set-up: one format, chatty libraries turned down, the bot token scrubbed from every line."""

from __future__ import annotations

import logging

# httpx logs each request URL at INFO, and Bot API URLs contain the token; python-telegram-bot's
# Bot logs every request's parameters at DEBUG, and those carry patient names and texts. The bot
# sends through aiohttp (bot/http_client.py), whose client logs little; it is capped all the same.
QUIET_LOGGERS = ("httpx", "httpcore", "aiohttp", "apscheduler", "alembic", "telegram.Bot", "telegram.ext.ExtBot")


class RedactFilter(logging.Filter):
    """Replace secrets in a record's final message, whatever logger or library wrote it."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return True


class StartupTracebackFilter(logging.Filter):
    """Drop python-telegram-bot's traceback when start-up cannot reach Telegram: the CLI says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("telegram.ext") and "Bootstrap" in record.getMessage())


# python-telegram-bot logs whole updates (names, message texts) at DEBUG: never below INFO.
AT_MOST_INFO = ("telegram",)


def quiet_libraries() -> None:
    """Turn the libraries that log request URLs (and so the token) or updates (names) down."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in AT_MOST_INFO:
        logging.getLogger(name).setLevel(logging.INFO)


def configure_logging(level: str, *secrets: str) -> None:
    """Log to stderr at ``level``; never let ``secrets`` through."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    redact = RedactFilter(*secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
        handler.addFilter(StartupTracebackFilter())
    quiet_libraries()
